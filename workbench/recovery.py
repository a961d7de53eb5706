"""Consistent state after a kill: what a process that died mid-work left behind is marked.

Called once at start by the CLI (every command) and by the window. The rule, the same for
both: a reply left ``streaming``, or a trial or comparison left ``running``, is marked
``interrupted`` when the process that wrote it has ended (its lock in ``running/`` is free,
see :mod:`workbench.store.owners`) or is unknown (written before owners were recorded). What
it wrote is kept: the reply's text so far, the trial's finished cells (a resume runs only
the rest). A row another live Workbench is writing is left alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlite_utils import Database

from workbench.conversations import STREAMING, dead_owners, mark_interrupted
from workbench.errors import StoreError
from workbench.images import prune_unused
from workbench.store.owners import clear_stale_locks

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Repaired:
    replies: int = 0
    trials: int = 0
    comparisons: int = 0

    def __bool__(self) -> bool:
        return bool(self.replies or self.trials or self.comparisons)


def _mark_running(db: Database, table: str) -> int:
    marked = 0
    for owner in dead_owners(db, table, "running"):
        marked += db.execute(f"UPDATE {table} SET status = ? WHERE status = 'running' "
                             "AND owner IS ?", [INTERRUPTED, owner]).rowcount
    return marked


def repair_after_kill(db: Database) -> Repaired:
    """Mark what dead processes left streaming or running as interrupted; returns the counts.

    A database that cannot be written (read-only, full) is left as it is, with a log line:
    this is housekeeping, and the command the user asked for may only need to read.
    """
    try:
        with db.atomic():
            repaired = Repaired(mark_interrupted(db), _mark_running(db, "trials"),
                                _mark_running(db, "comparisons"))
        clear_stale_locks(db)
        prune_unused(db)  # pictures of chats deleted last time (kept then for Undo)
    except StoreError as error:
        log.warning("could not mark interrupted work: %s", error)
        return Repaired()
    if repaired:
        log.info("marked interrupted after a kill: %s", repaired)
    return repaired


__all__ = ["INTERRUPTED", "STREAMING", "Repaired", "repair_after_kill"]
