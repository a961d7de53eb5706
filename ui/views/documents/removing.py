"""Removing from the Documents page: a whole collection (asked first) or one of its folders
and files. Both run on the "disk" worker, as indexing does, so a removal waits for a paused
run to end rather than racing it; the files themselves always stay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox, QWidget

from workbench.documents import collections as store

if TYPE_CHECKING:
    from ui.views.documents.page import DocumentsPage


def ask_remove(parent: QWidget, name: str) -> bool:
    """Ask before removing a collection (a function so tests can answer it)."""
    answer = QMessageBox.question(
        parent, "Remove collection",
        f"Remove the collection “{name}” and its index?\n\nYour files stay where they are.",
        QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Ok


def remove_collection(page: DocumentsPage, name: str | None = None) -> None:
    """Ask, then remove the collection on the "disk" worker (after its paused run)."""
    name = name or page.current
    if name is None or not ask_remove(page, name):
        return
    job = page.jobs.get(name)
    if job is not None:
        job.cancel()  # the removal waits for it on the same worker

    def removed(counts: dict[str, int]) -> None:
        page.states.pop(name, None)
        page.services.events.status_message.emit(
            f"Removed {name}: {counts['files']:,} files and {counts['chunks']:,} "
            "passages left the index (the files stay).", 8000)
        page.refresh()

    page.services.ops.run("disk", store.remove_collection, name, name=f"removing {name}",
                          initiator=page, changes={"documents"}, success=removed,
                          failure=page.message.show_error)


def remove_path(page: DocumentsPage, path: str | None = None) -> None:
    """Take the selected (or given) folder or file out of the collection on show."""
    if path is None:
        items = page.paths.selectedItems()
        path = items[0].text() if items else None
    name = page.current
    if path is None or name is None:
        return

    def removed(counts: dict[str, int]) -> None:
        page.services.events.status_message.emit(
            f"Took {path} out of {name}: {counts['chunks']:,} passages left the index.",
            8000)
        page.refresh()

    page.services.ops.run("disk", store.remove_path, name, path, name="removing a path",
                          initiator=page, changes={"documents"}, success=removed,
                          failure=page.message.show_error)
