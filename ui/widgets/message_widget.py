"""One message of a chat: the text, its actions, its branch switcher and, for replies,
what the reply cost (tokens/s, time to first token, tokens, peak memory, finish reason).

A reply that is streaming grows through :meth:`MessageWidget.stream`: the new text is
appended with a cursor, and the Markdown is rendered again at most every
``render_interval`` seconds (adapted to what a render costs, so rendering never takes more
than a few percent of the time), then once more at the end.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.markdown_view import MarkdownView
from ui.widgets.plain_label import Label
from ui.widgets.sources import SourcesList
from ui.widgets.tool_calls import ToolCallsView
from workbench.units import reply_metrics


def format_metrics(metrics: dict[str, Any], finish_reason: str | None) -> str:
    """The line under a reply: the long form, the same words as the CLI's summary."""
    return reply_metrics(metrics, finish_reason or "")


def _flat_button(text: str, tip: str, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setObjectName("Flat")
    button.setText(text)
    button.setToolTip(tip)
    button.setAccessibleName(tip)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


def _is_send_key(event: QKeyEvent) -> bool:
    """Ctrl+Enter (either Enter key): what the chat's hint says sends."""
    return (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier))


class EditBox(QPlainTextEdit):
    """The box a sent message is edited in: as tall as its text (one line is one line, up to
    :attr:`MAX_LINES`, then it scrolls), and Ctrl+Enter sends *it*. The window's Ctrl+Enter
    shortcut sends the composer; the box claims the key first (``ShortcutOverride``), so
    the shortcut never sees it while the box has the focus."""

    submitted = Signal()
    MAX_LINES = 10

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self._fit()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and _is_send_key(event):
            event.accept()  # the key comes to keyPressEvent, not to the window's shortcut
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if _is_send_key(event):
            self.submitted.emit()
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802
        super().resizeEvent(event)
        self._fit()  # a narrower box wraps into more lines

    def _fit(self, *_: object) -> None:
        # A plain-text document's height is counted in lines (wrapped lines included).
        lines = max(1, min(self.MAX_LINES, round(self.document().size().height())))
        margins = self.contentsMargins()
        height = (lines * self.fontMetrics().lineSpacing()
                  + 2 * round(self.document().documentMargin())
                  + margins.top() + margins.bottom() + 2)
        if height != self.height():
            self.setFixedHeight(height)


class BranchSwitcher(QWidget):
    """``‹ 2/3 ›``: the alternatives at one point of the conversation's tree."""

    switch_to = Signal(int)  # the sibling's message id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.previous = _flat_button("‹", "Previous version", self)
        self.label = Label(self)
        self.label.setObjectName("Muted")
        self.next = _flat_button("›", "Next version", self)
        for widget in (self.previous, self.label, self.next):
            row.addWidget(widget)
        self._ids: list[int] = []
        self._index = 0
        self.previous.clicked.connect(lambda: self._go(-1))
        self.next.clicked.connect(lambda: self._go(1))
        self.hide()

    def set_siblings(self, ids: list[int], current: int) -> None:
        self._ids = ids
        self._index = ids.index(current) if current in ids else 0
        self.label.setText(f"{self._index + 1}/{len(ids)}")
        self.previous.setEnabled(self._index > 0)
        self.next.setEnabled(self._index < len(ids) - 1)
        self.setVisible(len(ids) > 1)

    def _go(self, step: int) -> None:
        index = self._index + step
        if 0 <= index < len(self._ids):
            self.switch_to.emit(self._ids[index])


