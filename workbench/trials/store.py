"""Database access for comparisons, replies, votes, trials and trial cells.

Kept apart from the logic so the runner, the CLI and the window read and write the same
rows the same way; everything else in ``workbench.trials`` calls these functions, never SQL.
"""

from __future__ import annotations

import json
import random
from typing import Any

from sqlite_utils import Database

from workbench.engine import ReplyStats
from workbench.errors import NotFoundError
from workbench.library import now
from workbench.store.owners import owner_token

METRICS = (*ReplyStats.MEASURED, "total_ms", "finish_reason", "image_tokens")


def stats_row(stats: ReplyStats) -> dict[str, Any]:
    """The metric columns of a reply, plus its full settings record as JSON."""
    row = {name: getattr(stats, name) for name in METRICS}
    row["settings"] = json.dumps(stats.settings, default=str)
    return row


def _decode(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        if key in row and isinstance(row[key], str):
            row[key] = json.loads(row[key])
    return row


# Comparisons -------------------------------------------------------------------------------

def create_comparison(db: Database, prompt: str, system: str | None, blind: bool,
                      contender_ids: list[int], rng: random.Random | None = None,
                      trial_id: int | None = None) -> int:
    """Store a comparison; blind ones get a shuffled column order, kept for the reveal.
    ``trial_id`` marks one made from a trial's cells: its vote counts for that trial."""
    order = list(contender_ids)
    if blind:
        (rng or random.SystemRandom()).shuffle(order)
    row = {"prompt": prompt, "system": system, "blind": int(blind),
           "display_order": json.dumps(order), "status": "running", "owner": owner_token(db),
           "created_at": now()}
    if trial_id is not None:
        row["trial_id"] = trial_id
    return int(db.table("comparisons").insert(row).last_pk or 0)


def copy_cell_to_comparison(db: Database, comparison_id: int, slot: int,
                            cell: dict[str, Any]) -> None:
    """A trial cell's reply, with its metrics and settings record, as a comparison column."""
    db.table("comparison_replies").insert({
        "comparison_id": comparison_id, "contender_id": cell["contender_id"], "slot": slot,
        "content": cell["content"], "status": cell["status"], "error": cell["error"],
        **{name: cell.get(name) for name in METRICS},
        "settings": json.dumps(cell.get("settings"), default=str), "created_at": now(),
    }, replace=True)


def save_comparison_reply(db: Database, comparison_id: int, contender_id: int, slot: int,
                          text: str, stats: ReplyStats, status: str,
                          error: str | None = None,
                          grounding: dict[str, Any] | None = None) -> None:
    """One column's reply; ``grounding``: what a contender answering from documents was
    given and cited (as a trial cell's record)."""
    db.table("comparison_replies").insert({
        "comparison_id": comparison_id, "contender_id": contender_id, "slot": slot,
        "content": text, "status": status, "error": error, **stats_row(stats),
        "grounding": json.dumps(grounding) if grounding is not None else None,
        "created_at": now(),
    }, replace=True)


def set_comparison_status(db: Database, comparison_id: int, status: str) -> None:
    db.table("comparisons").update(comparison_id, {"status": status})


def get_comparison_row(db: Database, comparison_id: int) -> dict[str, Any]:
    rows = list(db.table("comparisons").rows_where("id = ?", [comparison_id]))
    if not rows:
        raise NotFoundError(f"comparison {comparison_id}: not found")
    return _decode(dict(rows[0]), "display_order")


def comparison_replies(db: Database, comparison_id: int) -> list[dict[str, Any]]:
    return [_decode(dict(r), "settings", "grounding") for r in db.table(
        "comparison_replies").rows_where(
        "comparison_id = ?", [comparison_id], order_by="slot")]


def list_comparisons(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    return [_decode(dict(r), "display_order") for r in db.query(
        "SELECT c.*, (SELECT COUNT(*) FROM votes v WHERE v.comparison_id = c.id) AS votes "
        "FROM comparisons c ORDER BY c.id DESC LIMIT ?", [limit])]


# Votes -------------------------------------------------------------------------------------

def insert_vote(db: Database, comparison_id: int, outcome: str, winner_id: int | None,
                ranking: list[int] | None) -> int:
    return int(db.table("votes").insert({
        "comparison_id": comparison_id, "outcome": outcome, "winner_id": winner_id,
        "ranking": json.dumps(ranking) if ranking else None, "created_at": now(),
    }).last_pk or 0)


def votes_for(db: Database, comparison_id: int) -> list[dict[str, Any]]:
    return [_decode(dict(r), "ranking") for r in db.table("votes").rows_where(
        "comparison_id = ?", [comparison_id], order_by="id")]


def list_votes(db: Database, trial_id: int | None = None) -> list[dict[str, Any]]:
    """Every vote (or only those on comparisons made from one trial's cells) with the
    contenders it was between (display order), its prompt and its trial, if any."""
    where, params = ("WHERE c.trial_id = ? ", [trial_id]) if trial_id is not None else ("", [])
    return [_decode(dict(r), "ranking", "display_order") for r in db.query(
        "SELECT v.*, c.display_order, c.prompt, c.blind, c.trial_id FROM votes v "
        f"JOIN comparisons c ON c.id = v.comparison_id {where}ORDER BY v.id", params)]


# Trials ------------------------------------------------------------------------------------

def insert_trial(db: Database, suite_id: int, contender_ids: list[int], seed: int,
                 repeats: int, name: str = "", rerun_of: int | None = None) -> int:
    stamp = now()
    return int(db.table("trials").insert({
        "suite_id": suite_id, "name": name, "contender_ids": json.dumps(contender_ids),
        "seed": seed, "repeats": repeats, "status": "pending", "rerun_of": rerun_of,
        "created_at": stamp, "updated_at": stamp,
    }).last_pk or 0)


def get_trial_row(db: Database, trial_id: int | str) -> dict[str, Any]:
    rows = list(db.table("trials").rows_where("id = ?", [int(trial_id)])) if str(
        trial_id).isdigit() else []
    if not rows:
        raise NotFoundError(f"trial {trial_id}: not found")
    return _decode(dict(rows[0]), "contender_ids")


def set_trial_status(db: Database, trial_id: int, status: str) -> None:
    values: dict[str, Any] = {"status": status, "updated_at": now()}
    if status == "running":  # who runs it: a trial left running by a dead process is repaired
        values["owner"] = owner_token(db)
    db.table("trials").update(trial_id, values)


def list_trials(db: Database) -> list[dict[str, Any]]:
    return [_decode(dict(r), "contender_ids") for r in db.query(
        "SELECT t.*, s.name AS suite_name, "
        "(SELECT COUNT(*) FROM trial_cells c WHERE c.trial_id = t.id) AS cells_done, "
        "(SELECT COUNT(*) FROM suite_prompts p WHERE p.suite_id = t.suite_id) AS prompts "
        "FROM trials t JOIN suites s ON s.id = t.suite_id ORDER BY t.id DESC")]


def done_cells(db: Database, trial_id: int) -> set[tuple[int, int, int]]:
    """(prompt, contender, repeat) of every finished cell: what a resume skips."""
    return {(r["prompt_id"], r["contender_id"], r["repeat"]) for r in db.query(
        "SELECT prompt_id, contender_id, repeat FROM trial_cells WHERE trial_id = ?",
        [trial_id])}


def save_cell(db: Database, trial_id: int, prompt_id: int, contender_id: int, repeat: int,
              text: str, stats: ReplyStats, passed: bool | None,
              check_results: list[dict[str, Any]], status: str = "done",
              error: str | None = None, seed: int | None = None,
              tool_calls: dict[str, Any] | None = None,
              grounding: dict[str, Any] | None = None) -> None:
    """One cell. ``tool_calls``: a tool prompt's record (the calls made, valid or why not,
    and the canned results given; :mod:`workbench.trials.tool_prompts`). ``grounding``: its
    documents record (see :mod:`workbench.trials.doc_cells`), None for a plain prompt."""
    db.table("trial_cells").insert({
        "trial_id": trial_id, "prompt_id": prompt_id, "contender_id": contender_id,
        "repeat": repeat, "seed": seed, "content": text, "status": status, "error": error,
        "passed": None if passed is None else int(passed),
        "check_results": json.dumps(check_results), "cold": int(stats.load_ms is not None),
        **stats_row(stats), "created_at": now(),
        "tool_calls": json.dumps(tool_calls) if tool_calls is not None else None,
        "grounding": json.dumps(grounding) if grounding is not None else None,
    }, replace=True)


def drop_cells(db: Database, trial_id: int, contender_id: int, prompt_ids: list[int]) -> None:
    """Forget a contender's cells of ``prompt_ids``: replies that finished past the prompt
    where an early stop settled it (see :meth:`workbench.trials.runner.TrialRun._settled`)."""
    for prompt_id in prompt_ids:
        db.execute("DELETE FROM trial_cells WHERE trial_id = ? AND contender_id = ? AND "
                   "prompt_id = ?", [trial_id, contender_id, prompt_id])


def trial_cells(db: Database, trial_id: int) -> list[dict[str, Any]]:
    rows = db.table("trial_cells").rows_where(
        "trial_id = ?", [trial_id], order_by="prompt_id, contender_id, repeat")
    return [_decode(dict(r), "check_results", "settings", "tool_calls", "grounding")
            for r in rows]


# Judge grades --------------------------------------------------------------------------------

def save_judgement(db: Database, cell: dict[str, Any], check_index: int,
                   values: dict[str, Any], check_results: list[dict[str, Any]],
                   passed: bool | None) -> None:
    """A judge's grade of one cell (or its error), and the cell's check results and verdict
    brought up to date with it, in one transaction."""
    key = {k: cell[k] for k in ("trial_id", "prompt_id", "contender_id", "repeat")}
    with db.atomic():
        db.table("trial_judgements").insert({
            **key, "check_index": check_index, **values,
            "judge_settings": json.dumps(values.get("judge_settings"), default=str),
            "created_at": now(),
        }, replace=True)
        db.execute("UPDATE trial_cells SET check_results = ?, passed = ? WHERE trial_id = ? "
                   "AND prompt_id = ? AND contender_id = ? AND repeat = ?",
                   [json.dumps(check_results), None if passed is None else int(passed),
                    *key.values()])


def trial_judgements(db: Database, trial_id: int) -> list[dict[str, Any]]:
    return [_decode(dict(r), "judge_settings") for r in db.table("trial_judgements").rows_where(
        "trial_id = ?", [trial_id], order_by="prompt_id, contender_id, repeat, check_index")]


# Early stops ---------------------------------------------------------------------------------

def save_stop(db: Database, trial_id: int, contender_id: int, after: int, total: int,
              outcome: str, bar: float, text: str) -> None:
    db.table("trial_stops").insert({
        "trial_id": trial_id, "contender_id": contender_id, "after_prompts": after,
        "total_prompts": total, "outcome": outcome, "bar": bar, "text": text,
        "created_at": now()}, replace=True)


def trial_stops(db: Database, trial_id: int) -> dict[int, dict[str, Any]]:
    """Per contender id, where the trial stopped it early (none: it ran every prompt)."""
    return {int(r["contender_id"]): dict(r) for r in db.table("trial_stops").rows_where(
        "trial_id = ?", [trial_id])}


def clear_stops(db: Database, trial_id: int) -> None:
    """The rest of the prompts are being run: no contender is stopped any more."""
    db.execute("DELETE FROM trial_stops WHERE trial_id = ?", [trial_id])
