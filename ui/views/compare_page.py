"""Compare: 2 to 4 contenders answer one prompt in columns side by side, then a vote.

Blind by default: columns are shuffled and named "Model A", "Model B"... until the vote is
cast, then the names appear. All engine and database work runs through ``services.tasks``
(the comparison itself on the "engine" worker, votes and lookups on "db"); the widget only
draws the events it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.services import Services
from ui.tasks import Job
from ui.widgets.rank_dialog import RankDialog
from workbench.library import get_model, list_models
from workbench.trials.compare import LETTERS, CompareEvent, CompareRun
from workbench.trials.contenders import Contender, make_contender, parse_set_options
from workbench.trials.memory import can_run_together
from workbench.trials.votes import cast_vote, comparison_view

DEFAULT_SETTINGS = "temperature=0, max_tokens=256"


def split_settings(text: str) -> list[str]:
    """``"temperature=0, n_ctx=2048"`` to ``["temperature=0", "n_ctx=2048"]``."""
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class ContenderPicker(QWidget):
    """2 to 4 rows of (model, settings as KEY=VALUE list); shared with the Trials page."""

    def __init__(self, parent: QWidget | None = None, minimum: int = 2, maximum: int = 4):
        super().__init__(parent)
        self.minimum, self.maximum = minimum, maximum
        self.models: list[tuple[int, str]] = []
        self.rows: list[tuple[QComboBox, QLineEdit, QPushButton]] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.add_button = QPushButton("Add contender")
        self.add_button.clicked.connect(lambda: self.add_row())
        self._layout.addWidget(self.add_button, alignment=Qt.AlignmentFlag.AlignLeft)
        for _ in range(minimum):
            self.add_row()

    def set_models(self, models: list[tuple[int, str]]) -> None:
        self.models = models
        for index, (combo, _settings, _remove) in enumerate(self.rows):
            self._fill(combo, index)

    def _fill(self, combo: QComboBox, index: int) -> None:
        current = combo.currentData()
        combo.clear()
        for model_id, name in self.models:
            combo.addItem(name, model_id)
        if current is not None and combo.findData(current) >= 0:
            combo.setCurrentIndex(combo.findData(current))
        elif self.models:
            combo.setCurrentIndex(min(index, len(self.models) - 1))

    def add_row(self, settings: str = DEFAULT_SETTINGS) -> None:
        if len(self.rows) >= self.maximum:
            return
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        letter = QLabel(LETTERS[len(self.rows)])
        letter.setFixedWidth(14)
        combo = QComboBox()
        combo.setMinimumWidth(260)
        edit = QLineEdit(settings)
        edit.setPlaceholderText("settings: temperature=0, n_ctx=2048, seed=1, system_prompt=...")
        remove = QPushButton("Remove")
        line.addWidget(letter)
        line.addWidget(combo, 2)
        line.addWidget(edit, 3)
        line.addWidget(remove)
        self._fill(combo, len(self.rows))
        self.rows.append((combo, edit, remove))
        remove.clicked.connect(lambda: self.remove_row(row, combo))
        self._layout.insertWidget(self._layout.count() - 1, row)
        self._update_buttons()

    def remove_row(self, row: QWidget, combo: QComboBox) -> None:
        if len(self.rows) <= self.minimum:
            return
        self.rows = [r for r in self.rows if r[0] is not combo]
        row.deleteLater()
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.add_button.setEnabled(len(self.rows) < self.maximum)
        for _combo, _edit, remove in self.rows:
            remove.setEnabled(len(self.rows) > self.minimum)

    def chosen(self) -> list[tuple[int, list[str]]]:
        """(model id, settings items) per row; parsed in the worker, where errors surface."""
        return [(combo.currentData(), split_settings(edit.text()))
                for combo, edit, _remove in self.rows if combo.currentData() is not None]


def build_contenders(db: Any, chosen: list[tuple[int, list[str]]]) -> list[Contender]:
    """Runs on a worker: resolve each row's model and settings into stored contenders."""
    return [make_contender(db, get_model(db, model_id), parse_set_options(items))
            for model_id, items in chosen]


class StartedCompare:
    """The comparison as a job: first yields the column setup, then every CompareEvent.
    ``stop()`` is what the task manager calls on Cancel."""

    def __init__(self, run: CompareRun) -> None:
        self.run = run

    def stop(self) -> None:
        self.run.stop()

    def __iter__(self) -> Iterator[Any]:
        yield ("columns", self.run.comparison_id, len(self.run.columns))
        yield from self.run


