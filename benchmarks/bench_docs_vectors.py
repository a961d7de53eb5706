"""Where a collection's vectors live: float32 BLOBs scored with numpy, against sqlite-vec.

Stands alone (no workbench import) so that it runs under any Python: sqlite-vec is a
loadable extension, and the pyenv Python of this project's venv cannot load extensions at
all (``sqlite3.Connection`` has no ``enable_load_extension``); /usr/bin/python3 can. Run it
there in a private venv to measure both:

    /usr/bin/python3 -m venv /tmp/vecbench && /tmp/vecbench/bin/pip install sqlite-vec numpy
    /tmp/vecbench/bin/python benchmarks/bench_docs_vectors.py

For each size (10,000 and 100,000 passages) and width (384: bge-small, e5-small, granite;
576: SmolLM2, the test model) it times the insert of random normalised vectors in one
transaction, the database's size, and the p50/p95 of a top-10 query (50 queries) for:

- numpy: BLOBs in a plain table (what ``workbench.documents.vectors`` does), the matrix read
  once and kept, each query one matrix-vector product and an argpartition (the first read,
  the "cold" query, is shown apart);
- vec0: sqlite-vec's virtual table, a KNN ``MATCH`` (brute force inside the extension);
- vec scan: the same BLOB table scanned with sqlite-vec's ``vec_distance_cosine``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def timed(run: Callable[[], object], queries: int) -> tuple[float, float]:
    times = []
    for _ in range(queries):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return percentiles(times)


def vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def size_of(path: str) -> int:
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal")
               if os.path.exists(path + suffix))


def bench_numpy(folder: str, data: np.ndarray, query: np.ndarray, queries: int) -> dict:
    path = os.path.join(folder, "numpy.db")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE v (id INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id INTEGER "
               "UNIQUE, collection_id INTEGER, vector BLOB)")
    db.execute("CREATE INDEX v_c ON v (collection_id, id)")
    start = time.perf_counter()
    with db:
        db.executemany("INSERT INTO v (chunk_id, collection_id, vector) VALUES (?, 1, ?)",
                       ((i, row.tobytes()) for i, row in enumerate(data)))
    insert = time.perf_counter() - start

    def load() -> tuple[np.ndarray, np.ndarray]:
        rows = db.execute("SELECT chunk_id, vector FROM v WHERE collection_id = 1 "
                          "ORDER BY id").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(
            len(rows), data.shape[1])

    start = time.perf_counter()
    ids, matrix = load()
    cold = (time.perf_counter() - start) * 1000

    def search() -> list[int]:
        db.execute("SELECT COUNT(*), MAX(id) FROM v WHERE collection_id = 1").fetchone()
        scores = matrix @ query
        top = np.argpartition(-scores, 9)[:10]
        return [int(ids[i]) for i in top[np.argsort(-scores[top])]]

    p50, p95 = timed(search, queries)
    db.close()
    return {"insert_s": insert, "bytes": size_of(path), "p50": p50, "p95": p95,
            "cold_ms": cold + p50, "top": search_top(matrix, ids, query)}


def search_top(matrix: np.ndarray, ids: np.ndarray, query: np.ndarray) -> list[int]:
    scores = matrix @ query
    return [int(ids[i]) for i in np.argsort(-scores)[:10]]


def bench_vec(folder: str, data: np.ndarray, query: np.ndarray, queries: int) -> dict:
    import sqlite_vec

    path = os.path.join(folder, "vec.db")
    db = sqlite3.connect(path)
    db.enable_load_extension(True)
    sqlite_vec.load(db)
    db.enable_load_extension(False)
    dim = data.shape[1]
    db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{dim}] "
               "distance_metric=cosine)")
    start = time.perf_counter()
    with db:
        db.executemany("INSERT INTO v (rowid, embedding) VALUES (?, ?)",
                       ((i, row.tobytes()) for i, row in enumerate(data)))
    insert = time.perf_counter() - start
    blob = query.tobytes()

    def knn() -> list[int]:
        return [r[0] for r in db.execute("SELECT rowid, distance FROM v WHERE embedding "
                                         "MATCH ? AND k = 10", [blob])]

    knn()
    p50, p95 = timed(knn, queries)
    top = knn()
    # the brute-force scan of a plain BLOB table with sqlite-vec's distance function
    db.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, vector BLOB)")
    with db:
        db.executemany("INSERT INTO b VALUES (?, ?)",
                       ((i, row.tobytes()) for i, row in enumerate(data)))

    def scan() -> list[int]:
        return [r[0] for r in db.execute("SELECT id, vec_distance_cosine(vector, ?) AS d "
                                         "FROM b ORDER BY d LIMIT 10", [blob])]

    scan_p50, scan_p95 = timed(scan, max(5, queries // 5))
    db.close()
    return {"insert_s": insert, "bytes": size_of(path), "p50": p50, "p95": p95,
            "scan_p50": scan_p50, "scan_p95": scan_p95, "top": top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dims", default="384,576")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    loadable = hasattr(sqlite3.Connection, "enable_load_extension")
    try:
        import sqlite_vec  # noqa: F401
    except ImportError:
        loadable = False
    print(f"Python {sys.version.split()[0]} ({sys.executable}), SQLite {sqlite3.sqlite_version}, "
          f"numpy {np.__version__}, extensions loadable: {loadable}")
    print("| passages | width | store | insert s | size MiB | query p50 ms | query p95 ms "
          "| note |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for n in map(int, args.sizes.split(",")):
        for dim in map(int, args.dims.split(",")):
            data = vectors(n, dim, seed=n + dim)
            query = vectors(1, dim, seed=7)[0]
            with tempfile.TemporaryDirectory() as folder:
                got = bench_numpy(folder, data, query, args.queries)
                print(f"| {n:,} | {dim} | numpy BLOBs | {got['insert_s']:.2f} | "
                      f"{got['bytes'] / 2**20:.0f} | {got['p50']:.1f} | {got['p95']:.1f} | "
                      f"first query (reads the matrix) {got['cold_ms']:.0f} ms |", flush=True)
                if loadable:
                    vec = bench_vec(folder, data, query, args.queries)
                    same = "same top 10" if vec["top"] == got["top"] else "top 10 differs"
                    print(f"| {n:,} | {dim} | sqlite-vec vec0 | {vec['insert_s']:.2f} | "
                          f"{vec['bytes'] / 2**20:.0f} | {vec['p50']:.1f} | {vec['p95']:.1f} "
                          f"| {same} as numpy |", flush=True)
                    print(f"| {n:,} | {dim} | sqlite-vec scan | | | {vec['scan_p50']:.1f} | "
                          f"{vec['scan_p95']:.1f} | vec_distance_cosine over a BLOB table |",
                          flush=True)


if __name__ == "__main__":
    main()
