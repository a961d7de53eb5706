"""A small panel of things the user adds and removes: a list, the fields and buttons that
change it, and one line under them.

Settings' Workers and Remote endpoints panels are both this shape, so the list's look (wrapped
lines, never a sideways scroll bar, a bounded height), the line that says what happened or
what went wrong, and how the selected entry is found live here once; each panel adds its own
fields and says which core function each button calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLayout, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ui.services import Services
from ui.widgets.plain_label import Label


class ListPanel(QWidget):
    """The list on top, the panel's rows (:meth:`add_row`) under it, the note line last."""

    def __init__(self, services: Services, name: str, height: tuple[int, int],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget(self)
        self.list.setAccessibleName(name)
        self.list.setWordWrap(True)  # an entry's line is long: wrapped, never cut
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setMinimumHeight(height[0])
        self.list.setMaximumHeight(height[1])
        self.column.addWidget(self.list)
        self.note = Label("", self)
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.hide()
        self.column.addWidget(self.note)

    def add_row(self, row: QLayout) -> None:
        """Fields or buttons, between the list and the note line."""
        self.column.insertLayout(self.column.count() - 1, row)

    def say(self, text: str, *, error: bool = False) -> None:
        self.note.setObjectName("ErrorText" if error else "Muted")
        self.note.style().unpolish(self.note)
        self.note.style().polish(self.note)
        self.note.setText(text)
        self.note.show()

    def failed(self, message: str) -> None:
        self.say(message, error=True)

    def show_entries(self, entries: Iterable[tuple[str, Any, str]], empty: str) -> None:
        """Each entry as (line, key, tooltip); EMPTY, a hint with no key, when there is none."""
        self.list.clear()
        for text, key, tip in entries:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, key)
            if tip:
                item.setToolTip(tip)
            self.list.addItem(item)
        if not self.list.count():
            self.list.addItem(empty)

    def selected(self) -> Any:
        """The selected entry's key; None with nothing selected or the empty hint."""
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None
