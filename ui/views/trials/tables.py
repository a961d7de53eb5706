"""The trials page's two tables: the results matrix (prompts down, contenders across, each
cell the reply's start, its verdict and speed) and the leaderboard, with the column sizes
both keep as the window changes width."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QHeaderView, QTableWidget, QWidget

from ui import theme
from ui.views.trials.words import contender_in_words
from workbench.trials import report
from workbench.units import reply_metrics

AnyIndex = QModelIndex | QPersistentModelIndex
#: The prompt column never takes more than this; its text wraps (the whole prompt: tooltip).
PROMPT_COLUMN_PX = 220
#: Each contender's column gets at least this much; beyond the window, the table scrolls.
CONTENDER_COLUMN_MIN_PX = 150


class BoardTable(QTableWidget):
    """The leaderboard: number columns as wide as their contents and never narrower than
    their titles (ResizeToContents measured titles without the theme's header padding); the
    Contender column takes the rest, or its title's width and the table scrolls sideways
    when the window is too narrow for all of them."""

    def fit_columns(self) -> None:
        header = self.horizontalHeader()
        metrics = header.fontMetrics()
        self.resizeColumnsToContents()
        used = 0
        for column, (title, _tip) in enumerate(BOARD_COLUMNS[1:], 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            width = max(self.columnWidth(column), metrics.horizontalAdvance(title) + 14)
            self.setColumnWidth(column, width)
            used += width
        need = metrics.horizontalAdvance(BOARD_COLUMNS[0][0]) + 14
        if self.viewport().width() - used >= need:
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        else:
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
            self.setColumnWidth(0, max(need, min(self.columnWidth(0), 240)))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.fit_columns()


class MatrixModel(QAbstractTableModel):
    """Prompts down; the prompt first, then one column per contender, whose cell shows the
    reply's start, its verdict and speed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary: dict[str, Any] = {"matrix": [], "contenders": []}

    def set_summary(self, summary: dict[str, Any]) -> None:
        self.beginResetModel()
        self.summary = summary
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.summary["matrix"])

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        if parent.isValid() or not self.summary["contenders"]:
            return 0
        return 1 + len(self.summary["contenders"])

    def cell(self, index: AnyIndex) -> dict[str, Any] | None:
        if index.column() == 0:
            return None
        return self.summary["matrix"][index.row()]["cells"][index.column() - 1]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        prompt = self.summary["matrix"][index.row()]["prompt"]
        if index.column() == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return " ".join(prompt.split())[:200]
            if role == Qt.ItemDataRole.ToolTipRole:
                return prompt
            return None
        cell = self.cell(index)
        if role == Qt.ItemDataRole.DisplayRole:
            if cell is None:
                return "not run"
            verdict = {None: "", 1: "✓ ", 0: "✗ "}.get(cell["passed"], "")
            calls = report.call_lines(cell)  # a tool prompt: the calls it made come first
            text = " ".join(" · ".join([*calls, cell["content"]]).split())[:90]
            metrics = [*judge_grades(cell), reply_metrics(cell, short=True)]
            return f"{verdict}{text}\n{' · '.join(m for m in metrics if m)}"
        if role == Qt.ItemDataRole.ToolTipRole and cell is not None:
            checks = "\n".join(f"{report.check_mark(r)} {r['check']['type']}: "
                               f"{r['detail']}" for r in cell["check_results"])
            calls = "\n".join(report.call_lines(cell))
            return "\n\n".join(p for p in (calls, cell["content"], checks) if p).strip()
        if role == Qt.ItemDataRole.BackgroundRole and cell is not None:
            if cell["passed"] == 1:
                return theme.role_color("ok_bg")
            if cell["passed"] == 0:
                return theme.role_color("fail_bg")
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if section == 0:
            return "Prompt"
        contender = self.summary["contenders"][section - 1]
        label = contender["label"]
        if role == Qt.ItemDataRole.ToolTipRole:
            return contender_in_words(contender)
        return header_label(section - 1, label)


def judge_grades(cell: dict[str, Any]) -> list[str]:
    """A cell's judge grades in short ("judge 4/5", "judge 2/5 (self-judged)", "judge
    failed"); the reasons are in the tooltip with each check's verdict."""
    return [(f"judge {g['score']}/{g['scale']}" + (" (self-judged)" if g["self_judged"] else ""))
            if g["score"] is not None else "judge failed" for g in cell.get("judgements") or []]


def header_label(index: int, label: str) -> str:
    """A contender's column title: its number (as in the picker's rows: contenders are
    numbered everywhere, letters name blind answers) and its model; the settings, which make
    the label long, are in the tooltip."""
    return f"{index + 1} · {label.partition(' [')[0]}"


BOARD_COLUMNS = (
    ("Contender", "The model and the settings it ran with"),
    ("Rating", "Bradley-Terry rating from your votes on the Elo scale (1000 = average)"),
    ("95% interval", "The rating's 95% bootstrap interval: wide means few votes"),
    ("Votes", "Votes this contender took part in"),
    ("Won", "Votes it won"),
    ("Tied", "Votes that were a tie"),
    ("Pass rate", "Share of checked prompts that passed every check, over all trials (a "
                  "prompt with repeats scores the share of its repeats that pass)"),
)
