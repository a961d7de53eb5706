"""Nothing the user should read is cut: every page and tab, at the smallest supported
window (1024x640), a laptop (1280x800), a desktop (1920x1080) and 4K, light look. The checker
itself is tested first on widgets that are cut on purpose, so it cannot pass by seeing
nothing."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from tests.ui.conftest import make_window
from tests.ui.layout_fit import problems, screens

SIZES = ((1024, 640), (1280, 800), (1920, 1080), (3840, 2160))


def test_the_checker_sees_a_cut_button_label_and_column(qtbot):
    root = QWidget()
    qtbot.addWidget(root)
    layout = QVBoxLayout(root)
    button = QPushButton("A button with a rather long text")
    button.setFixedWidth(60)
    label = QLabel("A single line label that will never fit here")
    label.setFixedWidth(50)
    wrapped = QLabel("A wrapped label with many words, far too many for the little "
                     "height it is given by its fixed size")
    wrapped.setWordWrap(True)
    wrapped.setFixedSize(120, 20)
    table = QTableView()
    model = QStandardItemModel(1, 2)
    model.setHorizontalHeaderLabels(["A long column header", "B"])
    table.setModel(model)
    table.setColumnWidth(0, 30)
    fine = QPushButton("OK")
    for widget in (button, label, wrapped, table, fine):
        layout.addWidget(widget)
    root.resize(400, 400)
    root.show()
    qtbot.waitExposed(root)
    found = problems(root)
    assert any("A button" in p for p in found), found
    assert any("single line" in p for p in found), found
    assert any("wrapped text needs" in p for p in found), found
    assert any("'A long column header'" in p for p in found), found
    assert not any("'OK'" in p for p in found), found
    assert not any("'B'" in p for p in found), found


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_no_page_or_tab_cuts_its_text(qtbot, services, size):
    window = make_window(qtbot, services, size)
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    qtbot.waitUntil(lambda: not window.services.tasks.running, timeout=10_000)
    found = {}
    for screen in screens(qtbot, window):
        cut = problems(window)
        if cut:
            found[screen] = cut
    window.close()
    assert not found, "\n".join(f"{screen}: {p}" for screen, cut in found.items() for p in cut)
