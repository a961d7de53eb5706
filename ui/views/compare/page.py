"""Compare: 2 to 4 contenders answer one prompt in columns side by side, then a vote.

Contenders are the numbered rows of the picker (1-4); answers are lettered (A-D) in the order
shown, shuffled when blind, and the vote buttons name those letters ("A is better"). After
the vote each answer says which numbered contender wrote it, read back from the stored
comparison, so what the page shows is what was recorded.

All engine and database work runs through ``services.tasks`` (the comparison itself on the
"engine" worker, votes and lookups on "db"); the widget only draws the events it is sent.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.tasks import Job
from ui.views.compare.column import COLUMN_MIN_HEIGHT, AnswerColumn, restyle
from ui.views.contender_picker import (
    DEFAULT_SETTINGS,
    ContenderPicker,
    build_contenders,
    split_settings,
)
from ui.widgets.plain_label import Label
from ui.widgets.rank_dialog import RankDialog
from workbench.documents.collections import collection_names
from workbench.endpoints import model_choices
from workbench.trials.compare import LETTERS, CompareEvent, CompareRun, can_run_together
from workbench.trials.contenders import Contender
from workbench.trials.store import METRICS
from workbench.trials.votes import cast_vote, comparison_view

__all__ = ["DEFAULT_SETTINGS", "ComparePage", "ContenderPicker", "build_contenders",
           "split_settings", "vote_choices"]

ORDINALS = ("1st", "2nd", "3rd", "4th")


def vote_choices(count: int) -> list[tuple[str, str]]:
    """(button text, choice for :func:`cast_vote`) for ``count`` answers; the texts name
    the answer letters, never the contenders' numbers."""
    best = "better" if count == 2 else "best"
    choices = [(f"{LETTERS[i]} is {best}", LETTERS[i].lower()) for i in range(count)]
    return [*choices, ("Tie", "tie"), ("Both bad" if count == 2 else "All bad", "bad")]


def said_vote(vote: dict[str, Any], count: int) -> str:
    """The stored vote in the buttons' words: "A is better", "C > A > B", "Tie"."""
    if vote.get("ranking_letters"):
        return " > ".join(vote["ranking_letters"])
    if vote["outcome"] == "win" and vote.get("winner_letter"):
        return f"{vote['winner_letter']} is {'better' if count == 2 else 'best'}"
    if vote["outcome"] == "tie":
        return "Tie"
    return "Both bad" if count == 2 else "All bad"


def column_verdicts(vote: dict[str, Any], count: int) -> list[str]:
    """What the vote said of each answer, in column order."""
    ranking = vote.get("ranking_letters") or []
    if ranking:
        return [f"Ranked {ORDINALS[ranking.index(LETTERS[i])]}" if LETTERS[i] in ranking
                else "" for i in range(count)]
    if vote["outcome"] == "win":
        return ["✓ Your choice" if LETTERS[i] == vote.get("winner_letter") else ""
                for i in range(count)]
    return ["Tie" if vote["outcome"] == "tie" else "Bad"] * count


class StartedCompare:
    """The comparison as a job: first yields the column setup, then every CompareEvent.
    ``stop()`` is what the task manager calls on Cancel."""

    def __init__(self, run: CompareRun, contenders: list[Contender]) -> None:
        self.run = run
        #: contender ids in the picker's row order: row number i + 1 is row_ids[i]
        self.row_ids = [c.id for c in contenders]

    def stop(self) -> None:
        self.run.stop()

    def __iter__(self) -> Iterator[Any]:
        yield ("columns", self.run.comparison_id, len(self.run.columns), self.row_ids)
        yield from self.run


