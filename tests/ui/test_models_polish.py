"""The Models page as a first-time user reads it: no number cut in the Library at 1024x640 and
every cut cell whole in its tooltip; the model's Settings and the Library say the same about
its chat template; the Quantizations tab explains itself in plain words."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from tests.ui.conftest import make_window
from ui.tablemodels.quant import DIFFERENCE, SAME_WORD, WORST, QuantTableModel
from workbench.library import add_model

WAIT_MS = 30_000


def library_tab(qtbot, services, size):  # type: ignore[no-untyped-def]
    window = make_window(qtbot, services, size)
    window.show_page("Models")
    tab = window.page_widgets["Models"].library
    qtbot.waitUntil(lambda: tab.busy == 0 and tab.table_model.rowCount() >= 2, timeout=WAIT_MS)
    qtbot.wait(50)  # the columns fit after the rows came
    return window, tab


def test_library_numbers_whole_and_cut_cells_in_tooltips(qtbot, services, no_template_model):
    add_model(services.workspace.db, no_template_model)  # a base model: a long "Kind"
    window, tab = library_tab(qtbot, services, (1024, 640))
    table = tab.table
    model = table.model()
    cut = []
    for row in range(model.rowCount()):
        for column in range(model.columnCount()):
            index = model.index(row, column)
            if table.isColumnHidden(column):
                continue
            numeric = model.headerData(column, Qt.Orientation.Horizontal,
                                       Qt.ItemDataRole.TextAlignmentRole)
            if numeric is not None and Qt.AlignmentFlag(numeric) & Qt.AlignmentFlag.AlignRight:
                assert not table.is_cut(index), f"a number is cut: {index.data()}"
            if table.is_cut(index):
                cut.append(index)
    assert cut, "at 1024x640 some text cell (the base model's Kind) is cut"
    for index in cut:
        assert table.cell_tooltip(index).startswith(str(index.data()))
    # The real tooltip, as hovering shows it.
    index = cut[0]
    centre = table.visualRect(index).center()
    qtbot.mouseMove(table.viewport(), centre)
    event = QHelpEvent(QHelpEvent.Type.ToolTip, centre, table.viewport().mapToGlobal(centre))
    QApplication.sendEvent(table.viewport(), event)
    assert QToolTip.text().startswith(str(index.data()))
    # A cell that fits gets no tooltip of its own text.
    whole = next(model.index(r, c) for r in range(model.rowCount())
                 for c in range(model.columnCount())
                 if not table.isColumnHidden(c) and model.index(r, c).data()
                 and not table.is_cut(model.index(r, c))
                 and not model.index(r, c).data(Qt.ItemDataRole.ToolTipRole))
    assert table.cell_tooltip(whole) == ""
    window.close()


def test_settings_and_library_agree_on_the_template(qtbot, services, no_template_model):
    add_model(services.workspace.db, no_template_model)
    window, tab = library_tab(qtbot, services, (1280, 800))
    for row in range(tab.table_model.rowCount()):
        model = tab.table_model.row_at(row)
        tab.table.selectRow(tab.table.model().mapFromSource(
            tab.table_model.index(row, 0)).row())
        qtbot.waitUntil(lambda m=model: tab.selected_model() == m)
        qtbot.mouseClick(tab.details.settings_button, Qt.MouseButton.LeftButton)
        dialog = tab.settings_dialog
        auto = dialog.template.itemText(0)
        facts = [tab.details.form.itemAt(i).widget() for i in range(tab.details.form.count())]
        said = [w.text().replace("\u200b", "") for w in facts if hasattr(w, "text")]
        if model.has_chat_template:
            assert auto == "Auto (the file's own template)"
        else:
            assert "guessed" in auto and "own template" not in auto
        assert model.template_note in said, said  # the Library says the same words
        dialog.reject()
    window.close()


def test_quantization_headers_are_plain_with_tooltips(qtbot, services):
    table = QuantTableModel()
    titles = [table.headerData(c, Qt.Orientation.Horizontal) for c in range(table.columnCount())]
    assert not any("KL" in title or "Top-1" in title for title in titles), titles
    for title, measure in ((DIFFERENCE, "mean KL"), (WORST, "KL p99"), (SAME_WORD, "top-1")):
        tip = table.headerData(table.column_index(title), Qt.Orientation.Horizontal,
                               Qt.ItemDataRole.ToolTipRole)
        assert measure in tip and ("lower is better" in tip.lower()
                                   or "higher is better" in tip.lower()), tip
    window = make_window(qtbot, services, (1024, 640))
    window.show_page("Models")
    page = window.page_widgets["Models"]
    page.tabs.setCurrentWidget(page.quantizations)
    quant = page.quantizations
    qtbot.waitUntil(lambda: quant.explain.isVisible())
    assert quant.explain.y() < quant.table.y()  # the explanation is above the table
    assert "reference" in quant.explain.text()
    assert quant.ctx.suffix() == " tokens" and quant.ctx.toolTip()
    window.close()
