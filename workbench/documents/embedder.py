"""Embedding passages and questions with a collection's embedding model.

There is one way to embed in Workbench: the engine's (:mod:`workbench.engine.embed`, which
the server's ``/v1/embeddings`` uses too): an embedding context for the loaded model's file,
the model's own pooling, every input L2-normalised, many inputs to one ``llama_decode``.

An :class:`Embedder` runs its model in an engine process of its own, beside the chat model's
(a chat with a collection embeds its question with the collection's model, which is rarely
the chat model), loaded with a small generation context (:data:`LOAD_N_CTX`: the embedding
context is sized by the engine) so that it adds little more than its weights. When the engine
it is given to ``share`` already has that very model loaded, it embeds there instead and
starts nothing. Requests are cut so that none can exceed the engine's bound on tokens, and
``stop`` is asked between them. :meth:`Embedder.close` ends its process; so does ``with``.

Every text is embedded here, so this is where a model's markers (``search_query: ``,
``passage: ``: :mod:`workbench.documents.prefixes`) are put before questions and passages:
indexing and retrieval cannot disagree on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from sqlite_utils import Database

from workbench.documents.prefixes import Role, for_model
from workbench.engine import Engine
from workbench.engine.embed import MAX_TOKENS, MAX_TOTAL_TOKENS
from workbench.model_settings import runnable

#: The generation context the embedding model is loaded with: it is not used to generate.
LOAD_N_CTX = 512


class Stopped(Exception):  # noqa: N818 (a signal between two of our loops, not an error)
    """Raised by :meth:`Embedder.embed` when its ``stop`` said so between two requests."""


def requests(texts: Sequence[str]) -> list[list[str]]:
    """``texts`` in order, cut into requests the engine takes: a text has at most as many
    tokens as its UTF-8 bytes plus two (its start and end marks), and at most
    :data:`MAX_TOKENS` once truncated."""
    groups: list[list[str]] = []
    size = MAX_TOTAL_TOKENS
    for text in texts:
        tokens = min(len(text.encode("utf-8")) + 2, MAX_TOKENS)
        if size + tokens > MAX_TOTAL_TOKENS:
            groups.append([])
            size = 0
        groups[-1].append(text)
        size += tokens
    return groups


class Embedder:
    """Embeds with library models, one at a time, in its own engine process (see the
    module's docstring); call it from one thread."""

    def __init__(self, share: Engine | None = None) -> None:
        self.share = share
        self.engine: Engine | None = None  # its own, started on first use
        self.tokens = 0  # embedded so far, for throughput

    def embed(self, db: Database, model_id: int, texts: Sequence[str],
              stop: Callable[[], bool] | None = None, role: Role = "passage"
              ) -> list[list[float]]:
        """One normalised vector per text, made by library model ``model_id``; a text longer
        than the model's embedding context is embedded by its start. ``role`` says whether
        the texts are passages or questions: each gets the marker the model expects."""
        if not texts:
            return []
        ready = runnable(db, model_id, {"n_ctx": LOAD_N_CTX})
        texts = for_model(ready.model).apply(role, texts)
        path = Path(ready.model.path).resolve()
        shared = self.share.loaded if self.share is not None else None
        if shared is not None and shared.path == path:
            loaded = shared
        else:
            if self.engine is None:
                self.engine = Engine()
            loaded = self.engine.load(path, ready.load)
        vectors: list[list[float]] = []
        for group in requests(texts):
            if stop is not None and stop():
                raise Stopped
            made, tokens = loaded.embed(group, truncate=True)
            vectors.extend(made)
            self.tokens += tokens
        return vectors

    def close(self) -> None:
        """End the engine process it started (the shared engine is left as it is)."""
        if self.engine is not None:
            self.engine.unload()
            self.engine = None

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
