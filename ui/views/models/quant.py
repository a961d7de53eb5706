"""The Quantizations tab: one model's files in the library, compared with a reference file on
the same text (:mod:`workbench.quant.compare`), with progress, cancel, a table and two charts
(KL divergence and top-1 agreement against file size).

The comparison runs on the "engine" worker through the operations layer, in an engine
process of its own: a crash in llama.cpp is one line here, and Cancel stops it between two
windows of text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.tablemodels.quant import QuantTableModel
from ui.widgets.plain_label import Label
from ui.widgets.svg_chart import ChartGrid, chart_style
from workbench.library import Model, list_models
from workbench.quant.compare import (
    DEFAULT_CTX,
    MAX_CTX,
    MIN_CTX,
    QuantComparison,
    QuantProgress,
    QuantResult,
    read_text,
)
from workbench.quant.family import QuantGroup, quant_groups
from workbench.quant.inputs import file_from_library
from workbench.trials.recommend import make_bar, recommend
from workbench.trials.svg import scatter
from workbench.units import human_duration, human_size

KL_CHART = "Difference from the reference by size"
AGREE_CHART = "Same next word as the reference by size"
EXPLAIN = ("Each smaller file reads the same text as the reference (usually the largest): "
           "the less it differs and the more often it picks the same next word, the closer "
           "its answers are to the original's. Hover a column's title for what it measures.")


def quant_charts(result: QuantResult | None, style: Any) -> list[str]:
    """KL and agreement against size, one point per compared file (the reference too)."""
    if result is None:
        return [scatter(KL_CHART, [], "", "", style=style),
                scatter(AGREE_CHART, [], "", "", style=style)]
    rows = [result.reference, *[r for r in result.rows if r.path != result.reference.path]]
    kl = [(r.label, r.file_size / 1e6, r.kl_mean) for r in rows]
    agree = [(r.label, r.file_size / 1e6, r.agreement * 100) for r in rows]
    return [scatter(KL_CHART, kl, "File size (MB)", "Mean KL divergence (nats)" + (
                "" if all(r.kl_exact for r in rows) else ", at least"), style=style),
            scatter(AGREE_CHART, agree, "File size (MB)", "Same next word (%)",
                    y_max=100, style=style)]


class QuantTab(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.groups: list[QuantGroup] = []
        self.text_path: str | None = None  # None: the shipped sample
        self.job: Any = None
        #: Threads for llama.cpp (None: the engine's default); tests use one.
        self.n_threads: int | None = None
        self.result: QuantResult | None = None

        self.group = QComboBox()
        self.group.setAccessibleName("Model")
        self.group.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.reference = QComboBox()
        self.reference.setAccessibleName("Reference file")
        self.reference.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.ctx = QSpinBox()
        self.ctx.setRange(MIN_CTX, MAX_CTX)
        self.ctx.setSingleStep(64)
        self.ctx.setValue(DEFAULT_CTX)
        self.ctx.setAccessibleName("Tokens read at a time")
        self.ctx.setSuffix(" tokens")
        self.ctx.setToolTip("How much text each file sees at once (its context window) while "
                            "it is compared: longer is closer to a real chat, and slower")
        self.text_label = Label("Text: the shipped sample")
        self.text_button = QPushButton("Choose text…")
        self.sample_button = QPushButton("Use the sample")
        self.run_button = QPushButton("Compare")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Comparison progress")
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = Label("")
        self.status.setWordWrap(True)
        self.files = Label("")
        self.files.setWordWrap(True)
        self.explain = Label(EXPLAIN)
        self.explain.setWordWrap(True)
        self.explain.setObjectName("Muted")
        self.table_model = QuantTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(90)
        self.min_agreement = QSpinBox()
        self.min_agreement.setRange(50, 99)
        self.min_agreement.setValue(95)
        self.min_agreement.setSuffix(" %")
        self.min_agreement.setAccessibleName("Minimum top-1 agreement")
        self.advice = Label("")
        self.advice.setWordWrap(True)
        self.charts = ChartGrid(2)
        self.notes = Label("")
        self.notes.setWordWrap(True)
        self.notes.setObjectName("Muted")

        form = QGridLayout()
        form.addWidget(Label("Model"), 0, 0)
        form.addWidget(self.group, 0, 1)
        form.addWidget(Label("Reference"), 0, 2)
        form.addWidget(self.reference, 0, 3)
        form.addWidget(Label("Read at a time"), 0, 4)
        form.addWidget(self.ctx, 0, 5)
        form.setColumnStretch(6, 1)
        text_row = QHBoxLayout()
        text_row.addWidget(self.text_label, 1)
        text_row.addWidget(self.text_button)
        text_row.addWidget(self.sample_button)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.files)
        layout.addLayout(text_row)
        layout.addLayout(run_row)
        layout.addWidget(self.status)
        layout.addWidget(self.explain)
        layout.addWidget(self.table)
        layout.addWidget(self.notes)
        bar_row = QHBoxLayout()
        bar_row.addWidget(Label("Smallest file picking the same next word at least"))
        bar_row.addWidget(self.min_agreement)
        bar_row.addWidget(self.advice, 1)
        layout.addLayout(bar_row)
        layout.addWidget(self.charts, 1)

        self.group.currentIndexChanged.connect(self._group_chosen)
        self.text_button.clicked.connect(self.choose_text)
        self.sample_button.clicked.connect(lambda: self.set_text(None))
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.min_agreement.valueChanged.connect(self._show_advice)
        services.events.changed.connect(self._data_changed)
        self._show_result(None)
        self._update_buttons()  # nothing to compare until the library is read
        self.refresh()

    # --- the library -----------------------------------------------------------------------

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        if "library" in changes:
            self.refresh()

    def refresh(self) -> None:
        services = self.services

        def load(db: Database) -> list[QuantGroup]:
            return quant_groups(list_models(db))

        services.ops.run("db", load, name="listing quantizations", initiator=self,
                         key="groups", success=self._set_groups)

    def _set_groups(self, groups: list[QuantGroup]) -> None:
        chosen = self.group.currentData()
        self.groups = groups
        self.group.blockSignals(True)
        self.group.clear()
        for group in groups:
            self.group.addItem(group.label(), group.key)
        index = max(0, self.group.findData(chosen)) if chosen else 0
        self.group.setCurrentIndex(index)
        self.group.blockSignals(False)
        self._group_chosen()

    def current_group(self) -> QuantGroup | None:
        key = self.group.currentData()
        return next((g for g in self.groups if g.key == key), None)

    def _group_chosen(self, *_args: object) -> None:
        group = self.current_group()
        self.reference.clear()
        for model in group.models if group else []:
            self.reference.addItem(f"{model.quantization} · {model.name}", model.id)
        if group is None:
            self.files.setText("No models in the library yet: add a model's quantizations "
                               "(the same model at several sizes) to compare them.")
        elif len(group.models) < 2:
            self.files.setText(f"Only one file of {group.name} is in the library; add "
                               "another quantization of it to compare them.")
        else:
            self.files.setText("Files: " + ", ".join(
                f"{m.quantization} ({human_size(m.file_size)})" for m in group.models))
        self._update_buttons()

    def _update_buttons(self) -> None:
        group = self.current_group()
        running = self.job is not None
        self.run_button.setEnabled(not running and group is not None
                                   and len(group.models) >= 2)
        self.cancel_button.setEnabled(running)

    # --- the text --------------------------------------------------------------------------

    def choose_text(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Text to compare on", "",
                                              "Text files (*.txt *.md);;All files (*)")
        if path:
            self.set_text(path)

    def set_text(self, path: str | None) -> None:
        self.text_path = path
        self.text_label.setText(f"Text: {Path(path).name}" if path
                                else "Text: the shipped sample")

    # --- the run ---------------------------------------------------------------------------

    def chosen(self) -> tuple[Model, list[Model]] | None:
        group = self.current_group()
        if group is None or len(group.models) < 2:
            return None
        reference_id = self.reference.currentData()
        reference = next((m for m in group.models if m.id == reference_id), group.models[0])
        return reference, [m for m in group.models if m.id != reference.id]

    def start(self) -> None:
        picked = self.chosen()
        if picked is None:
            return
        reference, models = picked
        text_path, ctx = self.text_path, self.ctx.value()
        root = self.services.workspace.root
        threads = self.n_threads
        engine = self.services.engine

        def job(db: Database) -> QuantComparison:
            # On the engine worker, which owns the chat's model: freed, so two files of a
            # large model are not in memory beside it (the next chat loads it again).
            engine.unload()
            text, name = read_text(text_path)
            return QuantComparison(root, file_from_library(db, reference.id),
                                   [file_from_library(db, m.id) for m in models], text, name,
                                   ctx=ctx, n_threads=threads)

        self.progress.setRange(0, 0)
        self.services.events.model_loaded.emit(f"{reference.name} (comparing quantizations)")
        self.status.setText(f"Comparing with {reference.quantization} as the reference…")
        self.job = self.services.ops.run(
            "engine", job, name="comparing quantizations", initiator=self,
            progress=self._progress, success=self._done, failure=self._failed,
            cancelled=lambda: self.status.setText("Cancelled."), finished=self._finished)
        self._update_buttons()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _progress(self, progress: QuantProgress) -> None:
        self.progress.setRange(0, max(1, progress.total))
        self.progress.setValue(progress.done)
        self.status.setText(progress.text().capitalize())

    def _done(self, comparison: QuantComparison) -> None:
        result = comparison.result
        if result is None:
            return
        self._show_result(result)
        cached = " (the reference's numbers came from the cache)" if (
            result.reference_cached) else ""
        self.status.setText(f"Compared {len(result.rows)} file"
                            f"{'s' * (len(result.rows) != 1)} on {result.text_name}: "
                            f"{result.positions:,} positions in {human_duration(result.seconds)}"
                            f"{cached}.")

    def _failed(self, message: str) -> None:
        self.status.setText(message)

    def _finished(self) -> None:
        self.job = None
        self.services.events.model_loaded.emit("")  # the chat's model was freed for the run
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
        self._update_buttons()

    def _fit_table(self) -> None:
        """As tall as its rows (up to six), so the charts get the rest of the page."""
        header = self.table.horizontalHeader()
        for column in range(self.table_model.columnCount()):  # cells and titles both whole
            header.resizeSection(column, max(self.table.sizeHintForColumn(column),
                                             header.sectionSizeHint(column)) + 12)
        rows = min(max(self.table_model.rowCount(), 2), 6)
        height = (self.table.horizontalHeader().sizeHint().height()
                  + rows * self.table.verticalHeader().defaultSectionSize()
                  + 2 * self.table.frameWidth() + 6)
        self.table.setFixedHeight(height)

    def _show_result(self, result: QuantResult | None) -> None:
        self.result = result
        self.table_model.set_rows([result.reference, *result.rows] if result else [])
        self._fit_table()
        self.notes.setText(" ".join(f"{n[0].upper()}{n[1:]}." for n in result.notes)
                           if result else "")
        self.charts.set_svgs(quant_charts(result, chart_style()))
        self._show_advice()

    def _show_advice(self, *_args: object) -> None:
        """The recommendation's agreement part, on the numbers shown (no model runs)."""
        if self.result is None:
            self.advice.setText("")
            return
        bar = make_bar(None, min_agreement=self.min_agreement.value())
        self.advice.setText(recommend(self.result.bar_rows(), bar).reason)
