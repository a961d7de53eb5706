"""The Recommended tab: the curated catalog, filtered by task and by what fits this machine.

It goes through the same :func:`workbench.catalog.filter_catalog` as ``llm-workbench catalog``,
so the window and the CLI always recommend the same files; "Download" hands the entry to the
same queue as Discover.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.tablemodels.catalog import CatalogTableModel
from ui.views.models.widgets import (
    MessageBar,
    heading,
    make_table,
    muted,
    select_source_row,
    selected_row,
)
from ui.widgets.plain_label import Label
from workbench.catalog import TASKS, CatalogEntry, filter_catalog, load_catalog
from workbench.errors import WorkbenchError
from workbench.library import Model
from workbench.units import human_size


class RecommendedTab(QWidget):
    download_requested = Signal(str, str, object)  # repo id, file name, commit (None: main)

    def __init__(self, memory_bytes: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.memory_bytes = memory_bytes
        self.table_model = CatalogTableModel(memory_bytes, self)
        self.message = MessageBar()
        self.task = QComboBox()
        self.task.addItem("All tasks", None)
        for task in TASKS:
            self.task.addItem(task.replace("-", " ").capitalize(), task)
        self.fits_only = QCheckBox(f"Fits in {human_size(memory_bytes)}")
        self.fits_only.setToolTip("Show only the models that fit this machine's memory")
        self.fits_only.setChecked(True)
        self.count = muted()
        self.count.setWordWrap(False)
        top = QHBoxLayout()
        top.addWidget(heading("Recommended models"))
        top.addWidget(self.count)
        top.addStretch(1)
        top.addWidget(Label("Task"))
        top.addWidget(self.task)
        top.addWidget(self.fits_only)

        self.table = make_table(self.table_model, stretch="Name",
                                optional=("License", "Tasks", "Quantization"))
        self.description = Label(rich=True)  # bold name: the catalog text is escaped
        self.description.setWordWrap(True)
        self.facts = muted()
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("Primary")
        self.download_button.setEnabled(False)
        panel = QFrame()
        panel.setObjectName("Card")
        panel_layout = QHBoxLayout(panel)
        panel_layout.setContentsMargins(14, 10, 14, 10)
        text = QVBoxLayout()
        text.addWidget(self.description)
        text.addWidget(self.facts)
        panel_layout.addLayout(text, 1)
        panel_layout.addWidget(self.download_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addLayout(top)
        layout.addWidget(muted("Hand-picked GGUF files, checked for a chat template and a clear "
                               "licence. Memory figures are for a 4,096-token context."))
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addWidget(panel)

        self.task.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.fits_only.toggled.connect(lambda _on: self.apply_filter())
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.download_selected())
        self.download_button.clicked.connect(self.download_selected)
        self.apply_filter()

    def apply_filter(self) -> None:
        keep = self.selected_entry()
        try:
            entries = filter_catalog(load_catalog(), self.task.currentData(),
                                     self.memory_bytes if self.fits_only.isChecked() else None)
        except WorkbenchError as error:
            self.message.show_error(str(error))
            entries = []
        self.table_model.set_rows(entries)
        self.count.setText(f"{len(entries)} of {len(load_catalog())}" if entries else
                           "nothing matches; untick “Only what fits” to see larger models")
        self._reselect(keep)

    def _reselect(self, keep: CatalogEntry | None) -> None:
        """Select ``keep`` again after the rows changed (else the first row)."""
        rows = self.table_model.rows()
        if rows:
            select_source_row(self.table, rows.index(keep) if keep in rows else 0)
        self._selection_changed()

    def set_library(self, models: list[Model]) -> None:
        """Mark entries whose file is already in the library (by file name); a hidden tab
        does it when it is next shown (a library change must not cost the window a stall)."""
        if not self.isVisible():
            self._pending_library = models
            return
        self._pending_library = None
        keep = self.selected_entry()
        self.table_model.in_library = {m.file_name for m in models}
        self.table_model.set_rows(self.table_model.rows())
        self._reselect(keep)

    def show_entry(self, catalog_id: str) -> bool:
        """Select the entry with this id, widening the filters if they hide it."""
        for attempt in range(2):
            for row, entry in enumerate(self.table_model.rows()):
                if entry.id == catalog_id:
                    select_source_row(self.table, row)
                    return True
            if attempt == 0:
                self.task.setCurrentIndex(0)
                self.fits_only.setChecked(False)
        return False

    def selected_entry(self) -> CatalogEntry | None:
        row = selected_row(self.table)
        return row if isinstance(row, CatalogEntry) else None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        pending = getattr(self, "_pending_library", None)
        if pending is not None:
            self.set_library(pending)

    def _selection_changed(self, *_args: object) -> None:
        entry = self.selected_entry()
        self.download_button.setEnabled(entry is not None)
        if entry is None:
            self.download_button.setText("Download")
            self.description.setText("")
            self.facts.setText("")
            return
        self.description.setText(f"<b>{html.escape(entry.name)}</b> — "
                                 f"{html.escape(entry.description)}")
        self.facts.setText(f"{entry.repo} · {entry.file} · {entry.openness} · "
                           f"{entry.context_length:,} tokens of context")
        owned = entry.file in self.table_model.in_library
        self.download_button.setText("Downloaded" if owned else
                                     f"Download ({human_size(entry.size_bytes)})")
        self.download_button.setEnabled(not owned)

    def download_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.file not in self.table_model.in_library:
            self.download_requested.emit(entry.repo, entry.file, None)
