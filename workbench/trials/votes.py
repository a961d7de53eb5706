"""Votes on comparisons, and the view of a comparison that hides names until one is cast.

Choices are given by column letter as the user saw them: ``a``/``b``/... (that column is
best), ``tie``, ``bad`` (both, or all, bad), or a full ranking ``c>a>b``. They are stored by
contender id, so a shuffled blind order never confuses the tally.

A comparison can also be made from a trial's stored replies to one prompt
(:func:`compare_trial_cells`): no new generation, and its vote counts for that trial only.

For the ratings every vote becomes pairwise games: the winner beats each other column, a
ranking gives every pair in order, and tie / both bad make every pair a draw (as Chatbot Arena
counts "both bad"). For the share of votes won or tied, "both bad" counts as neither.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from sqlite_utils import Database

from workbench.errors import InvalidInputError
from workbench.trials import store
from workbench.trials.compare import LETTERS
from workbench.trials.contenders import get_contender
from workbench.trials.suites import get_suite

#: A game between two contenders: (first id, second id, first's score: 1, 0.5 or 0)
Game = tuple[int, int, float]


@dataclass
class ParsedChoice:
    outcome: str  # win, tie, bad
    winner_slot: int | None
    ranking_slots: list[int] | None


def parse_choice(choice: str, columns: int) -> ParsedChoice:
    text = choice.strip().lower().replace(" ", "")
    letters = LETTERS[:columns].lower()
    if text in ("tie", "=", "draw"):
        return ParsedChoice("tie", None, None)
    if text in ("bad", "bothbad", "allbad"):
        return ParsedChoice("bad", None, None)
    if len(text) == 1 and text in letters:
        return ParsedChoice("win", letters.index(text), None)
    parts = text.split(">")
    if len(parts) > 1 and all(len(p) == 1 and p in letters for p in parts) and len(
            set(parts)) == len(parts):
        slots = [letters.index(p) for p in parts]
        return ParsedChoice("win", slots[0], slots)
    options = "|".join([*letters, "tie", "bad"])
    raise InvalidInputError(f"vote '{choice}': expected {options} or a ranking like "
                            f"{'>'.join(letters)}")


def cast_vote(db: Database, comparison_id: int, choice: str) -> dict[str, Any]:
    """Record a vote (one per comparison) and return the comparison, now revealed."""
    row = store.get_comparison_row(db, comparison_id)
    if store.votes_for(db, comparison_id):
        raise InvalidInputError(f"comparison {comparison_id}: already voted")
    order: list[int] = row["display_order"]
    parsed = parse_choice(choice, len(order))
    winner = order[parsed.winner_slot] if parsed.winner_slot is not None else None
    ranking = [order[s] for s in parsed.ranking_slots] if parsed.ranking_slots else None
    store.insert_vote(db, comparison_id, parsed.outcome, winner, ranking)
    return comparison_view(db, comparison_id)


def compare_trial_cells(db: Database, trial_id: int, prompt_number: int, blind: bool = True,
                        rng: random.Random | None = None) -> int:
    """A comparison of one prompt's replies (first repeat) from a trial's contenders, so a
    vote on it counts as evidence for that trial. ``prompt_number`` counts from 1."""
    trial = store.get_trial_row(db, trial_id)
    suite = get_suite(db, trial["suite_id"])
    if not 1 <= prompt_number <= len(suite.prompts):
        raise InvalidInputError(f"trial {trial_id}: prompt {prompt_number} out of range "
                                f"(1-{len(suite.prompts)})")
    prompt = suite.prompts[prompt_number - 1]
    cells = {c["contender_id"]: c for c in store.trial_cells(db, int(trial["id"]))
             if c["prompt_id"] == prompt.id and c["repeat"] == 0}
    present = [i for i in trial["contender_ids"] if i in cells]
    if len(present) < 2:
        raise InvalidInputError(f"trial {trial_id}: prompt {prompt_number} has fewer than two "
                                "finished replies to compare")
    if len(present) > len(LETTERS):
        raise InvalidInputError(f"trial {trial_id}: more than {len(LETTERS)} contenders; "
                                "a comparison shows at most that many")
    comparison_id = store.create_comparison(db, prompt.prompt, prompt.system, blind, present,
                                            rng, trial_id=int(trial["id"]))
    order = store.get_comparison_row(db, comparison_id)["display_order"]
    for slot, contender_id in enumerate(order):
        store.copy_cell_to_comparison(db, comparison_id, slot, cells[contender_id])
    store.set_comparison_status(db, comparison_id, "done")
    return comparison_id


def comparison_view(db: Database, comparison_id: int) -> dict[str, Any]:
    """The comparison as shown: columns A, B... with names hidden while blind and unvoted."""
    row = store.get_comparison_row(db, comparison_id)
    votes = store.votes_for(db, comparison_id)
    hidden = bool(row["blind"]) and not votes
    replies = {r["slot"]: r for r in store.comparison_replies(db, comparison_id)}
    columns = []
    for slot, contender_id in enumerate(row["display_order"]):
        contender = get_contender(db, contender_id)
        reply = replies.get(slot, {})
        columns.append({
            "letter": LETTERS[slot],
            "label": f"Model {LETTERS[slot]}" if hidden else contender.label,
            "contender": None if hidden else contender.to_dict(),
            "content": reply.get("content", ""),
            "status": reply.get("status", "pending"),
            "error": reply.get("error"),
            "metrics": {k: reply.get(k) for k in store.METRICS},
            "settings": None if hidden else reply.get("settings"),
            "grounding": reply.get("grounding"),  # passages given and cited, or None
        })
    vote = votes[-1] if votes else None
    if vote and not hidden:
        order = row["display_order"]
        vote = {**vote, "winner_letter": LETTERS[order.index(vote["winner_id"])]
                if vote["winner_id"] in order else None,
                "ranking_letters": [LETTERS[order.index(i)] for i in vote.get("ranking") or []
                                    if i in order]}
    return {"id": row["id"], "trial_id": row.get("trial_id"), "prompt": row["prompt"],
            "system": row["system"],
            "blind": bool(row["blind"]), "hidden": hidden, "status": row["status"],
            "created_at": row["created_at"], "columns": columns, "vote": vote}


def vote_games(vote: dict[str, Any]) -> list[Game]:
    """The pairwise games one stored vote stands for."""
    players: list[int] = vote["display_order"]
    if vote["outcome"] in ("tie", "bad"):
        return [(a, b, 0.5) for a, b in combinations(players, 2)]
    ranking = vote.get("ranking")
    if ranking:
        return [(a, b, 1.0) for a, b in combinations(ranking, 2)]
    winner = vote["winner_id"]
    return [(winner, other, 1.0) for other in players if other != winner]


def all_games(db: Database) -> list[Game]:
    return [game for vote in store.list_votes(db) for game in vote_games(vote)]


def vote_shares(db: Database) -> dict[int, dict[str, int]]:
    """Per contender: votes it took part in, won, tied (both bad counts as neither)."""
    tally: dict[int, dict[str, int]] = {}
    for vote in store.list_votes(db):
        for player in vote["display_order"]:
            entry = tally.setdefault(player, {"votes": 0, "won": 0, "tied": 0, "bad": 0})
            entry["votes"] += 1
            if vote["outcome"] == "tie":
                entry["tied"] += 1
            elif vote["outcome"] == "bad":
                entry["bad"] += 1
            elif vote["winner_id"] == player:
                entry["won"] += 1
    return tally
