"""Small widgets the Models tabs share: the one-line message bar, tables, badges.

Errors reach the user as one line in the tab where they happened (never a dialog that blocks,
never a traceback), so every tab has a :class:`MessageBar` and every job's ``on_error`` goes to
it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QHelpEvent, QPalette, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QToolButton,
    QToolTip,
    QWidget,
)

from ui.tablemodels.base import SORT_ROLE, RowTableModel
from ui.widgets.plain_label import Label


class MessageBar(QFrame):
    """One line of news for the user: an error, a note, a success. Hidden when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.kind = ""
        self._label = Label()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.clear)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(close)
        self.hide()

    def text(self) -> str:
        return self._label.text() if self.isVisibleTo(self.parentWidget()) else ""

    def show_message(self, text: str, kind: str = "info") -> None:
        # Only the first line: a message is a sentence, not a report.
        self.kind = kind
        self._label.setText(text.strip().splitlines()[0] if text.strip() else "")
        # The theme's style sheet colours each kind (``#messageBar[kind="error"]``); a
        # dynamic property needs a re-polish to be seen.
        self.setProperty("kind", kind if kind in ("error", "ok") else "info")
        for widget in (self, self._label):
            widget.style().unpolish(widget)
            widget.style().polish(widget)
        self.show()

    def show_error(self, text: str) -> None:
        self.show_message(text, "error")

    def show_info(self, text: str) -> None:
        self.show_message(text, "info")

    def show_ok(self, text: str) -> None:
        self.show_message(text, "ok")

    def clear(self) -> None:
        self.kind = ""
        self._label.clear()
        self.hide()


class FitTable(QTableView):
    """A table whose columns fit the view: each column as wide as its header and contents
    but at most :attr:`CAP` px (longer text is elided, with a tooltip), and the ``stretch``
    column taking what is left, never less than :attr:`STRETCH_MIN` px or its header. Only
    when even that does not fit does a horizontal scroll bar appear. A number (a right-aligned
    column: a size, a count) is never cut: its column keeps its widest value. A cell whose
    text is cut says it whole in its tooltip (:meth:`cell_tooltip`)."""

    CAP = 240
    STRETCH_MIN = 200
    SAMPLE_ROWS = 60  # content widths are measured on the first rows only: bounded work

    def __init__(self, stretch: int | None = None, optional: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.stretch = stretch
        #: columns that may go, first ones first, when even their headers do not fit (what
        #: they say is in the details panel beside the table)
        self.optional = optional
        self._fitting = False
        # Changes come in bursts (a reset, then rows): fit once, after them, when shown.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.fit_columns)

    def setModel(self, model: Any) -> None:  # noqa: N802 (Qt's name)
        super().setModel(model)
        for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved,
                       model.layoutChanged):
            signal.connect(self._timer.start)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.fit_columns()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self._timer.start()

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = self.cell_tooltip(self.indexAt(event.pos()))
            if tip:
                QToolTip.showText(event.globalPos(), tip, self.viewport(),
                                  self.visualRect(self.indexAt(event.pos())))
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    def is_cut(self, index: QModelIndex) -> bool:
        """Whether the cell's text is wider than its column (it shows with "…")."""
        text = index.data() if index.isValid() else None
        if not text:
            return False
        room = self.visualRect(index).width() - 2 * (self.style().pixelMetric(
            self.style().PixelMetric.PM_FocusFrameHMargin, None, self) + 1)
        return self.fontMetrics().horizontalAdvance(str(text)) > room

    def cell_tooltip(self, index: QModelIndex) -> str:
        """The cell's own tooltip; a cut cell's whole text first."""
        if not index.isValid():
            return ""
        own = index.data(Qt.ItemDataRole.ToolTipRole)
        own = str(own) if own else ""
        if self.is_cut(index):
            text = str(index.data())
            return text if not own or own == text else f"{text}\n{own}"
        return own

    def fit_columns(self, *_: object) -> None:
        model = self.model()
        if model is None or self._fitting or not self.isVisible():
            return
        self._fitting = True
        try:
            self._fit(model)
        finally:
            self._fitting = False

    def _content_width(self, model: Any, column: int) -> int:
        """The widest of the first rows' texts (font metrics only: no delegate, no style)."""
        metrics = self.fontMetrics()
        widest = 0
        for row in range(min(model.rowCount(), self.SAMPLE_ROWS)):
            text = model.index(row, column).data()
            if text:
                widest = max(widest, metrics.horizontalAdvance(str(text)))
        return widest + 16

    def _fit(self, model: Any) -> None:
        header = self.horizontalHeader()
        fixed = QHeaderView.ResizeMode.Fixed
        metrics = header.fontMetrics()
        widths: dict[int, int] = {}
        floors: dict[int, int] = {}
        for column in range(model.columnCount()):
            if header.sectionResizeMode(column) == fixed:
                widths[column] = floors[column] = header.sectionSize(column)
                continue
            title = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
            floors[column] = metrics.horizontalAdvance(title) + 24  # the header text, whole
            content = self._content_width(model, column)
            want = max(header.sectionSizeHint(column), content) + 8
            alignment = model.headerData(column, Qt.Orientation.Horizontal,
                                         Qt.ItemDataRole.TextAlignmentRole)
            if alignment is not None and Qt.AlignmentFlag(alignment) & Qt.AlignmentFlag.AlignRight:
                floors[column] = max(floors[column], min(content + 8, self.CAP))  # numbers whole
            widths[column] = want if column == self.stretch else min(want, self.CAP)
        room = self.viewport().width()
        hidden = set()
        for column in self.optional:
            if sum(f for c, f in floors.items() if c not in hidden) + self.STRETCH_MIN <= room:
                break
            hidden.add(column)
        for column in range(model.columnCount()):
            header.setSectionHidden(column, column in hidden)
        for column in hidden:
            del widths[column], floors[column]
        if self.stretch is not None and self.stretch in widths:
            floors[self.stretch] = max(self.STRETCH_MIN, floors[self.stretch])
            widths[self.stretch] = floors[self.stretch]
        # Too wide: give back what the other columns have above their header's width, in
        # proportion, before any scroll bar.
        excess = sum(widths.values()) - room
        slack = {c: widths[c] - floors[c] for c in widths if c != self.stretch}
        total_slack = sum(slack.values())
        if excess > 0 and total_slack > 0:
            share = min(1.0, excess / total_slack)
            for column, spare in slack.items():
                widths[column] -= int(spare * share + 0.999)
        if self.stretch is not None and self.stretch in widths:
            others = sum(w for c, w in widths.items() if c != self.stretch)
            widths[self.stretch] = max(floors[self.stretch], room - others)
        for column, width in widths.items():
            if header.sectionResizeMode(column) != fixed:
                header.resizeSection(column, width)


