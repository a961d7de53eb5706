"""The recommendation: the smallest contender shown, at 95% confidence, to do the job.

"Does the job" is the bar the user sets: a minimum pass rate on the checks, a minimum share
of votes won or tied, a minimum generation speed. Each part that is set is judged on the
evidence, not on a point estimate:

- pass rate: a 95% confidence sequence over prompts (a prompt scores the share of its
  repeats that pass; see :mod:`.sequential`), valid however often it is read: after every
  prompt of a running trial, at an early stop, after the suite is extended. *Meets* when the
  evidence shows the rate above the bar, *fails* when it shows it below, otherwise *not
  enough evidence*, with how many more prompts, all passing, the same rule needs;
- votes won or tied: the same, over the votes the contender took part in;
- speed: the median generation speed of warm runs, once at least 3 were measured.

With several contenders, "meets" is held to Holm's step-down levels across them, so the
chance of recommending any contender that does not truly meet the bar stays at 2.5% (one
side of 95%), not 2.5% per contender. A trial still running says so.

A contender is recommended only when every part that is set *meets*; among those the
smallest file wins, then the smallest peak memory. With no bar set nothing is recommended:
the contenders are ranked and the answer asks for a bar. When a smaller contender is chosen,
each larger one is compared with it on the same prompts (exact McNemar test), so the user
sees whether the bigger model is measurably better on these prompts or not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.errors import InvalidInputError
from workbench.trials.sequential import (
    ALPHA,
    holm,
    meets_p,
    more_to_meet,
    sequence_bounds,
    settle,
)
from workbench.trials.stats import min_discordant_for_significance, needed_split, paired_test
from workbench.units import human_size, human_tps

MEETS, FAILS, UNSURE = "meets", "fails", "not enough evidence"
MIN_SPEED_RUNS = 3  # warm runs before a median speed is judged


@dataclass
class Bar:
    min_pass_rate: float | None = None  # 0..1
    min_vote_share: float | None = None  # 0..1, won or tied
    min_tps: float | None = None  # generation tokens/s, warm median
    #: top-1 agreement with a reference file (quant-compare), 0..1
    min_agreement: float | None = None

    def is_set(self) -> bool:
        return any(v is not None for v in (self.min_pass_rate, self.min_vote_share,
                                           self.min_tps, self.min_agreement))

    def describe(self) -> str:
        parts = [f"pass rate ≥ {self.min_pass_rate:.0%}" if self.min_pass_rate is not None
                 else None,
                 f"votes won or tied ≥ {self.min_vote_share:.0%}"
                 if self.min_vote_share is not None else None,
                 f"≥ {human_tps(self.min_tps)}" if self.min_tps is not None else None,
                 f"top-1 agreement ≥ {self.min_agreement:.0%}"
                 if self.min_agreement is not None else None]
        return ", ".join(p for p in parts if p) or "no bar set"

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


@dataclass
class Part:
    """One part of the bar judged for one contender, with the numbers behind the verdict."""

    name: str  # pass rate, votes won or tied, speed
    outcome: str  # meets, fails, not enough evidence
    need: float
    value: float | None  # the point estimate (a share, or tokens/s)
    low: float | None  # 95% interval (None for speed)
    high: float | None
    count: float  # prompts passed, votes won or tied, warm runs measured
    total: int  # prompts checked, votes, warm runs
    more_needed: int | None  # more prompts (all passing) / votes / runs that would settle it
    text: str
    #: the chance of a false "meets" this part was held to (2.5%, less under Holm)
    level: float = ALPHA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    label: str
    contender_id: int | None
    meets: bool
    parts: list[Part]
    file_size: int
    peak_rss: int

    @property
    def missed(self) -> list[str]:
        return [p.text for p in self.parts if p.outcome != MEETS]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "contender_id": self.contender_id, "meets": self.meets,
                "outcome": _overall(self.parts), "parts": [p.to_dict() for p in self.parts],
                "missed": self.missed, "file_size": self.file_size, "peak_rss": self.peak_rss}


@dataclass
class Recommendation:
    choice: dict[str, Any] | None
    reason: str
    closest: dict[str, Any] | None
    verdicts: list[Verdict]
    bar: Bar = field(default_factory=Bar)
    paired: list[dict[str, Any]] = field(default_factory=list)
    ranked: list[str] = field(default_factory=list)  # labels, best first
    #: The rows judged, in the verdicts' order: the plain verdict (:mod:`.plain`) reads the
    #: model names, sizes and failure reasons from them.
    rows: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The reason, then the paired-comparison lines: what the CLI and reports print."""
        return [self.reason, *(p["text"] for p in self.paired)]

    def to_dict(self) -> dict[str, Any]:
        return {"choice": self.choice["label"] if self.choice else None, "reason": self.reason,
                "closest": self.closest["label"] if self.closest else None,
                "bar": self.bar.to_dict(), "bar_set": self.bar.is_set(),
                "verdicts": [v.to_dict() for v in self.verdicts], "paired": self.paired,
                "ranked": self.ranked}


