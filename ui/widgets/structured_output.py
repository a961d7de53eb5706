"""The "Structured output" choice: free text, any JSON, or a JSON schema file.

One widget for the chat's Parameters panel and for each contender row, so both read the
same. Choosing "Schema file…" opens a file picker; the chosen file then shows by its name
(the full path in the tooltip). The widget only holds the choice: reading and checking the
file is the core's (``workbench.engine.settings.read_json_schema``), on a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

OFF, ANY, FILE, PICK = "off", "any", "file", "pick"
PICK_TEXT = "Schema file…"


def pick_schema_file(parent: QWidget | None) -> str:
    """Qt's file picker for a schema ('' when cancelled); tests replace it."""
    path, _filter = QFileDialog.getOpenFileName(
        parent, "Choose a JSON schema", "", "JSON schema (*.json);;All files (*)")
    return path


class StructuredOutputCombo(QComboBox):
    """Off / Any JSON / the chosen schema file / Schema file…"""

    #: The user picked a schema file (its path); the choice shows it at once.
    file_chosen = Signal(str)
    #: The choice changed (any of the three).
    choice_changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, off_text: str = "Off",
                 name: str = "Structured output") -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.setToolTip("Constrain replies to JSON, or to a JSON schema, through llama.cpp's "
                        "grammar.")
        self.addItem(off_text, OFF)
        self.addItem("Any JSON", ANY)
        self.addItem(PICK_TEXT, PICK)
        self.path: str | None = None
        #: How a file is asked for; replaced in tests (a modal dialog cannot be clicked).
        self.picker: Callable[[QWidget | None], str] = pick_schema_file
        self._previous = 0
        self.activated.connect(self._activated)

    def mode(self) -> str:
        return str(self.currentData())

    def _activated(self, index: int) -> None:
        if self.itemData(index) != PICK:
            self._previous = index
            self.choice_changed.emit()
            return
        path = self.picker(self.window())
        if not path:
            self.setCurrentIndex(self._previous)  # cancelled: keep what was chosen
            return
        self.set_file(path)
        self.file_chosen.emit(path)

    def set_file(self, path: str) -> None:
        """Show ``path`` as the current choice (by its file name)."""
        self.path = path
        index = self.findData(FILE)
        if index < 0:
            index = self.count() - 1
            self.insertItem(index, "", FILE)
        self.setItemText(index, Path(path).name)
        self.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(index)
        self._previous = index
        self.choice_changed.emit()

    def set_mode(self, mode: str) -> None:
        """Choose Off or Any JSON (a file is chosen with :meth:`set_file`)."""
        index = self.findData(mode if mode in (OFF, ANY) else OFF)
        self.setCurrentIndex(index)
        self._previous = index
        self.choice_changed.emit()

    def setting(self) -> str | None:
        """The ``json_schema`` setting as a contender takes it: ``any``, a file, or None."""
        mode = self.mode()
        if mode == ANY:
            return "any"
        if mode == FILE and self.path:
            return self.path
        return None
