"""The Library tab: the models on this machine, what they are, and what to do with them.

Every read and write goes through the "db" worker (adding a file hashes it, which takes seconds
for a 5 GB model), so the window never waits on the disk. Dialogs that ask the user something
are module-level functions, so a test can answer them without a modal loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.tablemodels.library import LibraryTableModel, source_label
from ui.views.models.model_settings_dialog import MANAGED_KEYS, ModelSettingsDialog
from ui.views.models.widgets import (
    MessageBar,
    heading,
    make_table,
    muted,
    select_source_row,
    selected_row,
)
from ui.widgets.plain_label import Label
from ui.widgets.text_fit import ElidedLabel, breakable
from workbench import library
from workbench.errors import WorkbenchError
from workbench.library import Model
from workbench.pool_fit import check_unchecked, library_fits
from workbench.scan import Found, add_found
from workbench.settings import all_settings
from workbench.units import human_count, human_size


def ask_remove(parent: QWidget, model: Model) -> bool | None:
    """Ask before forgetting a model: None to cancel, else whether to delete the file too."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Remove model")
    box.setText(f"Remove “{model.name}” from the library?")
    box.setInformativeText("Conversations that used it keep their messages.")
    delete = QCheckBox(f"Also delete the file from disk ({human_size(model.file_size)})")
    box.setCheckBox(delete)
    box.setStandardButtons(QMessageBox.StandardButton.Cancel)
    remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
    box.exec()
    if box.clickedButton() is not remove:
        return None
    return delete.isChecked()


def ask_files(parent: QWidget) -> list[str]:
    """The file dialog for "Add file…" (a function so tests can answer it)."""
    paths, _ = QFileDialog.getOpenFileNames(
        parent, "Add GGUF models", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
    )
    return paths


def add_files(db: Database, paths: Iterable[str | Found]) -> Iterator[tuple[str, Any]]:
    """Add each file on the db worker; yields ("added", Model) or ("failed", one line) so one
    bad file among ten does not stop the other nine. A scan's :class:`Found` keeps the app's
    provenance and the digest it recorded (no second hash)."""
    for path in paths:
        try:
            if isinstance(path, Found):
                yield "added", add_found(db, path)
            else:
                yield "added", library.add_model(db, path)
        except WorkbenchError as error:
            yield "failed", str(error)
        except OSError as error:
            yield "failed", f"{path}: {error.strerror or error}"


def _load(db: Database) -> tuple[list[Model], dict[str, Any]]:
    return library.list_models(db), all_settings(db)


