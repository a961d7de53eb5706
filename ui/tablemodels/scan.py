"""What a disk scan found, as a checkable table: the user ticks what to add."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from workbench.scan import Found
from workbench.units import human_size

from .base import Column, RowTableModel
from .library import SOURCE_LABELS


class ScanResultsTableModel(RowTableModel[Found]):
    """Rows arrive one by one as the scan walks (:meth:`append`); files already in the
    library are shown but cannot be ticked."""

    columns = (
        Column("Model", lambda f: f.name, tooltip=lambda f: str(f.path)),
        Column("Found in", lambda f: SOURCE_LABELS.get(f.source, f.source)),
        Column("Size", lambda f: human_size(f.size), lambda f: f.size, numeric=True),
        Column("Status", lambda f: "Already in library" if f.in_library else "New"),
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.checked: set[int] = set()  # ids of the Found objects ticked

    def append(self, found: Found) -> None:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(found)
        if not found.in_library:
            self.checked.add(id(found))
        self.endInsertRows()

    def chosen(self) -> list[Found]:
        return [f for f in self._rows if id(f) in self.checked and not f.in_library]

    def set_checked(self, row: int, on: bool) -> None:
        self.setData(self.index(row, 0), Qt.CheckState.Checked if on else Qt.CheckState.Unchecked,
                     Qt.ItemDataRole.CheckStateRole)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        found = self.row_at(index.row())
        if index.column() == 0 and found is not None and not found.in_library:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        if found is not None and found.in_library:
            flags &= ~Qt.ItemFlag.ItemIsEnabled
        return flags

    def extra(self, row: Found, column: Column[Any], role: int) -> Any:
        if role == Qt.ItemDataRole.CheckStateRole and column is self.columns[0]:
            if row.in_library:
                return None
            return Qt.CheckState.Checked if id(row) in self.checked else Qt.CheckState.Unchecked
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,  # noqa: N802
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        found = self.row_at(index.row())
        if role != Qt.ItemDataRole.CheckStateRole or found is None or found.in_library:
            return False
        state = Qt.CheckState(value) if not isinstance(value, Qt.CheckState) else value
        if state == Qt.CheckState.Checked:
            self.checked.add(id(found))
        else:
            self.checked.discard(id(found))
        self.dataChanged.emit(index, index, [role])
        return True
