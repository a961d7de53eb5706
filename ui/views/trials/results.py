"""The trials page's results: the matrix, the leaderboard, the recommendation against a
bar, the charts and the report export, for the trial chosen.

A part of :class:`~ui.views.trials.page.TrialsPage`, not a widget of its own: it builds its
tabs on the page and reads the page's state (``trial_id``, ``summary``, ``board``, ``job``),
runs its work through the page's operations (``_op``) and reports in the page's status line,
so the page (and its tests) reach the tables and the bar as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHeaderView,
    QScrollArea,
    QTableView,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.views.trials.recommendation_card import RecommendationCard
from ui.views.trials.tables import (
    BOARD_COLUMNS,
    CONTENDER_COLUMN_MIN_PX,
    PROMPT_COLUMN_PX,
    BoardTable,
)
from ui.views.trials.words import contender_in_words, settings_in_words
from ui.widgets.plain_label import Label
from ui.widgets.svg_chart import chart_style
from workbench.settings import DEFAULTS, get_setting
from workbench.trials import report
from workbench.trials.recommend import Bar, recommend
from workbench.trials.results import group_by_model, leaderboard, trial_summary
from workbench.trials.svg import trial_charts
from workbench.units import TOKENS_PER_S


class ResultsPart:
    """The chosen trial's results in tabs, and its report (a part of the page)."""

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
        # over documents: recall@k and MRR per contender, so a failure reads as the
        # retrieval's or the model's (hidden for plain trials)
        self.retrieval = Label("")
        self.retrieval.setAccessibleName("Retrieval")
        self.retrieval.setTextFormat(Qt.TextFormat.PlainText)
        self.retrieval.setWordWrap(True)
        self.retrieval.hide()
        column.addWidget(self.retrieval)
        self.recommendation = RecommendationCard(box, services=self.services)
        scroll = QScrollArea(box)  # four contenders' parts and the paired lines can be long
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.recommendation)
        column.addWidget(scroll, 1)
        self._op(lambda db: get_setting(db, "min_pass_rate"),
                 lambda value: self.min_pass.setValue(float(value or 0)), "reading the default bar")
        return box


    def _trial_chosen(self, index: int) -> None:
        trial_id = self.trials.itemData(index)
        if trial_id is None:
            return
        self.trial_id = trial_id
        self._load_results(trial_id)

    def _load_results(self, trial_id: int) -> None:
        """The trial's matrix, leaderboard, recommendation and charts (also while it runs:
        the newest load supersedes an older one)."""
        def load(db: Database) -> tuple[dict[str, Any], list[dict[str, Any]]]:
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
        # the legend names each contender with its settings in words, not KEY=VALUE
        named = [{**c, "label": contender_in_words(c)} for c in summary["contenders"]]
        self.chart_grid.set_svgs(trial_charts(named, chart_style()))
        self._show_recommendation()
        lines = report.retrieval_lines(summary)
        self.retrieval.setText("\n".join(lines))
        self.retrieval.setVisible(bool(lines))
        self._update_guide()

    def _show_board(self) -> None:
        """The leaderboard grouped by model file: a model with one settings variant is one
        row; a model with several gets a bold row and one indented row per variant, named by
        the settings in which it differs."""
        rows: list[tuple[str, str, dict[str, Any] | None]] = []
        for group in group_by_model(self.board)["models"]:
            variants = group["variants"]
            if len(variants) == 1:
                rows.append((group["model"], contender_in_words(variants[0]), variants[0]))
                continue
            rows.append((group["model"], group["model"], None))
            rows += [(f"    ↳ {_variant_words(v)}", contender_in_words(v), v)
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

        def write(db: Database) -> str:
            make = report.trial_markdown if fmt == "md" else report.trial_html
            Path(path).write_text(make(db, trial_id, bar), encoding="utf-8")
            return path

        self._op(write, self._report_written, "writing a report", resource="disk")

    def _report_written(self, path: str) -> None:
        """"Wrote trial-1.html" with Open beside it (the full path in the tooltip)."""
        self.report_path = path
        self.show_status(f"Wrote {Path(path).name}")
        self.status.setToolTip(path)
        self.open_report_button.show()

    def open_report(self) -> None:
        """The report last written, in the system's viewer (a browser for HTML)."""
        if self.report_path is None:
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(self.report_path)):
            self.show_error(f"Could not open {self.report_path}: no program opens it.")


def _variant_words(row: dict[str, Any]) -> str:
    """A leaderboard sub-row's settings in words; its stored variant label without them."""
    settings = row.get("settings")
    return settings_in_words(settings) if settings is not None else (
        row.get("variant") or "default settings")
