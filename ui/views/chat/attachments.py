"""Pictures attached to the next chat message: the Attach image button, drag and drop of
image files onto the message box, and paste of a picture (or image files) from the clipboard.

A part of the chat page's composer, kept out of the page's module: the page makes one
:class:`Attachments` and reads :meth:`Attachments.take` when it sends. Attached files are
only listed here (with a thumbnail and a remove button); they are checked and kept by sha256
when the message is sent (:func:`workbench.images.attach_images`), so a damaged file is the
send's one-line error. A pasted picture is written as a PNG to a temporary folder first, so
every attachment is a file, as the CLI's ``--image`` is.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QBoxLayout,
    QFileDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.image_strip import thumbnail

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif);;All files (*)"
#: The most pictures one message carries (each costs its image tokens in the context).
MAX_ATTACHED = 8
CHIP_PX = 48


def image_files(mime: QMimeData) -> list[str]:
    """The local image files a drop or a paste carries."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls()
            if url.isLocalFile() and url.toLocalFile().lower().endswith(SUFFIXES)]


class Attachments(QObject):
    """The pictures waiting to go with the next message, and the ways to add them."""

    def __init__(self, page: QWidget, composer: QWidget, column: QVBoxLayout,
                 buttons: QBoxLayout) -> None:
        super().__init__(page)
        self.page = page
        self.paths: list[str] = []
        self._pasted = 0
        self._folder: Path | None = None
        self.tray = QWidget(composer)
        self.tray.setObjectName("AttachmentTray")
        self.tray.setAccessibleName("Attached pictures")
        self._row = QHBoxLayout(self.tray)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(6)
        self.tray.hide()
        self.button = QToolButton(composer)
        self.button.setText("Attach image")
        self.button.setAccessibleName("Attach image")
        self.button.setToolTip("Attach pictures for a model that sees (or drop them on the "
                               "message box, or paste one)")
        self.button.clicked.connect(self.choose)
        column.insertWidget(0, self.tray)
        buttons.insertWidget(1, self.button)
        self.input: QPlainTextEdit = page.input  # type: ignore[attr-defined]
        self._viewport = self.input.viewport()  # kept: compared while the page is torn down
        self.input.installEventFilter(self)
        self._viewport.installEventFilter(self)
        self.input.setAcceptDrops(True)

    # --- adding -----------------------------------------------------------------------------

    def choose(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.page, "Attach pictures", "", FILTER)
        self.add(paths)

    def add(self, paths: list[str]) -> None:
        for path in paths:
            if len(self.paths) >= MAX_ATTACHED:
                self.page.show_error(  # type: ignore[attr-defined]
                    f"At most {MAX_ATTACHED} pictures go with one message.")
                break
            self.paths.append(str(path))
        self._redraw()

    def add_image(self, image: QImage) -> None:
        """A pasted picture, written as a PNG so it is attached as a file."""
        if image.isNull():
            return
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="workbench-pasted-"))
        self._pasted += 1
        path = self._folder / f"pasted-{self._pasted}.png"
        image.save(str(path))  # PNG, from the suffix
        self.add([str(path)])

    def take(self) -> list[str]:
        """The attached files, handed to a send (the tray empties)."""
        taken, self.paths = self.paths, []
        self._redraw()
        return taken

    def remove(self, index: int) -> None:
        del self.paths[index]
        self._redraw()

    def _redraw(self) -> None:
        while self._row.count():
            item = self._row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for index, path in enumerate(self.paths):
            chip = QToolButton(self.tray)
            chip.setAccessibleName(f"Remove {Path(path).name}")
            chip.setToolTip(f"{Path(path).name}: click to remove")
            pixmap = thumbnail(path, CHIP_PX)
            if pixmap.isNull():
                chip.setText(Path(path).name[:14] + " ×")
            else:
                chip.setIcon(pixmap)
                chip.setIconSize(pixmap.size())
                chip.setText("×")
            chip.setToolButtonStyle(chip.toolButtonStyle().ToolButtonTextBesideIcon)
            chip.clicked.connect(lambda _c=False, i=index: self.remove(i))
            self._row.addWidget(chip)
        self._row.addStretch(1)
        self.tray.setVisible(bool(self.paths))

    # --- drops and pastes on the message box ----------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if watched is self._viewport:
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and isinstance(
                    event, QDragEnterEvent | QDropEvent):
                mime = event.mimeData()
                if image_files(mime) or mime.hasImage():
                    event.acceptProposedAction()
                    return True
            elif kind == QEvent.Type.Drop and isinstance(event, QDropEvent):
                mime = event.mimeData()
                if self._take_mime(mime):
                    event.acceptProposedAction()
                    return True
        elif watched is self.input and kind == QEvent.Type.KeyPress and isinstance(
                event, QKeyEvent) and event.matches(QKeySequence.StandardKey.Paste):
            clipboard = QGuiApplication.clipboard()
            if self._take_mime(clipboard.mimeData()):
                return True
        return False

    def _take_mime(self, mime: QMimeData) -> bool:
        """Attach what ``mime`` carries (image files, else a picture); whether it had any."""
        files = image_files(mime)
        if files:
            self.add(files)
            return True
        if mime.hasImage():
            self.add_image(QImage(mime.imageData()))
            return True
        return False
