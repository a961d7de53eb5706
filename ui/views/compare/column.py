"""One answer of a comparison: its letter, who wrote it (once that may be shown), the reply as
Markdown while it streams, and what it cost.

Answers are lettered A-D in the order shown (shuffled when blind) and contenders are numbered
1-4 in the order they were picked, so "A" can never be mistaken for the first contender. The
reply is drawn by the chat's own :class:`MarkdownView`, rendered again at most every
``render_interval`` seconds while it streams (the chat's own budget), and once at the end.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.markdown_view import MarkdownView
from ui.widgets.message_widget import format_metrics
from ui.widgets.plain_label import Label
from workbench.trials.compare import sources_text

#: Narrower than this a column stops shrinking and the answers scroll sideways instead:
#: four of them still fit side by side in the Compare page of a 1280 px window.
COLUMN_MIN_WIDTH = 236
#: Lower than this (a short window with four contenders picked) the page scrolls instead,
#: so an answer keeps room to be read and the metrics under it are never cut off.
COLUMN_MIN_HEIGHT = 280

#: Metrics that tell a model's size (memory) or whether it was already loaded: kept back
#: while the names are hidden, since they would say which model wrote which answer.
REVEALING_METRICS = ("peak_rss", "load_ms")


def restyle(label: QLabel, name: str) -> None:
    """Give ``label`` the theme's look for object name ``name`` (the theme colours by name)."""
    if label.objectName() != name:
        label.setObjectName(name)
        label.style().unpolish(label)
        label.style().polish(label)


class AnswerColumn(QFrame):
    """A card: "Answer A", the writer (hidden until the vote when blind), the reply, metrics."""

    def __init__(self, letter: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        self.letter = letter
        self.text = ""
        self.setMinimumSize(COLUMN_MIN_WIDTH, COLUMN_MIN_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        self.title = Label(f"Answer {letter}", self)
        self.title.setObjectName("SubHeading")
        self.title.setAccessibleName(f"Answer {letter}")
        self.verdict = Label("", self)
        self.verdict.setObjectName("Role")
        self.verdict.setAccessibleName(f"Your vote on answer {letter}")
        heading = QHBoxLayout()
        heading.setContentsMargins(0, 0, 0, 0)
        heading.addWidget(self.title)
        heading.addStretch(1)
        heading.addWidget(self.verdict)
        self.writer = Label("", self)
        self.writer.setObjectName("Muted")
        self.writer.setWordWrap(True)
        self.writer.setTextFormat(Qt.TextFormat.PlainText)

        self.view = MarkdownView()
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 4, 0)
        body_layout.addWidget(self.view)
        body_layout.addStretch(1)
        self.scroll = QScrollArea(self)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(body)
        # The card's own background shows through (QScrollArea would paint the window's).
        body.setAutoFillBackground(False)
        self.scroll.viewport().setAutoFillBackground(False)
        # While it streams the answer follows its newest line, unless the user scrolled up.
        self._follow = True
        bar = self.scroll.verticalScrollBar()
        bar.valueChanged.connect(lambda value: setattr(
            self, "_follow", value >= bar.maximum() - 4))
        bar.rangeChanged.connect(lambda _low, high: bar.setValue(high) if self._follow else None)

        self.sources = Label("", self)  # the passages of a contender answering from documents
        self.sources.setObjectName("Muted")
        self.sources.setWordWrap(True)
        self.sources.setTextFormat(Qt.TextFormat.PlainText)
        self.sources.setAccessibleName(f"Sources of answer {letter}")
        self.sources.hide()

        self.metrics = Label("Waiting…", self)
        self.metrics.setObjectName("Metrics")
        self.metrics.setWordWrap(True)
        self.metrics.setTextFormat(Qt.TextFormat.PlainText)
        layout.addLayout(heading)
        layout.addWidget(self.writer)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.sources)
        layout.addWidget(self.metrics)

    # streaming ---------------------------------------------------------------------------

    def start(self) -> None:
        self.set_note("Generating…")

    def stream(self, piece: str) -> None:
        """Append streamed text; rendered as Markdown now and then (see the module)."""
        self.text += piece
        self.view.stream(self.text, piece)

    def set_text(self, text: str) -> None:
        """The whole answer at once (its final, stored text): rendered as Markdown."""
        self.text = text
        self.view.set_markdown(text)

    def set_sources(self, grounding: dict[str, Any] | None, *, hidden: bool = False) -> None:
        """The passages the answer was given and cited (None: it answered without), in the
        words the CLI uses; ``hidden`` while blind, until the vote, since contenders may
        answer from different collections and the collection would name the writer."""
        text = "Sources are shown after your vote." if hidden and grounding else \
            sources_text(grounding)
        self.sources.setText(text or "")
        self.sources.setVisible(bool(text))

    def set_note(self, text: str, *, error: bool = False) -> None:
        restyle(self.metrics, "ErrorText" if error else "Metrics")
        self.metrics.setText(text)

    def set_metrics(self, metrics: dict[str, Any], *, hidden: bool) -> None:
        """The chat's metrics line; while names are hidden, without what would reveal them."""
        shown = {k: v for k, v in metrics.items() if not (hidden and k in REVEALING_METRICS)}
        self.set_note(format_metrics(shown, metrics.get("finish_reason") or None))

    # who wrote it ------------------------------------------------------------------------

    def set_writer(self, number: int | None, model: str, label: str, *,
                   verdict: str = "") -> None:
        """Name the contender behind this answer: ``number`` is its row in the picker (whose
        settings tell same-model contenders apart), ``label`` the model with its settings."""
        self.writer.setText(f"Contender {number}: {model}" if number is not None else model)
        self.writer.setToolTip(label)
        self.verdict.setText(verdict)

    def hide_writer(self) -> None:
        self.writer.setText("Hidden until you vote")
        self.writer.setToolTip("Blind: which contender wrote this is shown after your vote.")
        self.verdict.setText("")
