"""Passage vectors kept as float32 BLOBs in ``doc_vectors`` and scored with numpy.

Why BLOBs and numpy rather than sqlite-vec: sqlite-vec is a loadable extension, and the
``sqlite3`` of pyenv's default Python build (the one this project's venv uses) cannot load
extensions at all; at 100,000 passages numpy's brute force over an in-memory matrix answers
within the same few milliseconds (benchmarks/results-docs-vectors.md has both measured).

A collection's vectors are read into one matrix on its first search and kept, keyed by the
database file, the collection and its ``vectors_version`` (a trigger raises it on every
write to its vectors: one row read tells whether the kept matrix is current). Matrices are
kept while their bytes stay under :data:`CACHE_BYTES`, the least recently used dropped first.

A float32 brute force reads the whole matrix per question (153 MB at 100,000 x 384): memory
bound, and slow on a busy machine. From :data:`BINARY_FROM` vectors on, a search first
ranks every passage by the Hamming distance of sign bits (the vectors less the collection's
mean, so a model whose vectors all lean one way still splits them: 1/32 of the bytes), then
scores the best :func:`candidates` exactly in float32 (benchmarks/results-docs-search.md
measures how often the top 10 agree with the float32 brute force).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlite_utils import Database

#: From how many vectors a search ranks by sign bits first (below it, float32 alone is fast).
BINARY_FROM = 20_000
#: The fewest passages the sign bits hand to the exact float32 scoring.
MIN_CANDIDATES = 400

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
class VectorIndex:
    """A collection's vectors in memory: the float32 matrix, and from :data:`BINARY_FROM`
    rows on, its sign bits (after taking off the mean) to rank by first."""

    version: int
    ids: npt.NDArray[np.int64]
    matrix: Matrix
    mean: Matrix | None = None  # what is taken off before the sign bits
    bits: npt.NDArray[np.uint64] | None = None  # one row of sign bits per vector

    @classmethod
    def of(cls, version: int, ids: npt.NDArray[np.int64], matrix: Matrix) -> VectorIndex:
        if len(ids) < BINARY_FROM:
            return cls(version, ids, matrix)
        mean = matrix.mean(axis=0, dtype=np.float32)
        return cls(version, ids, matrix, mean, sign_bits(matrix - mean))

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes + (self.bits.nbytes if self.bits is not None else 0)

    def search(self, vector: Matrix, k: int, exact: bool = False) -> list[tuple[int, float]]:
        """The ``k`` nearest rows as (chunk id, cosine), best first; ``exact``: by the
        float32 brute force alone."""
        if not len(self.ids) or k < 1:
            return []
        rows: npt.NDArray[np.intp] | None = None
        if (not exact and self.bits is not None and self.mean is not None
                and len(self.ids) > candidates(k)):
            distance = np.bitwise_count(self.bits ^ sign_bits(vector - self.mean)[0]).sum(
                axis=1, dtype=np.int32)
            rows = np.argpartition(distance, candidates(k))[:candidates(k)]
            rows.sort()  # in stored order, so that ties break as the brute force's
            scores = self.matrix[rows] @ vector
        else:
            scores = self.matrix @ vector
        if len(scores) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
        else:
            top = np.argsort(-scores, kind="stable")
        chosen = rows[top] if rows is not None else top
        return [(int(self.ids[i]), float(score))
                for i, score in zip(chosen, scores[top], strict=True)]


def sign_bits(vectors: Matrix) -> npt.NDArray[np.uint64]:
    """Each row's signs packed into 64-bit words (the last padded with zeros)."""
    packed = np.packbits(np.atleast_2d(vectors) > 0, axis=1)
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


def candidates(k: int) -> int:
    """How many passages the sign bits hand on to be scored exactly for a top ``k``."""
    return max(MIN_CANDIDATES, 20 * k)


_cache: OrderedDict[tuple[str, int, int], VectorIndex] = OrderedDict()
_lock = threading.Lock()


def database_file(db: Database) -> str:
    """What names the connection's database in the in-memory caches."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(file) or f"memory:{id(db.conn)}"
    return f"memory:{id(db.conn)}"


def _entry(db: Database, collection_id: int, dim: int) -> VectorIndex:
    row = db.execute("SELECT vectors_version FROM doc_collections WHERE id = ?",
                     [collection_id]).fetchone()
    version = int(row[0]) if row is not None else -1
    where = (database_file(db), collection_id, dim)
    with _lock:
        entry = _cache.get(where)
        if entry is not None and entry.version == version:
            _cache.move_to_end(where)
            return entry
    rows = db.execute("SELECT chunk_id, vector FROM doc_vectors WHERE collection_id = ? "
                      "AND length(vector) = ? ORDER BY id", [collection_id, 4 * dim]).fetchall()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f4").reshape(
        len(rows), dim)
    entry = VectorIndex.of(version, ids, matrix)
    with _lock:
        _cache[where] = entry
        _cache.move_to_end(where)
        total = sum(item.nbytes for item in _cache.values())
        while total > CACHE_BYTES and len(_cache) > 1:
            _, dropped = _cache.popitem(last=False)
            total -= dropped.nbytes
    return entry


def collection_matrix(db: Database, collection_id: int, dim: int
                      ) -> tuple[npt.NDArray[np.int64], Matrix]:
    """The chunk ids and the ``dim``-wide vectors of a collection, one row each (vectors of
    another width, left by a model since replaced, are not in it)."""
    entry = _entry(db, collection_id, dim)
    return entry.ids, entry.matrix


def nearest(db: Database, collection_id: int, query: Sequence[float] | Matrix, k: int
            ) -> list[tuple[int, float]]:
    """The ``k`` passages whose vectors are closest to ``query`` (cosine: both are
    normalised), as (chunk id, similarity), best first."""
    vector = np.asarray(query, dtype=np.float32)
    return _entry(db, collection_id, len(vector)).search(vector, k)


def exact_nearest(db: Database, collection_id: int, query: Sequence[float] | Matrix, k: int
                  ) -> list[tuple[int, float]]:
    """:func:`nearest` by the float32 brute force alone (what the sign bits are measured
    against)."""
    vector = np.asarray(query, dtype=np.float32)
    return _entry(db, collection_id, len(vector)).search(vector, k, exact=True)
