"""The Trials page's charts tab: speed against size, pass rate against size, votes won.

Kept apart from the page so the one chart renderer the window and the reports share can
replace this module alone (the reports draw the same charts as SVG in
``workbench/trials/svg.py``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QScatterSeries,
    QValueAxis,
)
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QWidget


def make_chart(title: str, points: list[tuple[str, float, float]], x_title: str,
               y_title: str, y_max: float | None = None) -> QChart:
    """Scatter plot, one series per contender so the legend names them."""
    chart = QChart()
    chart.setTitle(title)
    x_axis, y_axis = QValueAxis(), QValueAxis()
    x_axis.setTitleText(x_title)
    x_axis.setLabelFormat("%.0f")
    y_axis.setLabelFormat("%.0f")
    y_axis.setTitleText(y_title)
    chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
    chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
    for label, x, y in points:
        series = QScatterSeries()
        series.setName(label[:40])
        series.append(x, y)
        chart.addSeries(series)
        series.attachAxis(x_axis)
        series.attachAxis(y_axis)
    if points:
        xs, ys = [p[1] for p in points], [p[2] for p in points]
        x_axis.setRange(min(xs) * 0.8, max(xs) * 1.2 or 1)
        y_axis.setRange(0, y_max if y_max is not None else (max(ys) * 1.2 or 1))
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    return chart


def votes_chart(rows: list[dict[str, Any]]) -> QChart:
    chart = QChart()
    chart.setTitle("Votes won, tied and lost")
    won, tied, lost = QBarSet("won"), QBarSet("tied"), QBarSet("lost or bad")
    names = []
    for row in rows[:8]:
        if not row["votes"]:
            continue
        names.append(row["label"][:24])
        won.append(row["won"])
        tied.append(row["tied"])
        lost.append(row["votes"] - row["won"] - row["tied"])
    series = QBarSeries()
    for bar_set in (won, tied, lost):
        series.append(bar_set)
    chart.addSeries(series)
    axis = QBarCategoryAxis()
    axis.append(names)
    chart.addAxis(axis, Qt.AlignmentFlag.AlignBottom)
    series.attachAxis(axis)
    values = QValueAxis()
    values.setLabelFormat("%d")
    chart.addAxis(values, Qt.AlignmentFlag.AlignLeft)
    series.attachAxis(values)
    return chart


class TrialCharts(QWidget):
    """Three charts side by side; :meth:`show_trial` draws them from the trial's summary."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        self.chart_views = [QChartView() for _ in range(3)]
        for view in self.chart_views:
            view.setRenderHint(QPainter.RenderHint.Antialiasing)
            layout.addWidget(view)

    def show_trial(self, summary: dict[str, Any], board: list[dict[str, Any]]) -> None:
        people = summary["contenders"]
        self.chart_views[0].setChart(make_chart(
            "Speed against size", [(c["label"], c["file_size"] / 1e6, c["gen_tps"]["median"])
                                   for c in people if c["gen_tps"]["median"]],
            "file size (MB)", "tokens/s"))
        self.chart_views[1].setChart(make_chart(
            "Pass rate against size", [(c["label"], c["file_size"] / 1e6, c["pass_rate"] * 100)
                                       for c in people if c["pass_rate"] is not None],
            "file size (MB)", "pass rate (%)", y_max=100))
        self.chart_views[2].setChart(votes_chart(board))
