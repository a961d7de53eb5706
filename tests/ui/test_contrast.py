"""Every text the window draws is readable in both looks: WCAG AA (4.5:1) for each
(foreground, background) pair the style sheet and the table models use, 3:1 for chart marks;
and no colour lives outside ui/theme.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ui import theme
from ui.tablemodels.catalog import CatalogTableModel
from ui.tablemodels.downloads import DownloadItem, DownloadsTableModel
from ui.tablemodels.hub import VERDICT_COLOURS
from ui.widgets.svg_chart import chart_style
from workbench.catalog import load_catalog

LOOKS = {"light": theme.LIGHT, "dark": theme.DARK}
AA = 4.5
UI = Path(theme.__file__).parent


def role_of(colors: theme.Colors, value: str) -> str:
    return next(name for name, v in colors.__dict__.items() if v == value)


def test_the_contrast_formula_matches_wcag():
    assert theme.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert theme.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert theme.contrast("#ffffff", "#5b8cff") < AA  # the old dark Send button, 3.2:1


@pytest.mark.parametrize("look", LOOKS)
def test_every_declared_text_pair_reaches_aa(look):
    colors = LOOKS[look]
    low = [(fg, bg, round(theme.contrast(getattr(colors, fg), getattr(colors, bg)), 2))
           for fg, bg in theme.TEXT_PAIRS
           if theme.contrast(getattr(colors, fg), getattr(colors, bg)) < AA]
    assert not low, f"{look}: below 4.5:1: {low}"


def style_rules() -> list[tuple[str, dict[str, str]]]:
    """(selector, {property: role}) for each rule of the theme's style sheet template."""
    rules = []
    for selector, body in re.findall(r"([^{}]+)\{\{(.*?)\}\}", theme.STYLE, re.S):
        props = dict(re.findall(r"([\w-]+)\s*:\s*[^;{}]*?\{(\w+)\}", body))
        rules.append((" ".join(selector.split()), props))
    return rules


def test_the_style_sheet_pairs_are_all_declared():
    """A rule that sets both a text colour and a background is one of the checked pairs; a
    rule that sets only a text colour uses a role checked on every common background."""
    declared = set(theme.TEXT_PAIRS)
    foregrounds = {fg for fg, _ in declared}
    rules = style_rules()
    assert len(rules) > 30  # the parser saw the sheet
    for selector, props in rules:
        fg = props.get("color")
        bg = props.get("background")
        if fg and bg:
            assert (fg, bg) in declared, f"{selector}: {fg} on {bg} is not in TEXT_PAIRS"
        elif fg:
            assert fg in foregrounds, f"{selector}: {fg} is never checked"


@pytest.mark.parametrize("look", LOOKS)
def test_table_model_colours_read_on_their_rows(qapp, look):
    """The colours the table models return, read from real models, on plain and
    alternate rows (and the text on a coloured cell)."""
    theme.apply_theme(QApplication.instance(), look)
    try:
        colors = LOOKS[look]
        rows = (colors.base, colors.alt)
        catalog = CatalogTableModel(memory_bytes=8 * 2**30)
        entries = load_catalog()
        catalog.set_rows(entries)
        catalog.in_library = {entries[0].file}
        column = catalog.column_index("Fits")
        seen = set()
        for row in range(catalog.rowCount()):
            colour = catalog.index(row, column).data(Qt.ItemDataRole.ForegroundRole)
            seen.add(colour.name())
        downloads = DownloadsTableModel()
        for state in ("failed", "done", "downloading"):
            downloads.add(DownloadItem("org/repo", f"{state}.gguf", state=state))
        column = downloads.column_index("Status")
        for row in range(downloads.rowCount()):
            colour = downloads.index(row, column).data(Qt.ItemDataRole.ForegroundRole)
            if colour is not None:
                seen.add(colour.name())
        seen |= {theme.role_color(role).name() for role in VERDICT_COLOURS.values()}
        assert len(seen) >= 4
        for colour in seen:
            for background in rows:
                ratio = theme.contrast(colour, background)
                assert ratio >= AA, (f"{look}: {role_of(colors, colour)} on "
                                     f"{role_of(colors, background)}: {ratio:.2f}")
        for cell in ("ok_bg", "fail_bg"):
            assert theme.contrast(colors.text, getattr(colors, cell)) >= AA
    finally:
        theme.apply_theme(QApplication.instance(), "light")


@pytest.mark.parametrize("look", LOOKS)
def test_chart_colours(qapp, look):
    theme.apply_theme(QApplication.instance(), look)
    try:
        style = chart_style()
        assert style.background == LOOKS[look].base
        for text in (style.text, style.muted):
            assert theme.contrast(text, style.background) >= AA
        for mark in style.series:
            assert theme.contrast(mark, style.background) >= 3.0, mark
    finally:
        theme.apply_theme(QApplication.instance(), "light")


@pytest.mark.parametrize("look", LOOKS)
def test_check_box_edges_show(qtbot, look):
    """The Blind / Run together check boxes: the box's drawn edge against the window around
    it and the box's own fill, read from the pixels, at least 3:1 (WCAG non-text)."""
    from PySide6.QtWidgets import QCheckBox, QStyle, QStyleOptionButton, QVBoxLayout, QWidget

    theme.apply_theme(QApplication.instance(), look)
    try:
        holder = QWidget()
        qtbot.addWidget(holder)
        layout = QVBoxLayout(holder)
        boxes = [QCheckBox("Blind"), QCheckBox("Run together")]
        boxes[1].setChecked(True)
        for box in boxes:
            layout.addWidget(box)
        holder.show()
        qtbot.waitExposed(holder)
        image = holder.grab().toImage()
        for box in boxes:
            option = QStyleOptionButton()
            option.initFrom(box)
            rect = box.style().subElementRect(
                QStyle.SubElement.SE_CheckBoxIndicator, option, box).translated(box.pos())
            y = rect.center().y()
            edge = image.pixelColor(rect.left(), y).name()
            outside = image.pixelColor(rect.left() - 2, y).name()
            inside = image.pixelColor(rect.left() + 3, rect.top() + 3).name()
            assert outside == LOOKS[look].window
            assert theme.contrast(edge, outside) >= 3.0, (look, edge, outside)
            assert theme.contrast(edge, inside) >= 3.0, (look, edge, inside)
    finally:
        theme.apply_theme(QApplication.instance(), "light")


def test_no_colour_outside_the_theme():
    hex_colour = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b|QColor\(\s*\d")
    found = []
    for path in UI.rglob("*.py"):
        if path.name == "theme.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if hex_colour.search(line):
                found.append(f"{path.relative_to(UI.parent)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
