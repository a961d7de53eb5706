"""The Documents page's tables: the collections, one collection's files, and the passages a
search found. Rows are plain dicts and :class:`~workbench.documents.search.Passage` values
fetched on a worker; each model is its columns and nothing else."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ui.tablemodels.base import Column, RowTableModel
from workbench.documents.search import Passage


@dataclass
class CollectionRow:
    """A collection as listed, with what the page knows of its indexing job."""

    name: str
    paths: list[str]
    files: int
    indexed: int
    not_indexed: int
    chunks: int
    #: The name of its embedding model (None: keyword search only), and that model's id.
    embed_model: str | None = None
    embed_model_id: int | None = None
    #: "indexing 12 of 40 files", "paused at 12 of 40 files", or "" when idle.
    state: str = ""

    @classmethod
    def from_stored(cls, row: dict[str, Any], state: str = "") -> CollectionRow:
        return cls(row["name"], row["paths"], row["files"], row["indexed"],
                   row["not_indexed"], row["chunks"], row.get("embed_model"),
                   row.get("embed_model_id"), state)

    @property
    def status(self) -> str:
        if self.state:
            return self.state
        if not self.files:
            return "not indexed yet"
        if self.not_indexed:
            return f"ready, {self.not_indexed:,} not indexed"
        return "ready"


class CollectionsModel(RowTableModel[CollectionRow]):
    columns = (
        Column("Name", lambda r: r.name, tooltip=lambda r: "\n".join(r.paths)),
        Column("Files", lambda r: f"{r.files:,}", sort=lambda r: r.files, numeric=True,
               header_tip="Files found in its folders (indexed or not)"),
        Column("Passages", lambda r: f"{r.chunks:,}", sort=lambda r: r.chunks, numeric=True,
               header_tip="Passages in the index, each searched and cited on its own"),
        Column("Status", lambda r: r.status, tooltip=lambda r: r.status),
    )


def shown_path(path: str, roots: list[str]) -> str:
    """``path`` relative to the collection folder it is in (its name when it is one)."""
    for root in roots:
        if path.startswith(root.rstrip(os.sep) + os.sep):
            return os.path.relpath(path, os.path.dirname(root.rstrip(os.sep)))
    return os.path.basename(path)


class FilesModel(RowTableModel[dict[str, Any]]):
    """A collection's files, as stored, each with ``shown``: its path made short."""

    columns = (
        Column("File", lambda r: r["shown"], tooltip=lambda r: r["path"]),
        Column("Status", lambda r: r["status"]),
        Column("Passages", lambda r: f"{r['chunk_count'] or 0:,}",
               sort=lambda r: r["chunk_count"] or 0, numeric=True),
        Column("Reason", lambda r: r["reason"] or "", tooltip=lambda r: r["reason"]),
    )


def place(passage: Passage) -> str:
    """Its page or section, as the results table shows it."""
    if passage.page is not None:
        return f"page {passage.page}"
    return passage.section or ""


@dataclass(frozen=True)
class Found:
    """A search result: its rank (from 1) and the passage."""

    rank: int
    passage: Passage


class PassagesModel(RowTableModel[Found]):
    columns = (
        Column("#", lambda f: str(f.rank), sort=lambda f: f.rank, numeric=True),
        Column("File", lambda f: os.path.basename(f.passage.path),
               tooltip=lambda f: f.passage.path),
        Column("Page or section", lambda f: place(f.passage),
               tooltip=lambda f: place(f.passage) or None),
        Column("Score", lambda f: f"{f.passage.score:.3f}", sort=lambda f: f.passage.score,
               numeric=True, header_tip="BM25 keyword score: higher is a better match"),
        Column("Method", lambda f: f.passage.method,
               header_tip="How the passage was found (keyword: SQLite FTS5, BM25)"),
        Column("Passage", lambda f: " ".join(f.passage.text.split())[:200],
               tooltip=lambda f: " ".join(f.passage.text.split())[:600]),
    )


def update_state(model: CollectionsModel, name: str, state: str) -> None:
    """Change one collection's job state in place (no reset: the selection stays)."""
    for number, row in enumerate(model.rows()):
        if row.name == name:
            row.state = state
            first = model.index(number, 0)
            model.dataChanged.emit(first, model.index(number, len(model.columns) - 1))
