"""Evidence a user can trust, against the real SmolLM2 model: a few passing prompts are too
few for an 80% bar and enough prompts meet it; no bar gives no choice; repeats are distinct
samples with recorded seeds; a trial counts only its own votes; speed-only settings do not
make a new contender. Replies are a few greedy tokens, so the suite stays quick."""

from __future__ import annotations

import json

from click.testing import CliRunner

from workbench.trials import store
from workbench.trials.compare import CompareRun
from workbench.trials.contenders import make_contender
from workbench.trials.recommend import MEETS, UNSURE, Bar, recommend
from workbench.trials.results import leaderboard, trial_summary
from workbench.trials.runner import TrialRun, create_trial, repeat_seed
from workbench.trials.suites import SuitePrompt, create_suite
from workbench.trials.votes import cast_vote, compare_trial_cells

BASE = {"n_ctx": 2048, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
        "max_tokens": 3}
ALWAYS = [{"max_tokens": 1000}]  # a check every short reply passes


def _suite(db, name, count):
    return create_suite(db, name, [SuitePrompt(f"Say the number {i}.", checks=ALWAYS)
                                   for i in range(count)])


def _run(db, engine, suite, contenders, **options):
    trial_id = create_trial(db, suite.id, contenders, **options)
    list(TrialRun(db, engine, trial_id))
    return trial_id


def test_three_passing_prompts_are_too_thin_and_twenty_meet_the_bar(db, engine,
                                                                    library_model) -> None:
    contender = make_contender(db, library_model, BASE)
    thin = trial_summary(db, _run(db, engine, _suite(db, "three", 3), [contender], seed=1))
    assert thin["contenders"][0]["pass_rate"] == 1.0
    verdict = recommend(thin["contenders"], Bar(min_pass_rate=0.8))
    assert verdict.choice is None and "evidence is too thin" in verdict.reason
    part = verdict.verdicts[0].parts[0]
    # the confidence sequence (valid however often it is checked) needs 21 more, all passing
    assert part.outcome == UNSURE and part.more_needed == 21 and part.low < 0.8

    enough = trial_summary(db, _run(db, engine, _suite(db, "twenty", 20), [contender], seed=1))
    verdict = recommend(enough["contenders"], Bar(min_pass_rate=0.7))
    assert verdict.choice is not None and verdict.choice["label"] == contender.label
    assert verdict.verdicts[0].parts[0].outcome == MEETS
    assert "20 of 20 prompts, 95% interval" in verdict.reason
    assert recommend(enough["contenders"], Bar(min_pass_rate=0.8)).choice is None


def test_cli_default_bar_is_80_percent_and_none_gives_no_choice(workspace, library_model,
                                                                tmp_path) -> None:
    from workbench.cli import cli

    suite_file = tmp_path / "twenty.jsonl"
    suite_file.write_text("".join(json.dumps({"prompt": f"Say {i}.", "checks": ALWAYS}) + "\n"
                                  for i in range(26)))
    runner = CliRunner()
    sets = [item for key, value in BASE.items() for item in ("--set", f"{key}={value}")]
    ran = runner.invoke(cli, ["trial", "run", str(suite_file), *sets, "-m", "1"])
    assert ran.exit_code == 0, ran.output
    assert "shown at 95% confidence to meet the bar (pass rate ≥ 80%)" in ran.output
    shown = json.loads(runner.invoke(cli, ["trial", "show", "1", "--json"]).output)
    rec = shown["recommendation"]
    assert rec["choice"] is not None and rec["bar"]["min_pass_rate"] == 0.8
    assert rec["verdicts"][0]["parts"][0]["outcome"] == "meets"
    variant = shown["leaderboard"]["models"][0]["variants"][0]
    assert variant["prompts_checked"] == 24  # stopped: settled
    assert "Only this trial counts here" in shown["scope"]
    none = json.loads(runner.invoke(cli, ["trial", "show", "1", "--json",
                                          "--min-pass-rate", "none"]).output)["recommendation"]
    assert none["choice"] is None and none["reason"].startswith("No bar set")
    bad = runner.invoke(cli, ["trial", "show", "1", "--min-pass-rate", "100"])
    assert bad.exit_code != 0 and "100% bar can never be shown" in bad.output


