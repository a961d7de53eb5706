"""One chart in the window: the very SVG a report embeds (:mod:`workbench.trials.svg`),
drawn by Qt's SVG renderer, so the window and the reports never disagree.

The chart keeps its aspect ratio (a legend of long names makes it taller, never squashed) and
asks its layout for the height its width needs.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QFrame, QGridLayout, QScrollArea, QSizePolicy, QWidget

from ui import theme
from workbench.trials.svg import ChartStyle, restyle, standalone


def chart_style() -> ChartStyle:
    """The charts' colours for the current look, from the theme (reports use the light
    default of :mod:`workbench.trials.svg`)."""
    c = theme.current()
    return ChartStyle(background=c.base, text=c.text, muted=c.muted, grid=c.border,
                      axis=c.muted, series=c.series)


class SvgChart(QWidget):
    """``set_svg(text)`` with the text of one chart, drawn in :func:`chart_style` colours;
    an empty text clears it. A switch of look (light, dark) recolours the chart shown, so
    no chart stays a white card in the dark look."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.renderer = QSvgRenderer(self)
        self.svg = ""
        self._style = chart_style()  # the colours self.svg was drawn in
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumWidth(240)

    def set_svg(self, svg: str) -> None:
        self.svg = svg
        self._style = chart_style()
        self._load()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            style = chart_style()
            if style != self._style and self.svg:
                self.svg = restyle(self.svg, self._style, style)
                self._load()
            self._style = style

    def _load(self) -> None:
        svg = self.svg
        self.renderer.load(QByteArray(standalone(svg).encode("utf-8")) if svg
                           else QByteArray())
        self.setAccessibleName(self._title())
        self.updateGeometry()
        self.update()

    def _title(self) -> str:
        marker = 'aria-label="'
        start = self.svg.find(marker)
        if start < 0:
            return "Chart"
        start += len(marker)
        return self.svg[start:self.svg.find('"', start)]

    def _ratio(self) -> float:
        size = self.renderer.defaultSize()
        return size.height() / size.width() if self.renderer.isValid() and size.width() else 0.6

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return int(min(width, self.renderer.defaultSize().width() * 1.6) * self._ratio())

    def sizeHint(self) -> QSize:  # noqa: N802
        size = self.renderer.defaultSize()
        return size if self.renderer.isValid() else QSize(460, 280)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if not self.renderer.isValid():
            return
        # Fit the chart into the widget, centred, keeping its proportions; no wider than
        # 1.6 times its natural size (a 4K window does not get 30-pixel letters).
        natural = self.renderer.defaultSize()
        scale = min(self.width() / natural.width(), self.height() / natural.height(), 1.6)
        if scale <= 0:
            return
        w, h = natural.width() * scale, natural.height() * scale
        target = QRectF((self.width() - w) / 2, 0, w, h)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.renderer.render(painter, target)
        painter.end()


class ChartGrid(QScrollArea):
    """Charts side by side as long as each gets at least :attr:`MIN_SCALE` of its natural
    width, else one under another, in a scroll area: a chart is never squeezed to
    unreadable letters (a narrow window scrolls instead)."""

    MIN_SCALE = 0.85
    MAX_SCALE = 1.3
    GAP = 12

    def __init__(self, count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        holder = QWidget(self)
        self._grid = QGridLayout(holder)
        self._grid.setSpacing(self.GAP)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setWidget(holder)
        self.charts = [SvgChart(holder) for _ in range(count)]
        self._columns = 0
        self._arrange()

    def set_svgs(self, svgs: list[str]) -> None:
        for chart, text in zip(self.charts, svgs, strict=True):
            chart.set_svg(text)
        self._arrange(force=True)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._arrange()

    def _arrange(self, force: bool = False) -> None:
        width = max(1, self.viewport().width() - 2 * self.GAP)
        natural = 460
        columns = max(1, min(len(self.charts),
                             int((width + self.GAP) // (natural * self.MIN_SCALE + self.GAP))))
        scale = min(self.MAX_SCALE, (width - (columns - 1) * self.GAP) / columns / natural)
        for chart in self.charts:
            size = chart.sizeHint()
            chart.setFixedSize(int(size.width() * scale), int(size.height() * scale))
        if columns == self._columns and not force:
            return
        self._columns = columns
        for chart in self.charts:
            self._grid.removeWidget(chart)
        for index, chart in enumerate(self.charts):
            self._grid.addWidget(chart, index // columns, index % columns,
                                 Qt.AlignmentFlag.AlignTop)
