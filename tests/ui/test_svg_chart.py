"""The window shows the reports' own SVG charts: one renderer, legible at any width."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

from ui import theme
from ui.widgets.svg_chart import ChartGrid, chart_style
from workbench.trials.svg import trial_charts

PEOPLE = [
    {"label": "SmolLM2-135M-Instruct-Q8_0 · temperature 0.7", "file_size": 145e6,
     "gen_tps": {"median": 190.2}, "pass_rate": 0.75, "votes": 3, "vote_share": 2 / 3},
    {"label": "Qwen2.5-0.5B-Instruct-Q4_K_M", "file_size": 397e6,
     "gen_tps": {"median": 79.5}, "pass_rate": 0.5, "votes": 3, "vote_share": 1 / 3},
]


def test_charts_render_and_never_shrink_below_legible(qtbot):
    grid = ChartGrid(3)
    qtbot.addWidget(grid)
    grid.set_svgs(trial_charts(PEOPLE, chart_style()))
    for width in (500, 1600):
        grid.resize(width, 700)
        grid.show()
        qtbot.wait(20)
        for chart in grid.charts:
            assert chart.renderer.isValid()
            assert chart.width() >= 0.85 * 460 - 1  # letters stay at least ~9 px
    assert grid._columns == 3  # side by side when the width allows
    assert [c.accessibleName() for c in grid.charts] == [
        "Speed against size", "Pass rate against size", "Votes"]


def test_the_dark_look_gets_dark_charts(qapp):
    theme.apply_theme(QApplication.instance(), "dark")
    try:
        assert chart_style().background == theme.DARK.base
        assert f'fill="{theme.DARK.base}"' in trial_charts(PEOPLE, chart_style())[0]
    finally:
        theme.apply_theme(QApplication.instance(), "light")


def test_a_chart_on_show_follows_a_switch_to_dark(qtbot, themed):
    """Drawn light, then the user picks dark in Settings: the chart shown turns dark too (no
    white card left), its pixels included, and back again."""
    grid = ChartGrid(3)
    qtbot.addWidget(grid)
    grid.set_svgs(trial_charts(PEOPLE, chart_style()))
    grid.resize(1500, 600)
    grid.show()
    qtbot.waitExposed(grid)
    chart = grid.charts[0]
    corner = chart.grab().toImage().pixelColor(3, 3).name()
    assert corner == theme.LIGHT.base
    theme.apply_theme(QApplication.instance(), "dark")
    try:
        qtbot.wait(20)
        for each in grid.charts:
            assert "#ffffff" not in each.svg.lower()
            assert f'fill="{theme.DARK.base}"' in each.svg
        assert chart.grab().toImage().pixelColor(3, 3).name() == theme.DARK.base
        dark = trial_charts(PEOPLE, chart_style())
        assert [each.svg for each in grid.charts] == dark  # as if drawn dark from the start
    finally:
        theme.apply_theme(QApplication.instance(), "light")
    assert [each.svg for each in grid.charts] == trial_charts(PEOPLE, chart_style())


def test_qtcharts_is_gone():
    ui = Path(theme.__file__).parent
    users = [p.name for p in ui.rglob("*.py") if "QtCharts" in p.read_text(encoding="utf-8")]
    assert users == []
