"""The app's side of a batch of replies made side by side in the engine process
(:mod:`workbench.engine.batched`): iterate for each finished cell as the process sends it.

It follows :class:`~workbench.engine.process.RemoteReply`'s protocol with the engine process
(one request id, a stop that any thread may send, a half-read batch read to its end before the
next request), so a cancel in the middle of a batch keeps every cell that had finished, and an
engine crash raises :class:`~workbench.errors.EngineCrashed` after them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from workbench.engine.batched import BatchCell, CellResult
from workbench.engine.process import RemoteModel, _reraised
from workbench.errors import WorkbenchError


class RemoteBatch:
    """Iterate once for :class:`CellResult` events (in the order cells finish); ``width``
    and ``message`` (a width cut to fit memory, in words) are set once the process has
    planned the batch. :meth:`stop` from any thread ends it; the running cells are dropped."""

    def __init__(self, loaded: RemoteModel, cells: list[BatchCell], width: int,
                 kv_budget: int | None = None) -> None:
        self.loaded = loaded
        self.cells = cells
        self.requested = width
        self.kv_budget = kv_budget
        self.width = width
        self.message = ""
        self.reply_id: int | None = None
        self.finished = False
        self.stop_requested_at: float | None = None
        self._stop = threading.Event()
        self._started = False
        self._ready: list[CellResult] = []

    def command(self, reply_id: int) -> tuple[Any, ...]:
        return ("batch", reply_id, self.cells, self.requested, self.kv_budget)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        if not self._stop.is_set():
            self.stop_requested_at = time.monotonic()
        self._stop.set()
        if self.reply_id is not None and not self.finished:
            self.loaded.worker.send_stop(self.reply_id)

    def __iter__(self) -> Iterator[CellResult]:
        if self._started:
            raise RuntimeError("a batch can be iterated once")
        self._started = True
        return self._run()

    def _run(self) -> Iterator[CellResult]:
        worker = self.loaded.worker
        if not worker.alive:
            raise worker.crashed()
        self.reply_id = worker.begin(self)
        if self._stop.is_set():
            worker.send_stop(self.reply_id)
        try:
            while not self.finished:
                self.handle(worker.next_for(self))
                while self._ready:
                    yield self._ready.pop(0)
        except GeneratorExit:
            self.stop()
            with contextlib.suppress(WorkbenchError):
                worker.finish_active()
            raise
        finally:
            if worker.active is self and self.finished:
                worker.active = None

    def handle(self, message: tuple[Any, ...]) -> str:
        """Apply one message from the engine process (the protocol RemoteReply follows)."""
        kind = message[0]
        if kind == "batch_started":
            self.width = int(message[2]["width"])
            self.message = str(message[2]["message"])
            return ""
        if kind == "cell":
            self._ready.append(message[2])
            return ""
        self.finished = True
        if kind in ("done", "ended"):
            return ""
        raise _reraised(message[2])  # "failed"

    def interrupted(self) -> None:
        self.finished = True
