"""Thumbnails of a message's pictures: a row of small previews in the user's bubble.

Each thumbnail is read scaled (``QImageReader.setScaledSize``: a large JPEG is decoded at
the small size, not in full), so a chat with big photos opens quickly; a file that cannot be
read shows its name instead of a picture. Clicking a thumbnail opens the kept file in the
system's viewer.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImageReader, QPixmap
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QToolButton, QWidget

#: The longer side of a thumbnail, in pixels.
THUMB_PX = 96


def thumbnail(path: str, side: int = THUMB_PX) -> QPixmap:
    """The picture at ``path`` scaled to fit ``side`` (a null pixmap when unreadable)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)  # EXIF orientation, as the model sees it
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > side:
        reader.setScaledSize(size.scaled(QSize(side, side), Qt.AspectRatioMode.KeepAspectRatio))
    return QPixmap.fromImage(reader.read())


class ImageStrip(QWidget):
    """A row of thumbnails; ``paths`` are the files shown (tests read them)."""

    def __init__(self, paths: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ImageStrip")
        self.paths = list(paths)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 4)
        row.setSpacing(6)
        for path in self.paths:
            button = QToolButton(self)
            button.setAutoRaise(True)
            button.setAccessibleName(f"Picture {Path(path).name}")
            button.setToolTip(Path(path).name)
            pixmap = thumbnail(path)
            if pixmap.isNull():
                button.setText(Path(path).name[:16])
            else:
                button.setIcon(pixmap)
                button.setIconSize(pixmap.size())
            button.clicked.connect(lambda _c=False, p=path: QDesktopServices.openUrl(
                QUrl.fromLocalFile(p)))
            row.addWidget(button)
        row.addStretch(1)


def show_images(message: QWidget, paths: list[str]) -> ImageStrip | None:
    """Put the thumbnails of ``paths`` at the top of a message widget's body (once)."""
    body = getattr(message, "body", None)
    if not paths or not isinstance(body, QWidget) or not isinstance(body.layout(), QBoxLayout):
        return None
    layout = body.layout()
    assert isinstance(layout, QBoxLayout)
    old = body.findChild(ImageStrip)
    if old is not None:
        return old
    strip = ImageStrip(paths, body)
    layout.insertWidget(0, strip)
    return strip
