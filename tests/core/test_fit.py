"""The memory estimate against llama.cpp's own figures, and the verdicts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gemma3_craft import write_gemma3

from workbench.fit import (
    CPU,
    GPU,
    NO,
    PARTIAL,
    SWA_FULL,
    ModelShape,
    auto_gpu_layers,
    estimate,
    estimate_for_file,
    estimate_for_header,
    estimate_together,
    judge,
)
from workbench.gguf_header import GGUFHeader, read_header
from workbench.hardware import Gpu, Hardware

GiB = 2**30
_KV_LINE = re.compile(r"llama_kv_cache: size =\s*([\d.]+) MiB")


def _llama_kv_mib(model: Path, n_ctx: int) -> float:
    """Load the model with llama.cpp in a child process and read the KV size it logs."""
    code = ("import llama_cpp, sys; llama_cpp.Llama(sys.argv[1], n_ctx=int(sys.argv[2]), "
            "n_threads=1, verbose=True)")
    result = subprocess.run([sys.executable, "-c", code, str(model), str(n_ctx)],
                            capture_output=True, text=True, timeout=120)
    match = _KV_LINE.search(result.stderr)
    assert match, result.stderr[-2000:]
    return float(match.group(1))


@pytest.mark.parametrize("n_ctx", [1000, 4096])
def test_kv_cache_estimate_matches_llama_cpp(model_path, n_ctx):
    shape = ModelShape.from_header(read_header(model_path))
    ours = estimate(shape, n_ctx).kv_cache / 2**20
    theirs = _llama_kv_mib(model_path, n_ctx)
    assert abs(ours - theirs) / theirs < 0.05, (ours, theirs)


def test_guess_without_header_is_in_the_right_range(model_path):
    size = model_path.stat().st_size
    real = estimate_for_header(read_header(model_path), size, 4096)
    guessed = estimate_for_header(None, size, 4096, parameters=134_515_008)
    assert guessed.source == "estimate"
    assert 0.5 < guessed.kv_cache / real.kv_cache < 2
    assert 0.5 < guessed.total / real.total < 2


def test_verdicts(model_path):
    header = read_header(model_path)
    e = estimate_for_header(header, model_path.stat().st_size, 4096)
    cpu_only = Hardware(16 * GiB, 8 * GiB, gpu_offload=False)
    assert judge(e, cpu_only).kind == CPU
    assert "fits in RAM (CPU only)" in judge(e, cpu_only).summary()
    assert judge(e, Hardware(GiB, 100 * 2**20, gpu_offload=False)).kind == NO
    big_gpu = Hardware(16 * GiB, 8 * GiB, True, [Gpu("test", 8 * GiB, 8 * GiB)])
    assert judge(e, big_gpu).kind == GPU
    assert judge(e, big_gpu).gpu_layers == 31
    # room for some layers only: VRAM headroom + compute + 10 layers
    vram = 512 * 2**20 + e.compute + 10 * (e.layer_weights + e.layer_kv) + 1000
    small_gpu = Hardware(16 * GiB, 8 * GiB, True, [Gpu("test", vram, vram)])
    verdict = judge(e, small_gpu)
    assert verdict.kind == PARTIAL and verdict.gpu_layers == 10
    assert "fits with 10 of 30 layers offloaded" in verdict.summary()
    assert auto_gpu_layers(header, 4096, model_path.stat().st_size, small_gpu) == 10
    assert auto_gpu_layers(header, 4096, model_path.stat().st_size, big_gpu) == 31
    assert auto_gpu_layers(header, 4096, model_path.stat().st_size, cpu_only) == 0


def test_sliding_window_layers_capped_when_not_full(model_path):
    shape = ModelShape.from_header(read_header(model_path))
    shape.sliding_window, shape.swa_layers = 512, [i % 2 == 0 for i in range(shape.n_layer)]
    full = estimate(shape, 8192, swa_full=True).kv_cache
    capped = estimate(shape, 8192).kv_cache  # the default follows the loader: swa_full=False
    assert SWA_FULL is False
    assert capped == full // 2 + full // 2 * 1024 // 8192


def _gemma3_header(window: int = 512, **extra: object) -> GGUFHeader:
    """gemma-3-270m's header figures (18 layers, 1 KV head of 256, a 262k vocabulary)."""
    meta = {"general.architecture": "gemma3", "gemma3.block_count": 18,
            "gemma3.embedding_length": 640, "gemma3.attention.head_count": 4,
            "gemma3.attention.head_count_kv": 1, "gemma3.attention.key_length": 256,
            "gemma3.attention.value_length": 256, "gemma3.feed_forward_length": 2048,
            "gemma3.attention.sliding_window": window, "gemma3.vocab_size": 262144, **extra}
    return GGUFHeader(3, meta)


