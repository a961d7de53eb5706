"""Passage vectors kept as float32 BLOBs in ``doc_vectors`` and scored with numpy.

Why BLOBs and numpy rather than sqlite-vec: sqlite-vec is a loadable extension, and the
``sqlite3`` of pyenv's default Python build (the one this project's venv uses) cannot load
extensions at all; at 100,000 passages numpy's brute force over an in-memory matrix answers
within the same few milliseconds (benchmarks/results-docs-vectors.md has both measured).

A collection's vectors are read into one matrix on its first search and kept, keyed by the
database file, the collection, and the count and largest id of its rows (ids are never
reused, so any write changes the key and the next search reads them again). Matrices are
kept while their bytes stay under :data:`CACHE_BYTES`, the least recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlite_utils import Database

#: The most bytes of vectors kept in memory between searches (about 230,000 passages of a
#: 384-wide model, or 150,000 of a 576-wide one).
CACHE_BYTES = 384 * 1024 * 1024

Matrix = npt.NDArray[np.float32]


def to_blob(vector: Sequence[float] | Matrix) -> bytes:
    """A vector as the BLOB stored: float32, little-endian."""
    return np.asarray(vector, dtype="<f4").tobytes()


def save_vectors(db: Database, collection_id: int, chunk_ids: Sequence[int],
                 vectors: Sequence[Sequence[float]] | Matrix) -> None:
    """Store one vector per passage (inside the caller's transaction, if any)."""
    db.conn.executemany(
        "INSERT OR REPLACE INTO doc_vectors (chunk_id, collection_id, vector) VALUES (?, ?, ?)",
        [(int(chunk_id), collection_id, to_blob(vector))
         for chunk_id, vector in zip(chunk_ids, vectors, strict=True)])


def vector_count(db: Database, collection_id: int) -> int:
    row = db.execute("SELECT COUNT(*) FROM doc_vectors WHERE collection_id = ?",
                     [collection_id]).fetchone()
    return int(row[0])


@dataclass(frozen=True)
class _Entry:
    key: tuple[int, int]  # count, largest id
    ids: npt.NDArray[np.int64]
    matrix: Matrix


_cache: OrderedDict[tuple[str, int, int], _Entry] = OrderedDict()
_lock = threading.Lock()


def _database_file(db: Database) -> str:
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(file) or f"memory:{id(db.conn)}"
    return f"memory:{id(db.conn)}"


def collection_matrix(db: Database, collection_id: int, dim: int
                      ) -> tuple[npt.NDArray[np.int64], Matrix]:
    """The chunk ids and the ``dim``-wide vectors of a collection, one row each (vectors of
    another width, left by a model since replaced, are not in it)."""
    count, largest = db.execute(
        "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM doc_vectors WHERE collection_id = ?",
        [collection_id]).fetchone()
    where = (_database_file(db), collection_id, dim)
    with _lock:
        entry = _cache.get(where)
        if entry is not None and entry.key == (count, largest):
            _cache.move_to_end(where)
            return entry.ids, entry.matrix
    rows = db.execute("SELECT chunk_id, vector FROM doc_vectors WHERE collection_id = ? "
                      "AND length(vector) = ? ORDER BY id", [collection_id, 4 * dim]).fetchall()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f4").reshape(
        len(rows), dim)
    entry = _Entry((count, largest), ids, matrix)
    with _lock:
        _cache[where] = entry
        _cache.move_to_end(where)
        total = sum(item.matrix.nbytes for item in _cache.values())
        while total > CACHE_BYTES and len(_cache) > 1:
            _, dropped = _cache.popitem(last=False)
            total -= dropped.matrix.nbytes
    return ids, matrix


def nearest(db: Database, collection_id: int, query: Sequence[float] | Matrix, k: int
            ) -> list[tuple[int, float]]:
    """The ``k`` passages whose vectors are closest to ``query`` (cosine: both are
    normalised), as (chunk id, similarity), best first."""
    vector = np.asarray(query, dtype=np.float32)
    ids, matrix = collection_matrix(db, collection_id, len(vector))
    if not len(ids) or k < 1:
        return []
    scores = matrix @ vector
    if len(scores) > k:
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
    else:
        top = np.argsort(-scores, kind="stable")
    return [(int(ids[i]), float(scores[i])) for i in top]
