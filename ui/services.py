"""What every view gets: the workspace (which hands each thread its own database
connection), the engine, the operations layer (over the task manager, handing each operation
its worker's connection), and the app-wide events that keep pages in step without knowing
about each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from ui.operations import Operations
from ui.tasks import TaskManager
from workbench.engine import Engine
from workbench.workspace import Workspace


class AppEvents(QObject):
    """Signals any page may emit or follow; all are emitted on the GUI thread.

    ``changed(changes, initiator)`` is anki's ``operation_did_execute`` and the window's one
    change channel: after shared data changed (``{"library"}``, ``{"suites", "trials"}``,
    ``{"chats"}``, ``{"settings"}``; see :data:`ui.operations.CHANGE_KINDS`) every page
    showing that data reloads it, and the page that caused it (``initiator``) may skip its
    own reload because it already has the result. Operations emit it for their ``changes=``;
    a change made outside an operation (a reply saved as it streams) emits it directly.
    """

    changed = Signal(object, object)  # frozenset of change kinds, the initiator (or None)
    model_loading = Signal(str)  # the model's name
    model_loaded = Signal(str)  # the model's name, or "" when nothing is loaded
    status_message = Signal(str, int)  # text, milliseconds (0: until replaced)
    error = Signal(str)  # a one-line message for the user: the window's one error display
    #: A blind comparison started (True) or was voted on (False): while blind, no view names
    #: the model in memory (the status bar, the server switch), so the answers stay anonymous.
    blinded = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.blind = False

    def set_blind(self, on: bool) -> None:
        """Hide (True) or show again (False) which model is in memory, everywhere."""
        if on != self.blind:
            self.blind = on
            self.blinded.emit(on)


@dataclass
class Services:
    workspace: Workspace
    engine: Engine = field(default_factory=Engine)
    tasks: TaskManager = field(default_factory=TaskManager)
    events: AppEvents = field(default_factory=AppEvents)
    ops: Operations = field(init=False)

    def __post_init__(self) -> None:
        self.ops = Operations(self.tasks, self.events, self.workspace)

    def shutdown(self) -> None:
        """Stop every job, wait for the workers, then free the model (on quit)."""
        self.tasks.shutdown()
        self.engine.unload()
