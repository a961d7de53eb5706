"""The recommendation: the smallest contender that does the job.

"Does the job" is the bar the user sets: a minimum pass rate on the checks, a minimum share
of votes won or tied, a minimum generation speed. Any part left unset is not required, but
a part that is set and has no evidence (no checked cells, no votes) is not met: a contender
is not recommended on faith. Among those that meet the bar the smallest file wins, then the
smallest peak memory. When none does, the answer says so and names the one that came closest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Bar:
    min_pass_rate: float | None = None  # 0..1
    min_vote_share: float | None = None  # 0..1, won or tied
    min_tps: float | None = None  # generation tokens/s, warm median

    def describe(self) -> str:
        parts = [f"pass rate ≥ {self.min_pass_rate:.0%}" if self.min_pass_rate is not None
                 else None,
                 f"votes won or tied ≥ {self.min_vote_share:.0%}"
                 if self.min_vote_share is not None else None,
                 f"≥ {self.min_tps:g} tokens/s" if self.min_tps is not None else None]
        return ", ".join(p for p in parts if p) or "no bar set"


@dataclass
class Recommendation:
    choice: dict[str, Any] | None
    reason: str
    closest: dict[str, Any] | None
    verdicts: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"choice": self.choice["label"] if self.choice else None, "reason": self.reason,
                "closest": self.closest["label"] if self.closest else None,
                "verdicts": self.verdicts}


def _tps(row: dict[str, Any]) -> float | None:
    value = row.get("gen_tps")
    return value.get("median") if isinstance(value, dict) else value


def _judge(row: dict[str, Any], bar: Bar) -> tuple[list[str], float]:
    """The parts of the bar missed (as phrases) and a shortfall score (0 = meets all)."""
    missed: list[str] = []
    shortfall = 0.0
    checks = (
        ("pass rate", row.get("pass_rate"), bar.min_pass_rate, row.get("checked", 0),
         "no checked results", lambda v: f"{v:.0%}"),
        ("votes won or tied", row.get("vote_share"), bar.min_vote_share, row.get("votes", 0),
         "no votes", lambda v: f"{v:.0%}"),
        ("speed", _tps(row), bar.min_tps, 1, "no speed measured", lambda v: f"{v:.1f} tok/s"),
    )
    for name, value, need, evidence, absent, fmt in checks:
        if need is None:
            continue
        if value is None or not evidence:
            missed.append(absent)
            shortfall += 1.0
        elif value < need:
            missed.append(f"{name} {fmt(value)} < {fmt(need)}")
            shortfall += (need - value) / need if need else 1.0
    return missed, shortfall


def recommend(rows: list[dict[str, Any]], bar: Bar) -> Recommendation:
    """Rows are per-contender summaries (``trial_summary()['contenders']``)."""
    verdicts = []
    for row in rows:
        missed, shortfall = _judge(row, bar)
        verdicts.append({"label": row["label"], "meets": not missed, "missed": missed,
                         "shortfall": shortfall, "file_size": row.get("file_size", 0),
                         "peak_rss": row.get("peak_rss", 0)})
    if not rows:
        return Recommendation(None, "No contenders to judge.", None, verdicts)
    by_size = sorted(range(len(rows)), key=lambda i: (rows[i].get("file_size") or 0,
                                                      rows[i].get("peak_rss") or 0))
    meeting = [i for i in by_size if verdicts[i]["meets"]]
    if meeting:
        best = rows[meeting[0]]
        others = len(meeting) - 1
        reason = (f"{best['label']} is the smallest contender "
                  f"({best.get('file_size', 0) / 1e6:,.0f} MB, peak "
                  f"{(best.get('peak_rss') or 0) / 1e6:,.0f} MB) that meets the bar "
                  f"({bar.describe()})" + (f"; {others} larger one{'s' if others > 1 else ''} "
                                            "also meet it." if others else "."))
        return Recommendation(best, reason, None, verdicts)
    closest_index = min(by_size, key=lambda i: verdicts[i]["shortfall"])
    closest = rows[closest_index]
    reason = (f"No contender meets the bar ({bar.describe()}). Closest: {closest['label']} "
              f"({'; '.join(verdicts[closest_index]['missed'])}).")
    return Recommendation(None, reason, closest, verdicts)
