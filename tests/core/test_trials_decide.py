"""The decision rule without llama.cpp: Wilson bounds over prompts, the three outcomes of each
part of the bar, no bar means no choice, the exact McNemar test against hand-computed values,
and the simulation that motivated it all (a contender under the bar is rarely recommended)."""

from __future__ import annotations

import random

import pytest

from workbench.errors import InvalidInputError
from workbench.trials.recommend import (
    FAILS,
    MEETS,
    UNSURE,
    Bar,
    judge,
    make_bar,
    paired_lines,
    recommend,
)
from workbench.trials.results import _pass_figures, prompt_scores
from workbench.trials.sequential import more_to_meet, settle
from workbench.trials.stats import (
    binomial_two_sided,
    min_discordant_for_significance,
    needed_split,
    paired_test,
    wilson,
)


def _row(label, size, passed, checked, scores=None, tps=None, runs=0, votes=0, good=0):
    return {"label": label, "file_size": size, "peak_rss": size, "prompts_checked": checked,
            "prompts_passed": passed, "pass_rate": passed / checked if checked else None,
            "pass_low": wilson(passed, checked)[0] if checked else None,
            "prompt_scores": scores or {}, "votes": votes, "vote_good": good,
            "vote_share": good / votes if votes else None,
            "gen_tps": {"median": tps, "n": runs}}


def test_intervals_count_prompts_not_repeats() -> None:
    # 10 prompts, 3 repeats each (identical replies): 7 prompts pass every repeat.
    cells = [{"prompt_id": p, "passed": int(p < 7)} for p in range(10) for _ in range(3)]
    figures = _pass_figures(prompt_scores(cells))
    assert figures["prompts_checked"] == 10 and figures["prompts_passed"] == 7
    # the interval shown is exact (Clopper-Pearson) over the 10 prompts
    assert (round(figures["pass_low"], 2), round(figures["pass_high"], 2)) == (0.35, 0.93)
    assert tuple(round(v, 2) for v in wilson(21, 30)) == (0.52, 0.83)  # the old, cell count
    # A prompt whose repeats disagree scores its share of passes.
    mixed = prompt_scores([{"prompt_id": 1, "passed": 1}, {"prompt_id": 1, "passed": 0},
                           {"prompt_id": 1, "passed": 1}, {"prompt_id": 2, "passed": None}])
    assert mixed == {1: pytest.approx(2 / 3)}


def test_three_passing_prompts_are_too_few_for_an_80_percent_bar() -> None:
    assert wilson(3, 3)[0] == pytest.approx(0.4385, abs=1e-4)
    verdict = recommend([_row("small", 100, 3, 3)], Bar(min_pass_rate=0.8))
    assert verdict.choice is None and "evidence is too thin" in verdict.reason
    part = verdict.verdicts[0].parts[0]
    # the rule that holds however often it is checked: 21 more, all passing, settle it
    assert part.outcome == UNSURE and part.more_needed == 21
    assert settle(24, 24, 0.8) == MEETS and settle(23, 23, 0.8) == UNSURE
    assert "21 more prompts, all passing, would settle it" in part.text
    enough = recommend([_row("small", 100, 24, 24)], Bar(min_pass_rate=0.8))
    assert enough.choice is not None and enough.verdicts[0].parts[0].outcome == MEETS


def test_each_part_meets_fails_or_lacks_evidence() -> None:
    bar = Bar(min_pass_rate=0.8, min_vote_share=0.5, min_tps=10)
    failing = judge(_row("x", 1, 4, 20, tps=5.0, runs=3, votes=30, good=5), bar)
    assert [p.outcome for p in failing.parts] == [FAILS, FAILS, FAILS]
    assert failing.parts[0].high < 0.8 and "shown below 80%" in failing.parts[0].text
    thin = judge(_row("y", 1, 9, 10, tps=50.0, runs=2, votes=2, good=2), bar)
    assert [p.outcome for p in thin.parts] == [UNSURE, UNSURE, UNSURE]
    assert thin.parts[2].more_needed == 1 and "at least 3" in thin.parts[2].text
    good = judge(_row("z", 1, 40, 40, tps=50.0, runs=3, votes=30, good=25), bar)
    assert good.meets and [p.outcome for p in good.parts] == [MEETS] * 3
    assert more_to_meet(10, 10, 1.0 - 1e-12) is None  # 100% can never be shown


