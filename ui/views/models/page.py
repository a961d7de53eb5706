"""The Models page: the library, Hub search, the curated catalog and the download queue.

Four tabs over one :class:`~ui.services.Services`. The page only wires them together: a
download asked for in Discover or Recommended goes to the one queue, a finished download
refreshes the library, the library tells Recommended what is already here, and .gguf files
dropped anywhere on the page are added to the library.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ui.services import Services
from ui.views.models.downloads import DownloadQueue, DownloadsTab
from ui.views.models.hub import HubTab
from ui.views.models.library import LibraryTab
from ui.views.models.quant import QuantTab
from ui.views.models.recommended import RecommendedTab
from ui.views.models.scan import ScanDialog
from workbench.catalog import machine_memory_bytes
from workbench.library import Model


def gguf_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    """The local .gguf files being dragged (anything else is ignored)."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls()
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".gguf")]


class ModelsPage(QWidget):
    """What the main window shows under "Models"."""

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setAcceptDrops(True)
        self.queue = DownloadQueue(services, self)
        self.library = LibraryTab(services)
        self.hub = HubTab(services)
        self.recommended = RecommendedTab(machine_memory_bytes())
        self.downloads = DownloadsTab(self.queue)
        self.quantizations = QuantTab(services)
        self.scan_dialog: ScanDialog | None = None
        #: Folders to scan by app (None: each app's usual folders); tests plant files here.
        self.scan_roots: dict[str, list[Path]] | None = None

        self.tabs = QTabWidget()
        self.tabs.setObjectName("ModelsTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.library, "Library")
        self.tabs.addTab(self.hub, "Discover")
        self.tabs.addTab(self.recommended, "Recommended")
        self.tabs.addTab(self.downloads, "Downloads")
        self.tabs.addTab(self.quantizations, "Quantizations")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

        self.hub.download_requested.connect(self.download)
        self.recommended.download_requested.connect(self.download)
        self.queue.model_added.connect(self._downloaded)
        self.queue.changed.connect(self._update_downloads_title)
        self.library.changed.connect(self.recommended.set_library)
        self.library.scan_requested.connect(self.open_scan)
        self.library.refresh()
        self.queue.restore()

    def download(self, repo_id: str, file: str, commit: str | None = None) -> None:
        """Queue a file and show the queue, so the user sees it start."""
        n_ctx = int(self.hub.context.currentData() or 4096)
        self.queue.enqueue(repo_id, file, commit, n_ctx)
        self.tabs.setCurrentWidget(self.downloads)

    def _downloaded(self, model: Model) -> None:
        self.library.refresh(model.id)
        self.library.announce()
        events = getattr(self.services, "events", None)
        if events is not None:
            events.status_message.emit(f"Downloaded {model.name}; it is in your library.", 8000)

    def show_catalog_entry(self, catalog_id: str) -> None:
        """Open Recommended on one catalog entry (the window's first-run page asks this)."""
        self.tabs.setCurrentWidget(self.recommended)
        self.recommended.show_entry(catalog_id)

    def _update_downloads_title(self) -> None:
        active = self.queue.table_model.active_count()
        interrupted = sum(item.state == "interrupted" for item in self.queue.items)
        title = (f"Downloads ({active})" if active else
                 f"Downloads ({interrupted} interrupted)" if interrupted else "Downloads")
        self.tabs.setTabText(self.tabs.indexOf(self.downloads), title)

    def open_scan(self) -> None:
        """Show what other apps downloaded; the user picks, the library adds."""
        dialog = ScanDialog(self.services, self, self.scan_roots)
        self.scan_dialog = dialog
        dialog.chosen.connect(self.library.add_paths)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        dialog.start()

    # -- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if gguf_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = gguf_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.tabs.setCurrentWidget(self.library)
        self.library.add_paths(str(Path(p)) for p in paths)

    def shutdown(self) -> None:
        """Stop downloads between two chunks (partial files are kept for a resume)."""
        self.queue.cancel_all()
