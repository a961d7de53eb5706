"""quant-compare on the real test model: a Q2_K made here by llama.cpp's own quantizer against
the original, the original against itself, a file with another vocabulary refused, and the
reference's record cached so a second comparison does not run it again."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import gguf_craft
import numpy as np
import pytest
from click.testing import CliRunner
from quant_made import requantize

from workbench.cli import cli
from workbench.errors import EngineCrashed, InvalidInputError
from workbench.quant import logits
from workbench.quant.compare import (
    MAX_TEXT_BYTES,
    QuantComparison,
    VocabularyMismatch,
    file_from_path,
    read_text,
    run,
    sample_text,
)
from workbench.trials.recommend import FAILS, MEETS, UNSURE, make_bar, recommend

CTX = 64
#: ~300 tokens: four windows of 64, 31 positions scored in each.
TEXT = sample_text()[:1400]


@pytest.fixture(scope="session")
def q2k_model(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test model requantized to Q2_K by llama.cpp (about a second)."""
    target = requantize(model_path,
                        tmp_path_factory.mktemp("quant") / "SmolLM2-135M-Instruct.Q2_K.gguf")
    assert target.stat().st_size < model_path.stat().st_size
    return target


@pytest.fixture(scope="session")
def other_vocabulary(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test model with one token's text changed (same length, so still a valid file)."""
    target = tmp_path_factory.mktemp("vocab") / "SmolLM2-other-vocab.gguf"
    shutil.copyfile(model_path, target)
    head = gguf_craft.head_bytes(target)
    entry = gguf_craft.layout(head).entry("tokenizer.ggml.tokens")
    at = head.index(b"<|im_start|>", entry.value_at, entry.end)
    with target.open("r+b") as stream:
        stream.seek(at)
        stream.write(b"<|im_begin|>")
    return target


def _job(tmp_path: Path, reference: Path, *models: Path, **options) -> QuantComparison:
    """Top-k mode unless ``full_limit`` says otherwise (this short text would be kept whole,
    and long texts, the common case, are kept as top-k)."""
    options.setdefault("full_limit", 1)
    return QuantComparison(tmp_path / "data", file_from_path(reference),
                           [file_from_path(m) for m in models], TEXT, "test text", ctx=CTX,
                           n_threads=1, gpu_layers=0, **options)


def test_q2k_against_the_original_and_the_original_against_itself(
        tmp_path: Path, model_path: Path, q2k_model: Path) -> None:
    job = _job(tmp_path, model_path, model_path, q2k_model)
    stages = [(p.stage, p.label) for p in job]
    result = job.result
    assert result is not None and not result.reference_cached
    assert result.windows >= 3 and result.positions == result.windows * (CTX - 1 - CTX // 2)
    assert stages.count(("reference", model_path.name)) == result.windows
    assert result.mode == logits.TOP_K
    same, q2k = result.rows
    assert abs(same.kl_mean) <= 1e-6 and abs(same.kl_p99) <= 1e-6
    assert same.agree == same.positions == result.positions
    assert same.perplexity == pytest.approx(result.reference.perplexity, rel=1e-9)
    assert q2k.kl_mean > 0.01 and q2k.kl_p99 >= q2k.kl_mean
    assert not q2k.kl_exact and q2k.kl_mark == "≥"  # top-k: a lower bound, marked
    assert q2k.agree < q2k.positions and q2k.agree_high <= 1.0
    assert q2k.perplexity_ratio != pytest.approx(1.0, abs=1e-6)
    assert q2k.file_size < same.file_size and q2k.tokens_per_s and q2k.tokens_per_s > 0
    print(f"Q2_K: mean KL {q2k.kl_mean:.4f}, p99 {q2k.kl_p99:.3f}, agreement "
          f"{q2k.agreement:.1%} of {q2k.positions}, ppl ratio {q2k.perplexity_ratio:.3f}, "
          f"{result.seconds:.1f} s")


def test_the_reference_runs_once_for_later_comparisons(
        tmp_path: Path, model_path: Path, q2k_model: Path) -> None:
    stale = tmp_path / "data" / "quant-cache" / "0123abcd.partial-999999-1"
    stale.mkdir(parents=True)
    os.utime(stale, (0, 0))  # left by a run that was killed long ago
    first = run(_job(tmp_path, model_path, q2k_model))
    assert not stale.exists()
    job = _job(tmp_path, model_path, q2k_model, model_path)
    stages = {p.stage for p in job}
    second = job.result
    assert second is not None and second.reference_cached and stages == {"model"}
    assert second.rows[0].kl_mean == first.rows[0].kl_mean
    assert second.rows[0].agree == first.rows[0].agree
    assert second.reference.perplexity == first.reference.perplexity
    assert abs(second.rows[1].kl_mean) <= 1e-6
    # another window size is another reference record
    other = run(QuantComparison(tmp_path / "data", file_from_path(model_path),
                                [file_from_path(q2k_model)], TEXT, "test text", ctx=CTX * 2,
                                n_threads=1, gpu_layers=0))
    assert not other.reference_cached
    assert len(list((tmp_path / "data" / "quant-cache").iterdir())) == 2


def test_whole_vocabulary_kept_gives_at_least_the_top_k_divergence(
        tmp_path: Path, model_path: Path, q2k_model: Path) -> None:
    """Kept whole, KL is exact; the top-k record's KL is a lower bound of it."""
    top_k = run(_job(tmp_path / "a", model_path, q2k_model))
    full = run(_job(tmp_path / "b", model_path, model_path, q2k_model,
                    full_limit=10**9))
    assert full.mode == logits.FULL and top_k.mode == logits.TOP_K
    assert all(r.kl_exact for r in full.rows) and not any(r.kl_exact for r in top_k.rows)
    assert abs(full.rows[0].kl_mean) <= 1e-6 and full.rows[0].agree == full.positions
    assert full.rows[1].kl_mean >= top_k.rows[0].kl_mean - 1e-9
    print(f"KL exact {full.rows[1].kl_mean:.4f}, top-{logits.K} {top_k.rows[0].kl_mean:.4f}")
    assert top_k.rows[0].kl_mean >= 0.8 * full.rows[1].kl_mean
    assert full.rows[1].agree == top_k.rows[0].agree


def test_different_vocabularies_are_refused(tmp_path: Path, model_path: Path,
                                             other_vocabulary: Path) -> None:
    job = _job(tmp_path, model_path, other_vocabulary)
    with pytest.raises(VocabularyMismatch) as refused:
        list(job)
    message = str(refused.value)
    assert "\n" not in message and model_path.name in message
    assert other_vocabulary.name in message and "different vocabularies" in message
    assert not (tmp_path / "data" / "quant-cache").exists()  # refused before any work


def test_a_stop_between_windows_leaves_no_result_and_no_cache(
        tmp_path: Path, model_path: Path) -> None:
    job = _job(tmp_path, model_path, model_path)
    for progress in job:
        assert progress.stage == "reference"
        job.stop()
    assert job.result is None
    assert list((tmp_path / "data" / "quant-cache").iterdir()) == []


def test_a_stop_during_a_long_window_ends_its_engine_process(
        tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A window that outlasts the grace (a big model on a CPU) does not hold the stop: its
    engine process is ended, and the job ends stopped, not crashed."""
    import threading
    import time

    from workbench.quant import compare

    monkeypatch.setattr(compare, "STOP_GRACE_S", 0.0)
    job = _job(tmp_path, model_path, model_path)
    job.ctx = 512  # about a second a window on one thread: long enough to stop inside one
    text = sample_text()
    job.text = text

    def stop_inside_a_window() -> None:
        while not job._scoring.wait(0.01):
            pass
        job.stop()

    threading.Thread(target=stop_inside_a_window, daemon=True).start()
    started = time.perf_counter()
    with caplog.at_level("INFO", logger="workbench.engine.process"):
        list(job)
    assert "quant-compare stopped during a window; ending it" in caplog.text
    assert time.perf_counter() - started < 30
    assert job.result is None and job.worker_pid is None
    assert list((tmp_path / "data" / "quant-cache").iterdir()) == []


def test_a_crash_in_llama_cpp_is_one_line_and_the_caller_goes_on(
        tmp_path: Path, model_path: Path) -> None:
    """The engine process killed mid-run (as an abort or a SIGBUS would end it)."""
    job = _job(tmp_path, model_path, model_path)
    iterator = iter(job)
    next(iterator)
    pid = job.worker_pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(EngineCrashed) as crashed:
        list(iterator)
    assert "\n" not in str(crashed.value) and "SIGKILL" in str(crashed.value)
    assert job.result is None and job.worker_pid is None
    assert list((tmp_path / "data" / "quant-cache").iterdir()) == []  # no half record kept


def test_bad_texts_and_windows_are_one_line_errors(tmp_path: Path, model_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (MAX_TEXT_BYTES + 1))
    with pytest.raises(InvalidInputError, match="larger than 2 MiB"):
        read_text(big)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInputError, match="not valid UTF-8"):
        read_text(binary)
    with pytest.raises(InvalidInputError, match="--ctx 8"):
        QuantComparison(tmp_path, file_from_path(model_path), [file_from_path(model_path)],
                        TEXT, "t", ctx=8)
    short = QuantComparison(tmp_path, file_from_path(model_path),
                            [file_from_path(model_path)], "Too short.", "short.txt", ctx=CTX,
                            n_threads=1, gpu_layers=0)
    with pytest.raises(InvalidInputError, match="shorter than one window"):
        list(short)


def test_cli_json_and_the_agreement_bar(workspace, model_path: Path, q2k_model: Path,
                                        other_vocabulary: Path, tmp_path: Path) -> None:
    text = tmp_path / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    runner = CliRunner()
    base = ["--data-dir", str(workspace.root), "quant-compare", str(model_path)]
    options = ["--text", str(text), "--ctx", str(CTX), "--threads", "1", "--gpu-layers", "0"]
    result = runner.invoke(cli, [*base, str(q2k_model), *options, "--json",
                                 "--min-agreement", "50"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    row = data["models"][0]
    assert row["kl_mean"] > 0 and 0 < row["agreement"] < 1
    assert row["kl_exact"] is True and row["kl"] == "exact"
    assert data["kept"] == "full"  # a short text: the whole vocabulary fits the limit
    assert data["recommendation"]["bar"]["min_agreement"] == 0.5
    table = runner.invoke(cli, [*base, str(q2k_model), *options])
    assert table.exit_code == 0 and "(from the cache)" in table.output
    assert "whole vocabulary per position (exact KL)" in table.output
    refused = runner.invoke(cli, [*base, str(other_vocabulary), *options])
    assert refused.exit_code == 1
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "different vocabularies" in lines[0]


# --- the numbers and the bar, without a model ------------------------------------------------


def test_top_k_divergence_is_a_lower_bound_and_zero_for_the_same_rows() -> None:
    rng = np.random.default_rng(7)
    ref = logits.log_softmax(rng.normal(size=(5, 300)) * 3)
    other = logits.log_softmax(rng.normal(size=(5, 300)) * 3)
    targets = rng.integers(0, 300, size=5)
    full = logits.compare_rows(logits.reference_rows(ref, targets, logits.FULL), other, targets)
    top = logits.compare_rows(logits.reference_rows(ref, targets, logits.TOP_K), other, targets)
    assert np.all(top["kl"] <= full["kl"] + 1e-12) and np.all(top["kl"] >= -1e-12)
    assert np.array_equal(top["agree"], full["agree"]) and np.allclose(top["nll"], full["nll"])
    same = logits.compare_rows(logits.reference_rows(ref, targets, logits.TOP_K), ref, targets)
    assert np.all(np.abs(same["kl"]) < 1e-12) and same["agree"].all()


def test_the_agreement_part_of_the_bar() -> None:
    bar = make_bar(None, min_agreement=90)
    assert bar.min_agreement == 0.9 and "top-1 agreement ≥ 90%" in bar.describe()
    rows = [{"label": "Q2_K", "file_size": 60, "agree": 700, "positions": 1000},
            {"label": "Q4_K_M", "file_size": 100, "agree": 970, "positions": 1000},
            {"label": "Q8_0", "file_size": 150, "agree": 995, "positions": 1000}]
    advice = recommend(rows, bar)
    assert advice.choice is not None and advice.choice["label"] == "Q4_K_M"
    assert [v.parts[0].outcome for v in advice.verdicts] == [FAILS, MEETS, MEETS]
    assert "peak" not in advice.reason and "970 of 1000 positions" in advice.reason
    thin = recommend([{"label": "Q4", "file_size": 1, "agree": 19, "positions": 20}], bar)
    assert thin.choice is None and thin.verdicts[0].parts[0].outcome == UNSURE
    assert "positions, all agreeing," in thin.verdicts[0].parts[0].text
    with pytest.raises(InvalidInputError, match="--min-agreement"):
        make_bar(None, min_agreement=100)


def test_the_sample_text_ships_with_the_package() -> None:
    """Read through importlib.resources (a wheel includes the package's files; the installer
    spec names this one)."""
    root = Path(__file__).resolve().parents[2]
    text = sample_text()
    assert 4_000 < len(text.encode()) < 16_000 and "def summarise" in text
    spec = (root / "packaging" / "workbench.spec").read_text(encoding="utf-8")
    assert '"workbench" / "data" / "quant_sample.txt"' in spec


def test_quantizations_of_one_model_are_grouped_by_name_without_the_label() -> None:
    from workbench.library import Model
    from workbench.quant.family import quant_groups, stem

    def model(number: int, file_name: str, parameters: int = 1_000, size: int = 1) -> Model:
        return Model(number, file_name, f"/m/{file_name}", file_name, "llama", parameters,
                     "x", None, True, None, size, "", "local", "")

    files = [model(1, "Llama-3.2-1B-Instruct-Q4_K_M.gguf", size=800),
             model(2, "Llama-3.2-1B-Instruct.Q8_0.gguf", size=1300),
             model(3, "llama-3.2-1b-instruct-IQ3_XXS-imatrix.gguf", size=500),
             model(4, "Llama-3.2-1B-Instruct-Q4_K_M.gguf", parameters=2_000),  # not the same
             model(5, "Mistral-7B-v0.3.f16.gguf")]
    assert stem(files[0], lower=False) == "Llama-3.2-1B-Instruct"
    assert stem(files[4]) == "mistral-7b-v0-3"
    groups = quant_groups(files)
    assert [g.label() for g in groups][0] == "Llama-3.2-1B-Instruct (3 files)"
    assert [m.id for m in groups[0].models] == [2, 1, 3]  # largest first: the reference
    assert sorted(len(g.models) for g in groups) == [1, 1, 3]


def test_a_token_both_files_rule_out_adds_nothing_to_the_divergence() -> None:
    """Logit -inf in both files (a token masked out): 0 log(0/0) counts 0, not NaN, in both
    modes; one the reference rules out and the model does not also counts 0."""
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(4, 300)) * 3
    raw_other = raw + rng.normal(size=raw.shape) * 0.5
    raw[:, :10] = -np.inf
    raw_other[:, :5] = -np.inf
    ref, other = logits.log_softmax(raw), logits.log_softmax(raw_other)
    targets = rng.integers(10, 300, size=4)
    for mode in (logits.FULL, logits.TOP_K):
        kl = logits.compare_rows(logits.reference_rows(ref, targets, mode), other, targets)["kl"]
        assert np.all(np.isfinite(kl)) and np.all(kl >= -1e-12), mode
        same = logits.compare_rows(logits.reference_rows(ref, targets, mode), ref, targets)["kl"]
        assert np.all(np.abs(same) < 1e-12), mode
    # the exact figure, by hand over the tokens the reference allows
    p, q = np.exp(ref[:, 10:].astype(np.float64)), np.exp(other[:, 10:].astype(np.float64))
    expected = (p * np.log(p / q)).sum(axis=1)
    full = logits.compare_rows(logits.reference_rows(ref, targets, logits.FULL), other, targets)
    assert np.allclose(full["kl"], expected, atol=1e-9)
    # a top-k reference whose whole vocabulary fits in its k tokens: the tail is empty
    small = logits.log_softmax(np.where(np.arange(300) < 290, -np.inf, raw[:, :300]))
    tail = logits.compare_rows(logits.reference_rows(small, targets, logits.TOP_K), other,
                               targets)["kl"]
    assert np.all(np.isfinite(tail))


def test_lower_bound_figures_are_marked_in_the_table_and_the_json() -> None:
    """Exact and lower-bound KL side by side: each lower bound carries "≥" in the CLI table,
    says "lower bound" in the JSON; an exact one carries no mark."""
    from workbench.cli.quant import result_lines
    from workbench.quant.results import QuantResult, QuantRow

    def row(label: str, exact: bool) -> QuantRow:
        return QuantRow(label, f"/m/{label}.gguf", 100, label, False, 0.12345, 0.5, 0.9, 70,
                        100, 12.0, 1.1, None, 0.6, 0.8, kl_exact=exact)

    ref = QuantRow("F16", "/m/F16.gguf", 200, "F16", True, 0.0, 0.0, 0.0, 100, 100, 11.0,
                   1.0, None, 1.0, 1.0)
    result = QuantResult(ref, [row("Q8_0", True), row("Q2_K", False)], logits.TOP_K, 64, 1,
                         100, "t", 300, False, 1.0, [])
    table = result_lines(result)
    exact_line = next(line for line in table if line.startswith("Q8_0"))
    bound_line = next(line for line in table if line.startswith("Q2_K"))
    assert "≥" not in exact_line and " 0.12345" in exact_line
    assert "≥0.12345" in bound_line and "≥0.5000" in bound_line
    models = json.loads(json.dumps(result.to_dict()))["models"]
    assert [(m["kl"], m["kl_exact"]) for m in models] == [("exact", True),
                                                          ("lower bound", False)]
