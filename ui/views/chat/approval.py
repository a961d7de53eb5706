"""Asking the user before a tool runs: the chat's approval bar and the bridge that brings the
question from the engine worker to it.

The tool loop calls its ``approve`` on the engine worker and waits for the answer. The
bridge's approver sends the question to the GUI thread (a queued signal: the worker never
touches a widget) and waits on a :class:`threading.Event`, looking every tenth of a second
whether the reply was stopped (Stop, Esc, closing the window, which stops the reply too) or
the page is gone: then it answers "deny", so a worker never waits for a prompt no one can
answer. The bar sits above the composer, not inside one conversation's transcript, so it
stays in view when the user opens another chat while the question waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ui.widgets.plain_label import Label
from workbench.mcp.toolbox import Approver, Decision, ToolCallShown, arguments_line

#: How often a waiting worker looks whether it should give up.
POLL_S = 0.1


@dataclass
class Question:
    """One call waiting for the user; answered once, from the GUI thread."""

    call: ToolCallShown
    answered: threading.Event = field(default_factory=threading.Event)
    decision: Decision = "deny"

    def answer(self, decision: Decision) -> None:
        if not self.answered.is_set():
            self.decision = decision
            self.answered.set()


class ApprovalBridge(QObject):
    """Made on the GUI thread; :meth:`approver` gives a turn its ``approve``."""

    asked = Signal(object)  # a Question, delivered on the GUI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._closed = threading.Event()
        self.destroyed.connect(lambda *_: self._closed.set())

    def close(self) -> None:
        """No more questions: every waiting worker (and every later one) gets "deny"."""
        self._closed.set()

    def approver(self, given_up: Callable[[], bool]) -> Approver:
        """``given_up`` (read on the worker) says the reply was stopped. Tools allowed
        "always" never get here: the core's toolbox keeps that answer in the database
        (:mod:`workbench.mcp.approvals`) and runs them without asking."""
        closed = self._closed
        asked = self.asked

        def approve(call: ToolCallShown) -> Decision:  # on the engine worker
            if closed.is_set() or given_up():
                return "deny"
            question = Question(call)
            try:
                asked.emit(question)
            except RuntimeError:  # the page was deleted meanwhile
                return "deny"
            while not question.answered.wait(POLL_S):
                if closed.is_set() or given_up():
                    question.answer("deny")
            return question.decision

        return approve


class ApprovalBar(QFrame):
    """"weather wants to run get_weather {...}" with Allow once / Always / Deny; questions
    that come while one is shown wait in line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ApprovalBar")
        self.setAccessibleName("Tool call approval")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 10, 8)
        layout.setSpacing(6)
        self.text = Label(self, rich=True)  # the bar's own markup; names escaped
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.arguments = Label(self)
        self.arguments.setObjectName("Mono")
        self.arguments.setWordWrap(True)
        self.arguments.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.setSpacing(6)
        hint = Label("Nothing runs until you allow it.", self)
        hint.setObjectName("Muted")
        self.allow_once = QPushButton("Allow once", self)
        self.allow_once.setObjectName("Primary")
        self.allow_once.setToolTip("Run this call now; ask again next time")
        self.always = QPushButton("Always for this tool", self)
        self.always.setToolTip("Run it, and this tool's later calls in every chat, without "
                               "asking (kept after a restart; Tools lists it, with Remove)")
        self.deny = QPushButton("Deny", self)
        self.deny.setToolTip("Run nothing; the model reads that you did not allow it")
        row.addWidget(hint, 1)
        row.addWidget(self.deny)
        row.addWidget(self.always)
        row.addWidget(self.allow_once)
        layout.addWidget(self.text)
        layout.addWidget(self.arguments)
        layout.addLayout(row)
        self.allow_once.clicked.connect(lambda: self._answer("once"))
        self.always.clicked.connect(lambda: self._answer("always"))
        self.deny.clicked.connect(lambda: self._answer("deny"))
        self.queue: list[Question] = []
        self.hide()

    @property
    def question(self) -> Question | None:
        return self.queue[0] if self.queue else None

    def ask(self, question: Question) -> None:
        self.queue.append(question)
        self._show()

    def _answer(self, decision: Decision) -> None:
        if self.queue:
            self.queue.pop(0).answer(decision)
        self._show()

    def deny_all(self) -> None:
        """The reply stopped: what still waits is denied (the worker gives up by itself
        too; this clears the bar)."""
        for question in self.queue:
            question.answer("deny")
        self.queue.clear()
        self._show()

    def _show(self) -> None:
        self.queue = [q for q in self.queue if not q.answered.is_set()]
        question = self.question
        if question is None:
            self.hide()
            return
        call = question.call
        waiting = f" ({len(self.queue) - 1} more waiting)" if len(self.queue) > 1 else ""
        self.text.setText(f"The model wants to run <b>{escape(call.tool)}</b> from MCP "
                          f"server <b>{escape(call.server)}</b>{waiting}")
        if call.changed:
            self.text.setText(self.text.text() + "<br>It changed since you allowed it "
                              "always (its description or input schema differs), so "
                              "Workbench asks again.")
        self.arguments.setText(arguments_line(call.arguments, 600))
        self.show()
        self.allow_once.setFocus()