class MessageWidget(QFrame):
    """A user message (a bubble on the right) or a reply (full width, with its metrics)."""

    regenerate_requested = Signal(int)
    edit_submitted = Signal(int, str)
    branch_requested = Signal(int)
    continue_requested = Signal(int)  # a reply cut at the token limit: carry on from it
    #: A citation was clicked (in the text or under Sources): the citation as saved.
    citation_clicked = Signal(dict)

    def __init__(
        self, role: str, text: str = "", *, message_id: int | None = None,
        title: str = "", parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = message_id
        self.text = text
        self.setObjectName("UserRow" if role == "user" else "AssistantMessage")

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 4, 0, 4)
        outer.setSpacing(4)
        self.body = QFrame(self)
        body_layout = QVBoxLayout(self.body)
        self.view = MarkdownView(self.body, plain=role == "user")
        self.editor: EditBox | None = None

        self.actions = QWidget(self)
        actions = QHBoxLayout(self.actions)
        actions.setContentsMargins(0, 0, 0, 0)
        actions.setSpacing(2)
        self.branches = BranchSwitcher(self.actions)
        self.branches.switch_to.connect(self.branch_requested)
        self.copy_button = _flat_button("Copy", "Copy message", self.actions)
        self.copy_button.clicked.connect(self.copy)
        self.edit_button = _flat_button("Edit", "Edit and resend", self.actions)
        self.edit_button.clicked.connect(self.start_edit)
        self.regenerate_button = _flat_button("Regenerate", "Regenerate reply", self.actions)
        self.regenerate_button.clicked.connect(
            lambda: self.message_id and self.regenerate_requested.emit(self.message_id))
        self.continue_button = _flat_button("Continue", "Continue the reply", self.actions)
        self.continue_button.setToolTip("The reply stopped at the token limit: continue it")
        self.continue_button.clicked.connect(
            lambda: self.message_id and self.continue_requested.emit(self.message_id))
        self.continue_button.hide()

        self.title = Label(title, self)
        self.title.setObjectName("Role")
        self.status = Label(self)
        self.status.setObjectName("Muted")
        self.status.setWordWrap(True)
        self.status.hide()
        self.metrics = Label(self)
        self.metrics.setObjectName("Metrics")
        self.metrics.setWordWrap(True)
        self.metrics.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics.hide()
        #: A reply's tool calls, above its answer (hidden when it made none).
        self.tool_calls = ToolCallsView(self)
        self.sources = SourcesList(self)
        self.sources.opened.connect(self.citation_clicked)
        self.view.citation_clicked.connect(self._citation_number)

        if role == "user":
            self.body.setObjectName("UserBubble")
            body_layout.setContentsMargins(12, 8, 12, 8)
            body_layout.addWidget(self.view)
            self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(self.body, 5)
            outer.addLayout(row)
            actions.addStretch(1)
            actions.addWidget(self.branches)
            actions.addWidget(self.edit_button)
            actions.addWidget(self.copy_button)
            self.regenerate_button.hide()
            self.title.hide()
        else:
            body_layout.setContentsMargins(0, 0, 0, 0)
            body_layout.addWidget(self.view)
            outer.addWidget(self.title)
            outer.addWidget(self.tool_calls)
            outer.addWidget(self.body)
            outer.addWidget(self.status)
            outer.addWidget(self.sources)
            outer.addWidget(self.metrics)
            actions.addWidget(self.branches)
            actions.addWidget(self.copy_button)
            actions.addWidget(self.regenerate_button)
            actions.addWidget(self.continue_button)
            actions.addStretch(1)
            self.edit_button.hide()
        outer.addWidget(self.actions)
        if text:
            self.view.set_markdown(text)

    # --- content -------------------------------------------------------------------------

    def set_content(self, text: str) -> None:
        self.text = text
        self.view.set_markdown(text)

    def stream(self, piece: str) -> None:
        """Add streamed text: appended as is, rendered as Markdown now and then (see module)."""
        self.text += piece
        self.view.stream(self.text, piece)

    def finish_stream(self) -> None:
        self.view.set_markdown(self.text)

    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setObjectName("ErrorText" if error else "Muted")
        self.status.style().unpolish(self.status)  # the theme colours it by object name
        self.status.style().polish(self.status)
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def set_metrics(self, metrics: dict[str, Any], finish_reason: str | None,
                    note: str | None = None) -> None:
        """The line under a reply; ``note`` follows the finish reason it explains (the token
        limit cut the JSON asked for)."""
        line = format_metrics(metrics, finish_reason)
        if note:
            line = f"{line} ({note})"
        self.metrics.setText(line)
        self.metrics.setVisible(bool(line))
        self.continue_button.setVisible(self.role == "assistant" and finish_reason == "length")

    def set_citations(self, citations: list[dict[str, Any]], note: str | None) -> None:
        """The passages the reply was given (its Sources) and what was cut to fit them;
        its [n] marks become links to them."""
        self.sources.set_citations(citations, note)
        self.view.set_citations(len(citations), self.text)

    def _citation_number(self, number: int) -> None:
        citation = self.sources.citation(number)
        if citation is not None:
            self.citation_clicked.emit(citation)

    def set_siblings(self, ids: list[int]) -> None:
        if self.message_id is not None:
            self.branches.set_siblings(ids, self.message_id)

    def set_busy(self, busy: bool) -> None:
        """While a reply streams, nothing may start another one or change the branch."""
        for button in (self.edit_button, self.regenerate_button, self.continue_button,
                       self.branches.previous, self.branches.next):
            button.setEnabled(not busy)
        if not busy and self.branches.isVisible():
            self.branches.set_siblings(self.branches._ids, self.message_id or 0)

    def set_streaming(self, streaming: bool) -> None:
        """A reply still being written has nothing to copy or regenerate yet: its actions
        show once it is done (stopped, failed or finished)."""
        self.actions.setVisible(not streaming)

    # --- actions -------------------------------------------------------------------------

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText("Copy"))

    def start_edit(self) -> None:
        """Swap the bubble for an editor; sending it makes a new branch, the old one stays."""
        if self.editor is not None or self.message_id is None:
            return
        self.view.hide()
        self.editor = EditBox(self.body)
        self.editor.setAccessibleName("Edit message")
        self.editor.setToolTip("Ctrl+Enter sends the edited message, Esc cancels")
        self.editor.setPlainText(self.text)
        self.editor.submitted.connect(self.submit_edit)
        buttons = QWidget(self.body)
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        cancel = QPushButton("Cancel", buttons)
        send = QPushButton("Send", buttons)
        send.setObjectName("Primary")
        send.setToolTip("Send the edited message (Ctrl+Enter)")
        self.send_edit_button = send
        row.addWidget(cancel)
        row.addWidget(send)
        self._edit_buttons = buttons
        self.body.layout().addWidget(self.editor)
        self.body.layout().addWidget(buttons)
        cancel.clicked.connect(self.cancel_edit)
        send.clicked.connect(self.submit_edit)
        self.actions.hide()
        self.editor.setFocus()
        self.editor.moveCursor(QTextCursor.MoveOperation.End)

    def submit_edit(self) -> None:
        if self.editor is None or self.message_id is None:
            return
        text = self.editor.toPlainText()
        if not text.strip():
            return
        self.edit_submitted.emit(self.message_id, text)

    def cancel_edit(self) -> None:
        if self.editor is None:
            return
        self.editor.deleteLater()
        self._edit_buttons.deleteLater()
        self.editor = None
        self.view.show()
        self.actions.show()

    @property
    def editing(self) -> bool:
        return self.editor is not None