class ReplyColumn(QGroupBox):
    def __init__(self, letter: str) -> None:
        super().__init__(f"Model {letter}")
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.metrics = QLabel("waiting…")
        self.metrics.setWordWrap(True)
        self.metrics.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.text, 1)
        layout.addWidget(self.metrics)

    def append(self, piece: str) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(piece)

    def finish(self, stats: Any) -> None:
        parts = [f"first token {stats.ttft_ms:.0f} ms" if stats.ttft_ms else None,
                 f"{stats.gen_tps:.1f} tok/s" if stats.gen_tps else None,
                 f"{stats.completion_tokens} tokens",
                 f"peak {stats.peak_rss / 1e6:.0f} MB" if stats.peak_rss else None,
                 f"loaded in {stats.load_ms:.0f} ms (cold)" if stats.load_ms else "warm"]
        self.metrics.setText(" · ".join(p for p in parts if p))


class ComparePage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.job: Job | None = None
        self.comparison_id: int | None = None
        self.columns: list[ReplyColumn] = []
        self.fits_together = False

        layout = QVBoxLayout(self)
        title = QLabel("<h2>Compare</h2>Ask 2 to 4 contenders the same prompt. A contender is "
                       "a model plus its settings: the same model twice with different "
                       "settings is two contenders.")
        title.setWordWrap(True)
        layout.addWidget(title)
        self.picker = ContenderPicker(self)
        layout.addWidget(self.picker)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("The prompt every contender answers…")
        self.prompt.setMaximumHeight(80)
        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional, for every contender)")
        layout.addWidget(self.prompt)
        layout.addWidget(self.system)
        controls = QHBoxLayout()
        self.blind = QCheckBox("Blind (hide names, shuffle columns until the vote)")
        self.blind.setChecked(True)
        self.together = QCheckBox("Run together")
        self.together.setEnabled(False)
        self.together.setToolTip("Offered when the memory estimate says all fit at once.")
        self.run_button = QPushButton("Compare")
        self.run_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        for widget in (self.blind, self.together):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.run_button)
        controls.addWidget(self.stop_button)
        layout.addLayout(controls)

        self.column_area = QHBoxLayout()
        frame = QFrame()
        frame.setLayout(self.column_area)
        layout.addWidget(frame, 1)

        votes = QHBoxLayout()
        self.vote_label = QLabel("")
        votes.addWidget(self.vote_label)
        votes.addStretch(1)
        self.vote_buttons: list[QPushButton] = []
        self.vote_row = votes
        layout.addLayout(votes)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        services.events.changed.connect(self._data_changed)
        self.refresh_models()

    # models and the memory estimate -----------------------------------------------------

    def refresh_models(self) -> None:
        def load() -> list[tuple[int, str]]:
            return [(m.id, m.name) for m in list_models(self.services.db())]

        self.services.ops.run("db", load, name="compare models",
                              success=self._models_loaded, failure=self.show_error)

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        """The picker follows the library (a model added or removed on another page)."""
        if "library" in changes:
            self.refresh_models()

    def _models_loaded(self, models: list[tuple[int, str]]) -> None:
        self.picker.set_models(models)
        self.run_button.setEnabled(bool(models))
        if not models:
            self.status.setText("No models in the library yet: add one on the Models page.")
        self._estimate()

    def _estimate(self) -> None:
        chosen = self.picker.chosen()

        def estimate() -> tuple[bool, str]:
            return can_run_together(build_contenders(self.services.db(), chosen))

        self.services.ops.run("db", estimate, name="memory estimate",
                              success=self._estimated)

    def _estimated(self, result: tuple[bool, str]) -> None:
        self.fits_together, reason = result
        self.together.setEnabled(self.fits_together)
        if not self.fits_together:
            self.together.setChecked(False)
        self.together.setToolTip(f"Running together: {reason}")

    # running ------------------------------------------------------------------------------

    def start(self) -> None:
        prompt = self.prompt.toPlainText().strip()
        if not prompt:
            self.show_error("Type a prompt first.")
            return
        chosen = self.picker.chosen()
        system = self.system.text().strip() or None
        blind, together = self.blind.isChecked(), self.together.isChecked()
        services = self.services

        def job() -> StartedCompare:
            db = services.db()
            return StartedCompare(CompareRun(db, services.engine, build_contenders(db, chosen),
                                             prompt, system=system, blind=blind,
                                             together=together))

        self._clear_columns()
        self.status.setText("Running…")
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        # Together, each contender has its own Engine: the shared one is left alone, but the
        # job still runs on the "engine" worker so it never races a chat for the CPU.
        self.job = services.ops.run("engine", job, name="comparing models", progress=self._event,
                                    failure=self.show_error, finished=self._finished)

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()

    @property
    def is_running(self) -> bool:
        return self.job is not None

    def _clear_columns(self) -> None:
        for column in self.columns:
            column.deleteLater()
        self.columns = []
        for button in self.vote_buttons:
            button.deleteLater()
        self.vote_buttons = []
        self.vote_label.setText("")

    def _event(self, event: Any) -> None:
        if isinstance(event, tuple) and event[0] == "columns":
            self.comparison_id, count = event[1], event[2]
            for slot in range(count):
                column = ReplyColumn(LETTERS[slot])
                self.columns.append(column)
                self.column_area.addWidget(column)
            return
        assert isinstance(event, CompareEvent)
        column = self.columns[event.slot]
        if event.kind == "start":
            column.metrics.setText("generating…")
        elif event.kind == "chunk":
            column.append(event.text)
        elif event.kind == "done" and event.stats is not None:
            column.finish(event.stats)
        elif event.kind == "error":
            column.metrics.setText(f"Error: {event.error}")

    def _finished(self) -> None:
        self.job = None
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if self.comparison_id is None:
            return
        self.status.setText(f"Comparison {self.comparison_id} stored. Which is better?")
        self._show_vote_buttons()
        self._load_view()

    # votes --------------------------------------------------------------------------------

    def _show_vote_buttons(self) -> None:
        count = len(self.columns)
        labels = ([("A better", "a"), ("B better", "b")] if count == 2
                  else [(f"{LETTERS[i]} best", LETTERS[i].lower()) for i in range(count)])
        labels += [("Tie", "tie"), ("Both bad" if count == 2 else "All bad", "bad")]
        for text, choice in labels:
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, c=choice: self.vote(c))
            self.vote_buttons.append(button)
            self.vote_row.addWidget(button)
        if count > 2:
            rank = QPushButton("Rank…")
            rank.setToolTip("Put all the answers in order, best first")
            rank.clicked.connect(lambda: self.rank())
            self.vote_buttons.append(rank)
            self.vote_row.addWidget(rank)

    def rank(self, letters: list[str] | None = None) -> None:
        """Vote with a full ranking (best first); asks in a dialog unless given."""
        if letters is None:
            dialog = RankDialog([LETTERS[i] for i in range(len(self.columns))], self)
            if dialog.exec() != RankDialog.DialogCode.Accepted:
                return
            letters = dialog.order()
        self.vote(">".join(letter.lower() for letter in letters))

    def vote(self, choice: str) -> None:
        comparison_id = self.comparison_id
        if comparison_id is None:
            return
        for button in self.vote_buttons:
            button.setEnabled(False)
        self.services.ops.run("db", lambda: cast_vote(self.services.db(), comparison_id,
                                                      choice),
                              name="vote", changes={"votes"}, success=self._show_view,
                              failure=self.show_error)

    def _load_view(self) -> None:
        comparison_id = self.comparison_id
        if comparison_id is None:
            return
        self.services.ops.run("db", lambda: comparison_view(self.services.db(),
                                                            comparison_id),
                              name="comparison", success=self._show_view,
                              failure=self.show_error)

    def _show_view(self, view: dict[str, Any]) -> None:
        """Titles from the stored view: hidden names until the vote, then the reveal."""
        for column, data in zip(self.columns, view["columns"], strict=False):
            title = f"{data['letter']}: {data['label']}"
            # A long settings label must not widen the window: cut it to what a column of
            # 1280 px holds (56 characters for two, 28 for four), keep it in the tooltip.
            limit = 112 // max(2, len(self.columns))
            column.setTitle(title if len(title) <= limit else title[:limit - 1] + "…")
            column.setToolTip(title)
        if view["vote"]:
            for button in self.vote_buttons:
                button.setEnabled(False)
            outcome = view["vote"]["outcome"]
            ranked = view["vote"].get("ranking_letters")
            said = (" > ".join(ranked) if ranked
                    else f"{view['vote'].get('winner_letter')} better" if outcome == "win"
                    else "tie" if outcome == "tie" else "both bad")
            self.vote_label.setText(f"Your vote: {said}. Names revealed.")
            self.status.setText(f"Comparison {view['id']} and your vote are saved.")

    def show_error(self, message: str) -> None:
        self.status.setText(f"<span style='color:#b91c1c'>{message}</span>")
