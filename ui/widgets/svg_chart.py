"""One chart in the window: the very SVG a report embeds (:mod:`workbench.trials.svg`),
drawn by Qt's SVG renderer, so the window and the reports never disagree.

The chart keeps its aspect ratio (a legend of long names makes it taller, never squashed) and
asks its layout for the height its width needs.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRectF, QSize
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QSizePolicy, QWidget

from ui import theme
from workbench.trials.svg import ChartStyle, standalone


def chart_style() -> ChartStyle:
    """The charts' colours for the current look, from the theme (reports use the light
    default of :mod:`workbench.trials.svg`)."""
    c = theme.current()
    return ChartStyle(background=c.base, text=c.text, muted=c.muted, grid=c.border,
                      axis=c.muted, series=c.series)


class SvgChart(QWidget):
    """``set_svg(text)`` with the text of one chart; an empty text clears it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.renderer = QSvgRenderer(self)
        self.svg = ""
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumWidth(240)

    def set_svg(self, svg: str) -> None:
        self.svg = svg
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
        w, h = natural.width() * scale, natural.height() * scale
        target = QRectF((self.width() - w) / 2, 0, w, h)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.renderer.render(painter, target)
        painter.end()
