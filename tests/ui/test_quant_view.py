"""The Quantizations tab on the real test model and a Q2_K made from it: the library's files of
one model listed, a comparison run with progress to a table and two charts, a cancel, and
screenshots of the tab in both looks."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from quant_made import requantize

from tests.ui.conftest import make_window
from tests.ui.layout_fit import problems
from ui import theme
from ui.tablemodels.quant import DIFFERENCE, SAME_WORD
from ui.views.models.quant import AGREE_CHART, KL_CHART, QuantTab
from workbench.library import add_model
from workbench.quant.compare import sample_text

WAIT_MS = 180_000
CTX = 64


@pytest.fixture(scope="module")
def q2k(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return requantize(model_path,
                      tmp_path_factory.mktemp("quant") / "SmolLM2-135M-Instruct.Q2_K.gguf")


@pytest.fixture
def quant_services(services, q2k):  # type: ignore[no-untyped-def]
    add_model(services.workspace.db, q2k)
    return services


def _tab(qtbot, services) -> QuantTab:  # type: ignore[no-untyped-def]
    tab = QuantTab(services)
    qtbot.addWidget(tab)
    tab.resize(1280, 800)
    tab.show()
    qtbot.waitUntil(lambda: tab.group.count() > 0, timeout=10_000)
    tab.n_threads = 1
    tab.ctx.setValue(CTX)
    return tab


def _short_text(tmp_path: Path) -> str:
    path = tmp_path / "text.txt"
    path.write_text(sample_text()[:1400], encoding="utf-8")
    return str(path)


def test_lists_runs_and_charts(qtbot, quant_services, tmp_path: Path) -> None:
    early = QuantTab(quant_services)
    qtbot.addWidget(early)
    assert not early.run_button.isEnabled()  # until the library is read
    tab = _tab(qtbot, quant_services)
    assert tab.group.currentText() == "SmolLM2-135M-Instruct (2 files)"
    assert [tab.reference.itemText(i).split(" · ")[0] for i in range(tab.reference.count())] \
        == ["Q4_1", "Q2_K"]  # largest first: the usual reference
    assert tab.run_button.isEnabled() and not tab.cancel_button.isEnabled()
    tab.set_text(_short_text(tmp_path))
    tab.start()
    assert tab.cancel_button.isEnabled() and not tab.run_button.isEnabled()
    qtbot.waitUntil(lambda: tab.progress.maximum() > 1 or tab.job is None, timeout=WAIT_MS)
    total = tab.progress.maximum()
    qtbot.waitUntil(lambda: tab.job is None, timeout=WAIT_MS)
    assert tab.result is not None, tab.status.text()
    assert tab.progress.value() == tab.progress.maximum() == total
    table = tab.table_model
    assert table.rowCount() == 2
    assert table.cell(0, SAME_WORD) == "reference"
    assert table.cell(1, "Quantization") == "Q2_K"
    assert float(table.cell(1, DIFFERENCE)) > 0
    assert "%" in table.cell(1, SAME_WORD)
    kl_chart, agree_chart = (chart.svg for chart in tab.charts.charts)
    assert KL_CHART in kl_chart and kl_chart.count("<title>") == 2
    assert AGREE_CHART in agree_chart and agree_chart.count("<title>") == 2
    assert "Compared 1 file" in tab.status.text()
    tab.min_agreement.setValue(99)  # Q2_K of a 135M model agrees far less often
    assert "No contender meets the bar (top-1 agreement ≥ 99%)" in tab.advice.text()
    assert tab.run_button.isEnabled() and not tab.cancel_button.isEnabled()


def test_cancel_stops_between_windows(qtbot, quant_services) -> None:
    tab = _tab(qtbot, quant_services)  # the shipped sample: many windows of 64 tokens
    tab.start()
    qtbot.waitUntil(lambda: tab.progress.value() >= 1 or tab.job is None, timeout=WAIT_MS)
    tab.cancel()
    qtbot.waitUntil(lambda: tab.job is None, timeout=60_000)
    assert tab.result is None and tab.status.text() == "Cancelled."
    assert tab.progress.value() < tab.progress.maximum()
    assert tab.run_button.isEnabled()


def test_screenshots(qtbot, quant_services, screenshot_dir, tmp_path: Path) -> None:
    window = make_window(qtbot, quant_services, (1280, 800))
    window.show_page("Models")
    page = window.page_widgets["Models"]
    tab = page.quantizations
    page.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.run_button.isEnabled(), timeout=10_000)
    tab.n_threads = 1
    tab.ctx.setValue(CTX)
    tab.set_text(_short_text(tmp_path))
    tab.start()
    qtbot.waitUntil(lambda: tab.job is None, timeout=WAIT_MS)
    assert tab.result is not None, tab.status.text()
    for look in ("light", "dark"):
        theme.apply_theme(QApplication.instance(), look)
        tab._show_result(tab.result)  # charts take the look's colours when drawn
        qtbot.wait(150)
        assert window.grab().save(str(screenshot_dir / f"models-quantizations-{look}-1280x800.png"))
    theme.apply_theme(QApplication.instance(), "light")
    tab._show_result(tab.result)
    for size in ((1280, 800), (1024, 640)):  # nothing cut with a result shown
        window.resize(*size)
        qtbot.wait(120)
        assert not problems(window), problems(window)
    window.close()


def test_a_lower_bound_difference_reads_at_least_and_says_why(qtbot) -> None:
    """Exact and lower-bound KL side by side in the table: only the bound carries "≥", and
    each figure's tooltip says which it is."""
    from PySide6.QtCore import Qt

    from ui.tablemodels.quant import WORST, QuantTableModel
    from workbench.quant.results import QuantRow

    def row(label: str, exact: bool) -> QuantRow:
        return QuantRow(label, f"/m/{label}.gguf", 100, label, False, 0.1234, 0.5, 0.9, 70,
                        100, 12.0, 1.1, None, 0.6, 0.8, kl_exact=exact)

    table = QuantTableModel()
    table.set_rows([row("Q8_0", True), row("Q2_K", False)])
    assert table.cell(0, DIFFERENCE) == "0.1234" and table.cell(0, WORST) == "0.500"
    assert table.cell(1, DIFFERENCE) == "≥0.1234" and table.cell(1, WORST) == "≥0.500"
    tip = [table.index(r, table.column_index(DIFFERENCE)).data(Qt.ItemDataRole.ToolTipRole)
           for r in range(2)]
    assert tip[0].startswith("Exact") and tip[1].startswith("At least this")
