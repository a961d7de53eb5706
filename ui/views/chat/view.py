"""The scrolling column of messages. It follows the bottom while a reply streams, unless the
user scrolled up to read, and keeps lines at a readable width on wide screens."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from ui.widgets.image_strip import show_images
from ui.widgets.message_widget import MessageWidget
from workbench.conversations import StoredMessage

COLUMN_WIDTH = 860


class ChatView(QScrollArea):
    regenerate_requested = Signal(int)
    edit_submitted = Signal(int, str)
    branch_requested = Signal(int)
    continue_requested = Signal(int)
    citation_clicked = Signal(dict)  # a reply's citation, as saved with it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChatScroll")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QWidget(self)
        outer.setObjectName("ChatColumn")
        row = QHBoxLayout(outer)
        row.setContentsMargins(20, 16, 20, 16)
        self.column = QWidget(outer)
        self.column.setMaximumWidth(COLUMN_WIDTH)
        self._layout = QVBoxLayout(self.column)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(10)
        self._layout.addStretch(1)
        row.addStretch(0)
        row.addWidget(self.column, 1)
        row.addStretch(0)
        self.setWidget(outer)
        self.messages: list[MessageWidget] = []
        self._follow = True
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._range_changed)
        bar.valueChanged.connect(self._scrolled)

    def _range_changed(self, _low: int, high: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(high)

    def _scrolled(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - 24

    def clear(self) -> None:
        for widget in self.messages:
            self._layout.removeWidget(widget)
            widget.deleteLater()
        self.messages = []
        self._follow = True

    def add(self, widget: MessageWidget) -> MessageWidget:
        self._layout.insertWidget(self._layout.count() - 1, widget)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.edit_submitted.connect(self.edit_submitted)
        widget.branch_requested.connect(self.branch_requested)
        widget.continue_requested.connect(self.continue_requested)
        widget.citation_clicked.connect(self.citation_clicked)
        self.messages.append(widget)
        self._follow = True
        return widget

    def add_stored(self, message: StoredMessage, siblings: list[int],
                   model_name: str = "") -> MessageWidget:
        title = message.settings.get("model_name") or model_name or "Assistant"
        widget = MessageWidget(message.role, message.content, message_id=message.id,
                               title=title, parent=self.column)
        show_images(widget, message.images)
        if message.role == "assistant":
            widget.set_metrics(message.metrics, message.finish_reason, message.note)
            if message.status == "error":
                widget.set_status(message.error or "The reply failed.", error=True)
            elif message.status == "interrupted" and message.error:  # the model stopped working
                widget.set_status(message.error, error=True)
            elif message.status == "interrupted":
                widget.set_status("Interrupted: Workbench closed while this reply was written.")
            elif message.status == "stopped" and not message.content:
                widget.set_status("Stopped before the first token.")
            widget.tool_calls.set_records(message.settings.get("tool_calls") or [],
                                          message.settings.get("tool_notices") or [])
            citations = message.settings.get("citations") or []
            if citations or message.settings.get("docs_note"):
                widget.set_citations(citations, message.settings.get("docs_note"))
        widget.set_siblings(siblings)
        return self.add(widget)

    def refresh_stored(self, widget: MessageWidget, message: StoredMessage,
                       siblings: list[int]) -> None:
        """A message on show brought up to date with what was saved (after a reply)."""
        if widget.text != message.content:
            widget.set_content(message.content)
        if message.role == "assistant":
            widget.set_metrics(message.metrics, message.finish_reason, message.note)
            if message.status == "error" or message.status == "interrupted" and message.error:
                widget.set_status(message.error or "The reply failed.", error=True)
            elif not (message.status == "stopped" and not message.content):
                widget.set_status("")
            widget.tool_calls.set_records(message.settings.get("tool_calls") or [],
                                          message.settings.get("tool_notices") or [])
            widget.set_citations(message.settings.get("citations") or [],
                                 message.settings.get("docs_note"))
        widget.set_siblings(siblings)

    def remove_from(self, message_id: int) -> None:
        """Drop the message and everything after it (an edit or a regenerate replaces them)."""
        for index, widget in enumerate(self.messages):
            if widget.message_id == message_id:
                for stale in self.messages[index:]:
                    self._layout.removeWidget(stale)
                    stale.deleteLater()
                del self.messages[index:]
                return

    def only_last_continues(self) -> None:
        """Continue carries on the conversation, so only its last reply offers it."""
        for widget in self.messages[:-1]:
            widget.continue_button.hide()

    def set_busy(self, busy: bool) -> None:
        for widget in self.messages:
            widget.set_busy(busy)

    @property
    def leaf_id(self) -> int | None:
        for widget in reversed(self.messages):
            if widget.message_id is not None:
                return widget.message_id
        return None
