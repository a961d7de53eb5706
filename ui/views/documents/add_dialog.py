"""Making a collection: its name, the folders and files in it (chosen with a dialog or
dropped here or on the page), include/exclude patterns and its embedding model (or none:
keyword search only). Nothing is checked here beyond
"something to add": the core says what is wrong with a path, in one line."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.views.documents.embedding import Choice, EmbedModelCombo
from ui.widgets.plain_label import Label


def dropped_paths(mime: QMimeData) -> list[str]:
    """The local files and folders in a drag (anything else is ignored)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]


def patterns(text: str) -> list[str]:
    """Glob patterns typed with spaces or commas between them."""
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def ask_folder(parent: QWidget) -> str:
    """The folder dialog (a function so tests can answer it)."""
    return QFileDialog.getExistingDirectory(parent, "Add a folder to the collection")


def ask_files(parent: QWidget) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, "Add files to the collection")
    return paths


class AddCollectionDialog(QDialog):
    """Name, paths, patterns and embedding model; :meth:`values` once accepted.
    ``choices``: the embedding models offered (:func:`.embedding.embed_choices`)."""

    def __init__(self, paths: Iterable[str] = (), name: str = "",
                 parent: QWidget | None = None, choices: Sequence[Choice] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a collection")
        self.setAcceptDrops(True)
        self.resize(560, 420)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit(name, self)
        self.name.setAccessibleName("Collection name")
        self.name.setPlaceholderText("e.g. contracts")
        form.addRow("Name", self.name)
        layout.addLayout(form)
        layout.addWidget(Label("Folders and files (drop them here too)", self))
        self.paths = QListWidget(self)
        self.paths.setAccessibleName("Folders and files")
        self.paths.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        layout.addWidget(self.paths, 1)
        row = QHBoxLayout()
        self.folder_button = QPushButton("Add folder…", self)
        self.files_button = QPushButton("Add files…", self)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Take the selected folders and files off this list")
        self.folder_button.clicked.connect(lambda: self.add_paths([ask_folder(self)]))
        self.files_button.clicked.connect(lambda: self.add_paths(ask_files(self)))
        self.remove_button.clicked.connect(self._remove_selected)
        row.addWidget(self.folder_button)
        row.addWidget(self.files_button)
        row.addStretch(1)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        patterns_form = QFormLayout()
        self.include = QLineEdit(self)
        self.include.setAccessibleName("Include patterns")
        self.include.setPlaceholderText("all readable formats, or e.g. *.pdf *.md")
        self.exclude = QLineEdit(self)
        self.exclude.setAccessibleName("Exclude patterns")
        self.exclude.setPlaceholderText("e.g. drafts/* *.log")
        patterns_form.addRow("Include", self.include)
        patterns_form.addRow("Exclude", self.exclude)
        self.embed_model = EmbedModelCombo(choices, None, self)
        patterns_form.addRow("Embedding model", self.embed_model)
        layout.addLayout(patterns_form)
        hint = Label("Files are read where they are, never copied or changed. Indexing runs "
                     "in the background and can be paused. An embedding model finds passages "
                     "by meaning as well as by keyword; it can be changed later.", self)
        hint.setObjectName("Muted")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Add and index")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._update)
        self.add_paths(paths)

    def add_paths(self, paths: Iterable[str]) -> None:
        shown = set(self.path_list())
        for path in paths:
            if path and path not in shown:
                self.paths.addItem(path)
                shown.add(path)
                if not self.name.text().strip():  # the first folder names it
                    self.name.setText(os.path.basename(path.rstrip("/\\")) or path)
        self._update()

    def _remove_selected(self) -> None:
        for item in self.paths.selectedItems():
            self.paths.takeItem(self.paths.row(item))
        self._update()

    def _update(self) -> None:
        self.ok_button.setEnabled(bool(self.name.text().strip()) and self.paths.count() > 0)

    def path_list(self) -> list[str]:
        return [self.paths.item(row).text() for row in range(self.paths.count())]

    def values(self) -> tuple[str, list[str], list[str], list[str], int | None]:
        """Name, paths, include patterns, exclude patterns, embedding model id (or None)."""
        return (self.name.text().strip(), self.path_list(), patterns(self.include.text()),
                patterns(self.exclude.text()), self.embed_model.model_id())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt's name)
        paths = dropped_paths(event.mimeData())
        if paths:
            self.add_paths(paths)
            event.acceptProposedAction()