def test_no_bar_means_no_choice_but_a_ranking() -> None:
    rows = [_row("weak", 100, 0, 6), _row("strong", 900, 6, 6)]
    verdict = recommend(rows, Bar())
    assert verdict.choice is None and verdict.reason.startswith("No bar set")
    assert verdict.ranked == ["strong", "weak"] and "Set a bar" in verdict.reason
    assert verdict.to_dict()["choice"] is None and verdict.to_dict()["bar_set"] is False


def test_make_bar_reads_percentages_and_none() -> None:
    assert make_bar(80, 0.5, 12) == Bar(0.8, 0.5, 12)
    assert make_bar(0, None, 0) == Bar()  # 0: not required
    with pytest.raises(InvalidInputError, match="100% bar can never be shown"):
        make_bar(100)
    with pytest.raises(InvalidInputError, match="--min-vote-share"):
        make_bar(None, 120)


def test_exact_mcnemar_against_hand_computed_values() -> None:
    assert binomial_two_sided(0, 3) == 0.25  # 2 · (1/2)^3
    assert binomial_two_sided(3, 3) == 0.25
    assert binomial_two_sided(1, 10) == pytest.approx(22 / 1024)  # 2 · (1 + 10) / 2^10
    assert binomial_two_sided(2, 10) == pytest.approx(112 / 1024)  # 2 · (1 + 10 + 45) / 2^10
    assert binomial_two_sided(5, 10) == 1.0 and binomial_two_sided(0, 0) == 1.0
    assert min_discordant_for_significance() == 6  # 2/64 < 0.05 <= 2/32
    assert needed_split(10) == 8  # 9 vs 1 (p = 0.021); 8 vs 2 gives p = 0.11
    assert needed_split(3) is None
    # The example: the 7B passes 3 more of 40 prompts, discordant on those 3 only.
    big = {p: 1.0 for p in range(40)}
    small = {p: (0.0 if p < 3 else 1.0) for p in range(40)}
    test = paired_test(big, small)
    assert (test.prompts, test.better, test.worse, test.difference) == (40, 3, 0, 3)
    assert test.p_value == 0.25


def test_paired_line_when_a_smaller_one_is_recommended() -> None:
    big_scores = {p: 1.0 for p in range(40)}
    small_scores = {p: (0.0 if p < 3 else 1.0) for p in range(40)}
    rows = [_row("7B", 7000, 40, 40, big_scores), _row("1B", 1000, 37, 40, small_scores)]
    verdict = recommend(rows, Bar(min_pass_rate=0.7))
    assert verdict.choice is not None and verdict.choice["label"] == "1B"
    (line,) = verdict.paired
    assert "7B passed 3 more of 40 prompts; the difference is not significant (p = 0.25" in (
        line["text"])
    assert line["min_detectable"] == 6 and "smallest difference 40 prompts can detect is 6" in (
        line["text"])



def test_paired_line_says_which_split_would_be_significant() -> None:
    """With 10 prompts differing, 9 to 1 is the least lopsided split an exact test accepts."""
    big_scores = {p: 1.0 for p in range(40)}
    small_scores = {p: (0.0 if p < 10 else 1.0) for p in range(40)}
    rows = [_row("7B", 7000, 40, 40, big_scores), _row("1B", 1000, 30, 40, small_scores)]
    (line,) = paired_lines(rows, 1, [0])
    assert "with 10 prompts differing, a split of at least 9 to 1 is needed" in line["text"]
    assert line["significant"]

def _simulate(bar_rate: float, true_rate: float, prompts: int, runs: int, rule: str,
              rng: random.Random) -> float:
    """How often a contender whose true pass rate is ``true_rate`` is judged to meet a
    ``bar_rate`` bar, by the old point-estimate rule or the new lower-bound one."""
    chosen = 0
    for _ in range(runs):
        passed = sum(rng.random() < true_rate for _ in range(prompts))
        if rule == "point":
            chosen += passed / prompts >= bar_rate
        else:
            chosen += recommend([_row("c", 1, passed, prompts)],
                                Bar(min_pass_rate=bar_rate)).choice is not None
    return chosen / runs


@pytest.mark.parametrize("prompts", [3, 10, 30])
def test_a_contender_10_points_under_the_bar_is_rarely_recommended(prompts) -> None:
    rng = random.Random(prompts)
    before = _simulate(0.8, 0.7, prompts, 2000, "point", rng)
    after = _simulate(0.8, 0.7, prompts, 2000, "wilson", rng)
    assert before > 0.1  # the old rule: 12-38% of the time
    assert after < 0.03  # at most the 2.5% a one-sided 95% bound allows, plus noise