def test_repeats_are_distinct_samples_with_recorded_seeds(db, engine, library_model) -> None:
    sampled = make_contender(db, library_model, {**BASE, "temperature": 1.0, "seed": None,
                                                 "max_tokens": 6})
    trial_id = _run(db, engine, _suite(db, "repeats", 1), [sampled], seed=42, repeats=3)
    cells = store.trial_cells(db, trial_id)
    seeds = [c["seed"] for c in cells]
    assert seeds == [repeat_seed(42, r) for r in range(3)] and seeds[0] == 42
    assert len(set(seeds)) == 3
    assert [c["settings"]["seed"] for c in cells] == seeds  # the engine used those seeds
    summary = trial_summary(db, trial_id)
    assert summary["matrix"][0]["cells"][0]["seeds"] == seeds
    assert summary["contenders"][0]["prompts_checked"] == 1  # one prompt, not three cells
    # A rerun gives the same seeds, so the same replies.
    again = store.trial_cells(db, _run(db, engine, _suite(db, "repeats again", 1), [sampled],
                                       seed=42, repeats=3))
    assert [c["seed"] for c in again] == seeds
    assert [c["content"] for c in again] == [c["content"] for c in cells]


def test_a_trial_counts_only_votes_on_its_own_cells(db, engine, library_model) -> None:
    plain = make_contender(db, library_model, BASE)
    brief = make_contender(db, library_model, {**BASE, "system_prompt": "Be brief."})
    trial_id = _run(db, engine, _suite(db, "votes", 2), [plain, brief], seed=3)
    # A comparison outside the trial, voted: it must not show in the trial's table.
    outside = CompareRun(db, engine, [plain, brief], "Name a colour.")
    list(outside)
    cast_vote(db, outside.comparison_id, "a")
    summary = trial_summary(db, trial_id)
    assert [c["votes"] for c in summary["contenders"]] == [0, 0]
    # A vote on the trial's own replies counts there, and in the overall leaderboard too.
    inside = compare_trial_cells(db, trial_id, 1, blind=False)
    cast_vote(db, inside, "b")  # not blind: column b is `brief`
    summary = trial_summary(db, trial_id)
    by_id = {c["contender_id"]: c for c in summary["contenders"]}
    assert by_id[brief.id]["votes"] == 1 and by_id[brief.id]["won"] == 1
    assert by_id[plain.id]["votes"] == 1 and by_id[plain.id]["won"] == 0
    board = {r["contender_id"]: r for r in leaderboard(db, rounds=20)}
    assert board[plain.id]["votes"] == board[brief.id]["votes"] == 2


def test_speed_only_settings_do_not_make_a_new_contender(db, library_model) -> None:
    two = make_contender(db, library_model, {**BASE, "n_threads": 2, "n_batch": 256})
    one = make_contender(db, library_model, {**BASE, "n_threads": 1, "use_mmap": False})
    assert one.id == two.id and one.settings["n_threads"] == 1  # latest speed settings kept
    assert "n_threads" not in one.label
    hotter = make_contender(db, library_model, {**BASE, "temperature": 0.5})
    longer = make_contender(db, library_model, {**BASE, "n_ctx": 1024})
    assert len({two.id, hotter.id, longer.id}) == 3
    rows = db.execute("SELECT COUNT(*) FROM contenders").fetchone()[0]
    assert rows == 3


def _smaller(db, contender):
    """The contender recorded as half its file size: "smaller" is then a fact of the records
    only (one real model file serves both; the same file twice is one library entry)."""
    db.table("contenders").update(contender.id, {"file_size": contender.file_size // 2})
    return type(contender).from_row(db.table("contenders").get(contender.id))


def test_smaller_contender_gets_a_paired_line_against_the_larger(db, engine,
                                                                 library_model) -> None:
    big = make_contender(db, library_model, BASE)
    small = _smaller(db, make_contender(db, library_model, {**BASE, "system_prompt": "Hi."}))
    summary = trial_summary(db, _run(db, engine, _suite(db, "pair", 6), [big, small], seed=5))
    verdict = recommend(summary["contenders"], Bar(min_pass_rate=0.3))
    assert verdict.choice is not None and verdict.choice["label"] == small.label
    (line,) = verdict.paired
    assert line["prompts"] == 6 and line["p_value"] == 1.0
    assert "passed as many of the 6 prompts" in line["text"]
    assert "the smallest difference 6 prompts can detect is 6 prompts" in line["text"]
