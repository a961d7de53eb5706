"""A collection's embedding model in the window: the chooser the Add dialog and the Change…
dialog share, the details line that shows the model, and the worker calls behind them.

Without a model a collection is searched by keyword only; with one, by meaning too (hybrid).
Changing the model drops the old vectors (:func:`~workbench.documents.collections.set_embed_model`)
and the page then runs the same background index run as indexing, which embeds every stored
passage again (its files are not read again) and can be paused and resumed like indexing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.widgets.plain_label import Label
from workbench.documents import collections as store
from workbench.library import get_model, list_models

#: The choice that means "no embedding model".
KEYWORD_ONLY = "None: keyword search only"
#: (library model id or None, what the chooser shows).
Choice = tuple[int | None, str]


def embed_choices(db: Database) -> list[Choice]:
    """Runs on a worker: "keyword only", then every library model by name."""
    return [(None, KEYWORD_ONLY)] + [(model.id, model.name) for model in list_models(db)]


def add_collection(db: Database, name: str, paths: list[str], include: Sequence[str],
                   exclude: Sequence[str], model_id: int | None) -> dict[str, Any]:
    """Runs on a worker: store the collection and, when one is chosen, its embedding model
    (an unknown model is one line before anything is stored)."""
    if model_id is not None:
        get_model(db, model_id)
    collection = store.add_collection(db, name, paths, include, exclude)
    if model_id is not None:
        collection = store.set_embed_model(db, name, model_id)
    return collection


class EmbedModelCombo(QComboBox):
    """The choices, with :meth:`model_id` the one chosen (None: keyword only)."""

    def __init__(self, choices: Sequence[Choice], current: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Embedding model")
        self.setToolTip("A library model that embeds the passages, so search finds them by "
                        "meaning as well as by keyword")
        self.set_choices(choices, current)

    def set_choices(self, choices: Sequence[Choice], current: int | None = None) -> None:
        self.clear()
        for model_id, label in choices or [(None, KEYWORD_ONLY)]:
            self.addItem(label, model_id)
        found = self.findData(current)
        self.setCurrentIndex(found if found >= 0 else 0)

    def model_id(self) -> int | None:
        data = self.currentData()
        return int(data) if data is not None else None


class ChangeModelDialog(QDialog):
    """Choose another embedding model for a collection."""

    def __init__(self, name: str, choices: Sequence[Choice], current: int | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Embedding model of {name}")
        layout = QVBoxLayout(self)
        self.combo = EmbedModelCombo(choices, current, self)
        hint = Label("Every passage is embedded again with the new model, in the background "
                     "(files are not read again). Pause stops it; Resume carries on.", self)
        hint.setObjectName("Muted")
        hint.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Change and embed")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(Label("Embedding model", self))
        layout.addWidget(self.combo)
        layout.addWidget(hint)
        layout.addWidget(self.buttons)
        self.resize(440, self.sizeHint().height())


def ask_embed_model(parent: QWidget, name: str, choices: Sequence[Choice],
                    current: int | None) -> tuple[bool, int | None]:
    """(chosen, model id) from the Change… dialog (a function so tests can answer it)."""
    dialog = ChangeModelDialog(name, choices, current, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return False, None
    return True, dialog.combo.model_id()


class EmbedModelLine(QWidget):
    """The details' line: "Embedding model: NAME · search by keyword and meaning" and
    Change…; the page connects :attr:`change_button`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = Label(self)
        self.label.setAccessibleName("Embedding model of the collection")
        self.label.setWordWrap(True)  # a long model name wraps rather than widening the page
        self.change_button = QPushButton("Change…", self)
        self.change_button.setToolTip("Choose another embedding model (or none); the "
                                      "passages are embedded again in the background")
        layout.addWidget(self.label, 1)
        layout.addWidget(self.change_button)

    def show_model(self, model: str | None) -> None:
        self.label.setText(f"Embedding model: {model} · search by keyword and meaning"
                           if model else f"Embedding model: {KEYWORD_ONLY}")
