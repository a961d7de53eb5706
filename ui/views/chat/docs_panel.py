"""The chat side panel's "Documents" section: which collections this chat answers from.

A self-contained widget (other sections of the panel come and go without touching it): it
lists the collections (again whenever ``events.changed`` says "documents"), and remembers the
checked ones per conversation (:mod:`workbench.documents.attached`) as soon as they change;
a new chat's choice is sent with its first message, which attaches it. The page reads
:meth:`DocsPanel.chosen` and :meth:`DocsPanel.k` (the passages retrieved per question) for
each turn and tells the panel which conversation is on show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.plain_label import Label
from workbench.documents.attached import attach_collections
from workbench.documents.collections import list_collections
from workbench.trials.sources import MAX_K

#: Passages retrieved per question until the user says otherwise (the core's default).
DEFAULT_K = 5
#: The list is never taller than this many rows (it scrolls beyond).
VISIBLE_ROWS = 4


class DocsPanel(QFrame):
    """Check boxes over the collections; :meth:`chosen` is what the next turn answers from."""

    #: The user checked or unchecked a collection (the chosen names, in list order).
    changed = Signal(list)

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        #: The conversation on show (None: a new chat, attached by its first message).
        self.conversation_id: int | None = None
        self.setObjectName("DocsPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        heading = Label("Documents", self)
        heading.setObjectName("SubHeading")
        self.list = QListWidget(self)
        self.list.setAccessibleName("Collections to answer from")
        self.list.setToolTip("Replies answer from the checked collections and cite their "
                             "passages")
        self.hint = Label(self)
        self.hint.setObjectName("Muted")
        self.hint.setWordWrap(True)
        layout.addWidget(heading)
        layout.addWidget(self.list)
        self.k_spin = QSpinBox(self)
        self.k_spin.setRange(1, MAX_K)
        self.k_spin.setValue(DEFAULT_K)
        self.k_spin.setAccessibleName("Passages per question")
        self.k_spin.setToolTip("How many passages are retrieved for each question (fewer "
                               "leave more of the context for the conversation)")
        self.k_row = QWidget(self)
        k_layout = QHBoxLayout(self.k_row)
        k_layout.setContentsMargins(0, 0, 0, 0)
        k_layout.addWidget(Label("Passages per question", self.k_row), 1)
        k_layout.addWidget(self.k_spin)
        layout.addWidget(self.k_row)
        layout.addWidget(self.hint)
        self._chosen: list[str] = []
        self._filling = False
        self.list.itemChanged.connect(self._item_changed)
        self.set_collections([])
        services.events.changed.connect(self._data_changed)
        self.refresh()

    def refresh(self) -> None:
        self.services.ops.run(
            "db", list_collections, name="list collections", key="collections",
            initiator=self, success=lambda rows: self.set_collections(
                [r["name"] for r in rows], {r["name"]: r["chunks"] for r in rows}))

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        if "documents" in changes:
            self.refresh()

    def set_conversation(self, conversation_id: int | None, names: Iterable[str]) -> None:
        """The conversation on show and the collections attached to it."""
        self.conversation_id = conversation_id
        self.set_chosen(names)

    def set_collections(self, names: Iterable[str], counts: dict[str, int] | None = None
                        ) -> None:
        """The collections there are (``counts``: passages of each, for the tooltips); the
        chosen ones stay checked, a removed one is dropped."""
        names = list(names)
        self._filling = True
        self.list.clear()
        for name in names:
            item = QListWidgetItem(name, self.list)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in self._chosen
                               else Qt.CheckState.Unchecked)
            if counts and name in counts:
                item.setToolTip(f"{name}: {counts[name]:,} passages")
        self._filling = False
        self._chosen = [name for name in self._chosen if name in names]
        rows = max(1, min(len(names), VISIBLE_ROWS))
        self.list.setFixedHeight(rows * (self.list.fontMetrics().height() + 12) + 8)
        self.list.setVisible(bool(names))
        self.k_row.setVisible(bool(names))
        self._say()

    def set_chosen(self, names: Iterable[str]) -> None:
        """Check exactly ``names`` (a conversation opened); says nothing through ``changed``."""
        wanted = list(names)
        self._filling = True
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setCheckState(Qt.CheckState.Checked if item.text() in wanted
                               else Qt.CheckState.Unchecked)
        self._filling = False
        self._chosen = [name for name in wanted if self._has(name)]
        self._say()

    def chosen(self) -> list[str]:
        return list(self._chosen)

    def k(self) -> int:
        """Passages retrieved per question (``TurnRequest.k``)."""
        return int(self.k_spin.value())

    def item(self, name: str) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            if self.list.item(row).text() == name:
                return self.list.item(row)
        return None

    def _has(self, name: str) -> bool:
        return self.item(name) is not None

    def _item_changed(self, _item: QListWidgetItem) -> None:
        if self._filling:
            return
        self._chosen = [self.list.item(row).text() for row in range(self.list.count())
                        if self.list.item(row).checkState() == Qt.CheckState.Checked]
        self._say()
        if self.conversation_id is not None:
            self.services.ops.run("db", attach_collections, self.conversation_id,
                                  self.chosen(), name="attach collections")
        self.changed.emit(self.chosen())

    def _say(self) -> None:
        if not self.list.count():
            self.hint.setText("No collections yet: add your files on the Documents page, "
                              "then check them here to ask them questions.")
        elif self._chosen:
            self.hint.setText("Replies answer from the checked collections and cite "
                              "passages: [1], [2].")
        else:
            self.hint.setText("Check a collection to answer from your documents.")
