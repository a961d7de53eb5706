"""Trials: prompt suites (list, edit, import), runs with progress, ETA, cancel and resume,
the results matrix, the leaderboard, the recommendation and charts, and report export.

Every read and write goes through ``services.tasks`` ("db" for the database, "engine" for the
run itself); the matrix is a QAbstractTableModel over the summary the worker computed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.services import Services
from ui.tasks import Job
from ui.views.compare_page import ContenderPicker, build_contenders
from ui.widgets.svg_chart import ChartGrid, chart_style
from workbench.library import list_models
from workbench.trials import report, store
from workbench.trials.recommend import Bar, recommend
from workbench.trials.results import leaderboard, trial_summary
from workbench.trials.runner import TrialProgress, TrialRun, create_trial
from workbench.trials.suites import (
    SuitePrompt,
    add_prompt,
    create_suite,
    delete_prompt,
    delete_suite,
    get_suite,
    import_suite,
    list_suites,
    rename_suite,
    update_prompt,
)
from workbench.trials.svg import trial_charts

AnyIndex = QModelIndex | QPersistentModelIndex
SUITE_NAME_ROLE = Qt.ItemDataRole.UserRole + 1


class MatrixModel(QAbstractTableModel):
    """Prompts down, contenders across; a cell shows the reply's start, verdict and speed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary: dict[str, Any] = {"matrix": [], "contenders": []}

    def set_summary(self, summary: dict[str, Any]) -> None:
        self.beginResetModel()
        self.summary = summary
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.summary["matrix"])

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.summary["contenders"])

    def cell(self, index: AnyIndex) -> dict[str, Any] | None:
        return self.summary["matrix"][index.row()]["cells"][index.column()]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        cell = self.cell(index)
        if role == Qt.ItemDataRole.DisplayRole:
            if cell is None:
                return "not run"
            verdict = {None: "", 1: "✓ ", 0: "✗ "}.get(cell["passed"], "")
            text = " ".join(cell["content"].split())[:90]
            speed = f"{cell['gen_tps']:.0f} tok/s" if cell["gen_tps"] else ""
            ttft = f"TTFT {cell['ttft_ms']:.0f} ms" if cell["ttft_ms"] else ""
            return f"{verdict}{text}\n{ttft} · {speed} · {(cell['peak_rss'] or 0) / 1e6:.0f} MB"
        if role == Qt.ItemDataRole.ToolTipRole and cell is not None:
            checks = "\n".join(f"{'✓' if r['passed'] else '✗'} {r['check']['type']}: "
                               f"{r['detail']}" for r in cell["check_results"])
            return f"{cell['content']}\n\n{checks}".strip()
        if role == Qt.ItemDataRole.BackgroundRole and cell is not None:
            if cell["passed"] == 1:
                return theme.role_color("ok_bg")
            if cell["passed"] == 0:
                return theme.role_color("fail_bg")
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role in (
                Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            label = self.summary["contenders"][section]["label"]
            short = label if len(label) <= 34 else label[:33] + "…"
            return label if role == Qt.ItemDataRole.ToolTipRole else short
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return " ".join(self.summary["matrix"][section]["prompt"].split())[:50]


class TrialsPage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.job: Job | None = None
        self.suite_id: int | None = None
        self.trial_id: int | None = None
        self.summary: dict[str, Any] | None = None
        self.board: list[dict[str, Any]] = []
        self._checks_text = ""

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        outer = QVBoxLayout(self)
        outer.addWidget(splitter)
        splitter.addWidget(self._build_suites())
        splitter.addWidget(self._build_run())
        splitter.setSizes([380, 900])
        self.refresh()

    # layout -------------------------------------------------------------------------------

    def _build_suites(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.addWidget(QLabel("<h3>Prompt suites</h3>"))
        self.suites = QListWidget()
        self.suites.currentItemChanged.connect(self._suite_chosen)
        layout.addWidget(self.suites, 1)
        buttons = QHBoxLayout()
        for text, slot in (("New…", self.new_suite), ("Import…", self.import_dialog),
                           ("Rename…", self.rename_suite), ("Delete", self.delete_suite)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("Prompts"))
        self.prompts = QListWidget()
        self.prompts.currentItemChanged.connect(self._prompt_chosen)
        layout.addWidget(self.prompts, 1)
        form = QFormLayout()
        self.prompt_text = QPlainTextEdit()
        self.prompt_text.setMaximumHeight(70)
        self.prompt_system = QLineEdit()
        self.prompt_reference = QLineEdit()
        self.prompt_checks = QLineEdit()
        self.prompt_checks.setPlaceholderText('[{"contains": "Paris"}, {"max_tokens": 64}]')
        form.addRow("Prompt", self.prompt_text)
        form.addRow("System", self.prompt_system)
        form.addRow("Reference", self.prompt_reference)
        form.addRow("Checks", self.prompt_checks)
        layout.addLayout(form)
        edit = QHBoxLayout()
        for text, slot in (("Add", self.add_prompt), ("Save", self.save_prompt),
                           ("Delete", self.delete_prompt)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            edit.addWidget(button)
        layout.addLayout(edit)
        return box

    def _build_run(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.addWidget(QLabel("<h3>Run a trial</h3>"))
        self.picker = ContenderPicker(self, minimum=1)
        layout.addWidget(self.picker)
        controls = QHBoxLayout()
        self.repeats = QSpinBox()
        self.repeats.setRange(1, 20)
        self.repeats.setPrefix("repeats ")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(1)
        self.seed.setPrefix("seed ")
        self.run_button = QPushButton("Run")
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
        self.progress.setFormat("%v / %m cells")
        self.progress.setTextVisible(True)
        self.progress.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.eta = QLabel("")
        progress.addWidget(self.progress, 1)
        progress.addWidget(self.eta)
        layout.addLayout(progress)
        trials_row = QHBoxLayout()
        self.trials = QComboBox()
        self.trials.activated.connect(self._trial_chosen)
        self.export_button = QPushButton("Export report…")
        self.export_button.clicked.connect(self.export_dialog)
        trials_row.addWidget(QLabel("Trial"))
        trials_row.addWidget(self.trials, 1)
        trials_row.addWidget(self.export_button)
        layout.addLayout(trials_row)

        self.tabs = QTabWidget()
        self.matrix = MatrixModel(self)
        table = QTableView()
        table.setModel(self.matrix)
        table.setWordWrap(True)
        table.horizontalHeader().setDefaultSectionSize(260)
        table.verticalHeader().setDefaultSectionSize(54)
        self.table = table
        self.tabs.addTab(table, "Results")
        self.board_table = QTableWidget(0, 7)
        self.board_table.setHorizontalHeaderLabels(
            ["Contender", "Rating", "95% interval", "Votes", "Won", "Tied", "Pass rate"])
        self.board_table.horizontalHeader().setStretchLastSection(True)
        self.tabs.addTab(self.board_table, "Leaderboard")
        self.tabs.addTab(self._build_recommendation(), "Recommendation")
        charts = ChartGrid(3)
        self.chart_views = charts.charts
        self.chart_grid = charts
        self.tabs.addTab(charts, "Charts")
        layout.addWidget(self.tabs, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        return box

    def _build_recommendation(self) -> QWidget:
        box = QWidget()
        form = QFormLayout(box)
        self.min_pass = QDoubleSpinBox()
        self.min_pass.setRange(0, 100)
        self.min_pass.setValue(80)
        self.min_pass.setSuffix(" % pass rate (0: not required)")
        self.min_share = QDoubleSpinBox()
        self.min_share.setRange(0, 100)
        self.min_share.setSuffix(" % votes won or tied (0: not required)")
        self.min_tps = QDoubleSpinBox()
        self.min_tps.setRange(0, 10_000)
        self.min_tps.setSuffix(" tokens/s (0: not required)")
        for spin in (self.min_pass, self.min_share, self.min_tps):
            spin.valueChanged.connect(self._show_recommendation)
        form.addRow("Bar", self.min_pass)
        form.addRow("", self.min_share)
        form.addRow("", self.min_tps)
        self.recommendation = QLabel("Run a trial to get a recommendation.")
        self.recommendation.setWordWrap(True)
        self.recommendation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Recommendation", self.recommendation)
        return box

    # data ---------------------------------------------------------------------------------

    def _db_job(self, func: Any, on_done: Any, name: str) -> Job:
        return self.services.tasks.run("db", func, name=name, on_done=on_done,
                                       on_error=self.show_error)

    def refresh(self) -> None:
        def load() -> dict[str, Any]:
            db = self.services.db()
            return {"models": [(m.id, m.name) for m in list_models(db)],
                    "suites": list_suites(db), "trials": store.list_trials(db)}

        self._db_job(load, self._loaded, "trials page")

    def _loaded(self, data: dict[str, Any]) -> None:
        self.picker.set_models(data["models"])
        self.suites.blockSignals(True)
        self.suites.clear()
        for row in data["suites"]:
            item = QListWidgetItem(f"{row['name']}  ({row['prompts']} prompts)")
            item.setData(Qt.ItemDataRole.UserRole, row["id"])
            item.setData(SUITE_NAME_ROLE, row["name"])
            self.suites.addItem(item)
            if row["id"] == self.suite_id:
                self.suites.setCurrentItem(item)
        self.suites.blockSignals(False)
        if self.suites.currentItem() is not None:
            self._suite_chosen(self.suites.currentItem())
        elif self.suites.count():
            self.suites.setCurrentRow(0)
        self.trials.clear()
        for row in data["trials"]:
            total = row["prompts"] * len(row["contender_ids"]) * row["repeats"]
            self.trials.addItem(f"{row['id']}: {row['suite_name']} — {row['status']} "
                                f"({row['cells_done']}/{total})", row["id"])
        if data["trials"]:
            index = max(0, self.trials.findData(self.trial_id))
            self.trials.setCurrentIndex(index)
            self._trial_chosen(index)

    def _suite_chosen(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        self.suite_id = item.data(Qt.ItemDataRole.UserRole)
        suite_id = self.suite_id
        self._db_job(lambda: get_suite(self.services.db(), suite_id), self._show_suite, "suite")

    def _show_suite(self, suite: Any) -> None:
        self.prompts.clear()
        for prompt in suite.prompts:
            item = QListWidgetItem(" ".join(prompt.prompt.split())[:70])
            item.setData(Qt.ItemDataRole.UserRole, prompt)
            self.prompts.addItem(item)

    def _prompt_chosen(self, item: QListWidgetItem | None) -> None:
        prompt: SuitePrompt | None = item.data(Qt.ItemDataRole.UserRole) if item else None
        self.prompt_text.setPlainText(prompt.prompt if prompt else "")
        self.prompt_system.setText(prompt.system or "" if prompt else "")
        self.prompt_reference.setText(prompt.reference or "" if prompt else "")
        self.prompt_checks.setText(json.dumps(prompt.checks) if prompt and prompt.checks
                                   else "")

    def _edited_prompt(self) -> SuitePrompt:
        prompt = SuitePrompt(self.prompt_text.toPlainText().strip(),
                             self.prompt_system.text().strip() or None,
                             self.prompt_reference.text().strip() or None)
        self._checks_text = self.prompt_checks.text().strip()  # parsed in the worker
        return prompt

    def new_suite(self) -> None:
        name, ok = QInputDialog.getText(self, "New suite", "Name")
        if ok and name.strip():
            def make() -> None:
                self.suite_id = create_suite(self.services.db(), name).id
            self._db_job(make, lambda _r: self.refresh(), "new suite")

    def _selected_suite(self) -> tuple[int, str] | None:
        item = self.suites.currentItem()
        if item is None:
            return None
        return item.data(Qt.ItemDataRole.UserRole), item.data(SUITE_NAME_ROLE)

    def rename_suite(self, name: str | None = None) -> None:
        chosen = self._selected_suite()
        if chosen is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename suite", "Name",
                                            QLineEdit.EchoMode.Normal, chosen[1])
            if not ok:
                return
        if not name.strip():
            self.show_error("A suite needs a name.")
            return
        new_name = name.strip()
        self._db_job(lambda: rename_suite(self.services.db(), chosen[0], new_name),
                     lambda _r: self.refresh(), "rename suite")

    def delete_suite(self) -> None:
        """Ask first (a suite is the user's own work); one that trials use is kept, and the
        core says so."""
        chosen = self._selected_suite()
        if chosen is None:
            return
        answer = QMessageBox.question(self, "Delete suite",
                                      f"Delete the suite “{chosen[1]}” and its prompts?")
        if answer != QMessageBox.StandardButton.Yes:
            return

        def removed(_result: object) -> None:
            if self.suite_id == chosen[0]:
                self.suite_id = None
                self.prompts.clear()
            self.refresh()

        self._db_job(lambda: delete_suite(self.services.db(), chosen[0]), removed, "delete suite")

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a suite", "",
                                              "Suites (*.jsonl *.csv *.txt);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        def load() -> None:
            self.suite_id = import_suite(self.services.db(), path).id
        self._db_job(load, lambda _r: self.refresh(), "import suite")

    def add_prompt(self) -> None:
        suite_id, prompt = self.suite_id, self._edited_prompt()
        checks = self._checks_text
        if suite_id is None:
            self.show_error("Choose or create a suite first.")
            return
        self._db_job(lambda: add_prompt(self.services.db(), suite_id, _parsed(prompt, checks)),
                     lambda _r: self.refresh(), "add prompt")

    def save_prompt(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole).id
        prompt = self._edited_prompt()
        checks = self._checks_text
        self._db_job(lambda: update_prompt(self.services.db(), prompt_id,
                                           _parsed(prompt, checks)),
                     lambda _r: self.refresh(), "save prompt")

    def delete_prompt(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole).id
        self._db_job(lambda: delete_prompt(self.services.db(), prompt_id),
                     lambda _r: self.refresh(), "delete prompt")

    # running ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.suite_id is None:
            self.show_error("Choose a suite first.")
            return
        suite_id, chosen = self.suite_id, self.picker.chosen()
        repeats, seed = self.repeats.value(), self.seed.value()
        services = self.services

        def job() -> TrialRun:
            db = services.db()
            trial_id = create_trial(db, suite_id, build_contenders(db, chosen), seed=seed,
                                    repeats=repeats)
            return TrialRun(db, services.engine, trial_id)

        self._run(job)

    def resume(self) -> None:
        trial_id = self.trial_id
        if trial_id is None:
            return
        services = self.services
        self._run(lambda: TrialRun(services.db(), services.engine, trial_id))

    def _run(self, job: Any) -> None:
        self.run_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Running…")
        self.job = self.services.tasks.run("engine", job, name="trial",
                                           on_progress=self._progress,
                                           on_error=self.show_error,
                                           on_cancelled=lambda: self.status.setText(
            "Cancelled. Finished cells are kept: Resume continues from here."),
                                           on_finally=self._finished)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    @property
    def is_running(self) -> bool:
        return self.job is not None

    def _progress(self, progress: TrialProgress) -> None:
        self.trial_id = progress.trial_id
        self.progress.setMaximum(progress.total)
        self.progress.setValue(progress.done)
        if progress.eta_s is not None:
            self.eta.setText(f"ETA {progress.eta_s:.0f} s")

    def _finished(self) -> None:
        self.job = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if not self.status.text().startswith("Cancelled"):
            self.status.setText("")
        self.refresh()

    # results ------------------------------------------------------------------------------

    def _trial_chosen(self, index: int) -> None:
        trial_id = self.trials.itemData(index)
        if trial_id is None:
            return
        self.trial_id = trial_id

        def load() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            db = self.services.db()
            return trial_summary(db, trial_id), leaderboard(db, rounds=200)

        self._db_job(load, self._show_results, "trial results")

    def _show_results(self, result: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        self.summary, self.board = result
        summary = self.summary
        self.matrix.set_summary(summary)
        self.progress.setMaximum(summary["total"])
        self.progress.setValue(summary["done"])
        self.resume_button.setEnabled(self.job is None and summary["done"] < summary["total"])
        self.board_table.setRowCount(len(self.board))
        for row, entry in enumerate(self.board):
            interval = (f"{entry['low']:.0f}–{entry['high']:.0f}" if entry["low"] is not None
                        else "–")
            passed = (f"{entry['pass_rate']:.0%} of {entry['checked']}" if entry["checked"]
                      else "–")
            values = [entry["label"], f"{entry['rating']:.0f}" if entry["rating"] else "–",
                      interval, entry["votes"], entry["won"], entry["tied"], passed]
            for column, value in enumerate(values):
                self.board_table.setItem(row, column, QTableWidgetItem(str(value)))
        self.board_table.resizeColumnsToContents()
        self.chart_grid.set_svgs(trial_charts(summary["contenders"], chart_style()))
        self._show_recommendation()

    def bar(self) -> Bar:
        def part(spin: QDoubleSpinBox, scale: float) -> float | None:
            return spin.value() / scale if spin.value() > 0 else None

        return Bar(part(self.min_pass, 100), part(self.min_share, 100), part(self.min_tps, 1))

    def _show_recommendation(self) -> None:
        if self.summary is not None:
            self.recommendation.setText(recommend(self.summary["contenders"],
                                                  self.bar()).reason)

    def export_dialog(self) -> None:
        if self.trial_id is None:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export report", f"trial-{self.trial_id}.html",
            "HTML (*.html);;Markdown (*.md)")
        if path:
            self.export(path, "md" if path.endswith(".md") or "Markdown" in chosen else "html")

    def export(self, path: str, fmt: str) -> None:
        trial_id, bar = self.trial_id, self.bar()
        if trial_id is None:
            return

        def write() -> str:
            make = report.trial_markdown if fmt == "md" else report.trial_html
            Path(path).write_text(make(self.services.db(), trial_id, bar), encoding="utf-8")
            return path

        self._db_job(write, lambda p: self.status.setText(f"Wrote {p}"), "export report")

    def show_error(self, message: str) -> None:
        self.status.setText(f"<span style='color:{theme.current().error_text}'>{message}</span>")


def _parsed(prompt: SuitePrompt, checks: str) -> SuitePrompt:
    """Checks typed as JSON text become a list (validated by the core, in the worker)."""
    from workbench.trials.checks import normalize_checks

    prompt.checks = normalize_checks(checks or None, prompt.reference)
    return prompt
