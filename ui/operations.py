"""Operations: the one way a page runs background work (anki's ``CollectionOp``/``QueryOp``).

A page says *what* runs and on *which resource*; this layer does the rest the same way for
every page, so no page keeps its own busy counter, request number or serial:

- **the connection**: the function is called as ``func(db, *args, **kwargs)``, ``db`` being
  the worker thread's own connection (:attr:`Workspace.db <workbench.workspace.Workspace.db>`),
  whatever the resource: one rule, so no operation ever fetches a connection itself
  (``ops.run("db", get_suite, suite_id, ...)``, ``ops.run("db", lambda db: ..., ...)``). A
  function that needs no database takes it and leaves it (``lambda _db: ...``); each worker
  opens its connection once, at its first operation, and keeps it.

- **resource**: "db" (quick database reads and writes), "disk" (slow file work: hashing,
  scanning, writing reports), "hub" (network calls that answer), "download" (long transfers),
  "engine" (the one loaded model). A 20 GB hash on "disk" never delays opening a chat on "db".
- **success** gets the function's return value on the GUI thread; **failure** its one-line
  message. Without a failure callback the message goes to the window's one error display
  (``events.error``): no failure is silent.
- **key**: a newer operation with the same key and initiator supersedes an older one; the
  older one's progress, success and failure are dropped (a late search result never lands
  over the new one).
- **busy**: operations in flight are counted per initiator (:meth:`Operations.busy`), so a
  page's ``busy`` is a read of this count.
- **changes**: after success, ``events.changed`` tells every page what changed
  ({"library"}, {"suites"}, {"chats"}…); the page that caused it can skip its reload. This is
  the window's one change channel: every page follows ``events.changed``, filtered by kind.

The function runs on a worker: it must not touch a widget or the page's attributes. Compute
there, return the result, and assign it in ``success`` (on the GUI thread).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, Signal

from ui.tasks import Job, TaskManager
from workbench.workspace import Workspace

#: What a change announcement may name; pages follow the ones they show.
CHANGE_KINDS = frozenset({"library", "suites", "trials", "chats", "votes", "settings",
                          "downloads", "documents"})


class Operations(QObject):
    """Runs operations on the task manager's workers; see the module docstring."""

    #: An initiator's count of operations in flight changed (the initiator, its new count).
    busy_changed = Signal(object, int)

    def __init__(self, tasks: TaskManager, events: Any, workspace: Workspace) -> None:
        super().__init__()
        self.tasks = tasks
        self.events = events
        self.workspace = workspace
        self._busy: Counter[int] = Counter()
        self._latest: dict[tuple[int, str], int] = {}
        self._serial = 0

    def busy(self, initiator: object) -> int:
        """How many operations this initiator started that have not ended yet."""
        return self._busy[id(initiator)]

    def run(
        self,
        resource: str,
        func: Callable[..., Any],
        *args: Any,
        name: str,
        success: Callable[[Any], None] | None = None,
        failure: Callable[[str], None] | None = None,
        progress: Callable[[Any], None] | None = None,
        cancelled: Callable[[], None] | None = None,
        finished: Callable[[], None] | None = None,
        initiator: object = None,
        key: str | None = None,
        changes: Iterable[str] = (),
        batch_ms: int | None = None,
        **kwargs: Any,
    ) -> Job:
        """Start ``func(db, *args, **kwargs)`` on ``resource``'s worker, ``db`` being that
        worker's connection; every callback runs on the GUI thread. ``name`` is what the user
        reads in the status bar ("searching the Hub").

        ``finished`` runs last whatever the outcome (also when the result was stale).
        With ``batch_ms``, ``progress`` gets lists of values, at most every ``batch_ms``
        (a reply's tokens, drawn once a frame: see :class:`ui.tasks.Batches`).
        """
        announced = frozenset(changes)
        unknown = announced - CHANGE_KINDS
        if unknown:
            raise ValueError(f"changes {sorted(unknown)}: unknown ({sorted(CHANGE_KINDS)})")
        owner = id(initiator)
        self._serial += 1
        serial = self._serial
        slot = (owner, key) if key is not None else None
        if slot is not None:
            self._latest[slot] = serial

        def current() -> bool:
            return slot is None or self._latest.get(slot) == serial

        def on_progress(value: Any) -> None:
            if progress is not None and current():
                progress(value)

        def on_done(result: Any) -> None:
            # success first, so the initiator has its result before every page hears of it
            try:
                if success is not None and current():
                    success(result)
            finally:
                if announced:
                    self.events.changed.emit(announced, initiator)

        def on_error(message: str) -> None:
            if not current():
                return
            if failure is not None:
                failure(message)
            else:
                self.events.error.emit(message)

        def on_cancelled() -> None:
            if cancelled is not None and current():
                cancelled()

        def on_finally() -> None:
            self._busy[owner] -= 1
            if self._busy[owner] <= 0:
                del self._busy[owner]
            if slot is not None and self._latest.get(slot) == serial:
                del self._latest[slot]
            self.busy_changed.emit(initiator, self._busy[owner])
            if finished is not None:
                finished()

        workspace = self.workspace

        def with_connection(*args: Any, **kwargs: Any) -> Any:  # on the worker
            return func(workspace.db, *args, **kwargs)

        self._busy[owner] += 1
        self.busy_changed.emit(initiator, self._busy[owner])
        return self.tasks.run(resource, with_connection, *args, name=name, on_progress=on_progress,
                              on_done=on_done, on_error=on_error, on_cancelled=on_cancelled,
                              on_finally=on_finally, batch_ms=batch_ms, **kwargs)
