"""The memory estimate against llama.cpp's own figures, and the verdicts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.fit import (
    CPU,
    GPU,
    NO,
    PARTIAL,
    ModelShape,
    auto_gpu_layers,
    estimate,
    estimate_for_header,
    judge,
)
from workbench.gguf_header import read_header
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
    full = estimate(shape, 8192).kv_cache
    capped = estimate(shape, 8192, swa_full=False).kv_cache
    assert capped == full // 2 + full // 2 * 1024 // 8192
