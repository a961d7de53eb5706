"""A dismissable one-line message above the chat, with one optional action."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QToolButton, QWidget

from ui.widgets.plain_label import Label


class Banner(QFrame):
    """A dismissable one-line message above the chat (errors the user should read)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 6, 8)
        self.label = Label(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setObjectName("Flat")
        close.setText("✕")
        close.setAccessibleName("Dismiss message")
        close.clicked.connect(self.hide)
        #: One optional action beside the message ("Reload" after the model stopped working).
        self.action = QPushButton(self)
        self.action.clicked.connect(self._act)
        self._on_action: Callable[[], None] | None = None
        row.addWidget(self.label, 1)
        row.addWidget(self.action)
        row.addWidget(close)
        self.action.hide()
        self.hide()

    def show_message(self, text: str, action: str = "",
                     on_action: Callable[[], None] | None = None) -> None:
        self.label.setText(text)
        self._on_action = on_action
        self.action.setText(action)
        self.action.setVisible(bool(action and on_action))
        self.show()

    def _act(self) -> None:
        self.hide()
        if self._on_action is not None:
            self._on_action()
