"""Judge checks: the real test model grades real replies; specs refused at import; agreement
with votes and Cohen's kappa against hand-computed values."""

from __future__ import annotations

import json

import pytest

from workbench.errors import InvalidInputError
from workbench.library import add_model, remove_model, update_settings
from workbench.trials import store
from workbench.trials.checks import normalize_check
from workbench.trials.contenders import make_contender
from workbench.trials.judge import JUDGE_PROMPT_SHA256, agreement_figures, judge_agreement
from workbench.trials.report import trial_markdown
from workbench.trials.results import trial_summary
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.stats import cohen_kappa
from workbench.trials.suites import SuitePrompt, add_prompt, create_suite, import_suite
from workbench.trials.votes import cast_vote, compare_trial_cells

BASE = {"n_ctx": 2048, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
        "max_tokens": 12}


def _judge(model_ref: object, **extra: object) -> dict[str, object]:
    return {"judge": {"rubric": "The reply names Paris as the capital of France.",
                      "model": str(model_ref), "min_score": 3, "scale": 5, **extra}}


def test_a_real_trial_with_the_test_model_as_judge_stores_scores_and_reasons(
        db, engine, library_model, no_template_model, tmp_path) -> None:
    # the judge loads with its library settings: one thread, a small context
    update_settings(db, library_model.id, {"n_threads": 1, "n_ctx": 2048, "gpu_layers": 0})
    other = add_model(db, no_template_model)  # a second file: a contender not self-judged
    copy = tmp_path / "gone.gguf"
    copy.write_bytes(no_template_model.read_bytes() + b"\0")  # its own sha256
    gone = add_model(db, copy)
    suite = create_suite(db, "judged", [
        SuitePrompt("What is the capital of France?", reference="Paris",
                    checks=[{"contains": "Paris"}, _judge(library_model.id)]),
        SuitePrompt("Name the capital city of France.",
                    checks=[_judge(library_model.id), _judge(gone.id)]),
    ])
    remove_model(db, gone.id)  # the second judge leaves the library: its check errors
    mine = make_contender(db, library_model, BASE)
    theirs = make_contender(db, other, BASE)
    trial_id = create_trial(db, suite.id, [mine, theirs], seed=3)
    events = list(TrialRun(db, engine, trial_id))
    assert [e.message for e in events if e.message.startswith("judging")][-1] == "judging 6/6"
    assert store.get_trial_row(db, trial_id)["status"] == "done"

    grades = store.trial_judgements(db, trial_id)
    assert len(grades) == 6
    scored = [g for g in grades if g["error"] is None]
    failed = [g for g in grades if g["error"] is not None]
    assert len(scored) == 4 and len(failed) == 2
    for g in scored:
        assert isinstance(g["score"], int) and 1 <= g["score"] <= 5
        assert g["passed"] == int(g["score"] >= 3)
        assert g["reason"] and len(g["reason"]) <= 300
        assert g["prompt_sha256"] == JUDGE_PROMPT_SHA256
        assert g["judge_sha256"] == library_model.sha256
        assert g["judge_model"] == library_model.name
        settings = g["judge_settings"]
        assert settings["temperature"] == 0.0 and settings["seed"] == 0
        assert g["self_judged"] == int(g["contender_id"] == mine.id)
    for g in failed:
        assert g["score"] is None and g["passed"] is None
        assert "judge model" in g["error"] and "no model" in g["error"]

    # the grade is folded into the cell's check results and verdict
    cells = {(c["prompt_id"], c["contender_id"]): c for c in store.trial_cells(db, trial_id)}
    for g in scored:
        result = cells[(g["prompt_id"], g["contender_id"])]["check_results"][g["check_index"]]
        assert result["score"] == g["score"] and result["passed"] == bool(g["passed"])
        assert result["reason"] == g["reason"]
    second = suite.prompts[1].id
    for contender in (mine, theirs):
        cell = cells[(second, contender.id)]
        failed_result = cell["check_results"][1]
        assert failed_result["passed"] is None and "not graded" in failed_result["detail"]
        judged = cell["check_results"][0]["passed"]
        assert cell["passed"] == int(judged)  # the failed judge counts neither way

    summary = trial_summary(db, trial_id)
    flags = {c["contender_id"]: c["self_judged"] for c in summary["contenders"]}
    assert flags == {mine.id: True, theirs.id: False}
    assert summary["judge_pending"] == 0
    assert summary["matrix"][0]["cells"][0]["judgements"][0]["score"] in range(1, 6)
    text = trial_markdown(db, trial_id)
    assert "[self-judged]" in text and JUDGE_PROMPT_SHA256 in text
    assert "no votes on this trial's replies" in text

    # a vote on the trial's replies is set beside the judge's grades
    comparison = compare_trial_cells(db, trial_id, 1, blind=False)
    cast_vote(db, comparison, "a")
    agreement = judge_agreement(db, trial_id)
    assert len(agreement) == 1 and agreement[0]["pairs"] == 1
    first = suite.prompts[0].id
    score = {g["contender_id"]: g["score"] for g in scored if g["prompt_id"] == first}
    assert agreement[0]["agree"] == int(score[mine.id] > score[theirs.id])  # "a" is mine
    assert agreement[0]["judge_tied"] == int(score[mine.id] == score[theirs.id])
    assert "not enough evidence" in agreement[0]["text"]


