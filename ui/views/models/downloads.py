"""The download queue: plan (fit, disk, partial bytes), then transfer, on their own workers.

Planning runs on the "hub" worker so the verdict comes back at once even while another file is
downloading; transfers run one after another on the "download" worker, which nothing else uses,
so a download carries on while the user chats or searches. Cancelling closes the transfer's
iterator: the core keeps the partial file, and "Resume" plans again, finds those bytes, re-hashes
them and asks the Hub only for the rest. When the window opens, downloads that an earlier run
left unfinished are listed again ("Interrupted"), so closing the app loses nothing; removing one
from the list asks whether to delete its bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.tablemodels.downloads import PROGRESS_ROLE, DownloadItem, DownloadsTableModel
from ui.views.models.widgets import (
    MessageBar,
    heading,
    make_table,
    muted,
    select_source_row,
    selected_row,
)
from workbench.hub.client import HubClient
from workbench.hub.download import PullEvent, PullPlan, plan_pull, run_pull
from workbench.hub.unfinished import Unfinished, discard_download, list_unfinished
from workbench.library import Model
from workbench.pool_fit import last_members
from workbench.units import human_rate, human_size
from workbench.workers import list_workers


def models_dir_for(services: Services) -> Path:
    """The models folder, read on the calling thread's own connection (a folder on a disk
    that went away since it was chosen is one line saying so)."""
    return services.workspace.models_dir


def pool_members(db: Database) -> list:
    """The workers as their last background check found them (never a wait here)."""
    return last_members(list_workers(db))


def plan_job(db: Database, services: Services, item: DownloadItem) -> PullPlan:
    client = HubClient.from_settings(db)
    return plan_pull(client, models_dir_for(services), item.repo_id, item.file,
                     revision=item.commit, n_ctx=item.n_ctx, members=pool_members(db))


def transfer_job(db: Database, item: DownloadItem, plan: PullPlan,
                 force: bool) -> Iterator[PullEvent]:
    """The transfer as an iterator of events; a cancel before it starts makes it a no-op."""
    if item.cancel_event.is_set():
        return
    client = HubClient.from_settings(db)
    yield from run_pull(client, db, plan, force=force)


def unfinished_job(_db: Database, services: Services) -> list[Unfinished]:
    return list_unfinished(models_dir_for(services))


def discard_job(_db: Database, services: Services, repo_id: str, file: str) -> int:
    return discard_download(models_dir_for(services), repo_id, file)


def ask_delete_partial(parent: QWidget, item: DownloadItem) -> bool | None:
    """Removing a download that has bytes on disk: delete them (True), keep them for later
    (False), or do nothing (None). A function so tests can answer it."""
    box = QMessageBox(QMessageBox.Icon.Question, "Remove download",
                      f"{item.name}\n\nDelete the {human_size(item.done)} downloaded so far?\n"
                      "If you keep them, the download is offered again next time.",
                      QMessageBox.StandardButton.NoButton, parent)
    delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep for later", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    return True if clicked is delete else False if clicked is keep else None


def ask_download_anyway(parent: QWidget, plan: PullPlan) -> bool:
    """The core refuses a file that will not fit; the user may still want it (another machine,
    a smaller context). A function so tests can answer it."""
    answer = QMessageBox.question(
        parent, "Model may not fit",
        f"{plan.model.name}\n\nThis {plan.verdict.summary()}.\n\nDownload it anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class DownloadQueue(QObject):
    """Owns the items and their jobs; the tab and the page only call these methods."""

    changed = Signal()  # an item was added, removed or changed state
    model_added = Signal(object)  # a finished download's library Model
    discarded = Signal(int)  # bytes of a removed download's partial files, deleted
    failed = Signal(object)  # the DownloadItem that failed (its message says why)

    def __init__(self, services: Services, parent_widget: QWidget | None = None) -> None:
        super().__init__(parent_widget)
        self.services = services
        self.parent_widget = parent_widget
        self.table_model = DownloadsTableModel(self)

    @property
    def items(self) -> list[DownloadItem]:
        return self.table_model.rows()

    def restore(self) -> None:
        """List the downloads an earlier run left unfinished (read on the db worker)."""
        self.services.ops.run("disk", unfinished_job, self.services,
                              name="looking for unfinished downloads", success=self._restored)

    def _restored(self, found: list[Unfinished]) -> None:
        for unfinished in found:
            if any(i.repo_id == unfinished.repo_id and i.file == unfinished.file
                   for i in self.items):
                continue
            self.table_model.add(DownloadItem(
                unfinished.repo_id, unfinished.file, unfinished.commit, state="interrupted",
                done=unfinished.have, total=unfinished.size,
                message="Resume continues from here"))
        if found:
            self.changed.emit()

    def enqueue(self, repo_id: str, file: str, commit: str | None = None,
                n_ctx: int = 4096) -> DownloadItem:
        """Add a file to the queue (the same file already waiting or running is not added
        twice: that item is returned)."""
        for item in self.items:
            if item.repo_id == repo_id and item.file == file and item.active:
                return item
        item = DownloadItem(repo_id, file, commit, n_ctx)
        self.table_model.add(item)
        self._plan(item)
        return item

    def _update(self, item: DownloadItem, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(item, key, value)
        self.table_model.item_changed(item)
        self.changed.emit()

    def _plan(self, item: DownloadItem) -> None:
        item.cancel_event.clear()
        self._update(item, state="checking", message="", rate=0.0, eta=None)
        item.job = self.services.ops.run(
            "hub", plan_job, self.services, item, name=f"checking {item.name}",
            success=lambda plan: self._planned(item, plan),
            failure=lambda message: self._failed(item, message))
        item.job.cancelled.connect(lambda: self._update(item, state="cancelled"))

    def _planned(self, item: DownloadItem, plan: PullPlan) -> None:
        if item.cancel_event.is_set():
            self._update(item, state="cancelled")
            return
        force = False
        if not plan.verdict.fits:
            if not ask_download_anyway(self.parent_widget or QWidget(), plan):
                self._update(item, state="skipped", message="it would not fit this machine")
                return
            force = True
        self._update(item, state="resuming" if plan.already_have else "queued",
                     total=plan.size, done=plan.already_have)
        job = self.services.ops.run(
            "download", transfer_job, item, plan, force,
            name=f"downloading {item.name}",
            progress=lambda event: self._progress(item, event),
            success=lambda _result: self._finished(item),
            failure=lambda message: self._failed(item, message))
        # Connected after run() on purpose: only cancel() (on this thread, later) leads to it.
        job.cancelled.connect(lambda: self._update(item, state="cancelled", rate=0.0, eta=None,
                                                   message="the partial file is kept"))
        item.job = job

    def _progress(self, item: DownloadItem, event: PullEvent) -> None:
        if item.cancel_event.is_set():
            return
        changes: dict[str, Any] = {}
        if event.stage == "download":
            changes = {"state": "downloading", "done": event.done,
                       "total": event.total or item.total, "rate": event.rate, "eta": event.eta}
        elif event.stage == "rehash":
            changes = {"state": "resuming", "done": event.done}
        elif event.stage == "retry":
            changes = {"message": event.message}
        elif event.stage in ("verify", "move"):
            changes = {"state": "verifying", "rate": 0.0, "eta": None}
        elif event.stage == "done" and event.model is not None:
            changes = {"model_id": event.model.id, "done": item.total or event.done}
            self.model_added.emit(event.model)
        if changes:
            self._update(item, **changes)

    def _finished(self, item: DownloadItem) -> None:
        if item.state != "cancelled" and not item.cancel_event.is_set():
            self._update(item, state="done", rate=0.0, eta=None, message="")

    def _failed(self, item: DownloadItem, message: str) -> None:
        self._update(item, state="failed", message=message, rate=0.0, eta=None)
        self.failed.emit(item)

    def cancel(self, item: DownloadItem) -> None:
        """Stop between two chunks (the partial file stays for a later resume)."""
        if not item.active:
            return
        item.cancel_event.set()
        if item.job is not None:
            item.job.cancel()
        if item.state in ("checking", "queued"):
            self._update(item, state="cancelled", rate=0.0, eta=None)

    def resume(self, item: DownloadItem) -> None:
        """Plan again: the core finds the partial bytes and continues after them."""
        if item.resumable or item.state == "skipped":
            self._plan(item)

    def remove(self, item: DownloadItem) -> None:
        """Take an item off the list; one with bytes on disk asks whether to delete them."""
        if item.resumable and item.done > 0:
            choice = ask_delete_partial(self.parent_widget or QWidget(), item)
            if choice is None:
                return
            if choice:
                self.services.ops.run("disk", discard_job, self.services, item.repo_id,
                                      item.file, name=f"deleting the partial {item.name}",
                                      success=lambda freed: self.discarded.emit(freed))
        self.cancel(item)
        self.table_model.remove(item)
        self.changed.emit()

    def cancel_all(self) -> None:
        for item in self.items:
            self.cancel(item)


class ProgressDelegate(QStyledItemDelegate):
    """Draws :data:`PROGRESS_ROLE` as a slim rounded bar with the percentage beside it (a
    striped busy bar while the size is not known), in the palette's accent colour, so it
    reads the same in light and dark themes."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        value = index.data(PROGRESS_ROLE)
        if value is None:
            super().paint(painter, option, index)
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(option.rect, option.palette.highlight())
        palette = option.palette
        text_width = 44
        rect = option.rect.adjusted(8, 0, -(text_width + 8), 0)
        track = QRectF(rect.x(), rect.center().y() - 3, max(rect.width(), 0), 6)
        base = palette.color(QPalette.ColorRole.Mid)
        base.setAlpha(90)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(base)
        painter.drawRoundedRect(track, 3, 3)
        accent = palette.color(QPalette.ColorRole.HighlightedText if selected
                               else QPalette.ColorRole.Highlight)
        painter.setBrush(accent)
        if value >= 0:
            filled = QRectF(track)
            filled.setWidth(track.width() * value / 1000)
            if filled.width() > 0:
                painter.drawRoundedRect(filled, 3, 3)
            text = f"{value / 10:.0f}%"
        else:  # indeterminate: a short segment
            painter.drawRoundedRect(QRectF(track.x(), track.y(), track.width() / 4, 6), 3, 3)
            text = ""
        painter.setPen(palette.color(QPalette.ColorRole.HighlightedText if selected
                                     else QPalette.ColorRole.Text))
        painter.drawText(QRect(option.rect.right() - text_width - 4, option.rect.y(),
                               text_width, option.rect.height()),
                         int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        painter.restore()


class DownloadsTab(QWidget):
    """The queue's table with Cancel, Resume, Remove and "Chat with it" for finished ones."""

    def __init__(self, queue: DownloadQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.message = MessageBar()
        self.summary = muted("Nothing downloading. Pick a file in Discover or Recommended.")
        self.table = make_table(queue.table_model, stretch="Model")
        self.table.setItemDelegateForColumn(queue.table_model.column_index("Progress"),
                                            ProgressDelegate(self.table))
        progress = queue.table_model.column_index("Progress")
        self.table.horizontalHeader().setSectionResizeMode(
            progress, self.table.horizontalHeader().ResizeMode.Fixed)
        self.table.setColumnWidth(progress, 260)
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.remove_button = QPushButton("Remove from list")
        self.chat_button = QPushButton("Chat with it")
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        for button in (self.chat_button, self.resume_button, self.cancel_button,
                       self.remove_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addWidget(heading("Downloads"))
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self.cancel_button.clicked.connect(lambda: self._act(self.queue.cancel))
        self.resume_button.clicked.connect(lambda: self._act(self.queue.resume))
        self.remove_button.clicked.connect(lambda: self._act(self.queue.remove))
        self.chat_button.clicked.connect(self._chat)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.table.selectionModel().selectionChanged.connect(self._selected_reason)
        queue.changed.connect(self._update_buttons)
        queue.model_added.connect(self._added)
        queue.failed.connect(self._failed)
        queue.discarded.connect(
            lambda freed: self.message.show_ok(f"Deleted {human_size(freed)} downloaded so far."))
        queue.table_model.rowsInserted.connect(
            lambda _parent, _first, last: select_source_row(self.table, last))
        self._update_buttons()

    def selected_item(self) -> DownloadItem | None:
        item = selected_row(self.table)
        return item if isinstance(item, DownloadItem) else None

    def _act(self, action: Any) -> None:
        item = self.selected_item()
        if item is not None:
            action(item)

    def _added(self, model: Model) -> None:
        self.message.show_ok(f"{model.name} is in your library.")

    def _failed(self, item: DownloadItem) -> None:
        """The whole reason, wrapped in the message bar: the Status cell only has room for its
        start (and shows all of it in its tooltip)."""
        self.message.show_error(f"{item.name} failed: {item.message}")

    def _selected_reason(self, *_args: object) -> None:
        """Selecting a failed or stopped row shows its whole reason again."""
        item = self.selected_item()
        if item is not None and item.state == "failed" and item.message:
            self._failed(item)

    def _chat(self) -> None:
        item = self.selected_item()
        opener = getattr(self.window(), "show_chat_with_model", None)
        if item is not None and item.model_id is not None and callable(opener):
            opener(item.model_id)

    def _update_buttons(self, *_args: object) -> None:
        item = self.selected_item()
        self.cancel_button.setEnabled(item is not None and item.active)
        self.resume_button.setEnabled(item is not None and (item.resumable
                                                            or item.state == "skipped"))
        self.remove_button.setEnabled(item is not None)
        self.chat_button.setEnabled(item is not None and item.model_id is not None
                                    and callable(getattr(self.window(), "show_chat_with_model",
                                                         None)))
        active = self.queue.table_model.active_count()
        total = len(self.queue.items)
        if not total:
            self.summary.setText("Nothing downloading. Pick a file in Discover or Recommended.")
        else:
            rate = sum(i.rate for i in self.queue.items if i.state == "downloading")
            speed = f" · {human_rate(rate)}" if rate else ""
            self.summary.setText(f"{active} active, {total - active} finished or stopped{speed}")
