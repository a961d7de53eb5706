"""A table model over a list of plain rows, described by columns.

Every table on the Models page is "a list of dataclasses, some columns": the view never sees
SQL or HTTP, only rows that a background job fetched. Describing a column once (its title, its
text, its sort key, its alignment) keeps each concrete model to a screenful and lets the tests
read cells without building a single widget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Row = TypeVar("Row")
Index = QModelIndex | QPersistentModelIndex

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
"""The value a :class:`~PySide6.QtCore.QSortFilterProxyModel` sorts by (numbers as numbers)."""
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
"""The row object itself, so a view can act on the selection without another lookup."""

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Column(Generic[Row]):
    """One column: what it is called, what a cell says, and how it sorts."""

    title: str
    text: Callable[[Row], str]
    sort: Callable[[Row], Any] | None = None
    numeric: bool = False
    tooltip: Callable[[Row], str | None] | None = None
    #: What the column means, in plain words: the header's tooltip.
    header_tip: str = ""


class RowTableModel(QAbstractTableModel, Generic[Row]):
    """Read-only rows; subclasses set :attr:`columns` and may add roles in :meth:`extra`."""

    columns: Sequence[Column[Any]] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []

    # -- rows -------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace everything (a fresh search, a reloaded library)."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[Row]:
        return list(self._rows)

    def row_at(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def column_index(self, title: str) -> int:
        """The position of the column called ``title`` (tests and views look columns up by
        name so that adding a column never breaks them)."""
        for number, column in enumerate(self.columns):
            if column.title == title:
                return number
        raise KeyError(title)

    def cell(self, row: int, title: str) -> str:
        """What the cell shows, for tests and for copying."""
        return str(self.data(self.index(row, self.column_index(title))))

    # -- Qt ---------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.numeric else _LEFT
        if role == Qt.ItemDataRole.ToolTipRole and column.header_tip:
            return column.header_tip
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == SORT_ROLE:
            return column.sort(row) if column.sort else column.text(row).lower()
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.numeric else _LEFT
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip:
            return column.tooltip(row)
        return self.extra(row, column, role)

    def extra(self, row: Row, column: Column[Any], role: int) -> Any:
        """Further roles (colours, check states) for subclasses; none by default."""
        return None
