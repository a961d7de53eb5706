"""Rank three or four answers, best first: drag them into order (or use Up and Down), so one
vote says more than "A was best". Stored as a ranking ``c>a>b``, which the ratings count as
every pair in that order."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.plain_label import Label


class RankDialog(QDialog):
    """``titles`` are what the user reads ("Answer A: The capital…"); ``keys`` (the titles
    themselves when not given) are what :meth:`order` returns, best first."""

    def __init__(self, titles: list[str], parent: QWidget | None = None,
                 keys: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rank the answers")
        self.setMinimumWidth(420)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Answers, best first")
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setWordWrap(True)
        for title, key in zip(titles, keys or titles, strict=True):
            item = QListWidgetItem(title, self.list)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(title)
        self.list.setCurrentRow(0)
        up, down = QPushButton("Up", self), QPushButton("Down", self)
        up.clicked.connect(lambda: self.move(-1))
        down.clicked.connect(lambda: self.move(1))
        moves = QVBoxLayout()
        moves.addWidget(up)
        moves.addWidget(down)
        moves.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(moves)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(Label("Best first: drag the answers into order.", self))
        layout.addLayout(row)
        layout.addWidget(buttons)

    def move(self, step: int) -> None:
        row = self.list.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.list.count():
            return
        item = self.list.takeItem(row)
        self.list.insertItem(target, item)
        self.list.setCurrentRow(target)

    def order(self) -> list[str]:
        """The keys as ranked now, best first."""
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.list.count())]