def _overall(parts: list[Part]) -> str:
    outcomes = {p.outcome for p in parts}
    if not parts:
        return "no bar"
    return FAILS if FAILS in outcomes else UNSURE if UNSURE in outcomes else MEETS


def _name(row: dict[str, Any]) -> str:
    """How the text names a contender: its model with its settings in words when the row
    has them (``trial_summary`` adds ``name``), else its stored label."""
    return str(row.get("name") or row["label"])


def _count(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.1f}"


def _share_part(name: str, need: float, successes: float, total: int, unit: str,
                more_unit: str, level: float = ALPHA) -> Part:
    """A proportion judged by the confidence sequence (:mod:`.sequential`): "meets" at
    ``level`` (Holm's across contenders), "fails" at 2.5%."""
    held = (f" (held to {level:.2%} for a false \"meets\" across the contenders, Holm)"
            if level < ALPHA - 1e-12 else "")
    if total <= 0:
        more = more_to_meet(0, 0, need, level)
        text = f"{name}: no {unit} yet" + (
            f"; at least {more} {more_unit} would be needed" if more else "")
        return Part(name, UNSURE, need, None, None, None, 0, 0, more, text, level)
    low = sequence_bounds(successes, total, level)[0]
    high = sequence_bounds(successes, total)[1]
    value = successes / total
    numbers = (f"{name} {value:.0%} ({_count(successes)} of {total} {unit}, 95% interval "
               f"{low:.0%}–{high:.0%}, valid however often it is checked)")
    if meets_p(successes, total, need) <= level:
        return Part(name, MEETS, need, value, max(low, need), high, successes, total, 0,
                    f"{numbers}: shown ≥ {need:.0%}{held}", level)
    if settle(successes, total, need) == FAILS:
        return Part(name, FAILS, need, value, low, min(high, need), successes, total, None,
                    f"{numbers}: shown below {need:.0%}", level)
    more = more_to_meet(successes, total, need, level)
    settle_text = (f"{more} more {more_unit} would settle it" if more is not None else
                   f"no number of {unit} can show {need:.0%} with 95% confidence")
    return Part(name, UNSURE, need, value, low, high, successes, total, more,
                f"{numbers}: too few {unit} to show ≥ {need:.0%}{held}; {settle_text}", level)


def _speed_part(need: float, row: dict[str, Any]) -> Part:
    spread = row.get("gen_tps")
    median = spread.get("median") if isinstance(spread, dict) else spread
    runs = int(spread.get("n") or 0) if isinstance(spread, dict) else int(median is not None)
    if median is None or runs < MIN_SPEED_RUNS:
        more = MIN_SPEED_RUNS - runs
        shown = f"median {human_tps(median)} of {runs} warm run{'s' * (runs != 1)}" if (
            median is not None) else "no warm run measured"
        return Part("speed", UNSURE, need, median, None, None, runs, runs, more,
                    f"speed: {shown}; {more} more warm run{'s' * (more != 1)} needed "
                    f"(at least {MIN_SPEED_RUNS})")
    numbers = f"speed {human_tps(median)} (median of {runs} warm runs)"
    if median >= need:
        return Part("speed", MEETS, need, median, None, None, runs, runs, 0,
                    f"{numbers} ≥ {need:g}")
    return Part("speed", FAILS, need, median, None, None, runs, runs, None,
                f"{numbers} < {need:g}")


def _prompt_counts(row: dict[str, Any]) -> tuple[float, int]:
    """Passing prompts (fractional with repeats) and prompts checked."""
    if "prompts_checked" in row:
        return float(row.get("prompts_passed") or 0), int(row["prompts_checked"] or 0)
    checked = int(row.get("checked") or 0)
    return float(row.get("pass_rate") or 0) * checked, checked


def _share(option: str, value: float | None) -> float | None:
    """A share given as 0-1 or as a percentage (above 1); 0 or None: not required."""
    if value is None or value == 0:
        return None
    share = value / 100 if value > 1 else value
    if not 0 < share < 1:
        raise InvalidInputError(
            f"{option} {value:g}: must be above 0 and below 100% (a 100% bar can never be "
            "shown with 95% confidence; 0 or none means not required)")
    return share


def make_bar(min_pass_rate: float | None, min_vote_share: float | None = None,
             min_tps: float | None = None, min_agreement: float | None = None) -> Bar:
    """The bar from user values: shares as 0-1 or percentages, 0 or None for "not required"."""
    if min_tps is not None and min_tps < 0:
        raise InvalidInputError(f"--min-tps {min_tps:g}: must be 0 or more")
    return Bar(_share("--min-pass-rate", min_pass_rate),
               _share("--min-vote-share", min_vote_share), min_tps or None,
               _share("--min-agreement", min_agreement))


