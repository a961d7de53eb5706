"""The "Scan disk" dialog: models LM Studio, GPT4All, Jan, Ollama or the Hugging Face cache
already downloaded, added in place (never copied) once the user picks them.

The walk runs on the "db" worker as an iterator (:func:`workbench.scan.scan`), so rows appear as
they are found and closing the dialog stops it between two files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPushButton, QVBoxLayout, QWidget
from sqlite_utils import Database

from ui.services import Services
from ui.tablemodels.scan import ScanResultsTableModel
from ui.views.models.widgets import MessageBar, heading, make_table, muted
from workbench.scan import Found, scan


def scan_job(db: Database, roots: Mapping[str, list[Path]] | None) -> Iterator[Found]:
    yield from scan(db, roots=roots)


class ScanDialog(QDialog):
    """Lists what the scan finds; "Add selected" emits :attr:`chosen` and closes."""

    chosen = Signal(list)  # list[Found]

    def __init__(self, services: Services, parent: QWidget | None = None,
                 roots: Mapping[str, list[Path]] | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.roots = roots
        self.job: Any = None
        self.scanning = False
        self.setWindowTitle("Find models on this computer")
        self.resize(820, 460)
        self.table_model = ScanResultsTableModel(self)
        self.table = make_table(self.table_model, stretch="Model")
        self.message = MessageBar()
        self.status = muted("Looking in LM Studio, GPT4All, Jan, Ollama and the Hugging Face "
                            "cache…")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = QPushButton("Add selected")
        self.add_button.setObjectName("Primary")
        self.add_button.setEnabled(False)
        self.buttons.addButton(self.add_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.add_selected)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Models already on this computer", 14))
        layout.addWidget(muted("Files stay where they are; Workbench only records them."))
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.table_model.dataChanged.connect(self._update)
        self.finished.connect(self._stop)

    def start(self) -> None:
        self.scanning = True
        self.job = self.services.ops.run(
            "disk", scan_job, self.roots, name="scanning for models",
            progress=self.table_model.append, success=self._scan_done,
            failure=self._scan_failed)
        # Safe after run(): a cancel can only come from this (GUI) thread, later.
        self.job.cancelled.connect(self._scan_done)

    def _scan_failed(self, message: str) -> None:
        self.message.show_error(message)
        self._scan_done()

    def _scan_done(self, *_args: object) -> None:
        self.scanning = False
        self._update()

    def _update(self, *_args: object) -> None:
        rows = self.table_model.rows()
        new = sum(1 for f in rows if not f.in_library)
        if self.scanning:
            text = f"Scanning… {len(rows)} found so far"
        elif not rows:
            text = "No GGUF models found in the usual places."
        else:
            text = f"Found {len(rows)} model{'s' if len(rows) != 1 else ''}, {new} not yet in " \
                   "the library."
        self.status.setText(text)
        self.add_button.setEnabled(bool(self.table_model.chosen()))

    def add_selected(self) -> None:
        chosen = self.table_model.chosen()
        self._stop()
        if chosen:
            self.chosen.emit(chosen)
        self.accept()

    def _stop(self, *_args: object) -> None:
        if self.job is not None and self.scanning:
            self.job.cancel()
