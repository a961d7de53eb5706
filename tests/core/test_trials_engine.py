"""Comparisons and trials against the real SmolLM2 model: the same model under two settings
makes two contenders. Generations are short and greedy so the suite stays quick."""

from __future__ import annotations

import json
import random
import re
import threading

import psutil
import pytest
from click.testing import CliRunner

from workbench.engine import Engine
from workbench.trials import store
from workbench.trials.compare import CompareRun
from workbench.trials.contenders import make_contender
from workbench.trials.recommend import Bar, recommend
from workbench.trials.report import comparison_html, trial_html, trial_markdown
from workbench.trials.rerun import diff_trials, rerun_trial
from workbench.trials.results import leaderboard, trial_summary
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.suites import SuitePrompt, create_suite
from workbench.trials.votes import cast_vote, comparison_view

# One thread: on a busy shared machine two threads wait on each other (10x slower here).
BASE = {"n_ctx": 2048, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
        "max_tokens": 12}


@pytest.fixture
def two(db, library_model):
    plain = make_contender(db, library_model, BASE)
    french = make_contender(db, library_model, {**BASE, "system_prompt": "Answer in French."})
    return plain, french


def _reversing_rng() -> random.Random:
    """A seeded generator whose shuffle of two items swaps them (found, not assumed)."""
    for seed in range(100):
        items = [1, 2]
        random.Random(seed).shuffle(items)
        if items == [2, 1]:
            return random.Random(seed)
    raise AssertionError("no seed swaps two items")


def test_compare_is_stored_with_metrics_and_blind_until_voted(db, engine, two) -> None:
    plain, french = two
    assert plain.id != french.id  # same model, different settings: two contenders
    run = CompareRun(db, engine, [plain, french], "What is the capital of France?",
                     blind=True, seed_rng=_reversing_rng())
    assert [c.id for c in run.columns] == [french.id, plain.id]  # shuffled
    events = list(run)
    assert [e.kind for e in events if e.kind != "chunk"] == ["start", "done"] * 2
    replies = store.comparison_replies(db, run.comparison_id)
    assert len(replies) == 2
    for reply in replies:
        assert reply["content"] and reply["status"] == "done"
        assert reply["completion_tokens"] > 0 and reply["ttft_ms"] > 0
        assert reply["gen_tps"] and reply["peak_rss"] > 50_000_000
        assert reply["settings"]["seed"] == 7 and reply["settings"]["llama_cpp_python"]
    assert store.get_comparison_row(db, run.comparison_id)["status"] == "done"

    hidden = comparison_view(db, run.comparison_id)
    assert hidden["hidden"] and [c["label"] for c in hidden["columns"]] == ["Model A",
                                                                           "Model B"]
    assert all(c["contender"] is None for c in hidden["columns"])
    revealed = cast_vote(db, run.comparison_id, "b")  # B on screen is `plain`
    assert not revealed["hidden"]
    assert [c["label"] for c in revealed["columns"]] == [french.label, plain.label]
    vote = store.votes_for(db, run.comparison_id)[0]
    assert vote["outcome"] == "win" and vote["winner_id"] == plain.id
    board = leaderboard(db, rounds=20)
    assert board[0]["label"] == plain.label and board[0]["won"] == 1
    html = comparison_html(db, run.comparison_id)
    assert plain.label in html


def test_compare_together_runs_both_at_once_on_shared_cores(db, engine, library_model) -> None:
    """--together: each column on its own engine and thread, the cores split between them."""
    from workbench.trials.together import threads_each

    settings = {key: value for key, value in BASE.items() if key != "n_threads"}
    plain = make_contender(db, library_model, settings)
    brief = make_contender(db, library_model, {**settings, "system_prompt": "Be brief."})
    together = CompareRun(db, engine, [plain, brief], "Name a fruit.", together=True)
    events = list(together)
    starts = [i for i, e in enumerate(events) if e.kind == "start"]
    firsts = [min(i for i, e in enumerate(events) if e.kind == "chunk" and e.slot == slot)
              for slot in (0, 1)]
    assert len(starts) == 2 and max(starts) < max(firsts)  # both started before either ran far
    replies = store.comparison_replies(db, together.comparison_id)
    share = threads_each(2)
    assert [r["settings"]["n_threads"] for r in replies] == [share, share]
    assert all(r["status"] == "done" and r["content"].strip() for r in replies)