def judge(row: dict[str, Any], bar: Bar, level: float = ALPHA) -> Verdict:
    """Every part of the bar for one contender; "meets" held to ``level``."""
    parts = []
    if bar.min_pass_rate is not None:
        passed, checked = _prompt_counts(row)
        parts.append(_share_part("pass rate", bar.min_pass_rate, passed, checked, "prompts",
                                 "prompts, all passing,", level))
    if bar.min_vote_share is not None:
        votes = int(row.get("votes") or 0)
        good = row.get("vote_good")
        if good is None:
            good = (row.get("vote_share") or 0) * votes
        parts.append(_share_part("votes won or tied", bar.min_vote_share, float(good), votes,
                                 "votes", "votes, all won or tied,", level))
    if bar.min_tps is not None:
        parts.append(_speed_part(bar.min_tps, row))
    if bar.min_agreement is not None:
        # positions scored by quant-compare, each agreeing with the reference's top token
        parts.append(_share_part("top-1 agreement", bar.min_agreement,
                                 float(row.get("agree") or 0), int(row.get("positions") or 0),
                                 "positions", "positions, all agreeing,", level))
    return Verdict(row["label"], row.get("contender_id"),
                   bool(parts) and all(p.outcome == MEETS for p in parts), parts,
                   int(row.get("file_size") or 0), int(row.get("peak_rss") or 0))


def _rank_key(row: dict[str, Any]) -> tuple[float, float, float, int]:
    low = row.get("pass_low")
    share = row.get("vote_share")
    spread = row.get("gen_tps")
    tps = spread.get("median") if isinstance(spread, dict) else spread
    return (-(low if low is not None else -1.0), -(share if share is not None else -1.0),
            -(tps or 0.0), int(row.get("file_size") or 0))


def _closeness(verdict: Verdict) -> tuple[int, int, float]:
    """Fewest failing parts, then fewest unsettled ones, then the smallest gap to the bar."""
    failing = sum(p.outcome == FAILS for p in verdict.parts)
    unsure = sum(p.outcome == UNSURE for p in verdict.parts)
    gap = sum(max(0.0, (p.need - (p.value or 0.0)) / p.need) if p.need else 0.0
              for p in verdict.parts if p.outcome != MEETS)
    return failing, unsure, gap


def paired_lines(rows: list[dict[str, Any]], chosen: int,
                 larger: list[int]) -> list[dict[str, Any]]:
    """The chosen contender against each larger one on the prompts both were checked on."""
    base = rows[chosen]
    smallest = min_discordant_for_significance()
    out = []
    for index in larger:
        other = rows[index]
        scores_a = other.get("prompt_scores") or {}
        scores_b = base.get("prompt_scores") or {}
        test = paired_test(scores_a, scores_b)
        if not test.prompts:
            continue
        diff = test.difference
        if abs(diff) < 1e-9:
            how = f"{_name(other)} passed as many of the {test.prompts} prompts"
        else:
            how = (f"{_name(other)} passed {_count(abs(diff))} "
                   f"{'more' if diff > 0 else 'fewer'} of {test.prompts} prompts")
        discordant = test.better + test.worse
        significant = test.p_value < 0.05
        verdict = (f"the difference is {'significant' if significant else 'not significant'} "
                   f"(p = {test.p_value:.2g}, exact McNemar test on the {discordant} "
                   f"prompt{'s' * (discordant != 1)} where they differ)")
        if test.prompts < smallest:
            detect = (f"{test.prompts} prompts cannot show any difference: an exact test "
                      f"needs at least {smallest} prompts that one passes and the other fails")
        else:
            need = needed_split(discordant) if discordant >= smallest else None
            detect = (f"the smallest difference {test.prompts} prompts can detect is "
                      f"{smallest} prompts (all going one way)")
            if need is not None and need > smallest:
                detect += (f"; with {discordant} prompts differing, a split of at least "
                           f"{(discordant + need) // 2} to {(discordant - need) // 2} is "
                           "needed")
        out.append({"label": other["label"], "against": base["label"], **test.to_dict(),
                    "significant": significant, "min_detectable": smallest,
                    "text": f"Against {_name(base)}: {how}; {verdict}. Note: {detect}."})
    return out


def recommend(rows: list[dict[str, Any]], bar: Bar) -> Recommendation:
    """Rows are per-contender summaries (``trial_summary()['contenders']``)."""
    rec = _recommend(rows, bar)
    rec.rows = list(rows)
    return rec


