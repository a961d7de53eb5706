"""Trials: prompt suites (list, edit, import), runs with progress, ETA, cancel and resume,
the results matrix, the leaderboard, the recommendation and charts, and report export.

Every read and write is an operation (:mod:`ui.operations`): "db" for the database, "disk" for
writing a report, "engine" for the run itself. The functions sent to a worker only compute and
return; the page's own state (the chosen suite, the trial shown) is set in the success
callbacks, on the GUI thread. Edits announce ``{"suites"}``, a finished run ``{"trials"}``;
the page follows those and ``{"library"}`` (the contender picker) and ``{"votes"}`` (the
leaderboard) from whichever page made them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
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
from ui.views.compare.page import ContenderPicker, build_contenders
from ui.views.trials.checks import CheckEditor
from ui.views.trials.recommendation_card import RecommendationCard
from ui.widgets.plain_label import Label
from ui.widgets.svg_chart import ChartGrid, chart_style
from workbench.library import list_models
from workbench.settings import DEFAULTS, get_setting
from workbench.trials import report, store
from workbench.trials.recommend import Bar, recommend
from workbench.trials.results import BOARD_SCOPE, group_by_model, leaderboard, trial_summary
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
from workbench.units import TOKENS_PER_S, human_eta, reply_metrics

AnyIndex = QModelIndex | QPersistentModelIndex
SUITE_NAME_ROLE = Qt.ItemDataRole.UserRole + 1
#: The prompt column never takes more than this; its text wraps (the whole prompt: tooltip).
PROMPT_COLUMN_PX = 220
#: Each contender's column gets at least this much; beyond the window, the table scrolls.
CONTENDER_COLUMN_MIN_PX = 150
#: The changes this page follows (see the module docstring).
FOLLOWS = frozenset({"library", "suites", "trials", "votes"})


class BoardTable(QTableWidget):
    """The leaderboard: number columns as wide as their contents and never narrower than
    their titles (ResizeToContents measured titles without the theme's header padding); the
    Contender column takes the rest, or its title's width and the table scrolls sideways
    when the window is too narrow for all of them."""

    def fit_columns(self) -> None:
        header = self.horizontalHeader()
        metrics = header.fontMetrics()
        self.resizeColumnsToContents()
        used = 0
        for column, (title, _tip) in enumerate(BOARD_COLUMNS[1:], 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            width = max(self.columnWidth(column), metrics.horizontalAdvance(title) + 14)
            self.setColumnWidth(column, width)
            used += width
        need = metrics.horizontalAdvance(BOARD_COLUMNS[0][0]) + 14
        if self.viewport().width() - used >= need:
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        else:
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
            self.setColumnWidth(0, max(need, min(self.columnWidth(0), 240)))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.fit_columns()


class MatrixModel(QAbstractTableModel):
    """Prompts down; the prompt first, then one column per contender, whose cell shows the
    reply's start, its verdict and speed."""

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
        if parent.isValid() or not self.summary["contenders"]:
            return 0
        return 1 + len(self.summary["contenders"])

    def cell(self, index: AnyIndex) -> dict[str, Any] | None:
        if index.column() == 0:
            return None
        return self.summary["matrix"][index.row()]["cells"][index.column() - 1]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        prompt = self.summary["matrix"][index.row()]["prompt"]
        if index.column() == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return " ".join(prompt.split())[:200]
            if role == Qt.ItemDataRole.ToolTipRole:
                return prompt
            return None
        cell = self.cell(index)
        if role == Qt.ItemDataRole.DisplayRole:
            if cell is None:
                return "not run"
            verdict = {None: "", 1: "✓ ", 0: "✗ "}.get(cell["passed"], "")
            text = " ".join(cell["content"].split())[:90]
            metrics = [*judge_grades(cell), reply_metrics(cell, short=True)]
            return f"{verdict}{text}\n{' · '.join(m for m in metrics if m)}"
        if role == Qt.ItemDataRole.ToolTipRole and cell is not None:
            checks = "\n".join(f"{report.check_mark(r)} {r['check']['type']}: "
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
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if section == 0:
            return "Prompt"
        label = self.summary["contenders"][section - 1]["label"]
        if role == Qt.ItemDataRole.ToolTipRole:
            return label
        return header_label(section - 1, label)


def judge_grades(cell: dict[str, Any]) -> list[str]:
    """A cell's judge grades in short ("judge 4/5", "judge 2/5 (self-judged)", "judge
    failed"); the reasons are in the tooltip with each check's verdict."""
    return [(f"judge {g['score']}/{g['scale']}" + (" (self-judged)" if g["self_judged"] else ""))
            if g["score"] is not None else "judge failed" for g in cell.get("judgements") or []]


def header_label(index: int, label: str) -> str:
    """A contender's column title: its number (as in the picker's rows: contenders are
    numbered everywhere, letters name blind answers) and its model; the settings, which make
    the label long, are in the tooltip."""
    return f"{index + 1} · {label.partition(' [')[0]}"


BOARD_COLUMNS = (
    ("Contender", "The model and the settings it ran with"),
    ("Rating", "Bradley-Terry rating from your votes on the Elo scale (1000 = average)"),
    ("95% interval", "The rating's 95% bootstrap interval: wide means few votes"),
    ("Votes", "Votes this contender took part in"),
    ("Won", "Votes it won"),
    ("Tied", "Votes that were a tie"),
    ("Pass rate", "Share of checked prompts that passed every check, over all trials (a "
                  "prompt with repeats scores the share of its repeats that pass)"),
)

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
    "no trial": "<h3>Ready to run</h3><p>Pick the contenders above and press <b>Run</b>. "
                "Results appear here cell by cell as they finish; Cancel keeps what is done "
                "and Resume continues.</p>",
}


class TrialsPage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.job: Job | None = None
        self.suite_id: int | None = None
        self.trial_id: int | None = None
        self.summary: dict[str, Any] | None = None
        self.board: list[dict[str, Any]] = []
        self.counts = {"models": 0, "suites": 0, "prompts": 0, "trials": 0}

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

    def _build_suites(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 4, 8, 4)
        layout.addWidget(Label("<h3>Prompt suites</h3>", rich=True))
        self.suites = QListWidget()
        self.suites.setAccessibleName("Prompt suites")
        self.suites.setMinimumHeight(72)
        self.suites.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.suites.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.suites.currentItemChanged.connect(self._suite_chosen)
        layout.addWidget(self.suites, 1)
        buttons = QHBoxLayout()
        for text, slot in (("New…", self.new_suite), ("Import…", self.import_dialog),
                           ("Rename…", self.rename_suite), ("Delete", self.delete_suite)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        layout.addWidget(Label("Prompts"))
        self.prompts = QListWidget()
        self.prompts.setAccessibleName("Prompts")
        self.prompts.setMinimumHeight(72)
        self.prompts.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.prompts.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.prompts.currentItemChanged.connect(self._prompt_chosen)
        layout.addWidget(self.prompts, 1)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # labels above: narrow
        self.prompt_text = QPlainTextEdit()
        self.prompt_text.setPlaceholderText("What the models are asked")
        self.prompt_text.setMaximumHeight(70)
        self.prompt_system = QLineEdit()
        self.prompt_system.setPlaceholderText("Optional system prompt")
        self.prompt_reference = QLineEdit()
        self.prompt_reference.setPlaceholderText("Optional: the answer you expect")
        self.prompt_reference.textChanged.connect(self._reference_changed)
        self.check_editor = CheckEditor()
        form.addRow("Prompt", self.prompt_text)
        form.addRow("System", self.prompt_system)
        form.addRow("Reference", self.prompt_reference)
        form.addRow("Checks", self.check_editor)
        layout.addLayout(form)
        edit = QHBoxLayout()
        for text, slot in (("Add prompt", self.add_prompt), ("Save prompt", self.save_prompt),
                           ("Delete prompt", self.delete_prompt)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            edit.addWidget(button)
        layout.addLayout(edit)
        # The editor scrolls rather than squeezing its fields on a short screen.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(box)
        # as wide as its fields need (the splitter never squeezes them behind the edge)
        scroll.setMinimumWidth(box.minimumSizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width())
        return scroll

    def _build_run(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(Label("<h3>Run a trial</h3>", rich=True))
        self.picker = ContenderPicker(self, minimum=1)
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
        self.status = Label("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        return box

    def _build_matrix_view(self) -> QTableView:
        table = QTableView()
        table.setModel(self.matrix)
        table.setWordWrap(True)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = table.horizontalHeader()
        header.setMinimumSectionSize(80)
        header.setStretchLastSection(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setTextElideMode(Qt.TextElideMode.ElideRight)
        line = table.fontMetrics().lineSpacing()
        table.verticalHeader().setDefaultSectionSize(line * 3 + 12)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.matrix.modelReset.connect(self._size_matrix_columns)
        return table

    def _size_matrix_columns(self) -> None:
        """The prompt column capped, the contenders sharing the rest (each at least
        :data:`CONTENDER_COLUMN_MIN_PX`; more than fit scroll sideways)."""
        header = self.table.horizontalHeader()
        columns = self.matrix.columnCount()
        if not columns:
            return
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(0, PROMPT_COLUMN_PX)
        room = self.table.viewport().width() - PROMPT_COLUMN_PX
        contenders = columns - 1
        fits = contenders * CONTENDER_COLUMN_MIN_PX <= room
        for column in range(1, columns):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch if fits
                                        else QHeaderView.ResizeMode.Interactive)
            if not fits:
                self.table.setColumnWidth(column, CONTENDER_COLUMN_MIN_PX)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._size_matrix_columns()

    def _build_board(self) -> BoardTable:
        board = BoardTable(0, len(BOARD_COLUMNS))
        board.setAccessibleName("Leaderboard")
        for column, (title, tip) in enumerate(BOARD_COLUMNS):
            item = QTableWidgetItem(title)
            item.setToolTip(tip)
            board.setHorizontalHeaderItem(column, item)
        board.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        board.setWordWrap(True)
        board.verticalHeader().hide()
        board.fit_columns()
        return board

    def _build_recommendation(self) -> QWidget:
        """The bar (its pass-rate part starts at the shared default, the ``min_pass_rate``
        setting) and the card that shows each part's verdict with its numbers."""
        box = QWidget()
        column = QVBoxLayout(box)
        form = QFormLayout()
        self.min_pass = QDoubleSpinBox()
        self.min_pass.setRange(0, 99)
        self.min_pass.setValue(float(DEFAULTS["min_pass_rate"]))
        self.min_pass.setSuffix(" % pass rate (0: not required)")
        self.min_share = QDoubleSpinBox()
        self.min_share.setRange(0, 99)
        self.min_share.setSuffix(" % votes won or tied (0: not required)")
        self.min_tps = QDoubleSpinBox()
        self.min_tps.setRange(0, 10_000)
        self.min_tps.setSuffix(f" {TOKENS_PER_S} (0: not required)")
        self.min_pass.setDecimals(0)  # whole percentages, as the setting and the CLI take them
        self.min_share.setDecimals(0)
        for spin in (self.min_pass, self.min_share, self.min_tps):
            spin.valueChanged.connect(self._show_recommendation)
        form.addRow("Bar", self.min_pass)
        form.addRow("", self.min_share)
        form.addRow("", self.min_tps)
        column.addLayout(form)
        self.recommendation = RecommendationCard(box, services=self.services)
        scroll = QScrollArea(box)  # four contenders' parts and the paired lines can be long
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.recommendation)
        column.addWidget(scroll, 1)
        self._op(lambda: get_setting(self.services.db(), "min_pass_rate"),
                 lambda value: self.min_pass.setValue(float(value or 0)), "reading the default bar")
        return box

    # operations ---------------------------------------------------------------------------

    def _op(self, func: Any, success: Any, name: str, *, key: str | None = None,
            changes: tuple[str, ...] = (), resource: str = "db") -> Job:
        """One of this page's operations: failures in the page's status line."""
        return self.services.ops.run(resource, func, name=name, initiator=self, key=key,
                                     changes=changes, success=success,
                                     failure=self.show_error)

    @property
    def busy(self) -> int:
        """This page's operations in flight, the trial run included (tests wait for 0)."""
        return self.services.ops.busy(self)

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        if changes & FOLLOWS:
            self.refresh()

    # data ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        def load() -> dict[str, Any]:
            db = self.services.db()
            return {"models": [(m.id, m.name) for m in list_models(db)],
                    "suites": list_suites(db), "trials": store.list_trials(db)}

        self._op(load, self._loaded, "loading trials", key="page")

    def _loaded(self, data: dict[str, Any]) -> None:
        self.picker.set_models(data["models"])
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
                 else "no prompts" if not counts["prompts"] and not self.summary
                 else "no trial" if not self.summary else "")
        if state:
            self.guide.setText(GUIDES[state])
            self.results_stack.setCurrentWidget(self.guide)
        else:
            self.results_stack.setCurrentWidget(self.table)
        self.run_button.setEnabled(self.job is None and bool(counts["models"])
                                   and self.suite_id is not None)

    def _suite_chosen(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        self.suite_id = item.data(Qt.ItemDataRole.UserRole)
        suite_id = self.suite_id
        self._op(lambda: get_suite(self.services.db(), suite_id), self._show_suite,
                 "loading a suite", key="suite")

    def _show_suite(self, suite: Any) -> None:
        current = self.prompts.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole).id if current is not None else None
        self.prompts.blockSignals(True)
        self.prompts.clear()
        for prompt in suite.prompts:
            item = QListWidgetItem(" ".join(prompt.prompt.split())[:70])
            item.setToolTip(prompt.prompt[:1000])
            item.setData(Qt.ItemDataRole.UserRole, prompt)
            self.prompts.addItem(item)
            if prompt.id == keep:
                self.prompts.setCurrentItem(item)
        self.prompts.blockSignals(False)
        self.counts["prompts"] = len(suite.prompts)
        self._update_guide()

    def _prompt_chosen(self, item: QListWidgetItem | None) -> None:
        prompt: SuitePrompt | None = item.data(Qt.ItemDataRole.UserRole) if item else None
        self.prompt_text.setPlainText(prompt.prompt if prompt else "")
        self.prompt_system.setText(prompt.system or "" if prompt else "")
        self.prompt_reference.setText(prompt.reference or "" if prompt else "")
        self.check_editor.set_checks(prompt.checks if prompt else [])

    def _reference_changed(self, text: str) -> None:
        self.check_editor.reference = text.strip()

    def _edited_prompt(self) -> SuitePrompt:
        """The editor's prompt with its checks as JSON objects (validated by the core in the
        worker, against the reference answer as it is now)."""
        return SuitePrompt(self.prompt_text.toPlainText().strip(),
                           self.prompt_system.text().strip() or None,
                           self.prompt_reference.text().strip() or None,
                           self.check_editor.checks())

    def new_suite(self, name: str | None = None) -> None:
        if name is None:
            name, ok = QInputDialog.getText(self, "New suite", "Name")
            if not ok:
                return
        if not name.strip():
            self.show_error("A suite needs a name.")
            return
        chosen = name.strip()
        self._op(lambda: create_suite(self.services.db(), chosen).id, self._suite_made,
                 "creating a suite", changes=("suites",))

    def _suite_made(self, suite_id: int) -> None:
        """Select the new suite when the list reloads (set here, on the GUI thread)."""
        self.suite_id = suite_id

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
        self._op(lambda: rename_suite(self.services.db(), chosen[0], new_name), None,
                 "renaming a suite", changes=("suites",))

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

        self._op(lambda: delete_suite(self.services.db(), chosen[0]), removed,
                 "deleting a suite", changes=("suites",))

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a suite", "",
                                              "Suites (*.jsonl *.csv *.txt);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        self._op(lambda: import_suite(self.services.db(), path).id, self._suite_made,
                 "importing a suite", changes=("suites",), resource="disk")

    def add_prompt(self) -> None:
        suite_id, prompt = self.suite_id, self._edited_prompt()
        if suite_id is None:
            self.show_error("Choose or create a suite first.")
            return
        if not prompt.prompt:
            self.show_error("Type the prompt first.")
            return
        self._op(lambda: add_prompt(self.services.db(), suite_id, _normalized(prompt)),
                 None, "adding a prompt", changes=("suites",))

    def save_prompt(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole).id
        prompt = self._edited_prompt()
        self._op(lambda: update_prompt(self.services.db(), prompt_id, _normalized(prompt)),
                 None, "saving a prompt", changes=("suites",))

    def delete_prompt(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole).id
        self._op(lambda: delete_prompt(self.services.db(), prompt_id), None,
                 "deleting a prompt", changes=("suites",))

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
        # A new run starts from nothing: not the previous trial's "12/12" until its first cell.
        self.progress.setRange(0, 0)  # busy until the run says how many cells
        self.cells.setText("Starting…")
        self.eta.setText("")
        self.show_status("Running…")
        self.job = self.services.ops.run(
            "engine", job, name="running a trial", initiator=self, changes=("trials",),
            progress=self._progress, failure=self.show_error,
            cancelled=lambda: self.show_status(
                "Cancelled. Finished cells are kept: Resume continues from here."),
            finished=self._finished)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    @property
    def is_running(self) -> bool:
        return self.job is not None

    def _progress(self, progress: TrialProgress) -> None:
        self.trial_id = progress.trial_id
        self._show_cells(progress.done, progress.total)
        if progress.message.startswith("judging"):
            self.cells.setText(progress.message.capitalize())
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
        if self.status.text() == "Running…":
            self.show_status("")
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

        self._op(load, self._show_results, "loading trial results", key="results")

    def _show_results(self, result: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        self.summary, self.board = result
        summary = self.summary
        self.matrix.set_summary(summary)
        if self.job is None:
            self._show_cells(summary["done"], summary["total"])
        self.resume_button.setEnabled(self.job is None and (
            summary["done"] < summary["total"] or bool(summary.get("judge_pending"))))
        self._show_board()
        self.chart_grid.set_svgs(trial_charts(summary["contenders"], chart_style()))
        self._show_recommendation()
        self._update_guide()

    def _show_board(self) -> None:
        """The leaderboard grouped by model file: a model with one settings variant is one
        row; a model with several gets a bold row and one indented row per variant, named by
        the settings in which it differs."""
        rows: list[tuple[str, str, dict[str, Any] | None]] = []
        for group in group_by_model(self.board)["models"]:
            variants = group["variants"]
            if len(variants) == 1:
                rows.append((group["model"], variants[0]["label"], variants[0]))
                continue
            rows.append((group["model"], group["model"], None))
            rows += [(f"    ↳ {v['variant'] or 'default settings'}", v["label"], v)
                     for v in variants]
        self.board_table.setRowCount(len(rows))
        bold = self.board_table.font()
        bold.setBold(True)
        for row, (title, tip, entry) in enumerate(rows):
            values: list[Any] = [title] + ([""] * (len(BOARD_COLUMNS) - 1))
            if entry is not None:
                interval = (f"{entry['low']:.0f}–{entry['high']:.0f}"
                            if entry["low"] is not None else "–")
                checked = entry.get("prompts_checked") or 0
                passed = f"{entry['pass_rate']:.0%} of {checked}" if checked else "–"
                values[1:] = [f"{entry['rating']:.0f}" if entry["rating"] else "–", interval,
                              entry["votes"], entry["won"], entry["tied"], passed]
            for column, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if column == 0:
                    item.setToolTip(tip)
                    if entry is None:
                        item.setFont(bold)
                else:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.board_table.setItem(row, column, item)
        self.board_table.fit_columns()
        self.board_table.resizeRowsToContents()

    def bar(self) -> Bar:
        def part(spin: QDoubleSpinBox, scale: float) -> float | None:
            return spin.value() / scale if spin.value() > 0 else None

        return Bar(part(self.min_pass, 100), part(self.min_share, 100), part(self.min_tps, 1))

    def _show_recommendation(self) -> None:
        if self.summary is not None:
            self.recommendation.show_recommendation(recommend(self.summary["contenders"],
                                                              self.bar()))

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

        self._op(write, lambda p: self.show_status(f"Wrote {p}"), "writing a report",
                 resource="disk")

    def show_error(self, message: str) -> None:
        """The page's one error line (plain text: a message is never read as markup)."""
        self.show_status(message, error=True)

    def show_status(self, message: str, error: bool = False) -> None:
        name = "ErrorText" if error else ""
        if self.status.objectName() != name:
            self.status.setObjectName(name)
            self.status.style().unpolish(self.status)  # the theme colours it by its name
            self.status.style().polish(self.status)
        self.status.setText(message)


def _normalized(prompt: SuitePrompt) -> SuitePrompt:
    """The editor's checks in the core's stored form (raises the core's one-line error)."""
    from workbench.trials.checks import normalize_checks

    prompt.checks = normalize_checks(prompt.checks or None, prompt.reference)
    return prompt
