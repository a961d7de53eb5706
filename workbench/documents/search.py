"""Keyword retrieval (SQLite's FTS5 index over the passages, ranked by BM25) and dense
retrieval (the passages' vectors nearest the question's: :mod:`.vectors`). Fusing them is
:func:`workbench.documents.grounding.retrieve`'s.

The user's words are quoted one by one and joined with OR, so punctuation in a question
("what's the refund period?") is never read as FTS5 query syntax and a passage that has some
of the words still ranks, below those that have more (and rarer) ones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import regex
from sqlite_utils import Database

from workbench.documents.collections import get_collection
from workbench.documents.vectors import database_file, nearest


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


#: The most postings (a passage holding a query word, counted once per word) one keyword
#: search ranks: BM25 scores every passage that holds any word of the query, so a word that
#: is in most passages ("the", "what") would make a search of 100,000 passages take hundreds
#: of milliseconds while adding almost nothing to the ranking (its BM25 weight is near 0).
POSTINGS_BUDGET = 20_000


def _word_stems(db: Database, words: list[str]) -> list[list[str]]:
    """Each word as the keyword index stores it (FTS5's porter tokenizer: one word may give
    several terms), by tokenizing the words in a temporary FTS5 table of the connection
    (its writes are committed at once unless the caller's transaction holds them: they touch
    only the connection's temporary database, never the file's write lock)."""
    ours = not db.conn.in_transaction
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.wb_query_words "
               "USING fts5(word, tokenize='porter')")
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.wb_query_terms "
               "USING fts5vocab(temp, wb_query_words, instance)")
    db.execute("DELETE FROM temp.wb_query_words")
    db.conn.executemany("INSERT INTO temp.wb_query_words (rowid, word) VALUES (?, ?)",
                        list(enumerate(words, 1)))
    stems: list[list[str]] = [[] for _ in words]
    for term, row in db.execute("SELECT term, doc FROM temp.wb_query_terms"):
        stems[row - 1].append(term)
    if ours and db.conn.in_transaction:
        db.conn.commit()
    return stems


#: Terms whose passage counts are kept between searches (per database file).
KEPT_TERMS = 50_000
_counts: dict[str, tuple[int, OrderedDict[str, int]]] = {}
_counts_lock = threading.Lock()


def term_counts(db: Database, terms: list[str]) -> dict[str, int]:
    """How many passages hold each of ``terms`` (0 for none). Reading a count from the
    ``fts5vocab`` table walks the term's whole list of passages, as long as the search it
    is meant to spare for a common word, so counts are kept in memory, for as long as
    ``doc_index_state.chunks_version`` (raised by a trigger on every write to a passage)
    stays the same."""
    version = db.execute("SELECT chunks_version FROM doc_index_state").fetchone()[0]
    where = database_file(db)
    with _counts_lock:
        kept_version, kept = _counts.get(where, (-1, OrderedDict()))
        if kept_version != version:
            kept = OrderedDict()
            _counts[where] = (version, kept)
        found = {term: kept[term] for term in terms if term in kept}
    missing = [term for term in terms if term not in found]
    if missing:
        marks = ",".join("?" * len(missing))
        read = dict(db.execute(f"SELECT term, doc FROM doc_chunks_fts_vocab "
                               f"WHERE term IN ({marks})", missing).fetchall())
        with _counts_lock:
            for term in missing:
                found[term] = kept[term] = int(read.get(term, 0))
            while len(kept) > KEPT_TERMS:
                kept.popitem(last=False)
    return found


def selective_query(db: Database, text: str, budget: int = POSTINGS_BUDGET) -> str:
    """:func:`fts_query` of the words of ``text`` that matter: the rarest first, while the
    passages holding them stay within ``budget`` (the rarest word is always kept); words in
    no passage are left out, as they match nothing."""
    words = list(dict.fromkeys(w.lower() for w in regex.findall(r"[\p{L}\p{N}_]+", text)))
    if not words:
        return ""
    stems = _word_stems(db, words)
    terms = sorted({term for word_terms in stems for term in word_terms})
    if not terms:
        return fts_query(text)
    counts = term_counts(db, terms)
    found = sorted((sum(counts.get(t, 0) for t in word_terms), number)
                   for number, word_terms in enumerate(stems)
                   if any(counts.get(t, 0) for t in word_terms))
    kept: list[int] = []
    total = 0
    for postings, number in found:
        if kept and total + postings > budget:
            break
        kept.append(number)
        total += postings
    return " OR ".join(f'"{words[number]}"' for number in sorted(kept))


def keyword_search(db: Database, name: str, query: str, k: int = 5) -> list[Passage]:
    """The ``k`` passages of collection ``name`` that best match ``query`` by BM25 (over
    its words that are not too common to matter: :func:`selective_query`).

    Ordered by FTS5's own ``rank`` column (BM25), which FTS5 sorts itself, so the join
    stops at the ``k``-th passage of the collection; ``ORDER BY bm25(...)`` made SQLite read
    every match's row and sort them (3 times slower at 100,000 passages). The text, file and
    page are read for the ``k`` kept only."""
    collection = get_collection(db, name)
    match = selective_query(db, query)
    if not match or k < 1:
        return []
    ranked = db.execute("""
        SELECT f.rowid, f.rank
        FROM doc_chunks_fts f
        JOIN doc_chunks c ON c.id = f.rowid
        WHERE doc_chunks_fts MATCH ? AND c.collection_id = ?
        ORDER BY f.rank LIMIT ?""", [match, collection["id"], k]).fetchall()
    return _passages(db, collection["name"], [(row[0], -row[1]) for row in ranked],
                     "keyword")


def _passages(db: Database, collection: str, found: list[tuple[int, float]], method: str
              ) -> list[Passage]:
    """The passages of ``found`` (chunk id, score), in its order."""
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
            passages.append(Passage(chunk_id, collection, path, page, section, start,
                                    end, text, score, method))
    return passages


def dense_search(db: Database, name: str, vector: Sequence[float], k: int = 5
                 ) -> list[Passage]:
    """The ``k`` passages of collection ``name`` whose vectors are nearest ``vector`` (the
    question embedded by the collection's model)."""
    collection = get_collection(db, name)
    return _passages(db, collection["name"], nearest(db, collection["id"], vector, k), "dense")