def test_trial_cancel_and_resume_without_repeating_cells(db, engine, two) -> None:
    suite = create_suite(db, "short", [
        SuitePrompt("What is the capital of France?", checks=[{"contains": "Paris"}]),
        SuitePrompt("Say hello.", checks=[{"not_contains": "zebra"}]),
        SuitePrompt("Name a fruit."),
    ])
    trial_id = create_trial(db, suite.id, list(two), seed=7)
    run = TrialRun(db, engine, trial_id)
    seen = []
    for progress in run:
        if progress.cell:
            seen.append((progress.cell["prompt_id"], progress.cell["contender_id"]))
        if progress.done == 2:
            run.stop()
    assert len(seen) == 2 and run.stopped
    assert store.get_trial_row(db, trial_id)["status"] == "cancelled"
    first_ids = {c["id"] for c in store.trial_cells(db, trial_id)}

    resumed = TrialRun(db, engine, trial_id)
    assert len(resumed.plan()) == 4
    progress_events = list(resumed)
    assert progress_events[0].message == "resuming" and progress_events[0].done == 2
    rerun_cells = [(p.cell["prompt_id"], p.cell["contender_id"]) for p in progress_events
                   if p.cell]
    assert len(rerun_cells) == 4 and not set(rerun_cells) & set(seen)
    assert progress_events[-1].done == progress_events[-1].total == 6
    cells = store.trial_cells(db, trial_id)
    assert len(cells) == 6 and first_ids <= {c["id"] for c in cells}
    assert store.get_trial_row(db, trial_id)["status"] == "done"
    summary = trial_summary(db, trial_id)
    assert summary["done"] == 6 and all(c["checked"] == 2 for c in summary["contenders"])


