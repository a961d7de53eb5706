"""What every view gets: the workspace, the engine, the operations layer (over the task
manager), a database connection per worker thread (sqlite connections must not be shared
between threads), and the app-wide events that keep pages in step without knowing about each
other."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal
from sqlite_utils import Database

from ui.operations import Operations
from ui.tasks import TaskManager
from workbench.engine import Engine
from workbench.workspace import Workspace

#: The older one-purpose signals and the change each stands for (kept for pages and tests
#: that emit or follow them; :meth:`AppEvents.announce` emits both forms).
LEGACY_CHANGES = {"library_changed": "library", "conversations_changed": "chats",
                  "settings_changed": "settings"}


class AppEvents(QObject):
    """Signals any page may emit or follow; all are emitted on the GUI thread.

    ``changed(changes, initiator)`` is anki's ``operation_did_execute``: after an operation
    changed shared data (``{"library"}``, ``{"suites", "trials"}``, ``{"chats"}``) every page
    showing that data reloads it, and the page that caused it (``initiator``) may skip its own
    reload because it already has the result.
    """

    changed = Signal(object, object)  # frozenset of change kinds, the initiator (or None)
    conversations_changed = Signal()
    library_changed = Signal()
    settings_changed = Signal()
    model_loading = Signal(str)  # the model's name
    model_loaded = Signal(str)  # the model's name, or "" when nothing is loaded
    status_message = Signal(str, int)  # text, milliseconds (0: until replaced)
    error = Signal(str)  # a one-line message for the user: the window's one error display

    def __init__(self) -> None:
        super().__init__()
        self._announcing = False
        for signal_name, kind in LEGACY_CHANGES.items():
            getattr(self, signal_name).connect(lambda kind=kind: self._legacy(kind))

    def announce(self, changes: Iterable[str], initiator: object = None) -> None:
        """Say what changed: ``changed`` once, and the older signal of each kind."""
        kinds = frozenset(changes)
        self._announcing = True
        try:
            self.changed.emit(kinds, initiator)
            for signal_name, kind in LEGACY_CHANGES.items():
                if kind in kinds:
                    getattr(self, signal_name).emit()
        finally:
            self._announcing = False

    def _legacy(self, kind: str) -> None:
        """Someone emitted an older signal directly: pages following ``changed`` hear it."""
        if not self._announcing:
            self.changed.emit(frozenset({kind}), None)


@dataclass
class Services:
    workspace: Workspace
    engine: Engine = field(default_factory=Engine)
    tasks: TaskManager = field(default_factory=TaskManager)
    events: AppEvents = field(default_factory=AppEvents)
    ops: Operations = field(init=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        self.ops = Operations(self.tasks, self.events)

    def db(self) -> Database:
        """This thread's connection to the workspace database (opened on first use)."""
        connection = getattr(self._local, "db", None)
        if connection is None:
            connection = self.workspace.connect()
            self._local.db = connection
        return connection

    def shutdown(self) -> None:
        """Stop every job, wait for the workers, then free the model (on quit)."""
        self.tasks.shutdown()
        self.engine.unload()
