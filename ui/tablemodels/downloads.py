"""The download queue as a table: one row per requested file, updated in place as it moves.

A :class:`DownloadItem` is plain data that the queue controller changes as
:class:`~workbench.hub.download.PullEvent` values arrive; the table turns it into text and a
progress fraction (:data:`PROGRESS_ROLE`) that the view's delegate draws as a bar.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from ui import theme
from workbench.units import human_eta, human_rate, human_size

from .base import Column, RowTableModel

PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 3
"""Progress in thousandths (0-1000), or -1 while the size is not known yet (a busy bar)."""

#: States in which the item's job is still alive (cancel makes sense).
ACTIVE = ("checking", "queued", "resuming", "downloading", "verifying")
#: States from which "Resume" continues (the partial file is kept).
RESUMABLE = ("cancelled", "failed", "interrupted")

STATE_LABELS = {
    "checking": "Checking fit…",
    "queued": "Queued",
    "resuming": "Checking the partial file…",
    "downloading": "Downloading",
    "verifying": "Verifying",
    "done": "In library",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "interrupted": "Interrupted",
    "skipped": "Not started",
}


@dataclass(eq=False)
class DownloadItem:
    """One file in the queue. Compared by identity: the same file may be queued twice."""

    repo_id: str
    file: str
    commit: str | None = None
    n_ctx: int = 4096
    state: str = "checking"
    done: int = 0
    total: int = 0
    rate: float = 0.0
    eta: float | None = None
    message: str = ""
    model_id: int | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    job: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.file.rsplit("/", 1)[-1]

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE

    @property
    def fraction(self) -> float | None:
        if self.state == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else None


def status_text(item: DownloadItem) -> str:
    label = STATE_LABELS.get(item.state, item.state)
    if item.state in ("failed", "skipped", "cancelled", "interrupted") and item.message:
        return f"{label}: {item.message}"
    return label


class DownloadsTableModel(RowTableModel[DownloadItem]):
    """The queue, newest last; :meth:`item_changed` repaints one row."""

    columns = (
        Column("Model", lambda d: d.name, tooltip=lambda d: f"{d.repo_id}/{d.file}"),
        Column("Progress", lambda d: f"{d.fraction * 100:.0f}%" if d.fraction is not None
               else "", lambda d: d.fraction or 0.0),
        Column("Downloaded", lambda d: f"{human_size(d.done)} of {human_size(d.total)}"
               if d.total else "", lambda d: d.done, numeric=True),
        Column("Speed", lambda d: human_rate(d.rate) if d.state == "downloading" else "",
               lambda d: d.rate, numeric=True),
        Column("Time left", lambda d: human_eta(d.eta) if d.state == "downloading" else "",
               lambda d: d.eta or 0, numeric=True),
        Column("Status", status_text, tooltip=lambda d: d.message or None),
    )

    def add(self, item: DownloadItem) -> None:
        self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
        self._rows.append(item)
        self.endInsertRows()

    def remove(self, item: DownloadItem) -> None:
        row = self.row_of(item)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    def row_of(self, item: DownloadItem) -> int:
        for number, candidate in enumerate(self._rows):
            if candidate is item:
                return number
        return -1

    def item_changed(self, item: DownloadItem) -> None:
        row = self.row_of(item)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))

    def active_count(self) -> int:
        return sum(1 for item in self._rows if item.active)

    def extra(self, row: DownloadItem, column: Column[Any], role: int) -> Any:
        if role == PROGRESS_ROLE and column.title == "Progress":
            fraction = row.fraction
            return -1 if fraction is None and row.active else int((fraction or 0) * 1000)
        if role == Qt.ItemDataRole.ForegroundRole and column.title == "Status":
            if row.state == "failed":
                return theme.role_color("error_text")
            if row.state == "done":
                return theme.role_color("ok")
        return None
