"""A trial's contenders two at a time, each in its own engine process with half the cores.

One contender's cells run one after another; two contenders run at once, as Compare runs its
columns together (:mod:`.together`: one engine worker and engine process each, every worker
joined and every process ended however the run ends). On a machine whose default leaves a
core idle for the window (two cores: one thread), two one-thread contenders side by side keep
both cores busy, so the trial takes about half as long; on more cores each gets half.

Whether to: ``together`` True asks for it (refused with the memory figures when the two
largest contenders do not fit at once), False runs one at a time, None decides by memory
(:func:`workbench.trials.compare.can_run_together`, the one memory model) and by the cores (at
least two). A cell's record is what it would be one at a time, but for its threads and a note
in its settings record (``side_by_side``: the contenders it shared the machine with).

Each lane is a shallow copy of the :class:`~workbench.trials.runner.TrialRun` with its own
engine and its own database connection (WAL: the run's own connection reads what a lane
writes); the run's thread keeps the progress, the ETA and the early stops.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
from sqlite_utils import Database

from workbench.documents.embedder import Embedder
from workbench.engine import Engine
from workbench.engine.endpoint_http import is_remote
from workbench.errors import InvalidInputError
from workbench.trials.contenders import Contender
from workbench.trials.together import EngineWorkers, threads_each

#: Contenders running at once: two, so each keeps at least half the cores.
WIDTH = 2


def database_file(db: Database) -> Path | None:
    """The file behind ``db``; None for an in-memory database (a lane needs its own
    connection to the same file)."""
    for row in db.execute("PRAGMA database_list").fetchall():
        if row[1] == "main":
            return Path(row[2]) if row[2] else None
    return None


def decide(db: Database, contenders: list[Contender], together: bool | None
           ) -> tuple[bool, str]:
    """Whether to run contenders side by side, and why (a line for the progress). Raises
    InvalidInputError when asked for (``together`` True) and it cannot be done."""
    from workbench.trials.compare import can_run_together

    if together is False or len(contenders) < 2:
        return False, "one at a time"
    why_not = ""
    cores = psutil.cpu_count(logical=False) or 1
    if database_file(db) is None:
        why_not = "the database is in memory"
    elif together is None and cores < 2:
        why_not = "one core"
    else:
        local = [c for c in contenders if not is_remote(c.model_path)]
        largest = sorted(local, key=lambda c: (c.file_size, c.load.n_ctx))[-WIDTH:]
        fits, reason = can_run_together(largest) if len(largest) > 1 else (True, "")
        if not fits:
            why_not = reason
    if why_not:
        if together:
            raise InvalidInputError(f"trial: cannot run contenders side by side, {why_not}")
        return False, f"one at a time ({why_not})"
    return True, f"{WIDTH} contenders side by side, {threads_each(WIDTH)} thread(s) each"


def split_threads(contender: Contender, threads: int) -> Contender:
    """The contender with ``threads`` when it leaves threads to the default (a contender
    that names its threads keeps them)."""
    if contender.settings.get("n_threads"):
        return contender
    return replace(contender, settings={**contender.settings, "n_threads": threads})


class Lanes:
    """Run each contender's planned cells in one of :data:`WIDTH` lanes; iterate for
    ``(contender, cell)`` as cells finish (``cell`` None: a lane was stopped mid-cell)."""

    def __init__(self, run: Any, plan: list[tuple[Contender, int, int]]) -> None:
        """``run``: the :class:`~workbench.trials.runner.TrialRun` (not imported: it
        imports this)."""
        self.run = run
        self.path = database_file(run.db)
        self.threads = threads_each(WIDTH)
        self.order: list[Contender] = []
        self.cells: dict[int, list[tuple[int, int]]] = {}
        for contender, index, repeat in plan:
            if contender.id not in self.cells:
                self.order.append(contender)
                self.cells[contender.id] = []
            self.cells[contender.id].append((index, repeat))
        self.labels = [c.label for c in self.order]
        self.skip: set[int] = set()  # contenders settled early: their lane moves on
        self._queue: queue.SimpleQueue[Contender] = queue.SimpleQueue()
        for contender in self.order:
            self._queue.put(contender)
        self._lock = threading.Lock()

    def _lane(self, engine: Engine) -> Iterator[tuple[Contender, dict[str, Any] | None]]:
        from workbench.store import open_database

        lane = copy.copy(self.run)
        lane.engine = engine
        lane.db = open_database(self.path)
        lane._reply = None
        lane.embedder = Embedder(share=engine)  # one embedder is for one thread
        with self._lock:
            self.run._lanes.append(lane)
        try:
            while not lane.stopped:
                try:
                    contender = self._queue.get_nowait()
                except queue.Empty:
                    return
                others = [label for label in self.labels if label != contender.label]
                lane.side_by_side = {"with": others, "threads": self.threads}
                mine = split_threads(contender, self.threads)
                for index, repeat in self.cells[contender.id]:
                    if lane.stopped or contender.id in self.skip:
                        break
                    cell = lane._run_cell(mine, index, repeat)
                    yield contender, cell
                    if cell is None:
                        return
        finally:
            lane.embedder.close()
            lane.db.close()

    def __iter__(self) -> Iterator[tuple[Contender, dict[str, Any] | None]]:
        width = min(WIDTH, len(self.order))
        workers: EngineWorkers[tuple[Contender, dict[str, Any] | None]] = EngineWorkers(
            width, on_stop=self.run.stop, name="trial-side-by-side")
        yield from workers.run([self._lane for _ in range(width)])
