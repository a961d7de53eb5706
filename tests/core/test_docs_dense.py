"""Collections with an embedding model (issue 22, item 3): passages embedded by the real
llama.cpp (the test model stands in for an embedding model, mean-pooled), searched by
keyword and by vector and fused by reciprocal rank; only an edited file is embedded again;
removing a file or a collection removes its vectors; a chat with such a collection cites the
right page. Nothing checks the model's wording."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from docs_files import MARKDOWN, PDF_FACTS, make_docx, make_pdf

from workbench.documents.collections import (
    add_collection,
    get_collection,
    list_collections,
    remove_collection,
    remove_path,
    set_embed_model,
)
from workbench.documents.embedder import Embedder, requests
from workbench.documents.grounding import RRF_K, fuse, retrieve
from workbench.documents.indexing import IndexRun
from workbench.documents.search import Passage, dense_search
from workbench.engine.embed import MAX_TOTAL_TOKENS
from workbench.settings import set_setting

SMOLLM2_WIDTH = 576


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "papers"
    root.mkdir()
    make_pdf(root / "handbook.pdf")
    make_docx(root / "staff.docx")
    (root / "garden.md").write_text(MARKDOWN, encoding="utf-8")
    return root


@pytest.fixture
def embedder(db):
    set_setting(db, "threads", 1)
    with Embedder() as made:
        yield made


@pytest.fixture
def papers(db, folder, library_model, embedder):
    add_collection(db, "papers", [str(folder)])
    set_embed_model(db, "papers", library_model.id)
    run = IndexRun(db, "papers", embedder)
    list(run)
    return run


def vectors(db, where: str = "1", args: tuple = ()) -> int:
    return db.execute(f"SELECT COUNT(*) FROM doc_vectors WHERE {where}", args).fetchone()[0]


def chunks(db) -> int:
    return db.execute("SELECT COUNT(*) FROM doc_chunks").fetchone()[0]


def test_every_passage_gets_a_vector_of_the_models_width(db, papers) -> None:
    assert papers.counts["indexed"] == 3 and papers.embedded == chunks(db) > 0
    assert vectors(db) == chunks(db)
    widths = {row[0] for row in db.execute("SELECT length(vector) FROM doc_vectors")}
    assert widths == {4 * SMOLLM2_WIDTH}
    row = list_collections(db)[0]
    assert (row["vectors"], row["embed_model"]) == (chunks(db), "SmolLM2-135M-Instruct.Q4_1")


def test_hybrid_retrieval_finds_each_fact_on_its_page(db, papers, embedder) -> None:
    for page, fact in PDF_FACTS.items():
        found = retrieve(db, ["papers"], fact, k=3, embedder=embedder)
        best = found[0]
        assert (Path(best.path).name, best.page) == ("handbook.pdf", page), fact
        assert best.method == "keyword+dense", best  # both searches found it
        assert best.score <= 2 / (RRF_K + 1)
    (vector,) = embedder.embed(db, get_collection(db, "papers")["embed_model_id"],
                               [PDF_FACTS[3]])
    nearest = dense_search(db, "papers", vector, k=3)
    assert [p.method for p in nearest] == ["dense"] * 3
    assert ("handbook.pdf", 3) in [(Path(p.path).name, p.page) for p in nearest]
    assert nearest[0].score >= nearest[-1].score
    keyword = retrieve(db, ["papers"], PDF_FACTS[2], k=3, keyword_only=True)
    assert {p.method for p in keyword} == {"keyword"}


def test_editing_one_file_embeds_only_its_passages(db, folder, papers, embedder) -> None:
    garden = folder / "garden.md"
    garden.write_text(MARKDOWN + "\n## Frost\n\nFleece covers the figs from November.\n",
                      encoding="utf-8")
    stat = garden.stat()
    os.utime(garden, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    before = embedder.tokens
    run = IndexRun(db, "papers", embedder)
    list(run)
    garden_chunks = db.execute("SELECT chunk_count FROM doc_files WHERE path = ?",
                               [str(garden)]).fetchone()[0]
    assert run.counts["indexed"] == 1 and run.counts["unchanged"] == 2
    assert run.embedded == garden_chunks and embedder.tokens > before
    assert vectors(db) == chunks(db)
    found = retrieve(db, ["papers"], "Fleece covers the figs", k=1, embedder=embedder)
    assert Path(found[0].path).name == "garden.md" and "dense" in found[0].method
    again = IndexRun(db, "papers", embedder)
    list(again)
    assert again.embedded == 0 and again.counts["unchanged"] == 3


def test_removing_a_file_or_the_collection_removes_its_vectors(db, folder, papers) -> None:
    pdf = str(folder / "handbook.pdf")
    file_id = db.execute("SELECT id FROM doc_files WHERE path = ?", [pdf]).fetchone()[0]
    assert vectors(db, "chunk_id IN (SELECT id FROM doc_chunks WHERE file_id = ?)",
                   (file_id,)) > 0
    remove_path(db, "papers", pdf)
    assert vectors(db) == chunks(db) > 0  # every vector left belongs to a passage left
    orphans = "chunk_id NOT IN (SELECT id FROM doc_chunks)"
    assert vectors(db, orphans) == 0
    removed = remove_collection(db, "papers")
    assert removed["vectors"] > 0 and vectors(db) == 0 and chunks(db) == 0


def test_a_new_model_embeds_the_stored_text_again_and_none_means_keyword(
        db, folder, papers, embedder, library_model) -> None:
    set_embed_model(db, "papers", None)
    assert vectors(db) == 0
    found = retrieve(db, ["papers"], PDF_FACTS[1], k=2, embedder=embedder)
    assert {p.method for p in found} == {"keyword"}
    set_embed_model(db, "papers", library_model.id)
    run = IndexRun(db, "papers", embedder)
    events = list(run)
    assert {e.status for e in events} == {"embedded"}  # no file was read again
    assert run.embedded == chunks(db) == vectors(db)


def test_a_stop_while_embedding_leaves_the_file_and_the_next_run_resumes(
        db, folder, library_model, embedder) -> None:
    add_collection(db, "papers", [str(folder)])
    set_embed_model(db, "papers", library_model.id)
    run = IndexRun(db, "papers", embedder)
    first = next(iter(run))
    run.stop()
    assert first.status == "indexed"
    assert db.execute("SELECT COUNT(*) FROM doc_files").fetchone()[0] == 1
    assert vectors(db) == chunks(db)
    rest = IndexRun(db, "papers")  # no embedder given: the run starts its own and ends it
    events = list(rest)
    assert [e.status for e in events].count("indexed") == 2 and rest._own_embedder is None
    assert vectors(db) == chunks(db)


def test_fusion_rewards_passages_found_by_both() -> None:
    def passage(chunk_id: int, method: str) -> Passage:
        return Passage(chunk_id, "c", "f", None, None, 0, 1, "t", 1.0, method)

    fused = fuse([[passage(1, "keyword"), passage(2, "keyword")],
                  [passage(3, "dense"), passage(2, "dense")]])
    assert [(p.chunk_id, p.method) for p in fused] == [
        (2, "keyword+dense"), (1, "keyword"), (3, "dense")]
    assert fused[0].score == pytest.approx(1 / (RRF_K + 2) * 2)


def test_requests_never_exceed_the_engines_bound() -> None:
    texts = ["x" * 1000] * 40 + ["é" * 5000]
    groups = requests(texts)
    assert [t for group in groups for t in group] == texts
    for group in groups:
        assert sum(min(len(t.encode()) + 2, 2048) for t in group) <= MAX_TOTAL_TOKENS


def test_cli_embed_model_search_methods_and_chat_citation(cli_run, db, folder,
                                                          library_model) -> None:
    set_setting(db, "threads", 1)
    added = cli_run("docs", "add", "papers", str(folder), "--embed-model", "1")
    assert added.exit_code == 0, added.output
    assert "passages embedded" in added.stdout
    shown = cli_run("docs", "show", "papers").stdout
    assert "search: hybrid, embedded by SmolLM2" in shown
    found = cli_run("docs", "search", "papers", PDF_FACTS[2], "--json", "--k", "2")
    assert found.exit_code == 0, found.output
    best = json.loads(found.stdout)[0]
    assert (Path(best["path"]).name, best["page"], best["method"]) == (
        "handbook.pdf", 2, "keyword+dense")
    text = cli_run("docs", "search", "papers", PDF_FACTS[2], "--k", "1").stdout
    assert "#page=2" in text and "(keyword+dense)" in text
    chat = cli_run("chat", "1", "What is the refund period for damaged parcels?", "--docs",
                   "papers", "--format", "json", "--k", "2", "--ctx", "1024", "--threads",
                   "1", "--max-tokens", "8", "--seed", "1")
    assert chat.exit_code == 0, chat.output
    first = json.loads(chat.stdout)["citations"][0]
    assert (Path(first["path"]).name, first["page"]) == ("handbook.pdf", 2)
    assert "dense" in first["method"]
    unknown = cli_run("docs", "add", "other", str(folder), "--embed-model", "nosuch")
    assert unknown.exit_code == 1 and "nosuch" in unknown.output
    assert [row["name"] for row in list_collections(db)] == ["papers"]
    keyword = cli_run("docs", "reindex", "papers", "--embed-model", "none")
    assert keyword.exit_code == 0 and "search: keyword only" in cli_run(
        "docs", "show", "papers").stdout
    rm = cli_run("docs", "rm", "papers")
    assert rm.exit_code == 0 and vectors(db) == 0


def test_keyword_search_leaves_out_words_too_common_to_matter(db, tmp_path) -> None:
    from workbench.documents.search import keyword_search, selective_query

    root = tmp_path / "many"
    root.mkdir()
    for number in range(30):
        (root / f"n{number}.txt").write_text(f"The ledger entry number {number} is filed.\n")
    (root / "rare.txt").write_text("The walrus ledger is filed under zeppelins.\n")
    add_collection(db, "many", [str(root)])
    list(IndexRun(db, "many"))
    assert selective_query(db, "the walrus ledgers", budget=5) == '"walrus"'
    assert selective_query(db, "the walrus ledgers", budget=100) == (
        '"the" OR "walrus" OR "ledgers"')  # stems counted: "ledgers" is "ledger"
    assert selective_query(db, "what about unicorns") == ""  # in no passage: nothing matches
    best = keyword_search(db, "many", "Where is the walrus ledger filed?", k=1)[0]
    assert Path(best.path).name == "rare.txt"
    assert not db.conn.in_transaction  # the query's words were tokenized without holding one
