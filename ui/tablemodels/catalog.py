"""The curated catalog as a table, with whether each entry fits this machine."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from ui import theme
from workbench.catalog import CatalogEntry, fits
from workbench.units import human_count, human_size

from .base import Column, RowTableModel


class CatalogTableModel(RowTableModel[CatalogEntry]):
    """Entries after :func:`workbench.catalog.filter_catalog`; ``memory`` is this machine's
    budget so the "Fits" column and the filter agree (both use :func:`catalog.fits`)."""

    def __init__(self, memory_bytes: int, parent: Any = None) -> None:
        super().__init__(parent)
        self.memory_bytes = memory_bytes
        self.in_library: set[str] = set()
        self.columns = (
            Column("Name", lambda e: e.name, tooltip=lambda e: e.description),
            Column("Parameters", lambda e: human_count(e.parameters), lambda e: e.parameters,
                   numeric=True),
            Column("Quantization", lambda e: e.quantization),
            Column("Size", lambda e: human_size(e.size_bytes), lambda e: e.size_bytes,
                   numeric=True),
            Column("Needs", lambda e: human_size(e.min_memory_bytes),
                   lambda e: e.min_memory_bytes, numeric=True,
                   tooltip=lambda e: "Memory needed at a 4,096-token context"),
            Column("Fits", self.fit_text),
            Column("License", lambda e: e.license),
            Column("Tasks", lambda e: ", ".join(e.tasks)),
        )

    def fit_text(self, entry: CatalogEntry) -> str:
        if entry.file in self.in_library:
            return "In library"
        return "Fits" if fits(entry, self.memory_bytes) else "Too large"

    def extra(self, row: CatalogEntry, column: Column[Any], role: int) -> Any:
        if column.title == "Fits" and role == Qt.ItemDataRole.ForegroundRole:
            text = self.fit_text(row)
            return theme.role_color("ok" if text == "Fits" else
                                    "info" if text == "In library" else "error_text")
        return None
