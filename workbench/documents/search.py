"""Keyword retrieval (SQLite's FTS5 index over the passages, ranked by BM25) and dense
retrieval (the passages' vectors nearest the question's: :mod:`.vectors`). Fusing them is
:func:`workbench.documents.grounding.retrieve`'s.

The user's words are quoted one by one and joined with OR, so punctuation in a question
("what's the refund period?") is never read as FTS5 query syntax and a passage that has some
of the words still ranks, below those that have more (and rarer) ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import regex
from sqlite_utils import Database

from workbench.documents.collections import get_collection
from workbench.documents.vectors import nearest


@dataclass(frozen=True)
class Passage:
    """One retrieved passage; ``score`` is higher for a better match: BM25 with its sign
    flipped (``method`` "keyword"), cosine similarity ("dense"), or, when the two were fused,
    the reciprocal-rank-fusion score; ``method`` then names the searches that found it
    ("keyword+dense", or one of them alone)."""

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


def dense_search(db: Database, name: str, vector: Sequence[float], k: int = 5
                 ) -> list[Passage]:
    """The ``k`` passages of collection ``name`` whose vectors are nearest ``vector`` (the
    question embedded by the collection's model)."""
    collection = get_collection(db, name)
    found = nearest(db, collection["id"], vector, k)
    if not found:
        return []
    marks = ",".join("?" * len(found))
    rows = {row[0]: row for row in db.execute(f"""
        SELECT c.id, f.path, c.page, c.section, c.start, c."end", c.text
        FROM doc_chunks c JOIN doc_files f ON f.id = c.file_id
        WHERE c.id IN ({marks})""", [chunk_id for chunk_id, _ in found]).fetchall()}
    passages = []
    for chunk_id, score in found:
        if chunk_id in rows:
            _, path, page, section, start, end, text = rows[chunk_id]
            passages.append(Passage(chunk_id, collection["name"], path, page, section, start,
                                    end, text, score, "dense"))
    return passages
