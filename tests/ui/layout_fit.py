"""What a person would see as "cut": a visible label or button whose text is wider than the
space it gets, a wrapped label shorter than its text (or sticking out of its container), a
table column narrower than its header, a tab whose title does not fit. Used by
test_layout_fit.py on every page and tab, and by the screenshot test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from PySide6.QtCore import QRect
from PySide6.QtGui import Qt, QTextDocument  # QtGui's Qt has mightBeRichText
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QCheckBox,
    QLabel,
    QPushButton,
    QRadioButton,
    QTabBar,
    QTableView,
    QToolButton,
    QWidget,
)

SLACK = 2  # pixels of rounding


def _name(widget: QWidget) -> str:
    text = ""
    if isinstance(widget, (QLabel, QAbstractButton)):
        text = widget.text()
    title = widget.accessibleName() or widget.objectName() or type(widget).__name__
    return f"{type(widget).__name__} {title!r} {text[:60]!r}"


def _shown(widget: QWidget) -> bool:
    return widget.isVisible() and widget.width() > 0 and widget.height() > 0


def _text_width(label: QLabel) -> int:
    text = label.text()
    if label.textFormat() == Qt.TextFormat.RichText or (
            label.textFormat() == Qt.TextFormat.AutoText and Qt.mightBeRichText(text)):
        document = QTextDocument()
        document.setDefaultFont(label.font())
        document.setDocumentMargin(0)
        document.setHtml(text)
        return int(document.idealWidth())
    return max((label.fontMetrics().horizontalAdvance(line) for line in text.split("\n")),
               default=0)


def _visible_in_parent(widget: QWidget) -> QRect | None:
    """The part of the widget its parent really shows, unless the parent scrolls it."""
    parent = widget.parentWidget()
    if parent is None or isinstance(parent.parentWidget(), QAbstractScrollArea):
        return None
    return parent.rect().intersected(widget.geometry())


def label_problems(label: QLabel) -> Iterator[str]:
    if not label.text() or label.pixmap() is not None and not label.pixmap().isNull():
        return
    if hasattr(label, "full_text"):  # an eliding label: shortening is its job
        return
    space = label.contentsRect()
    if label.wordWrap():
        need = label.heightForWidth(label.width())
        if need > label.height() + SLACK:
            yield f"{_name(label)}: wrapped text needs {need} px, has {label.height()}"
        shown = _visible_in_parent(label)
        if shown is not None and shown.height() + SLACK < label.height():
            yield (f"{_name(label)}: cut by its container ({shown.height()} of "
                   f"{label.height()} px shown)")
        # one word longer than the line cannot wrap: it is cut at the edge
        # (Qt breaks lines at spaces, zero-width spaces and after "-" and "/", not at ".")
        words = ([] if Qt.mightBeRichText(label.text())
                 else re.split(r"[\s\u200b]+|(?<=[-/])", label.text()))
        longest = max((label.fontMetrics().horizontalAdvance(w) for w in words), default=0)
        if longest > space.width() + SLACK:
            yield f"{_name(label)}: a word is {longest} px wide, the line {space.width()}"
    else:
        need = _text_width(label)
        if need > space.width() + SLACK:
            yield f"{_name(label)}: text is {need} px wide, has {space.width()}"


def button_problems(button: QAbstractButton) -> Iterator[str]:
    text = button.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
    if not text:
        return
    need = button.fontMetrics().horizontalAdvance(text)
    if not button.icon().isNull():
        need += button.iconSize().width() + 4
    if isinstance(button, (QCheckBox, QRadioButton)):
        need = button.sizeHint().width()  # indicator, spacing and text, as the style draws
    elif isinstance(button, QPushButton) and button.menu() is not None:
        need += 14
    elif isinstance(button, (QPushButton, QToolButton)):
        need += 8  # the least padding and border a button draws around its text
    if need > button.width() + SLACK:
        yield f"{_name(button)}: text needs {need} px, has {button.width()}"


def table_problems(table: QTableView) -> Iterator[str]:
    header = table.horizontalHeader()
    model = table.model()
    if model is None or header.isHidden():
        return
    metrics = header.fontMetrics()
    for column in range(model.columnCount()):
        if header.isSectionHidden(column):
            continue
        title = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
        need = metrics.horizontalAdvance(title) + 12
        if header.sectionSize(column) + SLACK < need:
            yield (f"{_name(table)}: column {title!r} is {header.sectionSize(column)} px, "
                   f"its header needs {need}")


def tab_problems(bar: QTabBar) -> Iterator[str]:
    for index in range(bar.count()):
        if not bar.isTabVisible(index):
            continue
        need = bar.fontMetrics().horizontalAdvance(bar.tabText(index)) + 8
        if bar.tabRect(index).width() + SLACK < need:
            yield f"{_name(bar)}: tab {bar.tabText(index)!r} is cut"


def problems(root: QWidget) -> list[str]:
    """Everything cut in the visible part of ``root`` (hidden widgets do not count)."""
    found: list[str] = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not _shown(widget):
            continue
        if isinstance(widget, QLabel):
            found += label_problems(widget)
        elif isinstance(widget, QAbstractButton) and not isinstance(widget, QTabBar):
            if widget.parentWidget() is not None and isinstance(widget.parentWidget(), QTabBar):
                continue  # a tab bar's scroll buttons
            found += button_problems(widget)
        elif isinstance(widget, QTableView):
            found += table_problems(widget)
        elif isinstance(widget, QTabBar):
            found += tab_problems(widget)
    return found


def screens(qtbot, window) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Show every page of the window and every tab of each page in turn, yielding a name
    for each screen ("models-discover"); the caller looks at the window meanwhile."""
    from PySide6.QtWidgets import QTabWidget

    from ui.main_window import NAV

    for page_name in NAV:
        window.show_page(page_name)
        page = window.page_widgets[page_name]
        qtbot.wait(60)
        tab_widgets = [t for t in page.findChildren(QTabWidget) if t.isVisibleTo(page)]
        if not tab_widgets:
            yield page_name.lower()
            continue
        tabs = tab_widgets[0]
        for index in range(tabs.count()):
            tabs.setCurrentIndex(index)
            qtbot.wait(60)
            label = tabs.tabText(index).lower().replace(" ", "-")
            yield f"{page_name.lower()}-{label}"
        tabs.setCurrentIndex(0)