class ModelDetails(QFrame):
    """The selected model's facts, provenance and actions (the right-hand panel)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        self.setMinimumWidth(300)
        self.setMaximumWidth(420)
        self.title = heading("", 14)
        self.title.setWordWrap(True)
        self.subtitle = muted()
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.chat_button = QPushButton("Chat with this model")
        self.chat_button.setObjectName("Primary")
        self.settings_button = QPushButton("Settings…")
        self.rename_button = QPushButton("Rename…")
        self.folder_button = QPushButton("Show in folder")
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setObjectName("Danger")
        # Two by two: four buttons in a row need more than the panel's width ("Show in
        # folder" was cut).
        buttons = QGridLayout()
        for number, button in enumerate((self.settings_button, self.rename_button,
                                         self.folder_button, self.remove_button)):
            buttons.addWidget(button, number // 2, number % 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addSpacing(6)
        # The facts scroll when the window is short (a verdict across workers, a projector):
        # a fact is never squeezed into less height than its wrapped text needs.
        facts = QWidget()
        facts.setObjectName("CardScrollBody")
        facts_layout = QVBoxLayout(facts)
        facts_layout.setContentsMargins(0, 0, 0, 0)
        facts_layout.addLayout(self.form)
        facts_layout.addStretch(1)
        self.facts = QScrollArea()
        self.facts.setObjectName("CardScroll")
        self.facts.setWidget(facts)
        self.facts.setWidgetResizable(True)
        self.facts.setFrameShape(QFrame.Shape.NoFrame)
        self.facts.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.facts, 1)
        layout.addWidget(self.chat_button)
        layout.addLayout(buttons)
        self.show_model(None)

    def show_model(self, model: Model | None, fit: str | None = None) -> None:
        """``fit``: its verdict in full (:meth:`workbench.pool_fit.PoolFit.summary`), with the
        split across workers when it counts them."""
        while self.form.rowCount():
            self.form.removeRow(0)
        for button in (self.chat_button, self.settings_button, self.rename_button,
                       self.folder_button, self.remove_button):
            button.setEnabled(model is not None)
        if model is None:
            self.title.setText("No model selected")
            self.subtitle.setText("Pick a model to see where it came from and what it needs.")
            return
        self.title.setText(breakable(model.name))
        self.subtitle.setText(f"{model.architecture} · {human_count(model.parameters)} "
                              f"parameters · {model.quantization}")
        facts: list[tuple[str, str]] = [
            ("File", model.path),
            ("Size", human_size(model.file_size)),
            *([("Fit", fit)] if fit else []),
            ("Context", f"{model.context_length:,} tokens" if model.context_length else "-"),
            ("Chat template", model.template_note),
            ("Vision", f"sees images (projector {model.mmproj})" if model.sees else "no"),
            ("License", model.license or "not stated"),
            ("Source", source_label(model)),
            ("Added", model.added_at[:16].replace("T", " ")),
            ("SHA-256", model.sha256[:16] + "…" if model.sha256 else "-"),
        ]
        for key, value in model.provenance.items():
            facts.append((key.replace("_", " ").capitalize(), str(value)))
        if model.settings:
            facts.append(("Own settings", ", ".join(f"{k}={v}" for k, v in
                                                    model.settings.items())))
        for key, value in facts:
            if key == "File":  # a path: the middle goes (the file name stays), all in the tip
                label = ElidedLabel(value, mode=Qt.TextElideMode.ElideMiddle)
                self.form.addRow(muted(key), label)
                continue
            label = Label(breakable(value))
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            if key == "SHA-256":
                label.setToolTip(model.sha256)
            self.form.addRow(muted(key), label)


class LibraryTab(QWidget):
    """The local library table with add, scan, remove, settings and "Chat with this model"."""

    changed = Signal(list)  # the library's models after every change (Recommended listens)
    scan_requested = Signal()

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.table_model = LibraryTableModel(self)
        self.app_settings: dict[str, Any] = {}
        self.settings_dialog: ModelSettingsDialog | None = None
        self._workers_asked = False

        self.message = MessageBar()
        self.count = muted()
        self.count.setWordWrap(False)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setMaximumWidth(260)
        self.add_button = QPushButton("Add file…")
        self.scan_button = QPushButton("Scan disk…")
        self.scan_button.setToolTip("Find models LM Studio, GPT4All, Jan, Ollama or the Hugging "
                                    "Face cache already downloaded")
        top = QHBoxLayout()
        top.addWidget(heading("Your models"))
        top.addWidget(self.count)
        top.addStretch(1)
        top.addWidget(self.filter)
        top.addWidget(self.add_button)
        top.addWidget(self.scan_button)

        self.table = make_table(self.table_model, stretch="Name",
                                optional=("License", "Architecture", "Source", "Context"))
        self.empty = Label("No models yet.\n\nDrop .gguf files here, use “Add file…”, find the "
                            "ones other apps downloaded with “Scan disk…”,\nor download one "
                            "from Discover or Recommended.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        self.details = ModelDetails()
        splitter = QSplitter()
        splitter.addWidget(self.stack)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 1)
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self.add_button.clicked.connect(lambda: self.add_paths(ask_files(self)))
        self.scan_button.clicked.connect(self.scan_requested)
        self.filter.textChanged.connect(self.table.model().setFilterFixedString)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.chat_with_selected())
        self.details.chat_button.clicked.connect(self.chat_with_selected)
        self.details.settings_button.clicked.connect(self.open_settings)
        self.details.rename_button.clicked.connect(lambda: self.rename_selected())
        self.details.folder_button.clicked.connect(self.show_in_folder)
        self.details.remove_button.clicked.connect(self.remove_selected)
        # another page (chat, first run, a download) added or removed a model
        services.events.changed.connect(self._library_changed_elsewhere)

    # -- loading ----------------------------------------------------------------------------
    def refresh(self, select_id: int | None = None) -> None:
        """Reload the library on the db worker; keep (or move) the selection."""
        current = self.selected_model()
        keep = select_id if select_id is not None else (current.id if current else None)
        self._run(_load, name="library",
                  on_done=lambda result: self._show(result, keep))

    def _show(self, result: tuple[list[Model], dict[str, Any]], keep: int | None) -> None:
        models, self.app_settings = result
        self.table_model.set_rows(models)
        self.count.setText(f"{len(models)} model{'s' if len(models) != 1 else ''} · "
                           f"{human_size(sum(m.file_size for m in models))} on disk")
        self.stack.setCurrentWidget(self.table if models else self.empty)
        row = self.table_model.row_of_id(keep) if keep is not None else -1
        if row < 0 and models:
            row = 0
        if row >= 0:
            select_source_row(self.table, row)
        self._selection_changed()
        self.changed.emit(models)
        # each file's header read, and the workers' last checks counted: on the db worker
        self._run(library_fits, models, name="fit of each model",
                  on_done=self._fits_arrived)
        if not self._workers_asked:  # once: the workers' memory counts in the verdicts
            self._workers_asked = True
            self.services.ops.run("hub", check_unchecked, name="check workers",
                                  changes=("workers",))

    @property
    def busy(self) -> int:
        """This tab's operations in flight (tests wait for 0)."""
        return self.services.ops.busy(self)

    def announce(self) -> None:
        """Tell the other pages (the chat's model list) that the library changed outside an
        operation that says so itself; this tab already refreshed, so its own listener skips
        this one."""
        self.services.events.changed.emit(frozenset({"library"}), self)

    def _library_changed_elsewhere(self, changes: frozenset[str], initiator: object) -> None:
        if "library" in changes and initiator is not self:
            self.refresh()
        elif "workers" in changes and self.table_model.rows():  # new checks: new verdicts
            self._run(library_fits, self.table_model.rows(), name="fit of each model",
                      on_done=self._fits_arrived)

    def selected_model(self) -> Model | None:
        row = selected_row(self.table)
        return row if isinstance(row, Model) else None

    def _selection_changed(self, *_args: object) -> None:
        if not self.isVisible():  # filled when the tab is shown: no GUI work for a hidden tab
            self._details_pending = True
            return
        self._details_pending = False
        model = self.selected_model()
        self.details.show_model(model, self.table_model.fit_detail(model) if model else None)

    def _fits_arrived(self, fits: dict[int, Any]) -> None:
        self.table_model.set_fits(fits)
        self._selection_changed()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if getattr(self, "_details_pending", False):
            self._selection_changed()

    def _run(self, func: Any, *args: Any, name: str, on_done: Any, resource: str = "db",
             on_progress: Any = None, changes: tuple[str, ...] = ()) -> None:
        """One operation of this tab, ``func(db, *args)`` on the worker's connection: counted
        in :attr:`busy`, failures in its message bar."""
        self.services.ops.run(resource, func, *args, name=name, initiator=self,
                              progress=on_progress, success=on_done, changes=changes,
                              failure=self.message.show_error)

    # -- actions ----------------------------------------------------------------------------
    def add_paths(self, paths: Iterable[str | Found]) -> None:
        """Add files (from the dialog, a drop, or a scan) on the db worker."""
        paths = [p if isinstance(p, Found) else str(p) for p in paths]
        if not paths:
            return
        self.message.show_info(f"Adding {len(paths)} file{'s' if len(paths) > 1 else ''}… "
                               "(each file is hashed once)")
        added: list[Model] = []
        failures: list[str] = []

        def progress(event: tuple[str, Any]) -> None:
            (added if event[0] == "added" else failures).append(event[1])

        def finished(_result: object) -> None:
            if failures:
                extra = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
                self.message.show_error(failures[0] + extra)
            else:
                names = ", ".join(m.name for m in added)
                self.message.show_ok(f"Added {names}.")
            self.refresh(added[-1].id if added else None)
            if added:
                self.announce()

        self._run(add_files, paths, name="adding models", resource="disk",
                  on_progress=progress, on_done=finished)

    def remove_selected(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        delete_file = ask_remove(self, model)
        if delete_file is None:
            return

        def removed(gone: Model) -> None:
            note = " and deleted its file" if delete_file else "; the file was kept"
            self.message.show_ok(f"Removed {gone.name}{note}.")
            self.refresh()

        self._run(lambda db: library.remove_model(db, model.id, delete_file=bool(delete_file)),
                  name="removing a model", resource="disk", on_done=removed,
                  changes=("library",))

    def rename_selected(self, name: str | None = None) -> None:
        """Ask for a new name (or take ``name``); every page showing models follows."""
        model = self.selected_model()
        if model is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename model", "Name:", text=model.name)
            if not ok or not name.strip() or name.strip() == model.name:
                return

        def renamed(made: Model) -> None:
            self.message.show_ok(f"Renamed {model.name} to {made.name}.")
            self.refresh(made.id)

        self._run(library.rename_model, model.id, name, name="renaming a model",
                  on_done=renamed, changes=("library",))

    def show_in_folder(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        folder = Path(model.path).parent
        if not folder.is_dir():
            self.message.show_error(f"{folder}: the folder no longer exists.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def chat_with_selected(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        window = self.window()
        opener = getattr(window, "show_chat_with_model", None)
        if callable(opener):
            opener(model.id)
        else:
            self.message.show_info("Open the Chat page to talk to this model.")

    def open_settings(self) -> None:
        """Open the per-model settings (window-modal but not blocking, so tests can drive it)."""
        model = self.selected_model()
        if model is None:
            return
        dialog = ModelSettingsDialog(model, self.app_settings, self)
        self.settings_dialog = dialog

        def save() -> None:
            values = dialog.values()
            self._run(save_settings, model, values, name="saving model settings",
                      on_done=lambda m: (self.message.show_ok(f"Saved settings for {m.name}."),
                                         self.refresh(m.id)), changes=("library",))

        dialog.accepted.connect(save)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()


def save_settings(db: Database, model: Model, values: dict[str, Any]) -> Model:
    """Write the dialog's keys, keeping any other per-model keys the dialog does not show."""
    chosen: tuple[str, ...] = ()
    if values.get("workers"):
        from workbench.workers import resolve_workers

        chosen = resolve_workers(db, values["workers"])  # not added: one line, nothing saved
    if values.get("split"):
        from workbench.split_choice import check_split, parse_split

        values = {**values, "split": parse_split(values["split"])}  # one line if malformed
        check_split(values["split"], chosen)
    current = library.get_model(db, model.id).settings
    merged = {k: v for k, v in current.items() if k not in MANAGED_KEYS}
    merged.update({k: v for k, v in values.items() if v is not None})
    return library.update_settings(db, model.id, merged)