def test_recommendation_picks_the_smaller_and_report_is_offline(db, engine,
                                                                library_model) -> None:
    # Honest fake: the second contender's recorded file size is lowered in the database, so
    # "smaller" is a fact of the records only (one real model file serves both).
    big = make_contender(db, library_model, BASE)
    small = make_contender(db, library_model, {**BASE, "system_prompt": "Be brief."})
    db.table("contenders").update(small.id, {"file_size": small.file_size // 2})
    contenders = [big, small]
    suite = create_suite(db, "bar", [SuitePrompt(f"Say {i}.", checks=[{"max_tokens": 12}])
                                     for i in range(6)])
    trial_id = create_trial(db, suite.id, contenders, seed=7)
    list(TrialRun(db, engine, trial_id))
    summary = trial_summary(db, trial_id)
    assert [c["pass_rate"] for c in summary["contenders"]] == [1.0, 1.0]
    # 6 of 6 passing settles a 30% bar for both (the anytime-valid rule, Holm over two
    # contenders, needs 5); a 60% bar would need 12
    verdict = recommend(summary["contenders"], Bar(min_pass_rate=0.3))
    assert verdict.choice is not None and verdict.choice["label"] == contenders[1].label
    none = recommend(summary["contenders"], Bar(min_tps=1e9))
    assert none.choice is None and "No contender meets" in none.reason
    big = library_model

    html = trial_html(db, trial_id, Bar(min_pass_rate=0.6))
    assert "<svg" in html and verdict.reason.split(" (")[0] in html
    assert not re.search(r"""(src|href|action)\s*=|url\(|@import|<link|<script|<iframe""",
                         html, re.I)
    assert not re.search(r"https?://|\bwww\.", html)
    assert big.sha256 in html  # every cell says how to reproduce it
    markdown = trial_markdown(db, trial_id)
    assert "## Reproducibility" in markdown and big.sha256 in markdown


def test_rerun_repeats_with_same_settings_and_reports_changes(db, engine, two) -> None:
    suite = create_suite(db, "again", [SuitePrompt("Name a colour.")])
    first = create_trial(db, suite.id, [two[0]], seed=11)
    list(TrialRun(db, engine, first))
    second = rerun_trial(db, first)
    assert store.get_trial_row(db, second)["contender_ids"] == store.get_trial_row(
        db, first)["contender_ids"]
    list(TrialRun(db, engine, second))
    changes = diff_trials(db, first, second)
    assert changes["changed_replies"] == 0  # greedy, same seed: the same reply
    assert "0 replies changed" in changes["summary"]


def test_a_sampled_trial_reruns_identically_with_its_prefix_kept(db, engine,
                                                                 library_model) -> None:
    """Sampling at temperature 0.8, each cell reuses the template and system prompt kept
    from the cell before (the rerun's first from the first trial's last): every reply is the
    same bits as when its prefix was evaluated afresh."""
    sampled = make_contender(db, library_model, {**BASE, "temperature": 0.8, "max_tokens": 16,
                                                 "system_prompt": "Be brief."})
    suite = create_suite(db, "sampled", [SuitePrompt(p) for p in (
        "Name a colour.", "Name a fruit.", "Name a tree.")])
    first = create_trial(db, suite.id, [sampled], seed=5)
    list(TrialRun(db, engine, first))
    second = rerun_trial(db, first)
    list(TrialRun(db, engine, second))
    assert diff_trials(db, first, second)["changed_replies"] == 0


def test_cli_trial_compare_and_vote(workspace, library_model, tmp_path) -> None:
    from workbench.cli import cli

    suite_file = tmp_path / "cli.jsonl"
    suite_file.write_text('{"prompt": "Capital of France?", "checks": [{"contains": "Paris"}]}\n')
    runner = CliRunner()
    common = ["--set", "n_ctx=2048", "--set", "n_threads=1", "--set", "gpu_layers=0",
              "--set", "temperature=0", "--set", "max_tokens=8"]
    report_file = tmp_path / "r.html"
    result = runner.invoke(cli, ["trial", "run", str(suite_file), *common, "-m", "1", "-m", "1",
                                 "--set", "system_prompt=Be brief.", "--seed", "3",
                                 "--report", str(report_file)])
    assert result.exit_code == 0, result.output
    assert "Trial 1 started" in result.output and report_file.read_text().startswith("<!DOCTYPE")
    shown = runner.invoke(cli, ["trial", "show", "1", "--json"])
    assert shown.exit_code == 0 and '"done": 2' in shown.output
    result = runner.invoke(cli, ["compare", "Name a colour.", *common, "-m", "1",
                                 "-m", "1", "--set", "seed=5", "--blind"])
    assert result.exit_code == 0, result.output
    assert "Model A" in result.output and "vote 1" in result.output
    voted = runner.invoke(cli, ["vote", "1", "tie"])
    assert voted.exit_code == 0 and "SmolLM2" in voted.output
    assert runner.invoke(cli, ["vote", "1", "a"]).output.startswith("Error: comparison 1: "
                                                                    "already voted")
    board = runner.invoke(cli, ["leaderboard", "--json"])
    assert board.exit_code == 0 and "\"tied\": 1" in board.output, board.output
    grouped = json.loads(board.output)
    assert "Across every trial and comparison" in grouped["scope"]
    (model,) = grouped["models"]  # one model file; its settings variants are sub-rows
    assert len(model["variants"]) >= 2 and {"seed=5" in v["variant"]
                                            for v in model["variants"]} == {True, False}
    text = runner.invoke(cli, ["leaderboard"]).output
    assert "└" in text and "Across every trial" in text


def test_results_and_reports_mark_base_models_and_echoes(db, engine, no_template_model) -> None:
    from workbench.library import add_model

    base = add_model(db, no_template_model)
    assert base.base_model
    contender = make_contender(db, base, {**BASE, "max_tokens": 8})
    prompt = "Please repeat these exact words back to me now."
    suite = create_suite(db, "echo", [SuitePrompt(prompt, checks=[{"max_tokens": 64}])])
    trial_id = create_trial(db, suite.id, [contender], seed=7)
    list(TrialRun(db, engine, trial_id))
    # What the model wrote is its own; the stored reply is then set to an echo, so the flag is
    # judged on a known text (the real reply of a 135M base model is unpredictable).
    cell = store.trial_cells(db, trial_id)[0]
    db.table("trial_cells").update(cell["id"], {"content": prompt + " Sure."})
    summary = trial_summary(db, trial_id)
    row = summary["contenders"][0]
    assert row["kind"] == "base model (not tuned for chat)" and row["echoes"] == 1
    assert summary["matrix"][0]["cells"][0]["echo"] is True
    markdown = trial_markdown(db, trial_id)
    assert "[base model (not tuned for chat)]" in markdown
    assert "echo: the reply starts by repeating the prompt" in markdown
    assert "echo: the reply starts by repeating the prompt" in trial_html(db, trial_id)


def _engine_processes() -> set[int]:
    """This test process's engine processes (multiprocessing's spawned children; its
    resource tracker, which lives as long as the process, is not one)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("how", ["stop", "leave", "interrupt", "error"])
def test_compare_together_ends_with_every_worker_joined(db, library_model, tmp_path,
                                                        how) -> None:
    """However a run together ends (stop() as Ctrl+C in the CLI calls it, the consumer
    leaving as the window does, KeyboardInterrupt, a column failing), every worker thread is
    joined and every engine process it started has ended when the iteration returns."""
    from workbench.library import add_model

    settings = {"n_ctx": 2048, "gpu_layers": 0, "temperature": 0.8, "seed": 7,
                "max_tokens": 400}
    first = make_contender(db, library_model, settings)
    if how == "error":  # a copy of the model that breaks after it was added to the library
        broken = tmp_path / "broken.gguf"
        broken.write_bytes(library_model_bytes(library_model) + b"\0" * 32)  # its own hash
        other = make_contender(db, add_model(db, broken), settings)
        broken.write_bytes(b"GGUF" + b"\0" * 64)
    else:
        other = make_contender(db, library_model, {**settings, "system_prompt": "Be long."})
    before = _engine_processes()
    run = CompareRun(db, Engine(), [first, other], "Tell me a long story about a fox.",
                     together=True)
    events = iter(run)
    seen = []
    for event in events:
        seen.append(event)
        if event.kind == "chunk":
            break
    assert run._workers is not None and run._workers.alive_threads == 2 or how == "error"
    if how == "stop":
        run.stop()
        seen += list(events)
    elif how == "leave":
        events.close()  # type: ignore[attr-defined]
    elif how == "interrupt":
        with pytest.raises(KeyboardInterrupt):
            events.throw(KeyboardInterrupt)  # type: ignore[attr-defined]
    else:
        seen += list(events)
    assert run._workers is not None and run._workers.alive_threads == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("compare-together")]
    assert not _engine_processes() - before
    status = store.get_comparison_row(db, run.comparison_id)["status"]
    if how == "error":
        assert status == "error"
        assert any(e.kind == "error" and "broken.gguf" in (e.error or "") for e in seen)
        assert any(e.kind == "done" for e in seen)  # the other column finished its reply
    else:
        assert status == "stopped"


def library_model_bytes(model) -> bytes:
    with open(model.path, "rb") as file:
        return file.read()


def test_compare_together_cli_prints_each_answer_whole(workspace, library_model) -> None:
    """Columns running at once stream together; the command line prints each answer in one
    piece under its heading when it ends, never the two interleaved."""
    from workbench.cli import cli

    result = CliRunner().invoke(cli, [
        "--data-dir", str(workspace.root), "compare", "Name a fruit.", "--together",
        "--set", "temperature=0", "--set", "max_tokens=12", "--set", "n_ctx=2048",
        "-m", library_model.name, "-m", library_model.name, "--set", "system_prompt=Be brief."])
    assert result.exit_code == 0, result.output
    replies = store.comparison_replies(workspace.db, 1)
    out = result.stdout
    for letter, reply in zip("AB", sorted(replies, key=lambda r: r["slot"]), strict=True):
        heading = out.index(f"── {letter}: ")
        assert out.index(reply["content"].strip(), heading) > heading
