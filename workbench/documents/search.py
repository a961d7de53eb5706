"""Keyword retrieval: SQLite's FTS5 index over the passages, ranked by BM25.

The user's words are quoted one by one and joined with OR, so punctuation in a question
("what's the refund period?") is never read as FTS5 query syntax and a passage that has some
of the words still ranks, below those that have more (and rarer) ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import regex
from sqlite_utils import Database

from workbench.documents.collections import get_collection


@dataclass(frozen=True)
class Passage:
    """One retrieved passage; ``score`` is higher for a better match (BM25, sign flipped)."""

    chunk_id: int
    collection: str
    path: str
    page: int | None
    section: str | None
    start: int
    end: int
    text: str
    score: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def where(self) -> str:
        """The file with its page or section, as a citation shows it."""
        if self.page is not None:
            return f"{self.path}#page={self.page}"
        return f"{self.path} ({self.section})" if self.section else self.path


def fts_query(text: str) -> str:
    """``text`` as an FTS5 query of its words, each quoted, joined by OR ("" if none)."""
    words = regex.findall(r"[\p{L}\p{N}_]+", text)
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(w.lower() for w in words))


def keyword_search(db: Database, name: str, query: str, k: int = 5) -> list[Passage]:
    """The ``k`` passages of collection ``name`` that best match ``query`` by BM25."""
    collection = get_collection(db, name)
    match = fts_query(query)
    if not match or k < 1:
        return []
    rows = db.execute("""
        SELECT c.id, f.path, c.page, c.section, c.start, c."end", c.text,
               bm25(doc_chunks_fts) AS rank
        FROM doc_chunks_fts
        JOIN doc_chunks c ON c.id = doc_chunks_fts.rowid
        JOIN doc_files f ON f.id = c.file_id
        WHERE doc_chunks_fts MATCH ? AND c.collection_id = ?
        ORDER BY rank LIMIT ?""", [match, collection["id"], k]).fetchall()
    return [Passage(row[0], collection["name"], row[1], row[2], row[3], row[4], row[5],
                    row[6], -row[7], "keyword") for row in rows]
