"""What every view gets: the workspace, the engine, the task manager, a database connection
per worker thread (sqlite connections must not be shared between threads), and the app-wide
events that keep pages in step without knowing about each other."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal
from sqlite_utils import Database

from ui.tasks import TaskManager
from workbench.engine import Engine
from workbench.workspace import Workspace


class AppEvents(QObject):
    """Signals any page may emit or follow; all are emitted on the GUI thread.

    A page that changes shared data says so here (the chat page after a reply, the Models page
    after an import), and the pages that show that data reload it through a job.
    """

    conversations_changed = Signal()
    library_changed = Signal()
    settings_changed = Signal()
    model_loading = Signal(str)  # the model's name
    model_loaded = Signal(str)  # the model's name, or "" when nothing is loaded
    status_message = Signal(str, int)  # text, milliseconds (0: until replaced)
    error = Signal(str)  # a one-line message for the user


@dataclass
class Services:
    workspace: Workspace
    engine: Engine = field(default_factory=Engine)
    tasks: TaskManager = field(default_factory=TaskManager)
    events: AppEvents = field(default_factory=AppEvents)
    _local: threading.local = field(default_factory=threading.local, repr=False)

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
