"""Rows of (model, settings) that name the contenders of a comparison or a trial.

Rows are numbered 1-4, never lettered: letters belong to the answers of a comparison, which
are shuffled when blind, and a row "A" beside an answer "A" invites a vote for the wrong
model. Numbers follow the rows as they are added and removed.

Each row's "Structured output" (free text, any JSON, a schema file) becomes its
``json_schema`` setting; the file is read on the worker that makes the contenders, and the
contender keeps the schema itself, so a trial reruns without the file.

Once there are document collections, each row also chooses the collection it answers from
and how many passages it retrieves: they become its ``docs=`` and ``k=`` settings, which the
core already takes (:data:`workbench.trials.contenders.DOC_KEYS`); two rows may differ in
collection (and so in embedding model) or in k. More than one collection is typed in the
settings: ``docs=handbook,notes``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.views.trials.words import typed_in_words
from ui.widgets.plain_label import Label
from ui.widgets.structured_output import StructuredOutputCombo
from workbench.trials.contenders import Contender, contenders_from
from workbench.trials.sources import MAX_K

#: The documents choice that adds no ``docs=`` setting.
NO_DOCS = "No documents"
#: Passages a row retrieves until the user says otherwise (the core's default).
DEFAULT_K = 5

DEFAULT_SETTINGS = "temperature=0, max_tokens=256"


def split_settings(text: str) -> list[str]:
    """``"temperature=0, n_ctx=2048"`` to ``["temperature=0", "n_ctx=2048"]``."""
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def build_contenders(db: Any, chosen: list[tuple[int | str, list[str]]]) -> list[Contender]:
    """Runs on a worker: resolve each row's model and settings into stored contenders."""
    return contenders_from(db, chosen)


class ContenderRow(QWidget):
    """One contender: its number, the model, its settings as ``KEY=VALUE`` items, Remove.

    ``stacked``: the settings on a line of their own, under the model, with the settings in
    words beside them (a narrow column, such as the Trials page's at 1024 px, otherwise
    squeezes the field to its last few characters)."""

    def __init__(self, settings: str, parent: QWidget | None = None,
                 stacked: bool = False) -> None:
        super().__init__(parent)
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        self.number = Label(self)
        self.number.setObjectName("SubHeading")
        self.number.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.number.setMinimumWidth(self.number.fontMetrics().horizontalAdvance("4") + 12)
        self.combo = QComboBox(self)
        self.combo.setMinimumWidth(180)
        # A long model name must not widen the row: the combo elides, the tooltip tells all.
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(18)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.edit = QLineEdit(settings, self)
        self.edit.setPlaceholderText(
            "settings: temperature=0, n_ctx=2048, seed=1, system_prompt=...")
        self.structured = StructuredOutputCombo(self, off_text="Free text")
        self.structured.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.structured.setMinimumContentsLength(9)
        self.remove = QPushButton("Remove", self)
        self.docs = QComboBox(self)
        self.docs.setToolTip("The collection this contender answers from (its embedding "
                             "model comes with it)")
        self.docs.addItem(NO_DOCS, None)
        # a long collection name must not widen the row (as the model combo)
        self.docs.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.docs.setMinimumContentsLength(12)
        self.k = QSpinBox(self)
        self.k.setRange(1, MAX_K)
        self.k.setValue(DEFAULT_K)
        self.k.setPrefix("k = ")
        self.k.setToolTip("Passages retrieved for each prompt")
        self.k.setEnabled(False)
        self.docs.currentIndexChanged.connect(
            lambda _index: self.k.setEnabled(self.docs.currentData() is not None))
        self.set_collections([])
        self.words: Label | None = None
        #: The user chose this row's model (a new model list then keeps it).
        self.picked = False
        line.addWidget(self.number)
        line.addWidget(self.combo, 2)
        if not stacked:
            line.addWidget(self.edit, 3)
        line.addWidget(self.structured)
        if not stacked:
            line.addWidget(self.docs)
            line.addWidget(self.k)
        line.addWidget(self.remove)
        if not stacked:
            self.setLayout(line)
            return
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addLayout(line)
        below = QHBoxLayout()
        below.setContentsMargins(self.number.minimumWidth() + 6, 0, 0, 0)
        below.addWidget(self.edit, 3)
        self.words = Label(self)
        self.words.setObjectName("Muted")
        self.words.setTextFormat(Qt.TextFormat.PlainText)
        self.words.setWordWrap(True)
        self.words.setAccessibleName("Settings in words")
        below.addWidget(self.words, 2)
        column.addLayout(below)
        documents = QHBoxLayout()
        documents.setContentsMargins(self.number.minimumWidth() + 6, 0, 0, 0)
        documents.addWidget(self.docs, 1)
        documents.addWidget(self.k)
        column.addLayout(documents)
        self.edit.textChanged.connect(self._show_words)
        # the start of the settings in view, not their last few characters
        self.edit.editingFinished.connect(lambda: self.edit.setCursorPosition(0))
        self.edit.setCursorPosition(0)
        self._show_words()

    def _show_words(self) -> None:
        """The settings as the results will name them ("greedy, up to 256 tokens")."""
        if not self.edit.hasFocus():  # set from outside: its start in view, not its end
            self.edit.setCursorPosition(0)
        if self.words is not None:
            words = typed_in_words(split_settings(self.edit.text()))
            self.words.setText(words)
            self.edit.setToolTip(words)

    def set_collections(self, names: list[str]) -> None:
        """The collections to choose from (hidden while there are none); the chosen one
        stays chosen while it exists."""
        current = self.docs.currentData()
        self.docs.blockSignals(True)
        while self.docs.count() > 1:
            self.docs.removeItem(1)
        for name in names:
            self.docs.addItem(name, name)
        found = self.docs.findData(current) if current is not None else -1
        self.docs.setCurrentIndex(max(found, 0))
        self.docs.blockSignals(False)
        self.k.setEnabled(self.docs.currentData() is not None)
        self.docs.setVisible(bool(names))
        self.k.setVisible(bool(names))

    def items(self) -> list[str]:
        """The row's settings as ``KEY=VALUE`` items; the chosen collection and k, then
        its structured output, last (they win over the same keys typed)."""
        items = split_settings(self.edit.text())
        if self.docs.currentData() is not None:
            items += [f"docs={self.docs.currentData()}", f"k={self.k.value()}"]
        schema = self.structured.setting()
        if schema is not None:
            items.append(f"json_schema={schema}")
        return items

    def set_number(self, number: int) -> None:
        self.number.setText(str(number))
        self.number.setAccessibleName(f"Contender {number}")
        self.combo.setAccessibleName(f"Contender {number} model")
        self.edit.setAccessibleName(f"Contender {number} settings")
        self.structured.setAccessibleName(f"Contender {number} structured output")
        self.docs.setAccessibleName(f"Contender {number} documents")
        self.k.setAccessibleName(f"Contender {number} passages per prompt")
        self.remove.setToolTip(f"Remove contender {number}")