def test_bad_judge_specs_are_refused_with_one_line(db, library_model, tmp_path) -> None:
    for spec, reason in [
        ({"judge": {"model": "x"}}, "needs a rubric"),
        ({"judge": {"rubric": " ", "model": "x"}}, "needs a rubric"),
        ({"judge": {"rubric": "ok", "model": "x", "min_score": 6, "scale": 5}},
         "min_score 6 must be between 1 and the scale (5)"),
        ({"judge": {"rubric": "ok", "model": "x", "scale": 1}}, "scale 1 is not between"),
        ({"judge": {"rubric": "ok", "model": "x", "min_score": 2.5}}, "whole number"),
        ({"judge": {"rubric": "ok"}}, "needs a model"),
        ({"judge": {"rubric": "ok", "model": "x", "colour": 1}}, "unknown key 'colour'"),
        ({"judge": "be nice"}, "expected {"),
    ]:
        with pytest.raises(InvalidInputError) as raised:
            normalize_check(spec)
        assert reason in str(raised.value) and "\n" not in str(raised.value)
    assert normalize_check({"judge": {"rubric": "ok", "model": 3}})["value"] == {
        "rubric": "ok", "model": "3", "scale": 5, "min_score": 4}

    # an unknown model is refused on import, naming the file and the prompt
    path = tmp_path / "suite.jsonl"
    path.write_text(json.dumps({"prompt": "Hi", "checks": [_judge(library_model.id)]}) + "\n"
                    + json.dumps({"prompt": "Yo", "checks": [_judge("no-such-model")]}) + "\n")
    with pytest.raises(InvalidInputError) as raised:
        import_suite(db, path)
    message = str(raised.value)
    assert "prompt 2: check judge: model 'no-such-model': no model in the library" in message
    assert "\n" not in message and not list(db.table("suites").rows)
    suite = create_suite(db, "s")
    with pytest.raises(InvalidInputError, match="check judge: model 'nope'"):
        add_prompt(db, suite.id, SuitePrompt("Hi", checks=[_judge("nope")]))


