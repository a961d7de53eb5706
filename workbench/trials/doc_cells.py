"""A trial cell answered from documents: which collections, the grounding, and its record.

A prompt is answered from documents when its contender, the prompt itself or its suite
names collections, in that order: a contender's ``docs`` replaces the suite's (that is how
contenders differ in collection, and so in embedding model), a prompt's replaces its suite's.
``k`` is the contender's, else :data:`DEFAULT_K`. The cell goes through the same grounding as
chat (:func:`workbench.documents.grounding.retrieve`, then
:func:`~workbench.documents.grounding.ground`), and records what was retrieved (all ``k``,
best first), what was given to the model by number (fewer when the context cut them), the
numbers its reply cited, and, when the prompt names sources, recall and reciprocal rank
(:mod:`workbench.trials.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from workbench.documents.grounding import ground, retrieve
from workbench.engine import Engine, Message, SamplingSettings
from workbench.trials.contenders import Contender
from workbench.trials.sources import cited_numbers, retrieval_figures
from workbench.trials.suites import Suite, SuitePrompt

#: Passages retrieved when the contender does not say (as ``chat --docs``).
DEFAULT_K = 5


@dataclass(frozen=True)
class CellDocs:
    docs: list[str]
    k: int


def cell_docs(suite: Suite, prompt: SuitePrompt, contender: Contender) -> CellDocs | None:
    """The collections and k a cell is answered with; None for a plain prompt."""
    docs = contender.settings.get("docs") or prompt.docs or suite.docs
    if not docs:
        return None
    return CellDocs(list(docs), int(contender.settings.get("k") or DEFAULT_K))


def ground_cell(db: Database, engine: Engine, contender: Contender, prompt: SuitePrompt,
                messages: list[Message], where: CellDocs, sampling: SamplingSettings
                ) -> tuple[list[Message], dict[str, Any]]:
    """The cell's conversation with the passages fitted in, and its grounding record
    (finished by :func:`finish_record` once the reply is in)."""
    passages = retrieve(db, where.docs, prompt.prompt, where.k)
    grounded, grounding = ground(engine, contender.model_path, list(messages), passages,
                                 contender.load, sampling)
    retrieved = [{"rank": rank, "path": p.path, "page": p.page, "section": p.section,
                  "where": p.where, "chunk_id": p.chunk_id, "score": round(p.score, 4),
                  "method": p.method, "collection": p.collection}
                 for rank, p in enumerate(passages, 1)]
    record: dict[str, Any] = {"docs": where.docs, "k": where.k, "retrieved": retrieved,
                              "passages": grounding.citations(), "note": grounding.note,
                              "context": "".join(grounding.blocks), "cited": [],
                              "sources": list(prompt.sources)}
    if prompt.sources:
        record.update(retrieval_figures(retrieved, prompt.sources))
    return grounded, record


def finish_record(record: dict[str, Any] | None, text: str) -> dict[str, Any] | None:
    """The numbers the reply cited that name a passage it was given."""
    if record is not None:
        given = {int(p["number"]) for p in record["passages"]}
        record["cited"] = [n for n in cited_numbers(text) if n in given]
    return record
