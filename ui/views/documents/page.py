"""The Documents page: the user's collections, each one's files and a search over its
passages, with indexing run in the background (issue 22, items 2 and 7).

Every call into the core goes through the operations layer: listing and searching on "db",
adding, indexing and removing on "disk". Indexing is the core's stoppable
:class:`~workbench.documents.indexing.IndexRun`: its events move the collection's status and
the status bar's job line; Pause stops it between files (each file's passages are committed
with its row, so nothing is half-written) and Resume is a reindex, which skips the files
already done. Changing a collection's embedding model (the details' Change…) is the same
run after :func:`~workbench.documents.collections.set_embed_model`: it embeds the stored
passages again, with the same progress and Pause. Removing (:mod:`.removing`) runs on the
same "disk" worker, so it waits for a paused run to end rather than racing it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.tasks import Job
from ui.views.documents.add_dialog import AddCollectionDialog, ask_files, ask_folder, dropped_paths
from ui.views.documents.embedding import (
    Choice,
    EmbedModelLine,
    ask_embed_model,
    embed_choices,
)
from ui.views.documents.embedding import add_collection as add_with_model
from ui.views.documents.removing import remove_collection, remove_path
from ui.views.documents.tables import (
    CollectionRow,
    CollectionsModel,
    FilesModel,
    Found,
    PassagesModel,
    shown_path,
    update_state,
)
from ui.views.models.widgets import MessageBar, heading, make_table, muted, selected_row
from ui.widgets.passage_view import PassageView
from ui.widgets.plain_label import Label
from workbench.documents import collections as store
from workbench.documents.grounding import search_one
from workbench.documents.indexing import IndexEvent, IndexRun, index
from workbench.documents.passage import passage_context

#: Passages a search shows.
SEARCH_K = 10
#: While a collection indexes, its counts are read again at most this often.
COUNTS_EVERY_S = 1.0


def collection_files(db: Database, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The collection and its files, each with its path made short (``shown``)."""
    collection = store.get_collection(db, name)
    files = store.collection_files(db, collection["id"])
    return collection, [{**row, "shown": shown_path(row["path"], collection["paths"])}
                        for row in files]


