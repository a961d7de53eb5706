"""The app's side of a batch of replies made side by side in the engine process
(:mod:`workbench.engine.batched`): iterate for each finished cell as the process sends it.

It is a :class:`~workbench.engine.process.Request`, like a reply: the same protocol with the
engine process (one request id, a stop that any thread may send, a half-read batch read to its
end before the next request), so a cancel in the middle of a batch keeps every cell that had
finished, and an engine crash raises :class:`~workbench.errors.EngineCrashed` after them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from workbench.engine.batched import BatchCell, CellResult
from workbench.engine.process import RemoteModel, Request, _reraised


class RemoteBatch(Request[CellResult]):
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
        self._stop = threading.Event()
        self._started = False

    def command(self, reply_id: int) -> tuple[Any, ...]:
        return ("batch", reply_id, self.cells, self.requested, self.kv_budget)

    def __iter__(self) -> Iterator[CellResult]:
        if self._started:
            raise RuntimeError("a batch can be iterated once")
        self._started = True
        return self._exchange()

    def handle(self, message: tuple[Any, ...]) -> CellResult | None:
        """Apply one message from the engine process; a finished cell is returned."""
        kind = message[0]
        if kind == "batch_started":
            self.width = int(message[2]["width"])
            self.message = str(message[2]["message"])
            return None
        if kind == "cell":
            return message[2]
        self.finished = True
        if kind in ("done", "ended"):
            return None
        raise _reraised(message[2])  # "failed"
