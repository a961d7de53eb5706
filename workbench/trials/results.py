"""What a trial and the votes add up to: the prompt × contender matrix, per-contender
summaries (pass rate, speed with spread, cold run apart), and the leaderboard.

A contender row is one model file with one set of settings, shared by every comparison and
trial that used exactly those, so votes and pass rates add up per contender row.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from workbench.trials import store
from workbench.trials.contenders import get_contender, list_contenders
from workbench.trials.stats import rate_with_intervals, spread, wilson
from workbench.trials.suites import get_suite
from workbench.trials.votes import vote_games


def leaderboard(db: Database, rounds: int = 300) -> list[dict[str, Any]]:
    """Every contender with votes or checked results: Bradley-Terry rating with a 95%
    bootstrap interval, votes won / tied / taken part in, and the pass rate over all trials."""
    first = {c.id: c for c in list_contenders(db)}
    votes = store.list_votes(db)
    ratings = {r.player: r for r in rate_with_intervals(
        [vote_games(v) for v in votes], rounds=rounds)}
    rows: dict[int, dict[str, Any]] = {}

    def row(key: int) -> dict[str, Any]:
        if key not in rows:
            c = first[key]
            rows[key] = {"contender_id": key, "label": c.label, "model": c.model_name,
                         "file_size": c.file_size, "rating": None, "low": None, "high": None,
                         "games": 0, "votes": 0, "won": 0, "tied": 0, "bad": 0,
                         "checked": 0, "passed": 0, "pass_rate": None}
        return rows[key]

    for key, rating in ratings.items():
        row(key).update(rating=rating.rating, low=rating.low, high=rating.high,
                        games=rating.games)
    for vote in votes:
        for player in vote["display_order"]:
            entry = row(player)
            entry["votes"] += 1
            if vote["outcome"] in ("tie", "bad"):
                entry["tied" if vote["outcome"] == "tie" else "bad"] += 1
            elif vote["winner_id"] == player:
                entry["won"] += 1
    for cell in db.query("SELECT contender_id, passed FROM trial_cells WHERE passed IS NOT NULL"):
        entry = row(cell["contender_id"])
        entry["checked"] += 1
        entry["passed"] += cell["passed"]
    for entry in rows.values():
        if entry["checked"]:
            entry["pass_rate"] = entry["passed"] / entry["checked"]
        entry["vote_share"] = ((entry["won"] + entry["tied"]) / entry["votes"]
                               if entry["votes"] else None)
    return sorted(rows.values(), key=lambda r: (r["rating"] is None, -(r["rating"] or 0),
                                                -(r["pass_rate"] or 0)))


def trial_summary(db: Database, trial_id: int | str) -> dict[str, Any]:
    """Everything ``trial show`` and the reports print: trial, suite, contenders with their
    figures, and the matrix of cells (repeat 0 text, all repeats' speeds)."""
    trial = store.get_trial_row(db, trial_id)
    suite = get_suite(db, trial["suite_id"])
    contenders = [get_contender(db, i) for i in trial["contender_ids"]]
    cells = store.trial_cells(db, trial["id"])
    board = {r["contender_id"]: r for r in leaderboard(db, rounds=100)}
    summaries = []
    for c in contenders:
        mine = [x for x in cells if x["contender_id"] == c.id]
        warm = [x for x in mine if not x["cold"]]
        cold = [x for x in mine if x["cold"]]
        checked = [x for x in mine if x["passed"] is not None]
        passed = sum(x["passed"] for x in checked)
        low, high = wilson(passed, len(checked))
        votes = board.get(c.id, {})
        summaries.append({
            "contender": c.to_dict(), "label": c.label, "file_size": c.file_size,
            "cells": len(mine), "checked": len(checked), "passed": passed,
            "pass_rate": passed / len(checked) if checked else None,
            "pass_low": low if checked else None, "pass_high": high if checked else None,
            "gen_tps": spread([x["gen_tps"] for x in warm]).to_dict(),
            "ttft_ms": spread([x["ttft_ms"] for x in warm]).to_dict(),
            "prompt_tps": spread([x["prompt_tps"] for x in warm]).to_dict(),
            "cold": {"load_ms": spread([x["load_ms"] for x in cold]).to_dict(),
                     "ttft_ms": spread([x["ttft_ms"] for x in cold]).to_dict(),
                     "gen_tps": spread([x["gen_tps"] for x in cold]).to_dict()},
            "peak_rss": max((x["peak_rss"] or 0 for x in mine), default=0),
            "votes": votes.get("votes", 0),
            "vote_share": votes.get("vote_share"),
            "rating": votes.get("rating"),
        })
    matrix = []
    for prompt in suite.prompts:
        row_cells: list[dict[str, Any] | None] = []
        for c in contenders:
            mine = [x for x in cells if x["prompt_id"] == prompt.id and x["contender_id"] == c.id]
            first = mine[0] if mine else None
            row_cells.append(None if first is None else {
                "content": first["content"], "passed": first["passed"],
                "check_results": first["check_results"], "error": first["error"],
                "ttft_ms": spread([x["ttft_ms"] for x in mine]).median,
                "gen_tps": spread([x["gen_tps"] for x in mine]).median,
                "peak_rss": max(x["peak_rss"] or 0 for x in mine),
                "completion_tokens": first["completion_tokens"],
                "repeats": len(mine), "cold": any(x["cold"] for x in mine),
                "settings": first["settings"],
            })
        matrix.append({"prompt_id": prompt.id, "prompt": prompt.prompt,
                       "reference": prompt.reference, "checks": prompt.checks,
                       "cells": row_cells})
    done = len(cells)
    total = len(suite.prompts) * len(contenders) * trial["repeats"]
    return {"trial": trial, "suite": {"id": suite.id, "name": suite.name},
            "contenders": summaries, "matrix": matrix, "done": done, "total": total}
