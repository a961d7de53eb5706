"""What an embedding model expects before a question and before a passage.

Several embedding models were trained with a marker in front of each text that says which
side it is: Nomic's ``search_query: `` / ``search_document: ``, E5's ``query: `` /
``passage: ``, Qwen3-Embedding's one-line instruction before a question. Without them the
vectors still come out, but the question lands farther from the passages that answer it.

The markers come from the model's catalog entry when the library model is one (matched by
its file name or its Hub repository), else from its names (library name, file name, the
repository it came from) by :data:`RULES`; a model matched by neither gets none.
:meth:`workbench.documents.embedder.Embedder.embed` applies them, the one place texts are
embedded for a collection, so indexing and retrieval always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import regex

from workbench.catalog import CatalogEntry, CatalogError, load_catalog
from workbench.library import Model

Role = Literal["query", "passage"]


@dataclass(frozen=True)
class Prefixes:
    """The text put before a question (``query``) and before a passage (``passage``)."""

    query: str = ""
    passage: str = ""

    def apply(self, role: Role, texts: Iterable[str]) -> list[str]:
        prefix = self.query if role == "query" else self.passage
        return [prefix + text for text in texts]


QWEN3_QUERY = ("Instruct: Given a web search query, retrieve relevant passages that answer "
               "the query\nQuery:")

#: A pattern over a model's names (lower case) and its markers, the first that matches wins.
RULES: tuple[tuple[str, Prefixes], ...] = (
    (r"nomic-embed", Prefixes("search_query: ", "search_document: ")),
    (r"qwen3-embedding", Prefixes(QWEN3_QUERY, "")),
    (r"embeddinggemma", Prefixes("task: search result | query: ", "title: none | text: ")),
    (r"(?<![a-z0-9])e5-.*instruct", Prefixes(QWEN3_QUERY.replace("\nQuery:", "\nQuery: "),
                                             "")),
    (r"(?<![a-z0-9])e5-", Prefixes("query: ", "passage: ")),
    (r"mxbai-embed-large", Prefixes(
        "Represent this sentence for searching relevant passages: ", "")),
)


def by_names(names: Iterable[str]) -> Prefixes:
    """The markers :data:`RULES` give for the first of ``names`` one of them matches."""
    lowered = [name.lower() for name in names if name]
    for pattern, prefixes in RULES:
        if any(regex.search(pattern, name) for name in lowered):
            return prefixes
    return Prefixes()


def model_names(model: Model) -> list[str]:
    """What a library model is called: its name, file name, and where it came from."""
    provenance = model.provenance or {}
    return [model.name, model.file_name, str(provenance.get("repo") or ""),
            str(provenance.get("model_id") or "")]


def catalog_entry(model: Model, entries: Iterable[CatalogEntry] | None = None
                  ) -> CatalogEntry | None:
    """The catalog entry of the file ``model`` is, matched by file name (the catalog
    names one file per entry), or by repository when the model came from one."""
    try:
        listed = list(entries) if entries is not None else load_catalog()
    except CatalogError:
        return None
    repo = str((model.provenance or {}).get("repo") or "").lower()
    for entry in listed:
        if entry.file.lower() == model.file_name.lower() or (
                repo and entry.repo.lower() == repo and entry.embedding):
            return entry
    return None


def for_model(model: Model, entries: Iterable[CatalogEntry] | None = None) -> Prefixes:
    """The markers ``model`` expects: its catalog entry's, else those its names give."""
    entry = catalog_entry(model, entries)
    if entry is not None and (entry.query_prefix or entry.passage_prefix):
        return Prefixes(entry.query_prefix, entry.passage_prefix)
    return by_names(model_names(model))