class DocumentsPage(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setAcceptDrops(True)
        #: The collection on show, by name.
        self.current: str | None = None
        #: Indexing jobs running, and what each collection's last job said (by name).
        self.jobs: dict[str, Job] = {}
        self.states: dict[str, str] = {}
        self._last_counts = 0.0
        self.add_dialog: AddCollectionDialog | None = None
        self.passage_view: PassageView | None = None
        #: The embedding models offered (loaded with the collections).
        self.embed_choices: list[Choice] = []
        self._build()
        services.events.changed.connect(self._data_changed)
        self.refresh()

    # --- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        self.collections_model = CollectionsModel(self)
        self.files_model = FilesModel(self)
        self.results_model = PassagesModel(self)

        self.add_button = QPushButton("Add collection…", self)
        self.add_button.setObjectName("Primary")
        self.add_button.setToolTip("Make a collection of folders and files (or drop them here)")
        self.add_button.clicked.connect(lambda: self.open_add_dialog())
        self.count = muted()
        self.count.setWordWrap(False)
        top = QHBoxLayout()
        top.addWidget(heading("Documents"))
        top.addWidget(self.count)
        top.addStretch(1)
        top.addWidget(self.add_button)
        self.message = MessageBar(self)

        # left: the collections
        self.table = make_table(self.collections_model, stretch="Status")
        self.table.setAccessibleName("Collections")
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.empty = Label("No collections yet.\n\nDrop folders or files here, or use "
                           "“Add collection…”.\nThey are indexed on this computer; nothing "
                           "is uploaded.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.list_stack = QStackedWidget(self)
        self.list_stack.addWidget(self.table)
        self.list_stack.addWidget(self.empty)
        self.reindex_button = QPushButton("Reindex", self)
        self.reindex_button.setToolTip("Read changed, added and removed files again")
        self.reindex_button.clicked.connect(lambda: self.reindex())
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setToolTip("Stop indexing after the current file; what is done is "
                                     "kept, and Resume carries on")
        self.pause_button.clicked.connect(self.pause)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Remove the collection and its index (the files stay)")
        self.remove_button.clicked.connect(lambda: self.remove_collection())
        left_buttons = QHBoxLayout()
        left_buttons.addWidget(self.reindex_button)
        left_buttons.addWidget(self.pause_button)
        left_buttons.addStretch(1)
        left_buttons.addWidget(self.remove_button)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.list_stack, 1)
        left_layout.addLayout(left_buttons)

        # right: the collection on show
        right = QWidget(self)
        self.details = right
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(8, 0, 0, 0)
        self.title = heading("", 13)
        self.summary = muted()
        self.embed_line = EmbedModelLine(self)
        self.embed_line.change_button.clicked.connect(lambda: self.change_embed_model())
        self.paths = QListWidget(self)
        self.paths.setAccessibleName("Folders and files of the collection")
        self.paths.setMaximumHeight(78)
        self.add_folder_button = QPushButton("Add folder…", self)
        self.add_folder_button.clicked.connect(lambda: self.add_paths([ask_folder(self)]))
        self.add_files_button = QPushButton("Add files…", self)
        self.add_files_button.clicked.connect(lambda: self.add_paths(ask_files(self)))
        self.remove_path_button = QPushButton("Remove path", self)
        self.remove_path_button.setToolTip("Take the selected folder or file out of the "
                                           "collection (it stays on disk)")
        self.remove_path_button.clicked.connect(lambda: self.remove_path())
        self.paths.itemSelectionChanged.connect(self._update_buttons)
        path_buttons = QHBoxLayout()
        path_buttons.addWidget(self.add_folder_button)
        path_buttons.addWidget(self.add_files_button)
        path_buttons.addStretch(1)
        path_buttons.addWidget(self.remove_path_button)

        self.tabs = QTabWidget(self)
        search_tab = QWidget(self)
        search_layout = QVBoxLayout(search_tab)
        search_row = QHBoxLayout()
        self.search_box = QLineEdit(search_tab)
        self.search_box.setAccessibleName("Search the collection")
        self.search_box.setPlaceholderText("Search this collection…")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search", search_tab)
        self.search_button.clicked.connect(self.search)
        search_row.addWidget(self.search_box, 1)
        search_row.addWidget(self.search_button)
        self.results = make_table(self.results_model, stretch="Passage")
        self.results.setAccessibleName("Passages found")
        self.results.doubleClicked.connect(lambda _index: self.open_passage())
        self.results.selectionModel().selectionChanged.connect(self._update_buttons)
        self.results_note = muted()
        self.open_button = QPushButton("Open passage", search_tab)
        self.open_button.setToolTip("The passage with the text around it, and its file")
        self.open_button.clicked.connect(self.open_passage)
        result_row = QHBoxLayout()
        result_row.addWidget(self.results_note, 1)
        result_row.addWidget(self.open_button)
        search_layout.addLayout(search_row)
        search_layout.addWidget(self.results, 1)
        search_layout.addLayout(result_row)
        self.files = make_table(self.files_model, stretch="Reason")
        self.files.setAccessibleName("Files of the collection")
        self.tabs.addTab(search_tab, "Search")
        self.tabs.addTab(self.files, "Files")

        right_layout.addWidget(self.title)
        right_layout.addWidget(self.summary)
        right_layout.addWidget(self.embed_line)
        right_layout.addWidget(self.paths)
        right_layout.addLayout(path_buttons)
        right_layout.addWidget(self.tabs, 1)

        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)
        self._update_buttons()

    # --- loading ---------------------------------------------------------------------------

    def _data_changed(self, changes: frozenset[str], initiator: object) -> None:
        if "documents" in changes and initiator is not self:
            self.refresh()

    @property
    def busy(self) -> int:
        """Operations of this page in flight, indexing included (tests wait for 0)."""
        return self.services.ops.busy(self)

    def refresh(self) -> None:
        self.services.ops.run("db", store.list_collections, name="list collections",
                              success=self._collections_loaded, initiator=self, key="list")
        self.services.ops.run("db", embed_choices, name="list models", initiator=self,
                              key="models", success=lambda c: setattr(self, "embed_choices", c))

    def _collections_loaded(self, rows: list[dict[str, Any]]) -> None:
        self.collections_model.set_rows(
            [CollectionRow.from_stored(row, self.states.get(row["name"], "")) for row in rows])
        self.list_stack.setCurrentWidget(self.table if rows else self.empty)
        self.count.setText(f"{len(rows):,} collection{'s' if len(rows) != 1 else ''}")
        names = [row["name"] for row in rows]
        if self.current not in names:
            self.current = names[0] if names else None
        if self.current is not None:
            self.table.selectRow(self._view_row(self.current))
        self._show_collection()

    def _view_row(self, name: str) -> int:
        proxy = self.table.model()
        for row in range(proxy.rowCount()):
            if proxy.index(row, 0).data() == name:
                return row
        return -1

    def _selection_changed(self, *_: object) -> None:
        row = selected_row(self.table)
        name = row.name if isinstance(row, CollectionRow) else None
        if name is not None and name != self.current:
            self.current = name
            self.results_model.set_rows([])
            self.results_note.setText("")
            self._show_collection()

    def _show_collection(self) -> None:
        """The collection on show: its title and paths now, its files from a worker."""
        row = self.current_row()
        self.details.setEnabled(row is not None)
        self.paths.clear()
        if row is None:
            self.title.setText("No collection")
            self.summary.setText("")
            self.embed_line.show_model(None)
            self.files_model.set_rows([])
            self._update_buttons()
            return
        self.title.setText(row.name)
        self.summary.setText(f"{row.indexed:,} files indexed · {row.not_indexed:,} not "
                             f"indexed · {row.chunks:,} passages · {row.status}")
        self.embed_line.show_model(row.embed_model)
        self.paths.addItems(row.paths)
        name = row.name
        self.services.ops.run("db", collection_files, name, name="list files",
                              initiator=self, key="files",
                              success=lambda found: self._files_loaded(name, found))
        self._update_buttons()

    def _files_loaded(self, name: str, found: tuple[dict[str, Any], list[dict[str, Any]]]
                      ) -> None:
        if name == self.current:
            self.files_model.set_rows(found[1])

    def current_row(self) -> CollectionRow | None:
        return next((r for r in self.collections_model.rows() if r.name == self.current),
                    None)

    def _update_buttons(self) -> None:
        name = self.current
        running = name is not None and name in self.jobs
        self.reindex_button.setEnabled(name is not None and not running)
        paused = name is not None and self.states.get(name, "").startswith("paused")
        self.reindex_button.setText("Resume" if paused else "Reindex")
        self.pause_button.setEnabled(running)
        self.embed_line.change_button.setEnabled(name is not None and not running)
        self.embed_line.setVisible(name is not None)  # no collection: nothing to say
        self.remove_button.setEnabled(name is not None)
        self.remove_path_button.setEnabled(bool(self.paths.selectedItems()))
        self.open_button.setEnabled(bool(self.results.selectionModel().selectedRows()))

    # --- adding ----------------------------------------------------------------------------

    def open_add_dialog(self, paths: list[str] | None = None) -> AddCollectionDialog:
        """The dialog that makes a collection (window-modal, not blocking: it answers when
        its buttons are pressed)."""
        if self.add_dialog is not None and self.add_dialog.isVisible():
            self.add_dialog.add_paths(paths or [])
            return self.add_dialog
        dialog = AddCollectionDialog(paths or [], parent=self, choices=self.embed_choices)
        dialog.accepted.connect(lambda: self.add_collection(*dialog.values()))
        self.add_dialog = dialog
        dialog.open()
        return dialog

    def add_collection(self, name: str, paths: list[str], include: Sequence[str] = (),
                       exclude: Sequence[str] = (), embed_model: int | None = None) -> None:
        """Store the collection (or add to it) with its embedding model (None: keyword
        only), then index it in the background."""
        def added(collection: dict[str, Any]) -> None:
            self.current = collection["name"]
            self.refresh()
            self.start_index(collection["name"])

        self.services.ops.run("disk", add_with_model, name, paths, list(include),
                              list(exclude), embed_model, name=f"adding {name}", initiator=self,
                              success=added, failure=self.message.show_error)

    def add_paths(self, paths: list[str]) -> None:
        """More folders or files for the collection on show (then indexed)."""
        paths = [path for path in paths if path]
        if self.current is not None and paths:
            self.add_collection(self.current, paths)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt's name)
        """Dropped folders and files make a new collection (the dialog asks its name)."""
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_add_dialog(paths)

    # --- indexing --------------------------------------------------------------------------

    def start_index(self, name: str, verb: str = "indexing") -> Job | None:
        """Index ``name`` on the "disk" worker; its events move the status (row, status bar).
        ``verb``: what the status says it does ("embedding" after a change of model)."""
        if name in self.jobs:
            return self.jobs[name]
        self.states[name] = f"{verb}…"
        update_state(self.collections_model, name, self.states[name])
        last: list[IndexEvent] = []

        def progress(event: IndexEvent) -> None:
            last[:] = [event]
            where = f"{event.done:,} of {event.total:,} files"
            self.states[name] = f"{verb} {where}"
            update_state(self.collections_model, name, self.states[name])
            job = self.jobs.get(name)
            if job is not None:
                job.set_detail(where)
            if time.monotonic() - self._last_counts >= COUNTS_EVERY_S:
                self._last_counts = time.monotonic()
                self.refresh()

        def done(run: IndexRun) -> None:
            self.states.pop(name, None)
            counts = run.counts
            said = ", ".join(f"{counts[s]:,} {s}" for s in
                             ("indexed", "unchanged", "skipped", "error", "removed")
                             if counts[s]) or "no files found"
            self.services.events.status_message.emit(f"Indexed {name}: {said}.", 8000)

        def paused() -> None:
            event = last[0] if last else None
            self.states[name] = (f"paused at {event.done:,} of {event.total:,} files"
                                 if event else "paused")

        def failed(message: str) -> None:
            self.states.pop(name, None)
            self.message.show_error(message)

        def finished() -> None:
            self.jobs.pop(name, None)
            self.refresh()
            self._update_buttons()
            self.services.events.changed.emit(frozenset({"documents"}), self)

        self.jobs[name] = self.services.ops.run(
            "disk", index, name, name=f"{verb} {name}", initiator=self, progress=progress,
            success=done, cancelled=paused, failure=failed, finished=finished)
        self._update_buttons()
        return self.jobs[name]

    def reindex(self, name: str | None = None) -> None:
        name = name or self.current
        if name is not None:
            self.start_index(name)

    def pause(self) -> None:
        job = self.jobs.get(self.current or "")
        if job is not None:
            job.cancel()
            self.pause_button.setEnabled(False)

    def change_embed_model(self) -> None:
        """Ask for another embedding model; once stored (the old vectors dropped), the
        passages are embedded again in the background."""
        row = self.current_row()
        if row is None or row.name in self.jobs:
            return
        chosen, model_id = ask_embed_model(self, row.name, self.embed_choices,
                                           row.embed_model_id)
        if not chosen or model_id == row.embed_model_id:
            return
        name = row.name

        def changed(_collection: dict[str, Any]) -> None:
            self.refresh()
            if model_id is not None:
                self.start_index(name, "embedding")

        self.services.ops.run("disk", store.set_embed_model, name, model_id,
                              name=f"changing the model of {name}", initiator=self,
                              changes={"documents"}, success=changed,
                              failure=self.message.show_error)

    # --- removing --------------------------------------------------------------------------

    def remove_collection(self, name: str | None = None) -> None:
        remove_collection(self, name)

    def remove_path(self, path: str | None = None) -> None:
        remove_path(self, path)

    # --- searching -------------------------------------------------------------------------

    def search(self) -> None:
        query = self.search_box.text().strip()
        name = self.current
        if not query or name is None:
            return

        def found(passages: list[Any]) -> None:
            self.results_model.set_rows([Found(rank, p) for rank, p in enumerate(passages, 1)])
            self.results_note.setText(
                (f"{len(passages):,} passage{'s' if len(passages) != 1 else ''}, best first")
                if passages
                else f"No passage of {name} matches “{query}”.")
            if passages:
                self.results.selectRow(0)
            self._update_buttons()

        # The same search as `docs search`: by keyword, and by meaning too when the collection
        # has an embedding model (its own process, for this search).
        self.services.ops.run("db", search_one, name, query, SEARCH_K, name="search",
                              initiator=self, key="search", success=found,
                              failure=self.message.show_error)

    def open_passage(self) -> None:
        row = selected_row(self.results)
        if not isinstance(row, Found):
            return
        passage = row.passage
        citation = {"chunk_id": passage.chunk_id, "path": passage.path,
                    "start": passage.start, "end": passage.end}
        self.services.ops.run("db", passage_context, citation, name="open passage",
                              initiator=self,
                              success=lambda context: self._show_passage(context, row.rank),
                              failure=self.message.show_error)

    def _show_passage(self, context: Any, rank: int) -> None:
        self.passage_view = PassageView(context, f"#{rank}", self)
        self.passage_view.open()
