"""The markers some embedding models expect before questions and passages (issue 22):
chosen from the catalog entry or the model's names (pure), and applied by the Embedder with
the real llama.cpp (the test model renamed after a model that expects them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.catalog import load_catalog
from workbench.documents.collections import add_collection, set_embed_model
from workbench.documents.embedder import Embedder
from workbench.documents.indexing import IndexRun
from workbench.documents.prefixes import QWEN3_QUERY, Prefixes, by_names, for_model
from workbench.library import Model, rename_model
from workbench.settings import set_setting


def model(name: str, file_name: str = "model.gguf", repo: str = "") -> Model:
    return Model(1, name, "/x/" + file_name, file_name, "bert", 1, "Q8_0", 512, False, None,
                 1, "0", "local", "now", provenance={"repo": repo} if repo else {})


@pytest.mark.parametrize(("names", "query", "passage"), [
    (["nomic-embed-text-v1.5.Q4_K_M"], "search_query: ", "search_document: "),
    (["my model", "", "intfloat/multilingual-e5-small"], "query: ", "passage: "),
    (["e5-base-v2-q8_0.gguf"], "query: ", "passage: "),
    (["Qwen3-Embedding-4B-Q4_K_M"], QWEN3_QUERY, ""),
    (["multilingual-e5-large-instruct"], QWEN3_QUERY.replace("Query:", "Query: "), ""),
    (["bge-small-en-v1.5"], "", ""),
    (["granite-embedding-107m-multilingual"], "", ""),
    (["SmolLM2-135M-Instruct.Q4_1"], "", ""),
    (["gte5-large"], "", ""),  # "e5-" inside another word is not E5
])
def test_markers_by_names(names: list[str], query: str, passage: str) -> None:
    assert by_names(names) == Prefixes(query, passage)


def test_the_catalog_entry_comes_first_then_the_names() -> None:
    entries = load_catalog()
    nomic = next(e for e in entries if e.id == "nomic-embed-text-v1.5")
    qwen = next(e for e in entries if e.id == "qwen3-embedding-0.6b")
    assert (nomic.query_prefix, nomic.passage_prefix) == ("search_query: ", "search_document: ")
    # renamed in the library: still known by its file, and by its repository
    assert for_model(model("notes", nomic.file)) == Prefixes("search_query: ",
                                                             "search_document: ")
    assert for_model(model("q", "other.gguf", qwen.repo)).query == qwen.query_prefix
    assert for_model(model("x", "e5-small-v2.gguf")) == Prefixes("query: ", "passage: ")
    assert for_model(model("x", "bge-small-en-v1.5.Q8_0.gguf")) == Prefixes()


def test_apply_puts_the_role_s_marker_before_each_text() -> None:
    marks = Prefixes("q: ", "p: ")
    assert marks.apply("query", ["a", "b"]) == ["q: a", "q: b"]
    assert marks.apply("passage", ["a"]) == ["p: a"]


def test_the_embedder_and_the_index_apply_the_models_markers(db, library_model,
                                                             tmp_path: Path) -> None:
    set_setting(db, "threads", 1)
    folder = tmp_path / "notes"
    folder.mkdir()
    text = "The lighthouse keeper logs the weather at dawn every day."
    (folder / "log.txt").write_text(text, encoding="utf-8")
    add_collection(db, "notes", [str(folder)])
    with Embedder() as embedder:
        plain = np.array(embedder.embed(db, library_model.id, [text])[0])
        marked = np.array(embedder.embed(db, library_model.id, ["search_document: " + text])[0])
        rename_model(db, library_model.id, "nomic-embed-text-test")
        as_passage = np.array(embedder.embed(db, library_model.id, [text])[0])
        as_query = np.array(embedder.embed(db, library_model.id, [text], role="query")[0])
        assert np.allclose(as_passage, marked, atol=1e-5)
        assert not np.allclose(as_passage, plain, atol=1e-3)
        assert not np.allclose(as_query, as_passage, atol=1e-3)
        set_embed_model(db, "notes", library_model.id)
        list(IndexRun(db, "notes", embedder))
        chunk, vector = db.execute("SELECT c.text, v.vector FROM doc_vectors v "
                                   "JOIN doc_chunks c ON c.id = v.chunk_id").fetchone()
        rename_model(db, library_model.id, "plain")  # no markers: embed them by hand
        expected = np.array(embedder.embed(db, library_model.id,
                                           ["search_document: " + chunk])[0])
    assert np.allclose(np.frombuffer(vector, dtype="<f4"), expected, atol=1e-5)
