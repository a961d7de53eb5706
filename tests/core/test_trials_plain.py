"""The verdict in plain words and settings as words: pure, no model, no database."""

from __future__ import annotations

from workbench.trials.plain import (
    contender_in_words,
    failure_reasons,
    plain_verdict,
    settings_in_words,
)
from workbench.trials.recommend import Bar, recommend
from workbench.trials.report import recommendation_lines
from workbench.trials.sequential import ALPHA, more_to_meet
from workbench.trials.stats import wilson

GREEDY = {"temperature": 0.0, "max_tokens": 256, "n_ctx": 4096, "top_p": 0.95, "seed": None}


def _row(model, size, passed, checked, *, kind=None, echoes=0, settings=None, label=None):
    return {"label": label or f"{model} [max_tokens=256, temperature=0.0]", "model": model,
            "name": f"{model} ({settings_in_words(settings or GREEDY)})",  # as trial_summary
            "settings": settings or GREEDY, "file_size": size, "peak_rss": size,
            "prompts_checked": checked, "prompts_passed": passed,
            "pass_rate": passed / checked if checked else None,
            "pass_low": wilson(passed, checked)[0] if checked else None,
            "prompt_scores": {p: float(p < passed) for p in range(checked)}, "votes": 0,
            "gen_tps": {"median": 40.0, "n": 5}, "kind": kind, "echoes": echoes}


SMOL = _row("SmolLM2", 98_400_000, 4, 4)
GEMMA = _row("gemma-3-270m", 240_000_000, 0, 4, kind="base model (not tuned for chat)",
             echoes=4)


def test_not_enough_evidence_names_the_leader_the_failure_and_what_would_settle_it() -> None:
    text = plain_verdict(recommend([SMOL, GEMMA], Bar(min_pass_rate=0.8)))
    # the same rule as the verdict (the confidence sequence, at Holm's level for the first of
    # two contenders), not a made-up number
    more = more_to_meet(4, 4, 0.8, ALPHA / 2)
    assert more is not None and more > 0
    assert text.startswith("Best so far: SmolLM2 (98.4 MB): 4 of 4 prompts passed.")
    assert ("gemma-3-270m: 0 of 4: base model (not tuned for chat), 4 echoes of the prompt."
            in text)
    assert text.endswith(f"To be sure SmolLM2 reaches 80%, it needs to pass {more} more "
                         "prompts.")
    assert "Recommended" not in text and "interval" not in text and "[" not in text


def test_a_pass_is_a_recommendation_and_a_bigger_one_not_better_is_said_so() -> None:
    small, big = _row("Small", 1_000_000, 40, 40), _row("Big", 9_000_000, 40, 40)
    text = plain_verdict(recommend([big, small], Bar(min_pass_rate=0.8)))
    assert text.startswith("Recommended: Small (1.0 MB), the smallest shown to meet your bar "
                           "(pass rate ≥ 80%): 40 of 40 prompts passed.")
    assert "Big is bigger and did no better on these prompts." in text


def test_a_fail_says_no_contender_meets_the_bar() -> None:
    rows = [_row("A", 1000, 2, 40), _row("B", 5000, 3, 40)]
    text = plain_verdict(recommend(rows, Bar(min_pass_rate=0.8)))
    assert text.startswith("No contender meets your bar (pass rate ≥ 80%).")
    assert "B falls short of 80% pass rate." in text
    assert "Recommended" not in text and "needs to pass" not in text


def test_no_bar_asks_for_one_and_nothing_checked_asks_for_checks() -> None:
    text = plain_verdict(recommend([SMOL, GEMMA], Bar()))
    assert text.startswith("Best so far: SmolLM2") and text.endswith(
        "Set a minimum pass rate to get a recommendation.")
    empty = plain_verdict(recommend([_row("A", 1, 0, 0), _row("B", 2, 0, 0)],
                                    Bar(min_pass_rate=0.8)))
    assert empty.startswith("No prompt has been checked yet")
    assert plain_verdict(recommend([], Bar(min_pass_rate=0.8))) == "No contenders to judge yet."


def test_equal_records_are_not_a_leader() -> None:
    rows = [_row("A", 1000, 3, 3), _row("B", 5000, 3, 3)]
    text = plain_verdict(recommend(rows, Bar(min_pass_rate=0.8)))
    assert text.startswith("No clear leader yet: ") and "Best so far" not in text


def test_two_contenders_of_one_model_are_told_apart_by_their_settings_in_words() -> None:
    warm = {**GREEDY, "temperature": 0.8, "seed": 3}
    rows = [_row("SmolLM2", 1000, 4, 4), _row("SmolLM2", 1000, 1, 4, settings=warm)]
    text = plain_verdict(recommend(rows, Bar(min_pass_rate=0.8)))
    assert "SmolLM2 (greedy, up to 256 tokens)" in text
    assert "SmolLM2 (temperature 0.8, seed 3, up to 256 tokens): 1 of 4." in text


def test_settings_in_words() -> None:
    assert settings_in_words(GREEDY) == "greedy, up to 256 tokens"
    assert settings_in_words({"temperature": 0.7, "top_p": 0.9, "max_tokens": None,
                              "n_ctx": 2048, "system_prompt": "Be brief.",
                              "json_schema": "{}"}) == (
        "temperature 0.7, top-p 0.9, no length limit, 2048-token context, a system prompt, "
        "JSON output")
    assert settings_in_words({}) == "default settings"
    assert contender_in_words(SMOL) == "SmolLM2 (greedy, up to 256 tokens)"
    assert contender_in_words({"label": "q4 vs f16"}) == "q4 vs f16"
    assert failure_reasons(GEMMA) == ["base model (not tuned for chat)",
                                      "4 echoes of the prompt"]


def test_the_report_opens_with_the_same_sentence_and_says_settings_in_words() -> None:
    rec = recommend([SMOL, GEMMA], Bar(min_pass_rate=0.8))
    lines = recommendation_lines(rec)
    assert lines[0] == plain_verdict(rec)
    assert "- SmolLM2 (greedy, up to 256 tokens):" in lines
    assert ("- gemma-3-270m (greedy, up to 256 tokens); base model (not tuned for chat); "
            "4 echoes of the prompt:") in lines
    assert not any("max_tokens=" in line for line in lines)
