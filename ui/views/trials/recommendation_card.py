"""The recommendation card: the verdict in plain words first (the core's
:func:`~workbench.trials.plain.plain_verdict`, the sentence the CLI and the reports open with),
then, folded under "Show the numbers", the verdict with its statistics, each contender (its
settings in words, why it may have failed) with its parts of the bar, and the paired
comparisons, all drawn from one :class:`~workbench.trials.recommend.Recommendation`.

Every line is plain text (a model's label is never read as markup) and says its outcome in
words: *meets*, *fails*, *not enough evidence*, so nothing depends on colour. Colours come only
from the theme's object names (``ErrorText`` for fails, ``Muted`` for not enough evidence).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.plain_label import Label
from workbench.trials.plain import contender_in_words, failure_reasons, plain_verdict
from workbench.trials.recommend import FAILS, UNSURE, Recommendation

OBJECT_NAMES = {FAILS: "ErrorText", UNSURE: "Muted"}


def _label(text: str, name: str = "") -> QLabel:
    label = Label(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


class RecommendationCard(QFrame):
    """Shows one recommendation; call :meth:`show_recommendation` again to replace it."""

    def __init__(self, parent: QWidget | None = None, *, services: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        self.services = services  # ui.services.Services; "Use for a task..." needs it
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(12, 10, 12, 10)
        # The plain verdict reads as a sentence, not a heading: body weight, a size up.
        self.headline = _label("Run a trial to get a recommendation.")
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.headline.setFont(font)
        self._layout.addWidget(self.headline)
        self.choice: dict[str, Any] | None = None
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.use_button = QPushButton("Use for a task…", self)
        self.use_button.setAccessibleName("Use the recommended contender for a task")
        self.use_button.setToolTip("Give the recommended model and its settings a task name "
                                   "(an alias) that other apps ask the local server for")
        self.use_button.clicked.connect(self.ask_task_name)
        self.use_button.hide()
        row.addWidget(self.use_button)
        row.addStretch(1)
        self._layout.addLayout(row)
        # The numbers behind the sentence, folded until asked for.
        self.fold = QToolButton(self)
        self.fold.setCheckable(True)
        self.fold.setAutoRaise(True)
        self.fold.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.fold.setAccessibleName("Show the numbers behind the verdict")
        self.fold.toggled.connect(self._folded)
        self._layout.addWidget(self.fold, alignment=Qt.AlignmentFlag.AlignLeft)
        self._body = QWidget()
        self._body_layout = QVBoxLayout(self._body)
        self._body_layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self._body)
        self.reason = _label("", "Role")
        self._folded(False)
        self._layout.addStretch(1)
        #: (contender label, outcome, text) of every part shown, in order: for tests and a11y
        self.parts: list[tuple[str, str, str]] = []
        self.paired: list[str] = []
        self.last_alias = ""  # what the last "Use for a task..." did, in words (tests read it)

    def _folded(self, shown: bool) -> None:
        self._body.setVisible(shown)
        self.fold.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.fold.setText("Hide the numbers" if shown else "Show the numbers")

    def _clear(self) -> None:
        while self._body_layout.count():
            item = self._body_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.parts, self.paired = [], []

    def show_recommendation(self, rec: Recommendation) -> None:
        self._clear()
        self.headline.setText(plain_verdict(rec))
        self.choice = rec.choice
        self.use_button.setVisible(rec.choice is not None and self.services is not None)
        add = self._body_layout.addWidget
        self.reason = _label(rec.reason, "Role")
        add(self.reason)
        if not rec.bar.is_set():
            add(_label("Set a bar (pass rate, votes won or tied, or speed) to get a "
                       "recommendation.", "Muted"))
        rows = rec.rows or [{"label": v.label} for v in rec.verdicts]
        for verdict, row in zip(rec.verdicts, rows, strict=True):
            if not verdict.parts:
                continue
            summary = "meets the bar" if verdict.meets else "does not meet the bar (yet)"
            add(_label(f"{contender_in_words(row)}: {summary}", "Role"))
            reasons = failure_reasons(row)
            if reasons and not verdict.meets:
                add(_label(f"  Why it may fail: {', '.join(reasons)}", "ErrorText"))
            for part in verdict.parts:
                text = f"  {part.outcome}: {part.text}"
                add(_label(text, OBJECT_NAMES.get(part.outcome, "")))
                self.parts.append((verdict.label, part.outcome, part.text))
        if rec.paired:
            add(_label("Against the larger contenders, on the same prompts:", "Role"))
            for line in rec.paired:
                add(_label(f"  {line['text']}"))
                self.paired.append(line["text"])

    # --- Use for a task... --------------------------------------------------------------

    def ask_task_name(self) -> None:
        name, ok = QInputDialog.getText(
            self, "Use for a task", "Task name (apps ask the server for this model):",
            QLineEdit.EchoMode.Normal, "")
        if ok and name.strip():
            self.use_for_task(name.strip())

    def use_for_task(self, name: str) -> None:
        """Create or repoint the alias ``name`` at the recommended contender, its settings
        included, on the "db" worker; the outcome goes to the status bar."""
        choice, services = self.choice, self.services
        if choice is None or services is None:
            return
        contender_id = int(choice["contender_id"])

        def make(db: Any) -> str:  # runs on the worker: no widget here
            from workbench.library import get_model
            from workbench.server.aliases import alias_for_contender

            made = alias_for_contender(db, name, contender_id)
            return f"{made.name} now answers with {get_model(db, made.model_id).name}"

        def done(text: str) -> None:
            self.last_alias = text
            services.events.status_message.emit(
                f"{text}: other apps can ask the server for \"{name}\".", 8000)

        services.ops.run("db", make, name="setting the task name", success=done,
                         initiator=self)
