"""Trial contenders side by side (issue 25, item 3): two contenders' cells at once, each in its
own engine process on the real llama.cpp, the cores split; the records are what they would be
one at a time but for a note."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from tests.core.test_trials_engine import _engine_processes
from workbench.engine import Engine
from workbench.errors import InvalidInputError
from workbench.store import open_database
from workbench.trials import side_by_side, store
from workbench.trials.contenders import make_contender
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.suites import SuitePrompt, create_suite

# One thread each way, so side by side and one at a time compute the same thing: a greedy
# reply is then the same token for token (on any CPU: it is the same CPU both times).
BASE = {"n_ctx": 1024, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
        "max_tokens": 10}
PROMPTS = ["What is the capital of France?", "Say hello.", "Name a fruit.",
           "Count to three."]


@pytest.fixture
def two(db, library_model):
    plain = make_contender(db, library_model, BASE)
    brief = make_contender(db, library_model, {**BASE, "system_prompt": "Be brief."})
    return [plain, brief]


@pytest.fixture
def suite(db):
    return create_suite(db, "four", [SuitePrompt(p) for p in PROMPTS])


def _replies(db, trial_id):
    return {(c["prompt_id"], c["contender_id"], c["repeat"]): c
            for c in store.trial_cells(db, trial_id)}


def test_side_by_side_gives_the_replies_of_one_at_a_time(db, engine, two, suite) -> None:
    alone = create_trial(db, suite.id, two, seed=3)
    assert list(TrialRun(db, engine, alone, together=False))[-1].done == 8
    beside = create_trial(db, suite.id, two, seed=3)
    run = TrialRun(db, Engine(), beside, together=True)
    most = 0
    messages = []
    for progress in run:
        messages.append(progress.message)
        most = max(most, len(_engine_processes()))
    assert any("side by side" in m for m in messages)
    assert most >= 2  # two engine processes at once (the run's own engine stays unloaded)
    assert store.get_trial_row(db, beside)["status"] == "done"
    first, second = _replies(db, alone), _replies(db, beside)
    assert first.keys() == second.keys() and len(first) == 8
    for key, cell in first.items():
        other = second[key]
        assert other["content"] == cell["content"]  # greedy: token for token
        assert other["completion_tokens"] == cell["completion_tokens"]
        note = other["settings"].pop("side_by_side")
        assert note["threads"] >= 1 and len(note["with"]) == 1
        assert "side_by_side" not in cell["settings"]
        assert other["settings"] == cell["settings"]  # nothing else differs
    assert not [t for t in threading.enumerate() if t.name.startswith("trial-side-by-side")]


def test_a_cancel_keeps_finished_cells_and_resume_runs_the_rest(db, two, suite) -> None:
    trial_id = create_trial(db, suite.id, two, seed=5)
    before = _engine_processes()
    run = TrialRun(db, Engine(), trial_id, together=True)
    for progress in run:
        if progress.done >= 2:
            run.stop()
    assert run.stopped and store.get_trial_row(db, trial_id)["status"] == "cancelled"
    kept = store.trial_cells(db, trial_id)
    assert 2 <= len(kept) < 8 and all(c["status"] == "done" for c in kept)
    assert not _engine_processes() - before  # every lane's engine process has ended
    assert not [t for t in threading.enumerate() if t.name.startswith("trial-side-by-side")]
    resumed = list(TrialRun(db, Engine(), trial_id, together=True))
    assert resumed[-1].done == resumed[-1].total == 8
    assert len(store.trial_cells(db, trial_id)) == 8


def test_when_it_runs_side_by_side(db, two, monkeypatch) -> None:
    fits, why = side_by_side.decide(db, two, None)
    assert fits and "side by side" in why  # two small models fit on any test machine
    assert side_by_side.decide(db, two, False) == (False, "one at a time")
    assert not side_by_side.decide(db, two[:1], True)[0]  # one contender: nothing beside it
    memory = open_database(None)
    with pytest.raises(InvalidInputError, match="side by side, the database is in memory"):
        side_by_side.decide(memory, two, True)
    memory.close()
    import workbench.trials.compare as compare

    monkeypatch.setattr(compare, "can_run_together",
                        lambda _c: (False, "together: needs 9.0 GB, 2.0 GB free"))
    fits, why = side_by_side.decide(db, two, None)
    assert not fits and why == "one at a time (together: needs 9.0 GB, 2.0 GB free)"
    with pytest.raises(InvalidInputError, match="cannot run contenders side by side, "
                       "together: needs 9.0 GB"):
        side_by_side.decide(db, two, True)


def test_cli_runs_side_by_side_or_one_at_a_time(workspace, library_model) -> None:
    from workbench.cli import cli

    suite = workspace.root / "suite.txt"
    suite.write_text("Say hello.\nName a fruit.\n")
    common = ["--data-dir", str(workspace.root), "trial", "run", str(suite), "--set",
              "temperature=0", "--set", "max_tokens=6", "--set", "n_ctx=1024", "-m",
              library_model.name, "-m", library_model.name, "--set",
              "system_prompt=Be brief.", "--seed", "1"]
    beside = CliRunner().invoke(cli, [*common, "--together"])
    assert beside.exit_code == 0, beside.output
    assert "2 contenders side by side" in beside.output
    alone = CliRunner().invoke(cli, [*common, "--one-at-a-time"])
    assert alone.exit_code == 0, alone.output
    assert "side by side" not in alone.output
