"""What makes search fast at 100,000 passages (issue 22) must not make it wrong: the kept
vector matrix and word counts follow every write (version rows raised by triggers), and the
sign-bit search finds what the float32 brute force finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.documents import vectors
from workbench.documents.chunking import Chunk
from workbench.documents.collections import add_collection, get_collection, save_file
from workbench.documents.search import keyword_search
from workbench.documents.vectors import VectorIndex, nearest, save_vectors


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def file_row(path: str) -> dict:
    return {"path": path, "format": "text", "size": 1, "mtime_ns": 1, "sha256": "x",
            "status": "indexed"}


@pytest.fixture
def notes(db, tmp_path: Path) -> int:
    (tmp_path / "n").mkdir()
    add_collection(db, "notes", [str(tmp_path / "n")])
    return get_collection(db, "notes")["id"]


def test_the_sign_bits_find_the_brute_forces_top_ten(monkeypatch) -> None:
    monkeypatch.setattr(vectors, "BINARY_FROM", 1000)
    rng = np.random.default_rng(4)
    shared, topics = unit(rng.standard_normal(128)), unit(rng.standard_normal((20, 128)))
    matrix = unit(shared + topics[rng.integers(0, 20, 5000)]
                  + 0.9 * unit(rng.standard_normal((5000, 128))))
    index = VectorIndex.of(0, np.arange(5000, dtype=np.int64) + 100, matrix)
    assert index.bits is not None and index.bits.shape == (5000, 2)
    shares = []
    for row in rng.integers(0, 5000, 20):
        question = unit(matrix[row] + 0.8 * unit(rng.standard_normal(128)))
        exact = index.search(question, 10, exact=True)
        found = index.search(question, 10)
        assert found[0] == exact[0] and found[0][0] == row + 100
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        shares.append(len({i for i, _ in found} & {i for i, _ in exact}) / 10)
    assert np.mean(shares) >= 0.9


def test_the_kept_matrix_follows_every_write(db, notes) -> None:
    first = save_file(db, notes, file_row("/a.txt"), [Chunk("alpha", None, None, 0, 5)])
    vector = unit(np.arange(1, 9, dtype=np.float32))
    save_vectors(db, notes, [first], [vector])
    version = get_collection(db, "notes")["vectors_version"]
    assert nearest(db, notes, vector, 3)[0][0] > 0
    second = save_file(db, notes, file_row("/b.txt"), [Chunk("beta", None, None, 0, 4)])
    chunk = db.execute("SELECT id FROM doc_chunks WHERE file_id = ?", [second]).fetchone()[0]
    save_vectors(db, notes, [chunk], [-vector])
    assert get_collection(db, "notes")["vectors_version"] > version
    assert [i for i, _ in nearest(db, notes, -vector, 2)][0] == chunk
    db.execute("DELETE FROM doc_chunks WHERE id = ?", [chunk])  # the trigger drops its vector
    assert chunk not in [i for i, _ in nearest(db, notes, -vector, 2)]


def test_kept_word_counts_follow_every_write(db, notes) -> None:
    save_file(db, notes, file_row("/a.txt"), [Chunk("the lighthouse at dawn", None, None, 0, 22)])
    assert keyword_search(db, "notes", "harbour lighthouse") != []
    assert keyword_search(db, "notes", "harbour") == []  # "harbour" counted: in no passage
    save_file(db, notes, file_row("/b.txt"), [Chunk("the harbour at night", None, None, 0, 20)])
    found = keyword_search(db, "notes", "harbour")
    assert [p.path for p in found] == ["/b.txt"] and found[0].method == "keyword"