def test_gemma3_header_counts_five_of_six_layers_as_sliding_window():
    """llama.cpp's gemma3 rule (set_swa_pattern(6)): layer i slides unless i % 6 == 5; the
    cache is 576 MiB at 32k when kept full and 111 MiB as llama.cpp's tools keep it."""
    shape = ModelShape.from_header(_gemma3_header())
    assert shape.swa_layers == [i % 6 != 5 for i in range(18)]
    assert estimate(shape, 32768, swa_full=True).kv_cache == 576 * 2**20
    # 3 full layers x 32768 cells + 15 sliding layers x (512 + 512 micro-batch) cells, 1 KiB each
    assert estimate(shape, 32768).kv_cache == (3 * 32768 + 15 * 1024) * 1024 == 111 * 2**20
    assert estimate(shape, 2048).kv_cache == (3 * 2048 + 15 * 1024) * 1024
    # a pattern written in the header wins over the architecture's default
    shape = ModelShape.from_header(_gemma3_header(**{"gemma3.attention.sliding_window_pattern":
                                                       [True, False] * 9}))
    assert shape.swa_layers == [True, False] * 9


def _kv_logged(lines: list[str]) -> int:
    return sum(int(float(m.group(1)) * 2**20) for m in map(_KV_LINE.search, lines) if m)


@pytest.mark.parametrize("n_ctx", [2048, 5000])
def test_sliding_window_estimate_matches_what_our_loader_gets(model_path, tmp_path, n_ctx):
    """A real gemma3 file loaded by workbench's own loader in a child process: llama.cpp's
    logged KV cache (both halves, non-SWA and SWA) is the estimate's, so the loader passes
    swa_full=False and fit.py follows it. Window 300 checks the padding to 256 cells too."""
    gemma = write_gemma3(model_path, tmp_path / "gemma3-tiny.gguf", window=300)
    code = ("import logging, sys; from workbench.engine.loaded import load_model; "
            "from workbench.engine.settings import LoadSettings; logging.basicConfig("
            "level=logging.DEBUG, stream=sys.stdout, format='%(message)s'); "
            "load_model(sys.argv[1], LoadSettings(n_ctx=int(sys.argv[2]), n_threads=1, "
            "gpu_layers=0)).close()")
    result = subprocess.run([sys.executable, "-c", code, str(gemma), str(n_ctx)],
                            capture_output=True, text=True, timeout=120, env={
                                **os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert "creating     SWA KV cache" in result.stdout, result.stderr[-2000:]
    theirs = _kv_logged(result.stdout.splitlines())
    ours = estimate(ModelShape.from_header(read_header(gemma)), n_ctx).kv_cache
    assert ours == pytest.approx(theirs, rel=0.01), (ours, theirs)
    assert ours < estimate(ModelShape.from_header(read_header(gemma)), n_ctx,
                           swa_full=True).kv_cache


def test_running_together_is_judged_by_the_same_model(db, library_model, model_path):
    """compare --together asks fit.py: every KV cache and compute buffer, one file's weights
    once (processes mapping one file share its pages), judged as a download is."""
    from workbench.trials.compare import can_run_together
    from workbench.trials.contenders import make_contender

    one = estimate_for_file(model_path, 2048)
    both = estimate_together([("a", one), ("a", one)])
    assert both.weights == one.weights and both.kv_cache == 2 * one.kv_cache
    assert both.compute == 2 * one.compute and both.n_layer == 2 * one.n_layer
    assert estimate_together([("a", one), ("b", one)]).weights == 2 * one.weights
    plain = make_contender(db, library_model, {"n_ctx": 2048})
    brief = make_contender(db, library_model, {"n_ctx": 2048, "system_prompt": "Be brief."})
    fits, reason = can_run_together([plain, brief])
    from workbench import hardware

    assert fits == judge(both, hardware.detect()).fits
    assert reason.startswith("together: fits") and "2,048 tokens" in reason


def test_estimate_for_a_file_that_is_not_there_is_one_line(tmp_path):
    from workbench.errors import ModelFileError

    with pytest.raises(ModelFileError) as error:
        estimate_for_file(tmp_path / "gone.gguf", 2048)
    assert str(error.value).startswith(f"{tmp_path / 'gone.gguf'}: cannot read it")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model" * 100)
    assert estimate_for_file(junk, 2048).source == "estimate"  # no header: guessed, and says so