def _meets_p(verdict: Verdict) -> float:
    """The chance of this much evidence if the contender did not meet the bar: the largest
    of its parts' (all must hold); a speed part is measured, not sampled: 0 or 1."""
    worst = 0.0
    for part in verdict.parts:
        if part.name == "speed":
            worst = max(worst, 0.0 if part.outcome == MEETS else 1.0)
        else:
            worst = max(worst, meets_p(part.count, part.total, part.need)
                        if part.total else 1.0)
    return worst


def holm_levels(verdicts: list[Verdict]) -> list[float]:
    """Each contender's level for a false "meets" under Holm's step-down procedure: the ones
    it shows keep their own level; the rest are held to the level where it stopped."""
    result = holm([_meets_p(v) for v in verdicts])
    stop = min((lv for lv, r in zip(result.levels, result.rejected, strict=True) if not r),
               default=ALPHA)
    return [lv if r else stop for lv, r in zip(result.levels, result.rejected, strict=True)]


def progress_note(rows: list[dict[str, Any]]) -> str:
    """Where an unfinished trial stands, and which contenders stopped early and why."""
    notes = []
    for row in rows:
        stop = row.get("stopped")
        total = row.get("prompts_total")
        if stop:
            notes.append(f"{_name(row)} {stop['text']}")
        elif total and int(row.get("prompts_run") or 0) < int(total):
            notes.append(f"the trial is unfinished: {_name(row)} has run "
                         f"{row.get('prompts_run') or 0} of {total} prompts")
    if not notes:
        return ""
    text = "; ".join(notes)
    return (text[:1].upper() + text[1:] + ". The verdict holds however often it is checked; "
            "the prompts not run can be run with 'trial resume --no-stop-early'.")


def _recommend(rows: list[dict[str, Any]], bar: Bar) -> Recommendation:
    rec = _decide(rows, bar)
    note = progress_note(rows)
    if note:
        rec.reason = f"{rec.reason} {note}"
    return rec


def _decide(rows: list[dict[str, Any]], bar: Bar) -> Recommendation:
    verdicts = [judge(row, bar) for row in rows]
    if len(verdicts) > 1:
        verdicts = [judge(row, bar, level)
                    for row, level in zip(rows, holm_levels(verdicts), strict=True)]
    ranked = [rows[i]["label"] for i in sorted(range(len(rows)),
                                               key=lambda i: _rank_key(rows[i]))]
    if not rows:
        return Recommendation(None, "No contenders to judge.", None, verdicts, bar)
    if not bar.is_set():
        names = [_name(rows[i]) for i in sorted(range(len(rows)),
                                                key=lambda i: _rank_key(rows[i]))]
        reason = ("No bar set, so nothing is recommended. Ranked by pass rate (95% lower "
                  f"bound), votes and speed: {', '.join(names)}. Set a bar (a minimum pass "
                  "rate, share of votes won or tied, or speed) to get a recommendation.")
        return Recommendation(None, reason, None, verdicts, bar, ranked=ranked)
    by_size = sorted(range(len(rows)), key=lambda i: (rows[i].get("file_size") or 0,
                                                      rows[i].get("peak_rss") or 0))
    meeting = [i for i in by_size if verdicts[i].meets]
    if meeting:
        best = rows[meeting[0]]
        together = f" (all {len(rows)} contenders held to it together)" if len(rows) > 1 else ""
        others = len(meeting) - 1
        evidence = "; ".join(p.text for p in verdicts[meeting[0]].parts)
        peak = ("" if "agree" in best and not best.get("peak_rss")  # a quant-compare row
                else f", peak {human_size(best.get('peak_rss') or 0)}")
        reason = (f"{_name(best)} is the smallest contender "
                  f"({human_size(best.get('file_size') or 0)}{peak}) shown at 95% "
                  f"confidence{together} to "
                  f"meet the bar ({bar.describe()}): {evidence}."
                  + (f" {others} larger one{'s' if others > 1 else ''} also meet"
                     f"{'' if others > 1 else 's'} it." if others else ""))
        larger = by_size[by_size.index(meeting[0]) + 1:]
        return Recommendation(best, reason, None, verdicts, bar,
                              paired_lines(rows, meeting[0], larger), ranked)
    closest_index = min(by_size, key=lambda i: _closeness(verdicts[i]))
    closest = rows[closest_index]
    missing = "; ".join(verdicts[closest_index].missed)
    if _closeness(verdicts[closest_index])[0] == 0:  # nothing fails, something unsettled
        reason = (f"No contender is shown to meet the bar ({bar.describe()}) yet: the "
                  f"evidence is too thin. Closest: {_name(closest)} ({missing}).")
    else:
        reason = (f"No contender meets the bar ({bar.describe()}). Closest: "
                  f"{_name(closest)} ({missing}).")
    return Recommendation(None, reason, closest, verdicts, bar, ranked=ranked)