class ContenderPicker(QWidget):
    """``minimum`` to ``maximum`` numbered rows; shared by the Compare and Trials pages."""

    #: A row's model or settings changed (the Compare page then estimates memory again).
    changed = Signal()

    def __init__(self, parent: QWidget | None = None, minimum: int = 2, maximum: int = 4,
                 stacked: bool = False):
        super().__init__(parent)
        self.minimum, self.maximum = minimum, maximum
        self.stacked = stacked  # see ContenderRow
        self.models: list[tuple[int | str, str]] = []
        self.collections: list[str] = []
        self.row_widgets: list[ContenderRow] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.add_button = QPushButton("Add contender")
        self.add_button.clicked.connect(lambda: self.add_row())
        self._layout.addWidget(self.add_button, alignment=Qt.AlignmentFlag.AlignLeft)
        for _ in range(minimum):
            self.add_row()

    @property
    def rows(self) -> list[tuple[QComboBox, QLineEdit, QPushButton]]:
        """(model picker, settings, Remove) per row, in numbered order."""
        return [(row.combo, row.edit, row.remove) for row in self.row_widgets]

    def set_models(self, models: list[tuple[int | str, str]]) -> None:
        """(reference, name) per model: a library id, or ``endpoint:NAME/MODEL`` shown as
        ``NAME/MODEL (remote: HOST)``."""
        self.models = models
        for index, row in enumerate(self.row_widgets):
            self._fill(row.combo, index, keep=row.picked)

    def set_collections(self, names: list[str]) -> None:
        """The document collections a row may answer from (none: the choice is hidden)."""
        self.collections = list(names)
        for row in self.row_widgets:
            row.set_collections(self.collections)

    def _fill(self, combo: QComboBox, index: int, *, keep: bool = True) -> None:
        """List the models; a row keeps the model the user picked, and a row left as it was
        given takes the index-th model, so rows start on different models when the library
        has several (a second model added later moves the untouched second row to it)."""
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        for model_id, name in self.models:
            combo.addItem(name, model_id)
            combo.setItemData(combo.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        if keep and current is not None and combo.findData(current) >= 0:
            combo.setCurrentIndex(combo.findData(current))
        elif self.models:
            combo.setCurrentIndex(min(index, len(self.models) - 1))
        combo.blockSignals(False)

    def add_row(self, settings: str = DEFAULT_SETTINGS) -> None:
        if len(self.row_widgets) >= self.maximum:
            return
        row = ContenderRow(settings, self, stacked=self.stacked)
        self._fill(row.combo, len(self.row_widgets))
        row.set_collections(self.collections)
        row.docs.currentIndexChanged.connect(lambda _index: self.changed.emit())
        row.combo.activated.connect(lambda _index: setattr(row, "picked", True))
        self.row_widgets.append(row)
        row.remove.clicked.connect(lambda: self.remove_row(row))
        row.combo.currentIndexChanged.connect(lambda _index: self.changed.emit())
        row.edit.editingFinished.connect(lambda: self.changed.emit())
        row.structured.choice_changed.connect(lambda: self.changed.emit())
        self._layout.insertWidget(self._layout.count() - 1, row)
        self._update_rows()
        self.changed.emit()

    def remove_row(self, row: ContenderRow) -> None:
        if len(self.row_widgets) <= self.minimum or row not in self.row_widgets:
            return
        self.row_widgets.remove(row)
        self._layout.removeWidget(row)
        row.deleteLater()
        self._update_rows()
        self.changed.emit()

    def _update_rows(self) -> None:
        self.add_button.setEnabled(len(self.row_widgets) < self.maximum)
        for number, row in enumerate(self.row_widgets, start=1):
            row.set_number(number)
            row.remove.setEnabled(len(self.row_widgets) > self.minimum)

    def chosen(self) -> list[tuple[int | str, list[str]]]:
        """(model id, settings items) per row; parsed in the worker, where errors surface."""
        return [(row.combo.currentData(), row.items())
                for row in self.row_widgets if row.combo.currentData() is not None]

    def numbered(self) -> list[tuple[int, str]]:
        """(row number, model name) of every row that has a model, as :meth:`chosen` orders
        them: the numbers the answers are attributed to after a vote."""
        return [(number, row.combo.currentText())
                for number, row in enumerate(self.row_widgets, start=1)
                if row.combo.currentData() is not None]
