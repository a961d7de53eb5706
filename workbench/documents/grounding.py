"""Chat with a collection: the passages that best match the question, numbered into the
prompt within the model's context, and the citations kept with the reply.

Retrieval runs before anything is saved, so a collection name that does not exist is one
line and leaves no conversation behind. The passages go into the user's message as sent to
the model (History keeps the question as typed, and the citations in the reply's record):
a later turn's retrieval replaces them rather than piling them up. Whatever does not fit
the context with the history, the question and the room kept for the reply is cut, the last
passage shortened rather than dropped where enough room is left, and the reply says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from workbench.documents.collections import get_collection
from workbench.documents.embedder import Embedder
from workbench.documents.search import Passage, dense_search, keyword_search

if TYPE_CHECKING:
    from workbench.engine import Engine, LoadSettings, SamplingSettings

INSTRUCTION = ("Answer the question from the numbered passages below. Cite each passage "
               "you use by its number in square brackets, like [1]. If the passages do not "
               "answer it, say so.")

#: The fewest tokens of a passage's text worth keeping when it must be shortened.
MIN_TRIMMED_TOKENS = 24
#: Tokens kept free for tokens that merge across the joins of the pieces counted apart.
MARGIN_TOKENS = 8

Count = Callable[[str], int]


#: Reciprocal rank fusion's constant (Cormack, Clarke and Buettcher, SIGIR 2009): a passage
#: ranked r-th by a search gets 1 / (RRF_K + r) from it.
RRF_K = 60
#: How many passages each search offers the fusion, at least.
CANDIDATES = 20


def retrieve(db: Database, names: Sequence[str], question: str, k: int = 5,
             embedder: Embedder | None = None, keyword_only: bool = False) -> list[Passage]:
    """The ``k`` best passages for ``question`` over the collections ``names``, best first:
    every front end retrieves through here.

    Each collection is searched by keyword; one with an embedding model and vectors is also
    searched densely with the question embedded by that model, and then every ranked list is
    fused by reciprocal rank (``Passage.method`` says which searches found a passage).
    ``embedder`` embeds the question (one kept by the caller, e.g. the window's); without
    one, an :class:`Embedder` is started for this call and ended after it, and only when a
    collection needs it. ``keyword_only`` searches by keyword alone.
    Every name is checked before any search: one that does not exist is a NotFoundError."""
    collections = [get_collection(db, name) for name in dict.fromkeys(names)]
    dense = [] if keyword_only else [
        c for c in collections if c["embed_model_id"] is not None and db.execute(
            "SELECT 1 FROM doc_vectors WHERE collection_id = ? LIMIT 1",
            [c["id"]]).fetchone()]
    if not dense:
        found = [p for c in collections for p in keyword_search(db, c["name"], question, k)]
        return sorted(found, key=lambda p: -p.score)[:k]
    depth = max(k, CANDIDATES)
    lists = [keyword_search(db, c["name"], question, depth) for c in collections]
    with contextlib.ExitStack() as stack:
        if embedder is None:
            embedder = stack.enter_context(Embedder())
        vectors: dict[int, list[float]] = {}  # the question, by embedding model
        for c in dense:
            model_id = c["embed_model_id"]
            if model_id not in vectors:
                vectors[model_id] = embedder.embed(db, model_id, [question], role="query")[0]
            lists.append(dense_search(db, c["name"], vectors[model_id], depth))
    return fuse(lists)[:k]


def fuse(lists: Sequence[Sequence[Passage]]) -> list[Passage]:
    """Reciprocal rank fusion of ranked lists: each passage scored by the sum of
    1 / (:data:`RRF_K` + its rank) over the lists it is in, best first (ties keep the
    order they were first met in), its ``method`` naming every search that found it."""
    scores: dict[int, float] = {}
    first: dict[int, Passage] = {}
    methods: dict[int, set[str]] = {}
    for ranked in lists:
        for rank, passage in enumerate(ranked, 1):
            key = passage.chunk_id
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
            first.setdefault(key, passage)
            methods.setdefault(key, set()).add(passage.method)
    order = sorted(scores, key=lambda key: -scores[key])
    return [replace(first[key], score=scores[key], method="+".join(
        m for m in ("keyword", "dense") if m in methods[key])) for key in order]


def search_one(db: Database, name: str, query: str, k: int = 5) -> list[Passage]:
    """The ``k`` best passages of one collection, as ``docs search`` and the Documents page
    show them (hybrid when it has an embedding model)."""
    return retrieve(db, [name], query, k)

@dataclass
class Grounding:
    """The passages as put into the prompt, and what was cut to make them fit."""

    passages: list[Passage]  # numbered from 1, as in the prompt
    found: int  # how many retrieval gave
    shortened: bool = False  # the last passage lost its end
    n_ctx: int = 0
    blocks: list[str] = field(default_factory=list)

    @property
    def cut(self) -> bool:
        return self.shortened or len(self.passages) < self.found

    @property
    def note(self) -> str | None:
        """Said with the reply: what retrieval found and what had to be cut to fit."""
        if not self.found:
            return "no passage of the collection matches the question"
        if not self.cut:
            return None
        last = ", the last one shortened" if self.shortened else ""
        return (f"passages cut to fit the {self.n_ctx:,}-token context: "
                f"{len(self.passages)} of {self.found} kept{last}")

    def message(self, question: str) -> str:
        """The user's message as the model reads it: instruction, passages, question."""
        if not self.passages:
            return question
        return f"{INSTRUCTION}\n\n{''.join(self.blocks)}Question: {question}"

    def citations(self) -> list[dict[str, Any]]:
        """Each passage in the prompt by its number: where it is and how it was found."""
        return [{"number": number, "collection": p.collection, "path": p.path,
                 "page": p.page, "section": p.section, "chunk_id": p.chunk_id,
                 "score": round(p.score, 4), "method": p.method, "where": p.where,
                 "start": p.start, "end": p.end}
                for number, p in enumerate(self.passages, 1)]


def _block(number: int, passage: Passage, text: str) -> str:
    return f"[{number}] {passage.where}\n{' '.join(text.split())}\n\n"


def fit_passages(passages: list[Passage], room: int, count: Count, n_ctx: int) -> Grounding:
    """As many of ``passages`` (best first) as fit ``room`` tokens, counted by ``count``;
    the first that does not fit is shortened when at least :data:`MIN_TRIMMED_TOKENS` of
    room is left, and the rest are left out."""
    grounding = Grounding([], len(passages), n_ctx=n_ctx)
    room -= count(INSTRUCTION + "\n\n") if passages else 0
    for passage in passages:
        number = len(grounding.passages) + 1
        block = _block(number, passage, passage.text)
        size = count(block)
        if size <= room:
            grounding.passages.append(passage)
            grounding.blocks.append(block)
            room -= size
            continue
        if room - count(_block(number, passage, "")) >= MIN_TRIMMED_TOKENS:
            low, high = 0, len(passage.text)  # the longest start of the text that fits
            while high - low > 1:
                middle = (low + high) // 2
                if count(_block(number, passage, passage.text[:middle] + " ...")) <= room:
                    low = middle
                else:
                    high = middle
            grounding.passages.append(passage)
            grounding.blocks.append(_block(number, passage, passage.text[:low] + " ..."))
            grounding.shortened = True
        break
    return grounding


def ground(engine: Engine, path: str | Path, messages: list[dict[str, str]],
           passages: list[Passage], load: LoadSettings | None,
           sampling: SamplingSettings | None) -> tuple[list[dict[str, str]], Grounding]:
    """The conversation with ``passages`` fitted into its last (user) message, and what was
    put there. The room is the context less the conversation rendered with the question
    alone, less what the reply keeps (as :class:`~workbench.engine.reply.Reply` reserves
    it), counted by the model's tokenizer. The one way chat, trials and the server ground a
    question: the model at ``path`` is loaded here if it must be."""
    from workbench.engine import LoadSettings, SamplingSettings

    loaded = engine.load(path, load or LoadSettings())
    sampling = sampling or SamplingSettings()
    n_ctx = loaded.n_ctx
    reserve = min(sampling.max_tokens or n_ctx // 4, n_ctx // 2)
    template = loaded.template(sampling.template)
    template.model = loaded.path.name
    question = messages[-1]["content"]
    bare = [*messages[:-1], {**messages[-1], "content": f"Question: {question}"}]
    rendered = template.render(bare)
    used = len(loaded.tokenize(rendered.prompt.encode("utf-8"),
                               add_bos=not rendered.added_bos, special=True))

    def count(text: str) -> int:
        return len(loaded.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    grounding = fit_passages(passages, n_ctx - reserve - used - MARGIN_TOKENS, count, n_ctx)
    return [*messages[:-1], {**messages[-1], "content": grounding.message(question)}], grounding
