"""What an empty chat shows: with a model, one line and a few prompts to start at once;
without one (first run), one sentence on what to do and the recommended models that fit."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.plain_label import Label
from ui.widgets.text_fit import WrapButton, breakable
from workbench.catalog import CatalogEntry
from workbench.units import human_size

SUGGESTIONS = (
    "Explain what a GGUF file is in two sentences.",
    "Write a haiku about running AI on my own computer.",
    "Write a Python function that reverses a string.",
    "Give me three tips for writing clear emails.",
)

NO_MODEL_TEXT = ("You have no model yet: download one of the recommended models below that fits "
                 "this computer, or add a .gguf file you already have.")


class WelcomeView(QScrollArea):
    suggestion_chosen = Signal(str)
    add_file_requested = Signal()
    open_models_requested = Signal(str)  # a catalog id, or "" for the page itself

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChatScroll")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._holder = QWidget(self)
        self._holder.setObjectName("ChatColumn")
        self.setWidget(self._holder)
        self._outer = QVBoxLayout(self._holder)
        self._outer.setContentsMargins(32, 32, 32, 32)
        self._content: QWidget | None = None
        self.heading = Label()
        self.sentence = Label()

    def _reset(self) -> QVBoxLayout:
        if self._content is not None:
            self._outer.removeWidget(self._content)
            self._content.deleteLater()
        self._content = QWidget(self._holder)
        self._content.setMaximumWidth(760)
        layout = QVBoxLayout(self._content)
        layout.setSpacing(12)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self._content, 10)
        row.addStretch(1)
        while self._outer.count():
            self._outer.takeAt(0)
        self._outer.addStretch(1)
        self._outer.addLayout(row)
        self._outer.addStretch(2)
        self.heading = Label(self._content)
        self.heading.setObjectName("Heading")
        self.heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.heading.setWordWrap(True)
        self.sentence = Label(self._content)
        self.sentence.setObjectName("Muted")
        self.sentence.setWordWrap(True)
        self.sentence.setMinimumWidth(200)
        self.sentence.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.heading)
        layout.addWidget(self.sentence)
        layout.addSpacing(8)
        return layout

    def show_ready(self, model_name: str) -> None:
        """A model is there: say so and offer prompts that start a chat in one click."""
        layout = self._reset()
        self.heading.setText(f"Chat with {breakable(model_name)}")
        self.sentence.setText("It runs on this computer, offline: nothing you type leaves it. "
                              "Type a message below, or start with one of these.")
        grid = QGridLayout()
        grid.setSpacing(10)
        for index, text in enumerate(SUGGESTIONS):
            button = WrapButton(text, self._content)
            button.setObjectName("Suggestion")
            button.setAccessibleName(f"Suggestion: {text}")
            button.setMinimumHeight(44)
            button.clicked.connect(lambda _=False, t=text: self.suggestion_chosen.emit(t))
            grid.addWidget(button, index // 2, index % 2)
        layout.addLayout(grid)

    def show_first_run(self, entries: list[CatalogEntry] | None, memory: int) -> None:
        """No model at all: one sentence on what to do, and the models that fit (``None``
        while the catalog is still being read: never "none fits" before we know)."""
        layout = self._reset()
        self.heading.setText("Add a model to start chatting")
        self.sentence.setText(NO_MODEL_TEXT)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        add = QPushButton("Add a GGUF file…", self._content)
        add.setAccessibleName("Add a GGUF file")
        add.clicked.connect(self.add_file_requested)
        browse = QPushButton("Browse models", self._content)
        browse.setObjectName("Primary")
        browse.clicked.connect(lambda: self.open_models_requested.emit(""))
        buttons.addWidget(add)
        buttons.addWidget(browse)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        caption = Label(f"Recommended for this computer ({human_size(memory)} of memory)",
                         self._content)
        caption.setObjectName("SubHeading")
        layout.addSpacing(8)
        layout.addWidget(caption)
        if not entries:
            none = Label("Finding the models that fit…" if entries is None else
                          "None of the recommended models fits in this computer's memory.",
                          self._content)
            none.setObjectName("Muted")
            layout.addWidget(none)
        for entry in (entries or [])[:6]:
            layout.addWidget(self._card(entry))

    def _card(self, entry: CatalogEntry) -> QFrame:
        card = QFrame(self._content)
        card.setObjectName("Card")
        row = QHBoxLayout(card)
        row.setContentsMargins(14, 10, 10, 10)
        text = QVBoxLayout()
        name = Label(f"<b>{html.escape(breakable(entry.name))}</b>  "
                     f"<span style='font-weight:normal'>{human_size(entry.size_bytes)} · "
                     f"{html.escape(entry.quantization)} · "
                     f"{html.escape(', '.join(entry.tasks))}</span>", card, rich=True)
        name.setWordWrap(True)
        description = Label(entry.description, card)
        description.setObjectName("Muted")
        description.setWordWrap(True)
        text.addWidget(name)
        text.addWidget(description)
        get = QPushButton("Get…", card)
        get.setAccessibleName(f"Get {entry.name}")
        get.clicked.connect(lambda _=False, i=entry.id: self.open_models_requested.emit(i))
        row.addLayout(text, 1)
        row.addWidget(get, 0, Qt.AlignmentFlag.AlignVCenter)
        return card