class ComparePage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.job: Job | None = None
        self.comparison_id: int | None = None
        self.columns: list[AnswerColumn] = []
        self.fits_together = False
        self.voted = False
        self.run_blind = True
        #: The blind shuffle's source; None is the system's randomness. Tests set a seeded
        #: ``random.Random`` to force a column order.
        self.shuffle_rng: random.Random | None = None
        #: (row number, model name) of the contenders of the comparison shown, and their ids
        self.run_rows: list[tuple[int, str]] = []
        self.row_ids: list[int] = []
        self.vote_buttons: list[QPushButton] = []
        self.answers_done = 0  # answers finished in the run shown (counted while blind)

        # Everything but the vote row scrolls as one when the window is too short for the
        # answers' minimum height; the vote row stays in view below it.
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        content = QWidget(self)
        self.page_scroll = QScrollArea(self)
        self.page_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.page_scroll.setWidgetResizable(True)
        self.page_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.page_scroll.setWidget(content)
        outer.addWidget(self.page_scroll, 1)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(16, 12, 16, 4)
        layout.setSpacing(8)
        title = Label("Compare", self)
        title.setObjectName("Heading")
        intro = Label("Ask 2 to 4 contenders the same prompt. A contender is a model plus its "
                       "settings: the same model twice with different settings is two "
                       "contenders. Contenders are numbered; answers are lettered in the "
                       "order shown.", self)
        intro.setObjectName("Muted")
        intro.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(intro)
        self.picker = ContenderPicker(self)
        layout.addWidget(self.picker)
        self.prompt = QPlainTextEdit(self)
        self.prompt.setPlaceholderText("The prompt every contender answers…")
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setFixedHeight(64)
        layout.addWidget(self.prompt)

        controls = QHBoxLayout()
        self.system = QLineEdit(self)
        self.system.setPlaceholderText("System prompt (optional, for every contender)")
        self.system.setAccessibleName("System prompt")
        self.blind = QCheckBox("Blind", self)
        self.blind.setToolTip("Shuffle the answers and hide who wrote them until you vote")
        self.blind.setChecked(True)
        self.together = QCheckBox("Run together", self)
        self.together.setEnabled(False)
        self.together.setToolTip("Offered when the memory estimate says all fit at once.")
        self.run_button = QPushButton("Compare", self)
        self.run_button.setObjectName("Primary")
        self.run_button.setDefault(True)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        controls.addWidget(self.system, 1)
        for widget in (self.blind, self.together, self.run_button, self.stop_button):
            controls.addWidget(widget)
        layout.addLayout(controls)

        # The answers, side by side; below a column's minimum size they scroll (sideways on a
        # narrow window, down on a short one).
        self.column_strip = QWidget()
        self.column_area = QHBoxLayout(self.column_strip)
        self.column_area.setContentsMargins(0, 0, 0, 0)
        self.column_area.setSpacing(8)
        self.empty = Label("Answers appear here side by side. Pick the contenders, type a "
                            "prompt and press Compare.", self.column_strip)
        self.empty.setObjectName("Muted")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.column_area.addWidget(self.empty)
        self.column_scroll = QScrollArea(self)
        self.column_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.column_scroll.setWidgetResizable(True)
        self.column_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.column_scroll.setWidget(self.column_strip)
        self.column_scroll.setMinimumHeight(
            COLUMN_MIN_HEIGHT + self.column_scroll.horizontalScrollBar().sizeHint().height())
        layout.addWidget(self.column_scroll, 1)

        # The status line and the vote buttons share one row: the question beside its answers.
        self.vote_row = QHBoxLayout()
        self.status = Label("", self)
        self.status.setObjectName("Muted")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.vote_row.addWidget(self.status, 1)
        self.vote_row.setContentsMargins(16, 4, 16, 8)
        self.vote_row.setSpacing(8)
        outer.addLayout(self.vote_row)

        # The picker says "changed" on a model pick or a finished edit, not on every key.
        self.picker.changed.connect(self._estimate)
        services.events.changed.connect(self._data_changed)
        self.refresh_models()

    # models and the memory estimate -----------------------------------------------------

    def refresh_models(self) -> None:
        """The models (library, then endpoints), and the collections to answer from."""
        self.services.ops.run("db", model_choices, name="list models for Compare",
                              success=self._models_loaded, failure=self.show_error)
        self.services.ops.run("db", collection_names, name="list collections",
                              success=self.picker.set_collections, failure=self.show_error)

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        """The picker follows the library (a model added or removed on another page)."""
        if changes & {"library", "documents"}:
            self.refresh_models()

    def _models_loaded(self, models: list[tuple[int | str, str]]) -> None:
        self.picker.set_models(models)
        self.run_button.setEnabled(bool(models) and not self.is_running)
        if not models:
            self.set_status("No models in the library yet: add one on the Models page.")
        self._estimate()

    def _estimate(self) -> None:
        if not self.isVisible():  # reading the headers costs a worker ~100 ms of GIL: on show
            self._estimate_pending = True
            return
        self._estimate_pending = False
        chosen = self.picker.chosen()
        if len(chosen) < 2:
            return

        def estimate(db: Database) -> tuple[bool, str]:
            return can_run_together(build_contenders(db, chosen))

        self.services.ops.run("db", estimate, name="estimate memory for Compare",
                              success=self._estimated, failure=self._not_estimated)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if getattr(self, "_estimate_pending", False):
            self._estimate()

    def _estimated(self, result: tuple[bool, str]) -> None:
        self.fits_together, reason = result
        self.together.setEnabled(self.fits_together)
        if not self.fits_together:
            self.together.setChecked(False)
        self.together.setToolTip(f"Running together: {reason}")

    def _not_estimated(self, message: str) -> None:
        """A row's settings do not parse yet: running together waits for a good estimate,
        and the reason is where the option is (Compare itself reports it on a run)."""
        self.fits_together = False
        self.together.setChecked(False)
        self.together.setEnabled(False)
        self.together.setToolTip(f"Cannot estimate the memory: {message}")

    # running ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.is_running:
            return
        prompt = self.prompt.toPlainText().strip()
        if not prompt:
            self.show_error("Type a prompt first.")
            return
        chosen = self.picker.chosen()
        system = self.system.text().strip() or None
        blind, together = self.blind.isChecked(), self.together.isChecked()
        rng = self.shuffle_rng
        services = self.services

        def job(db: Database) -> StartedCompare:
            contenders = build_contenders(db, chosen)
            return StartedCompare(CompareRun(db, services.engine, contenders, prompt,
                                             system=system, blind=blind, together=together,
                                             seed_rng=rng), contenders)

        self._clear_columns()
        self.comparison_id = None
        self.voted = False
        self.run_blind = blind
        self.run_rows = self.picker.numbered()
        self.answers_done = 0
        if blind:
            # Until the vote no view says which model is in memory (the status bar, the
            # server switch): the order models load in would tell who wrote which answer.
            services.events.set_blind(True)
            self.set_status("Writing the answers… Blind: they appear together, shuffled, "
                            "when all are done.")
        else:
            services.events.set_blind(False)
            names = sorted({name for _number, name in self.run_rows})
            services.events.model_loaded.emit(f"{', '.join(names)} (comparing)")
            self.set_status("Running…")
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        # Together, each contender has its own Engine: the shared one is left alone, but the
        # job still runs on the "engine" worker so it never races a chat for the CPU.
        self.job = services.ops.run("engine", job, name="comparing models", progress=self._event,
                                    failure=self.show_error, finished=self._finished)

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.set_status("Stopping…")

    @property
    def is_running(self) -> bool:
        return self.job is not None

    def _clear_columns(self) -> None:
        for column in self.columns:
            self.column_area.removeWidget(column)
            column.deleteLater()
        self.columns = []
        for button in self.vote_buttons:
            self.vote_row.removeWidget(button)
            button.deleteLater()
        self.vote_buttons = []
        self.empty.show()

    def _event(self, event: Any) -> None:
        if isinstance(event, tuple) and event[0] == "columns":
            self.comparison_id, count, self.row_ids = event[1], event[2], event[3]
            self.empty.hide()
            for slot in range(count):
                column = AnswerColumn(LETTERS[slot], self.column_strip)
                column.hide_writer()
                if self.run_blind:
                    column.set_note("Shown when every answer is in")
                self.columns.append(column)
                self.column_area.addWidget(column, 1)
            self._add_vote_buttons(count)
            self._load_view()  # not blind: the writers can be named at once
            return
        assert isinstance(event, CompareEvent)
        if self.run_blind:
            # Nothing per column until all are done: an answer filling first, or its
            # error, would tell which model wrote it. Only the count moves.
            if event.kind in ("done", "error"):
                self.answers_done += 1
                self.set_status(f"Writing the answers… {self.answers_done} of "
                                f"{len(self.columns)} done. Blind: they appear together, "
                                "shuffled, when all are done.")
            return
        column = self.columns[event.slot]
        if event.kind == "start":
            column.start()
        elif event.kind == "chunk":
            column.stream(event.text)
        elif event.kind == "done":
            column.set_text(event.text)
            column.set_sources(event.grounding, hidden=self.run_blind)
            if event.stats is not None:
                metrics = {name: getattr(event.stats, name, None) for name in METRICS}
                column.set_metrics(metrics, hidden=self.run_blind)
        elif event.kind == "error":
            column.set_note(f"Error: {event.error}", error=True)

    def _finished(self) -> None:
        self.job = None
        self.run_button.setEnabled(bool(self.picker.models))
        self.stop_button.setEnabled(False)
        loaded = self.services.engine.loaded
        self.services.events.model_loaded.emit(loaded.path.stem if loaded is not None else "")
        if self.comparison_id is None:
            self.services.events.set_blind(False)  # it failed before any answer
            return
        for button in self.vote_buttons:
            button.setEnabled(True)
        self._load_view()

    # votes --------------------------------------------------------------------------------

    def _add_vote_buttons(self, count: int) -> None:
        for text, choice in vote_choices(count):
            button = QPushButton(text, self)
            button.clicked.connect(lambda _=False, c=choice: self.vote(c))
            self.vote_buttons.append(button)
        if count > 2:
            rank = QPushButton("Rank…", self)
            rank.setToolTip("Put all the answers in order, best first")
            rank.clicked.connect(lambda: self.rank())
            self.vote_buttons.append(rank)
        for button in self.vote_buttons:
            button.setEnabled(False)  # until every answer is in
            self.vote_row.addWidget(button)

    def rank(self, letters: list[str] | None = None) -> None:
        """Vote with a full ranking (best first); asks in a dialog unless given."""
        if letters is None:
            answers = [(f"Answer {LETTERS[i]}: {_gist(column.text)}", LETTERS[i])
                       for i, column in enumerate(self.columns)]
            dialog = RankDialog([title for title, _ in answers], self,
                                keys=[key for _, key in answers])
            if dialog.exec() != RankDialog.DialogCode.Accepted:
                return
            letters = dialog.order()
        self.vote(">".join(letter.lower() for letter in letters))

    def vote(self, choice: str) -> None:
        comparison_id = self.comparison_id
        if comparison_id is None or self.voted or self.is_running:
            return
        self.voted = True
        for button in self.vote_buttons:
            button.setEnabled(False)
        self.set_status("Saving your vote…")

        def failed(message: str) -> None:
            self.voted = False
            for button in self.vote_buttons:
                button.setEnabled(True)
            self.show_error(message)

        self.services.ops.run("db", cast_vote, comparison_id, choice,
                              name="save vote", changes={"votes"}, success=self._show_view,
                              failure=failed)

    def _load_view(self) -> None:
        comparison_id = self.comparison_id
        if comparison_id is None:
            return
        self.services.ops.run("db", comparison_view, comparison_id,
                              name="read comparison", success=self._show_view,
                              failure=self.show_error)

    def _number_of(self, contender_id: int) -> int | None:
        if contender_id in self.row_ids:
            index = self.row_ids.index(contender_id)
            return self.run_rows[index][0] if index < len(self.run_rows) else index + 1
        return None

    def _show_view(self, view: dict[str, Any]) -> None:
        """Draw the stored comparison: writers hidden until the vote when blind, then named
        by contender number; the final texts and metrics; the vote in the buttons' words."""
        if view["id"] != self.comparison_id:
            return  # an answer about a comparison no longer shown
        count = len(self.columns)
        vote = view["vote"]
        verdicts = column_verdicts(vote, count) if vote else [""] * count
        running = self.is_running
        for column, data, verdict in zip(self.columns, view["columns"], verdicts, strict=False):
            if data["contender"] is None:
                column.hide_writer()
            else:
                contender = data["contender"]
                column.set_writer(self._number_of(contender["id"]), contender["model_name"],
                                  contender["label"], verdict=verdict)
            if running or data["status"] == "pending":
                continue
            column.set_text(data["content"])
            column.set_sources(data.get("grounding"), hidden=view["hidden"])
            if data["status"] == "error":
                column.set_note(f"Error: {data['error']}", error=True)
            else:
                column.set_metrics(data["metrics"], hidden=view["hidden"])
        if running:
            return
        if vote or not view["hidden"]:
            self.services.events.set_blind(False)  # voted: names may be shown again
        if vote:
            self.voted = True
            for button in self.vote_buttons:
                button.setEnabled(False)
            self.set_status(f"Your vote: {said_vote(vote, count)}. Saved with comparison "
                            f"{view['id']}; the contenders are named above each answer.")
        elif view["hidden"]:
            self.set_status(f"Comparison {view['id']} saved. Which answer is better? Names, "
                            "memory and load times appear after your vote.")
        else:
            self.set_status(f"Comparison {view['id']} saved. Which answer is better?")

    def set_status(self, text: str, *, error: bool = False) -> None:
        restyle(self.status, "ErrorText" if error else "Muted")
        self.status.setText(text)

    def show_error(self, message: str) -> None:
        self.set_status(message, error=True)


def _gist(text: str, limit: int = 60) -> str:
    """The start of an answer on one line, to recognise it in the ranking dialog."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