def make_table(model: RowTableModel, stretch: str | None = None,
               optional: tuple[str, ...] = ()) -> QTableView:
    """A sortable, row-selecting, read-only table over ``model`` (through a sort proxy);
    ``stretch`` takes the spare width, ``optional`` columns go first when space is short."""
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(0)
    view = FitTable(model.column_index(stretch) if stretch is not None else None,
                    tuple(model.column_index(title) for title in optional))
    proxy.setParent(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(30)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(False)
    return view


def selected_row(view: QTableView) -> object | None:
    """The row object behind the view's current selection (through its proxy), or None."""
    indexes = view.selectionModel().selectedRows() if view.selectionModel() else []
    if not indexes:
        return None
    proxy = view.model()
    source = proxy.mapToSource(indexes[0]) if isinstance(proxy, QSortFilterProxyModel) else (
        indexes[0])
    model = source.model()
    return model.row_at(source.row()) if isinstance(model, RowTableModel) else None


def select_source_row(view: QTableView, row: int) -> None:
    """Select the source model's ``row`` in a view that sorts through a proxy."""
    proxy = view.model()
    if isinstance(proxy, QSortFilterProxyModel):
        index = proxy.mapFromSource(proxy.sourceModel().index(row, 0))
    else:
        index = proxy.index(row, 0)
    if index.isValid():
        view.selectRow(index.row())


def heading(text: str, size: int = 15) -> QLabel:
    """A title; the theme's ``Heading``/``SubHeading`` style wins when a theme is applied."""
    label = Label(text)
    label.setObjectName("Heading" if size >= 15 else "SubHeading")
    font = label.font()
    font.setPointSize(size)
    font.setWeight(font.Weight.DemiBold)
    label.setFont(font)
    return label


def muted(text: str = "") -> QLabel:
    """A secondary line (counts, hints), in the theme's muted colour (else the palette's
    placeholder colour)."""
    label = Label(text)
    label.setObjectName("Muted")
    label.setWordWrap(True)
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText,
                     palette.color(QPalette.ColorRole.PlaceholderText))
    label.setPalette(palette)
    return label
