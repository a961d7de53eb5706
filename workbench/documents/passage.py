"""A cited passage opened again: where it is (file, page or section) and its text with the
text around it, read from the stored passages, never from the file (which may be a PDF, or
gone).

A citation names its passage by id and by its character offsets in the file's extracted
text. A reindex of a changed file gives its passages new ids, so when the id is gone the
passage is found again by its file and offsets, and the view says the file changed since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from workbench.errors import NotFoundError

#: How much of the neighbouring passages is shown before and after the cited one.
CONTEXT_CHARS = 600


@dataclass(frozen=True)
class PassageContext:
    """The cited passage and its surroundings, as the passage view shows them."""

    path: str
    page: int | None
    section: str | None
    before: str
    text: str
    after: str
    #: Said above the text when it is not exactly what the reply was given (or None).
    note: str | None
    #: Whether the file is still there to open.
    file_exists: bool

    @property
    def where(self) -> str:
        parts = [os.path.basename(self.path)]
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.section:
            parts.append(self.section)
        return ", ".join(parts)


_COLUMNS = "c.id, c.file_id, c.position, c.page, c.section, c.start, c.\"end\", c.text, f.path"


def _chunk(db: Database, where: str, args: list[Any]) -> dict[str, Any] | None:
    cursor = db.execute(f"SELECT {_COLUMNS} FROM doc_chunks c JOIN doc_files f "
                        f"ON f.id = c.file_id WHERE {where} LIMIT 1", args)
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _neighbour_text(db: Database, file_id: int, position: int) -> str:
    row = db.execute("SELECT text FROM doc_chunks WHERE file_id = ? AND position = ?",
                     [file_id, position]).fetchone()
    return row[0] if row else ""


def passage_context(db: Database, citation: dict[str, Any]) -> PassageContext:
    """The passage a citation (as saved with a reply) points to, with the text around it."""
    note = None
    found = _chunk(db, "c.id = ?", [citation.get("chunk_id")])
    if found is not None and (found["path"], found["start"], found["end"]) != (
            citation.get("path"), citation.get("start"), citation.get("end")):
        found = None  # a reindex freed the id and another passage took it
    if found is None:
        found = _chunk(db, "f.path = ? AND c.start <= ? AND c.\"end\" > ? "
                       "ORDER BY c.position", [citation.get("path"),
                                               citation.get("start") or 0,
                                               citation.get("start") or 0])
        note = "The file was indexed again since this reply: this is the passage now at " \
               "the same place in it."
    if found is None:
        raise NotFoundError(f"{citation.get('path')}: this passage is no longer indexed "
                            "(its collection or file was removed)")
    before = _neighbour_text(db, found["file_id"], found["position"] - 1)
    after = _neighbour_text(db, found["file_id"], found["position"] + 1)
    text = found["text"]
    # Passages overlap: show the neighbours' text that is not already in this one.
    before = before[: max(0, len(before) - _overlap(before, text))][-CONTEXT_CHARS:]
    after = after[_overlap(text, after):][:CONTEXT_CHARS]
    return PassageContext(found["path"], found["page"], found["section"], before, text,
                          after, note, os.path.exists(found["path"]))


def _overlap(first: str, second: str) -> int:
    """The length of the longest end of ``first`` that ``second`` starts with."""
    for size in range(min(len(first), len(second)), 0, -1):
        if first.endswith(second[:size]):
            return size
    return 0