def test_cohen_kappa_matches_hand_computed_values() -> None:
    # 50 items, yes/no: agree 20 yes + 15 no; p_o = 0.7, p_e = .5*.6 + .5*.4 = 0.5: 0.4
    pairs = ([("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10
             + [("no", "no")] * 15)
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    # three outcomes, 10 items: diagonal 3+2+1 = 6, p_o = 0.6; user marginals 4/3/3, judge
    # 5/3/2: p_e = (4*5 + 3*3 + 3*2) / 100 = 0.35; kappa = 0.25 / 0.65
    three = ([("first", "first")] * 3 + [("first", "second")] + [("second", "second")] * 2
             + [("second", "equal")] + [("equal", "equal")] + [("equal", "first")] * 2)
    assert cohen_kappa(three) == pytest.approx(0.25 / 0.65)
    assert cohen_kappa([("a", "a")] * 4) is None  # one outcome throughout: undefined
    assert cohen_kappa([]) is None
    assert cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)


def test_agreement_counts_ties_apart_and_needs_ten_pairs() -> None:
    pairs = [("first", "first")] * 6 + [("second", "equal")] * 3 + [("equal", "equal")]
    figures = agreement_figures("judge", "abc", pairs)
    assert figures["pairs"] == 10 and figures["agree"] == 7 and figures["judge_tied"] == 3
    assert figures["disagree"] == 3 and figures["agreement"] == pytest.approx(0.7)
    assert figures["enough"] and "not enough evidence" not in figures["text"]
    assert "3 pairs you decided it scored equally (counted as disagreement)" in figures["text"]
    few = agreement_figures("judge", "abc", pairs[:9])
    assert not few["enough"] and "not enough evidence" in few["text"]


def test_agreement_sets_grades_beside_votes_on_the_same_replies(db, library_model) -> None:
    """Stored grades and real votes on the trial's replies (no generation): the judge agrees
    on a winner it scored higher and on a tie it scored equally; a winner it scored lower is a
    disagreement, a winner it scored equally a disagreement counted apart; kappa by hand."""
    from workbench.engine import ReplyStats
    from workbench.trials.judge import _save

    a = make_contender(db, library_model, BASE)
    b = make_contender(db, library_model, {**BASE, "system_prompt": "Be brief."})
    spec = {"rubric": "r", "model": str(library_model.id), "min_score": 3, "scale": 5}
    texts = ["One?", "Two?", "Three?", "Four?"]
    suite = create_suite(db, "agree", [SuitePrompt(t, checks=[{"judge": spec}]) for t in texts])
    trial_id = create_trial(db, suite.id, [a, b], seed=1)
    scores = {"One?": (5, 2), "Two?": (3, 3), "Three?": (1, 4), "Four?": (4, 4)}
    for prompt in suite.prompts:
        for contender, score in zip((a, b), scores[prompt.prompt], strict=True):
            store.save_cell(db, trial_id, prompt.id, contender.id, 0, "reply", ReplyStats(),
                            None, [{"check": normalize_check({"judge": spec}), "passed": None,
                                    "detail": "waiting for the judge"}])
            cell = next(c for c in store.trial_cells(db, trial_id)
                        if (c["prompt_id"], c["contender_id"]) == (prompt.id, contender.id))
            _save(db, cell, 0, spec, {"score": score, "passed": int(score >= 3),
                                      "reason": "because", "judge_model": "J",
                                      "judge_sha256": "abc", "self_judged": 1})
    for number, choice in ((1, "a"), (2, "tie"), (3, "a"), (4, "a")):
        cast_vote(db, compare_trial_cells(db, trial_id, number, blind=False), choice)
    [row] = judge_agreement(db, trial_id)
    assert (row["pairs"], row["agree"], row["disagree"], row["judge_tied"]) == (4, 2, 2, 1)
    # you: first, equal, first, first; judge: first, equal, second, equal
    # p_o = 2/4; p_e = (3*1 + 1*2) / 16 = 5/16; kappa = (1/2 - 5/16) / (11/16) = 3/11
    assert row["kappa"] == pytest.approx(3 / 11)
    assert not row["enough"] and "not enough evidence" in row["text"]
    cell = store.trial_cells(db, trial_id)[0]
    assert cell["passed"] == 1 and cell["check_results"][0]["score"] == 5


def test_a_failed_reply_is_not_graded_and_stays_failed(db, engine, library_model) -> None:
    small = make_contender(db, library_model, {**BASE, "n_ctx": 256})
    long_prompt = "Tell me about this. " * 200  # far more than 256 tokens: the cell errors
    suite = create_suite(db, "overflow", [SuitePrompt(long_prompt,
                                                      checks=[_judge(library_model.id)])])
    trial_id = create_trial(db, suite.id, [small], seed=1)
    list(TrialRun(db, engine, trial_id))
    [cell] = store.trial_cells(db, trial_id)
    assert cell["status"] == "error" and cell["passed"] == 0
    [grade] = store.trial_judgements(db, trial_id)
    assert grade["score"] is None and "the reply failed" in grade["error"]
    assert trial_summary(db, trial_id)["judge_pending"] == 0
