"""What a trial and the votes add up to: the prompt × contender matrix, per-contender
summaries (pass rate over prompts, speed with spread, cold run apart), and the leaderboards.

What counts where:

- a trial's table and recommendation use only that trial's evidence: its cells, its checks
  and the votes cast on comparisons made from its cells (``comparisons.trial_id``);
- the leaderboard (:func:`leaderboard`) is separate: every trial and every comparison, with
  contenders of the same identity (model sha256 + text-shaping settings) counted together
  and grouped by model (:func:`group_by_model`), settings variants as sub-rows.

A pass rate counts prompts, not cells: a prompt scores the share of its repeats that pass,
and the 95% interval (exact, Clopper-Pearson) is over the number of prompts (with fractional
successes), since repeats of one prompt are not independent evidence about the suite. On the
leaderboard a prompt is counted once across trials: its identity is its text, system prompt
and checks (:func:`prompt_identity`), so a rerun of the same suite adds repeats of the same
prompts, not new prompts (8 of 10 stays "80% of 10", never "80% of 20").
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from workbench.engine.tools import tool_names
from workbench.library import base_model_label
from workbench.trials import store
from workbench.trials.checks import is_echo
from workbench.trials.contenders import (
    Contender,
    contender_identity,
    get_contender,
    list_contenders,
    text_settings,
    variant_label,
)
from workbench.trials.judge import JUDGE_PROMPT_SHA256, cell_grades, judge_agreement, pending
from workbench.trials.plain import settings_in_words
from workbench.trials.sequential import clopper_pearson
from workbench.trials.sources import retrieval_summary
from workbench.trials.stats import rate_with_intervals, spread
from workbench.trials.suites import get_suite
from workbench.trials.votes import Game, vote_games

TRIAL_SCOPE = ("Only this trial counts here: its cells, its checks and the votes cast on its "
               "cells. The leaderboard across all trials and comparisons is separate "
               "(llm-workbench leaderboard).")
BOARD_SCOPE = ("Across every trial and comparison: votes from all comparisons, pass rates "
               "from all trials. A trial's own table counts only that trial.")


def prompt_scores(cells: Iterable[dict[str, Any]], key: str = "prompt_id"
                  ) -> dict[Any, float]:
    """Per prompt, the share of its checked repeats that passed (prompts without a checked
    cell are left out)."""
    tally: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for cell in cells:
        if cell["passed"] is not None:
            entry = tally[cell[key]]
            entry[0] += int(cell["passed"])
            entry[1] += 1
    return {k: passed / checked for k, (passed, checked) in tally.items()}


def _pass_figures(scores: dict[Any, float]) -> dict[str, Any]:
    n = len(scores)
    passed = sum(scores.values())
    low, high = clopper_pearson(passed, n)
    return {"prompts_checked": n, "prompts_passed": passed,
            "pass_rate": passed / n if n else None,
            "pass_low": low if n else None, "pass_high": high if n else None}


def _vote_figures(votes: list[dict[str, Any]], who: dict[int, int], rounds: int
                  ) -> dict[int, dict[str, Any]]:
    """Votes taken part in, won, tied, both-bad, the share won or tied with its Wilson
    interval, and Bradley-Terry ratings, per player (``who`` maps contender id to player)."""
    games: list[list[Game]] = [[(who.get(a, a), who.get(b, b), s) for a, b, s in vote_games(v)]
                               for v in votes]
    # Rows of one identity merged into one player: a player never plays itself, and a vote
    # counts once for it however many of its old rows the vote showed.
    games = [[g for g in vote if g[0] != g[1]] for vote in games]
    ratings = {r.player: r for r in rate_with_intervals(games, rounds=rounds)}
    figures: dict[int, dict[str, Any]] = {}
    for vote in votes:
        for player in dict.fromkeys(who.get(c, c) for c in vote["display_order"]):
            entry = figures.setdefault(player, {"votes": 0, "won": 0, "tied": 0, "bad": 0})
            entry["votes"] += 1
            if vote["outcome"] in ("tie", "bad"):
                entry["tied" if vote["outcome"] == "tie" else "bad"] += 1
            elif who.get(vote["winner_id"], vote["winner_id"]) == player:
                entry["won"] += 1
    for player, entry in figures.items():
        good = entry["won"] + entry["tied"]
        low, high = clopper_pearson(good, entry["votes"])
        rating = ratings.get(player)
        entry.update(vote_good=good, vote_share=good / entry["votes"], vote_low=low,
                     vote_high=high, rating=rating.rating if rating else None,
                     low=rating.low if rating else None, high=rating.high if rating else None,
                     games=rating.games if rating else 0)
    return figures


def _empty_votes() -> dict[str, Any]:
    return {"votes": 0, "won": 0, "tied": 0, "bad": 0, "vote_good": 0, "vote_share": None,
            "vote_low": None, "vote_high": None, "rating": None, "low": None, "high": None,
            "games": 0}


def prompt_identity(prompt: str, system: str | None, checks: Any,
                    tools: str | None = None, tool_results: str | None = None) -> str:
    """One prompt across suites, trials and reruns: a hash of its text, system prompt and
    checks, and its tools and canned results when it offers tools (the contender's settings
    are the leaderboard row's own identity)."""
    if isinstance(checks, str):
        checks = json.loads(checks or "[]")
    parts: list[Any] = [prompt, system or "", checks or []]
    if tools:
        parts += [json.loads(tools), json.loads(tool_results or "null")]
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def tool_figures(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """A contender's tool calls in a trial: how many it made over its cells of prompts that
    offer tools, and how many were valid (parsed, an offered tool, arguments that follow its
    schema); None where it ran no such prompt."""
    records = [c["tool_calls"] for c in cells if c.get("tool_calls")]
    calls = [call for record in records for call in record.get("calls", [])]
    return {"tool_cells": len(records), "tool_calls": len(calls) if records else None,
            "valid_calls": sum(1 for call in calls if call.get("valid")) if records else None}


def leaderboard(db: Database, rounds: int = 300) -> list[dict[str, Any]]:
    """Every contender identity with votes or checked results, across all trials and
    comparisons: Bradley-Terry rating with a 95% bootstrap interval, votes won / tied /
    taken part in, and the pass rate over prompts of all trials. Contender rows of the same
    identity (older databases may hold several) count as one, under the first row's id."""
    contenders = list_contenders(db)
    first: dict[str, Contender] = {}
    who: dict[int, int] = {}
    for c in contenders:
        leader = first.setdefault(contender_identity(c), c)
        who[c.id] = leader.id
    figures = _vote_figures(store.list_votes(db), who, rounds)
    cells = [dict(r) for r in db.query(
        "SELECT c.trial_id, c.prompt_id, c.contender_id, c.passed, p.prompt, p.system, "
        "p.checks, p.tools, p.tool_results FROM trial_cells c "
        "JOIN suite_prompts p ON p.id = c.prompt_id WHERE c.passed IS NOT NULL")]
    by_player: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        cell["trial_prompt"] = prompt_identity(cell["prompt"], cell["system"], cell["checks"],
                                               cell["tools"], cell["tool_results"])
        by_player[who.get(cell["contender_id"], int(cell["contender_id"]))].append(cell)
    leaders = {c.id: c for c in first.values()}
    rows = []
    for player in sorted(set(figures) | set(by_player)):
        c = leaders[player]
        mine = by_player.get(player, [])
        rows.append({
            "contender_id": player, "contender_ids": sorted(k for k, v in who.items()
                                                            if v == player),
            "label": c.label, "model": c.model_name, "model_sha256": c.model_sha256,
            "variant": variant_label(c.settings), "settings": text_settings(c.settings),
            "file_size": c.file_size, **figures.get(player, _empty_votes()),
            "checked": len(mine), "passed": sum(x["passed"] for x in mine),
            **_pass_figures(prompt_scores(mine, key="trial_prompt")),
        })
    return sorted(rows, key=lambda r: (r["rating"] is None, -(r["rating"] or 0),
                                       -(r["pass_rate"] or 0)))


def group_by_model(rows: list[dict[str, Any]], scope: str = BOARD_SCOPE) -> dict[str, Any]:
    """Leaderboard rows grouped by model file (sha256), settings variants as sub-rows, the
    model with the best variant first. A sub-row is named by the settings in which it differs
    from the model's other variants (all its text settings are in ``settings``)."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:  # already best first
        key = row.get("model_sha256") or row["model"]
        group = groups.setdefault(key, {"model": row["model"], "model_sha256":
                                        row.get("model_sha256"), "file_size": row["file_size"],
                                        "votes": 0, "prompts_checked": 0, "variants": []})
        group["votes"] += row["votes"]
        group["prompts_checked"] += row["prompts_checked"]
        group["variants"].append(dict(row))
    for group in groups.values():
        variants = group["variants"]
        if len(variants) > 1 and all(v.get("settings") is not None for v in variants):
            keys = set().union(*(v["settings"] for v in variants))
            differ = {k for k in keys if len({repr(v["settings"].get(k)) for v in variants}) > 1}
            for v in variants:
                v["variant"] = variant_label({k: v["settings"].get(k) for k in differ})
    return {"scope": scope, "models": list(groups.values())}


def trial_summary(db: Database, trial_id: int | str, rounds: int = 200) -> dict[str, Any]:
    """Everything ``trial show`` and the reports print: trial, suite, contenders with their
    figures from this trial alone, and the matrix of cells (repeat 0 text, all repeats'
    speeds, verdicts and seeds)."""
    trial = store.get_trial_row(db, trial_id)
    suite = get_suite(db, trial["suite_id"])
    contenders = [get_contender(db, i) for i in trial["contender_ids"]]
    cells = store.trial_cells(db, trial["id"])
    grades = cell_grades(store.trial_judgements(db, int(trial["id"])))
    votes = _vote_figures(store.list_votes(db, trial_id=int(trial["id"])), {}, rounds)
    prompts = {p.id: p.prompt for p in suite.prompts}
    stops = store.trial_stops(db, int(trial["id"]))
    summaries = []
    for c in contenders:
        mine = [x for x in cells if x["contender_id"] == c.id]
        warm = [x for x in mine if not x["cold"]]
        cold = [x for x in mine if x["cold"]]
        checked = [x for x in mine if x["passed"] is not None]
        scores = prompt_scores(mine)
        summaries.append({
            "contender": c.to_dict(), "contender_id": c.id, "label": c.label,
            "name": f"{c.model_name} ({settings_in_words(c.settings)})",
            "model_sha256": c.model_sha256, "model": c.model_name,
            "variant": variant_label(c.settings), "settings": text_settings(c.settings),
            "file_size": c.file_size,
            "kind": base_model_label(db, model_id=c.model_id, sha256=c.model_sha256),
            "echoes": sum(is_echo(prompts.get(x["prompt_id"], ""), x["content"] or "")
                          for x in mine),
            "cells": len(mine), "checked": len(checked),
            "prompts_total": len(suite.prompts),
            "prompts_run": sum(1 for p in suite.prompts if sum(
                x["prompt_id"] == p.id for x in mine) >= trial["repeats"]),
            "stopped": stops.get(c.id),
            "passed": sum(x["passed"] for x in checked),
            **_pass_figures(scores), "prompt_scores": scores,
            "gen_tps": spread([x["gen_tps"] for x in warm]).to_dict(),
            "ttft_ms": spread([x["ttft_ms"] for x in warm]).to_dict(),
            "prompt_tps": spread([x["prompt_tps"] for x in warm]).to_dict(),
            "cold": {"load_ms": spread([x["load_ms"] for x in cold]).to_dict(),
                     "ttft_ms": spread([x["ttft_ms"] for x in cold]).to_dict(),
                     "gen_tps": spread([x["gen_tps"] for x in cold]).to_dict()},
            "peak_rss": max((x["peak_rss"] or 0 for x in mine), default=0),
            **_judge_figures([g for x in mine for g in grades.get(
                (x["prompt_id"], x["contender_id"], x["repeat"]), [])]),
            **votes.get(c.id, _empty_votes()),
            **tool_figures(mine),
            "retrieval": retrieval_summary(
                next((x["grounding"] for x in mine if x["prompt_id"] == p.id
                      and x.get("grounding")), None) for p in suite.prompts),
        })
    matrix = []
    for prompt in suite.prompts:
        row_cells: list[dict[str, Any] | None] = []
        for c in contenders:
            mine = [x for x in cells if x["prompt_id"] == prompt.id and x["contender_id"] == c.id]
            first = mine[0] if mine else None
            verdicts = [x["passed"] for x in mine if x["passed"] is not None]
            row_cells.append(None if first is None else {
                "content": first["content"], "passed": first["passed"],
                "echo": is_echo(prompt.prompt, first["content"] or ""),
                "score": sum(verdicts) / len(verdicts) if verdicts else None,
                "passes": f"{sum(verdicts)}/{len(verdicts)}" if verdicts else None,
                "check_results": first["check_results"], "error": first["error"],
                "ttft_ms": spread([x["ttft_ms"] for x in mine]).median,
                "gen_tps": spread([x["gen_tps"] for x in mine]).median,
                "peak_rss": max(x["peak_rss"] or 0 for x in mine),
                "completion_tokens": first["completion_tokens"],
                "repeats": len(mine), "cold": any(x["cold"] for x in mine),
                "seeds": [x.get("seed") for x in mine],
                "settings": first["settings"],
                "batch_width": (first["settings"] or {}).get("batch_width"),
                "judgements": grades.get((prompt.id, c.id, 0), []),
                "tool_calls": first.get("tool_calls"),
                "grounding": first.get("grounding"),
            })
        matrix.append({"prompt_id": prompt.id, "prompt": prompt.prompt,
                       "reference": prompt.reference, "checks": prompt.checks,
                       "tools": tool_names(prompt.tools),
                       "docs": prompt.docs or suite.docs, "sources": prompt.sources,
                       "cells": row_cells})
    done = len(cells)
    total = len(suite.prompts) * len(contenders) * trial["repeats"]
    board = sorted(summaries, key=lambda r: (r["rating"] is None, -(r["rating"] or 0),
                                             -(r["pass_rate"] or 0)))
    return {"trial": trial, "suite": {"id": suite.id, "name": suite.name},
            "scope": TRIAL_SCOPE, "contenders": summaries, "matrix": matrix, "done": done,
            "total": total, "judge_pending": len(pending(db, int(trial["id"]))),
            "judges": judge_agreement(db, int(trial["id"])),
            "judge_prompt_sha256": JUDGE_PROMPT_SHA256,
            "leaderboard": group_by_model([_board_row(r) for r in board], TRIAL_SCOPE)}


def _judge_figures(grades: list[dict[str, Any]]) -> dict[str, Any]:
    """A contender's judge grades in this trial: how many, their mean (as a share of the
    scale, and as a score when every grade used one scale), how many failed, and whether any
    was given by its own model (self-judged)."""
    scored = [g for g in grades if g["score"] is not None]
    scales = {g["scale"] for g in scored}
    return {"judged": len(scored), "judge_errors": len(grades) - len(scored),
            "judge_share": sum(g["score"] / g["scale"] for g in scored) / len(scored)
            if scored else None,
            "judge_mean": sum(g["score"] for g in scored) / len(scored)
            if scored and len(scales) == 1 else None,
            "judge_scale": scales.pop() if len(scales) == 1 else None,
            "judge_models": sorted({g["judge_model"] for g in scored}),
            "self_judged": any(g["self_judged"] for g in scored)}


def _board_row(summary: dict[str, Any]) -> dict[str, Any]:
    keep = ("contender_id", "label", "model", "model_sha256", "variant", "settings", "file_size",
            "rating", "low", "high", "games", "votes", "won", "tied", "bad", "vote_share",
            "vote_low", "vote_high", "checked", "passed", "prompts_checked",
            "prompts_passed", "pass_rate", "pass_low", "pass_high")
    return {k: summary.get(k) for k in keep}
