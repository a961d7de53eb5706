"""Trials: prompt suites (list, edit, import), runs with progress, ETA, cancel and resume,
the results matrix, the leaderboard, the recommendation and charts, and report export.

Every read and write is an operation (:mod:`ui.operations`): "db" for the database, "disk" for
writing a report, "engine" for the run itself. The functions sent to a worker only compute and
return; the page's own state (the chosen suite, the trial shown) is set in the success
callbacks, on the GUI thread. Edits announce ``{"suites"}``, a finished run ``{"trials"}``;
the page follows those and ``{"library"}`` (the contender picker) and ``{"votes"}`` (the
leaderboard) from whichever page made them.

The page is this module (the run: contenders, progress, cancel and resume, and what the page
follows) and two parts that share its state: :mod:`~ui.views.trials.suites` (the suite list and
editor) and :mod:`~ui.views.trials.results` (the results tabs and the report); the matrix and
leaderboard tables are in :mod:`~ui.views.trials.tables`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.tasks import Job
from ui.views.compare.page import ContenderPicker, build_contenders
from ui.views.trials.prompt_editor import PromptEditorPart
from ui.views.trials.results import ResultsPart
from ui.views.trials.suites import SUITE_NAME_ROLE, SuitesPart
from ui.views.trials.tables import MatrixModel
from ui.widgets.plain_label import Label
from ui.widgets.svg_chart import ChartGrid
from workbench.documents.collections import collection_names
from workbench.endpoints import model_choices
from workbench.trials import store
from workbench.trials.results import BOARD_SCOPE
from workbench.trials.runner import TrialProgress, TrialRun, create_trial
from workbench.trials.suites import list_suites
from workbench.units import human_eta

#: The changes this page follows (see the module docstring).
FOLLOWS = frozenset({"library", "suites", "trials", "votes", "documents"})


GUIDES = {
    "no models": "<h3>Add a model first</h3><p>A trial runs your prompts through one or more "
                 "models. Add one on the <b>Models</b> page, then come back.</p>",
    "no suites": "<h3>Test models on your own prompts</h3><ol>"
                 "<li><b>New…</b> makes a prompt suite; <b>Import…</b> reads one from a "
                 ".jsonl, .csv or .txt file (one prompt a line).</li>"
                 "<li>Add prompts and, for each, checks: what a good answer contains, a "
                 "pattern, valid JSON, a length or time limit.</li>"
                 "<li>Pick one to four contenders (a model and its settings) and press "
                 "<b>Run</b>. Every prompt is answered by every contender, checked and timed."
                 "</li></ol>",
    "no prompts": "<h3>This suite has no prompts yet</h3><p>Type a prompt on the left, add "
                  "its checks, and press <b>Add</b>.</p>",
    "running": "<h3>Running…</h3><p>The first results appear here as soon as a cell is "
               "done.</p>",
    "no trial": "<h3>Ready to run</h3><p>Pick the contenders above and press <b>Run</b>. "
                "Results appear here cell by cell as they finish; Cancel keeps what is done "
                "and Resume continues.</p>",
}


class TrialsPage(SuitesPart, PromptEditorPart, ResultsPart, QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.job: Job | None = None
        self.suite_id: int | None = None
        self.trial_id: int | None = None
        self.summary: dict[str, Any] | None = None
        self.board: list[dict[str, Any]] = []
        self.counts = {"models": 0, "suites": 0, "prompts": 0, "trials": 0}
        self._live_done = 0  # cells shown while a trial runs
        self.report_path: str | None = None  # the report last written (Open opens it)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        outer = QVBoxLayout(self)
        outer.addWidget(splitter)
        splitter.addWidget(self._build_suites())
        splitter.addWidget(self._build_run())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 920])
        services.events.changed.connect(self._data_changed)
        self.refresh()

    # layout -------------------------------------------------------------------------------

    def _build_run(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(Label("<h3>Run a trial</h3>", rich=True))
        self.picker = ContenderPicker(self, minimum=1, stacked=True)
        layout.addWidget(self.picker)
        controls = QHBoxLayout()
        self.repeats = QSpinBox()
        self.repeats.setRange(1, 20)
        self.repeats.setPrefix("repeats ")
        self.repeats.setToolTip("Run each cell this many times: speed is then a median with "
                                "its spread")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(1)
        self.seed.setPrefix("seed ")
        self.seed.setToolTip("The same seed and settings give the same replies")
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("Primary")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.cancel_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        for spin in (self.repeats, self.seed):
            controls.addWidget(spin)
        controls.addStretch(1)
        for button in (self.run_button, self.cancel_button, self.resume_button):
            controls.addWidget(button)
        layout.addLayout(controls)
        progress = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Trial progress")
        # The theme draws a slim bar: the count is a label beside it, never text cut inside it.
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.cells = Label("No trial yet")
        self.eta = Label("")
        self.eta.setObjectName("Muted")
        progress.addWidget(self.progress, 1)
        progress.addWidget(self.cells)
        progress.addWidget(self.eta)
        layout.addLayout(progress)
        trials_row = QHBoxLayout()
        self.trials = QComboBox()
        self.trials.setAccessibleName("Trial")
        self.trials.activated.connect(self._trial_chosen)
        self.export_button = QPushButton("Export report…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_dialog)
        trials_row.addWidget(Label("Trial"))
        trials_row.addWidget(self.trials, 1)
        trials_row.addWidget(self.export_button)
        layout.addLayout(trials_row)

        self.tabs = QTabWidget()
        self.matrix = MatrixModel(self)
        self.table = self._build_matrix_view()
        self.guide = Label(GUIDES["no suites"], rich=True)  # the window's own text
        self.guide.setObjectName("Muted")
        self.guide.setWordWrap(True)
        self.guide.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.guide.setContentsMargins(16, 12, 16, 12)
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(self.guide)
        self.results_stack.addWidget(self.table)
        self.tabs.addTab(self.results_stack, "Results")
        self.board_table = self._build_board()
        board_tab = QWidget()
        board_column = QVBoxLayout(board_tab)
        scope = Label(BOARD_SCOPE)
        scope.setObjectName("Muted")
        scope.setWordWrap(True)
        board_column.addWidget(scope)
        board_column.addWidget(self.board_table, 1)
        self.tabs.addTab(board_tab, "Leaderboard")
        self.tabs.addTab(self._build_recommendation(), "Recommendation")
        charts = ChartGrid(3)
        self.chart_views = charts.charts
        self.chart_grid = charts
        self.tabs.addTab(charts, "Charts")
        layout.addWidget(self.tabs, 1)
        status_row = QHBoxLayout()
        self.status = Label("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Trials status")
        status_row.addWidget(self.status, 1)
        # "Open" beside "Wrote trial-1.html": the report in the system's viewer.
        self.open_report_button = QPushButton("Open")
        self.open_report_button.setToolTip("Open the report just written")
        self.open_report_button.clicked.connect(lambda: self.open_report())
        self.open_report_button.hide()
        status_row.addWidget(self.open_report_button)
        layout.addLayout(status_row)
        return box

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._size_matrix_columns()

    # operations ---------------------------------------------------------------------------

    def _op(self, func: Any, success: Any, name: str, *, key: str | None = None,
            changes: tuple[str, ...] = (), resource: str = "db",
            failure: Any = None) -> Job:
        """One of this page's operations, ``func(db)`` on the worker's connection: failures
        in the page's status line, or beside the fields (``failure``)."""
        return self.services.ops.run(resource, func, name=name, initiator=self, key=key,
                                     changes=changes, success=success,
                                     failure=failure or self.show_error)

    @property
    def busy(self) -> int:
        """This page's operations in flight, the trial run included (tests wait for 0)."""
        return self.services.ops.busy(self)

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        if changes & FOLLOWS:
            self.refresh()

    # data ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        def load(db: Database) -> dict[str, Any]:
            return {"models": model_choices(db),  # library, then endpoints (remote: HOST)
                    "suites": list_suites(db), "trials": store.list_trials(db),
                    "collections": collection_names(db)}

        self._op(load, self._loaded, "loading trials", key="page")

    def _loaded(self, data: dict[str, Any]) -> None:
        self.picker.set_models(data["models"])
        self.picker.set_collections(data["collections"])
        self.check_editor.set_models(data["models"])
        self.counts.update(models=len(data["models"]), suites=len(data["suites"]),
                           trials=len(data["trials"]))
        self.suites.blockSignals(True)
        self.suites.clear()
        for row in data["suites"]:
            item = QListWidgetItem(f"{row['name']}  ({row['prompts']} prompts)")
            item.setData(Qt.ItemDataRole.UserRole, row["id"])
            item.setData(SUITE_NAME_ROLE, row["name"])
            item.setToolTip(row["name"])
            self.suites.addItem(item)
            if row["id"] == self.suite_id:
                self.suites.setCurrentItem(item)
        self.suites.blockSignals(False)
        if self.suites.currentItem() is not None:
            self._suite_chosen(self.suites.currentItem())
        elif self.suites.count():
            self.suites.setCurrentRow(0)
        else:
            self.suite_id = None
            self.prompts.clear()
            self.counts["prompts"] = 0
        self.trials.clear()
        for row in data["trials"]:
            total = row["prompts"] * len(row["contender_ids"]) * row["repeats"]
            self.trials.addItem(f"{row['id']}: {row['suite_name']} — {row['status']} "
                                f"({row['cells_done']}/{total})", row["id"])
        self.export_button.setEnabled(bool(data["trials"]))
        if data["trials"]:
            index = max(0, self.trials.findData(self.trial_id))
            self.trials.setCurrentIndex(index)
            self._trial_chosen(index)
        self._update_guide()

    def _update_guide(self) -> None:
        """What to do next, while there is nothing to show (no models, suites, prompts or
        trials); the results once there are."""
        counts = self.counts
        state = ("no models" if not counts["models"] else "no suites" if not counts["suites"]
                 else "" if self.summary else "running" if self.job is not None
                 else "no prompts" if not counts["prompts"] else "no trial")
        if state:
            self.guide.setText(GUIDES[state])
            self.results_stack.setCurrentWidget(self.guide)
        else:
            self.results_stack.setCurrentWidget(self.table)
        self.run_button.setEnabled(self.job is None and bool(counts["models"])
                                   and self.suite_id is not None)

    # running ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.suite_id is None:
            self.show_error("Choose a suite first.")
            return
        suite_id, chosen = self.suite_id, self.picker.chosen()
        repeats, seed, bar = self.repeats.value(), self.seed.value(), self.bar()
        services = self.services

        def job(db: Database) -> TrialRun:
            trial_id = create_trial(db, suite_id, build_contenders(db, chosen), seed=seed,
                                    repeats=repeats)
            # Two contenders side by side when memory allows (as `trial run` does).
            return TrialRun.under(db, services.engine, trial_id, bar, together=None)

        self._run(job)

    def resume(self) -> None:
        trial_id = self.trial_id
        if trial_id is None:
            return
        services, bar = self.services, self.bar()
        self._run(lambda db: TrialRun.under(db, services.engine, trial_id, bar,
                                            together=None))

    def _run(self, job: Any) -> None:
        self.run_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        # A new run starts from nothing: not the previous trial's "12/12" until its first cell.
        self.progress.setRange(0, 0)  # busy until the run says how many cells
        self.cells.setText("Starting…")
        self.eta.setText("")
        self.show_status("Running…")
        self._live_done = 0
        self.job = self.services.ops.run(
            "engine", job, name="running a trial", initiator=self, changes=("trials",),
            progress=self._progress, failure=self.show_error,
            cancelled=lambda: self.show_status(
                "Cancelled. Finished cells are kept: Resume continues from here."),
            finished=self._finished)
        self._update_guide()  # "Running…", not "Ready to run", until the first cell

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    @property
    def is_running(self) -> bool:
        return self.job is not None

    def _progress(self, progress: TrialProgress) -> None:
        first = self.trial_id != progress.trial_id
        self.trial_id = progress.trial_id
        if first:
            self.summary = None  # the last trial's results are not this one's
            self._update_guide()
        if progress.done and progress.done != self._live_done:
            self._live_done = progress.done
            self._load_results(progress.trial_id)  # the results fill in cell by cell
        self._show_cells(progress.done, progress.total)
        if progress.message.startswith("judging"):
            self.cells.setText(progress.message.capitalize())
        elif " side by side" in progress.message:
            self.show_status(progress.message[:1].upper() + progress.message[1:])
        done = progress.done >= progress.total
        self.eta.setText(f"about {human_eta(max(1.0, progress.eta_s))} left"
                         if progress.eta_s is not None and not done else "")

    def _show_cells(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.cells.setText(f"{done} / {total} cells")

    def _finished(self) -> None:
        self.job = None
        self.eta.setText("")
        self.cancel_button.setEnabled(False)
        if self.progress.maximum() == 0:  # ended before its first cell (an error, a cancel)
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.cells.setText("")
        if self.status.text() == "Running…" or " side by side" in self.status.text():
            self.show_status("")
        self.refresh()

    def show_error(self, message: str) -> None:
        """The page's one error line (plain text: a message is never read as markup)."""
        self.show_status(message, error=True)

    def show_status(self, message: str, error: bool = False) -> None:
        self.open_report_button.hide()  # it belongs to the "Wrote …" line only
        name = "ErrorText" if error else ""
        if self.status.objectName() != name:
            self.status.setObjectName(name)
            self.status.style().unpolish(self.status)  # the theme colours it by its name
            self.status.style().polish(self.status)
        self.status.setText(message)
