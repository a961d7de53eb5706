"""Embeddings from the loaded model, made in the engine process.

llama.cpp returns embeddings only from a context created with ``embeddings`` on, and such a
context cannot generate text. So the first embedding request opens a second
``llama_cpp.Llama`` for the loaded model's file with ``embedding=True`` and the same threads
and GPU layers; it is kept until the model is unloaded. The weights are memory-mapped from the
same file, so the page cache holds them once (GPU layers, when offloaded, are held twice).

Pooling is the model's own (an embedding model names it in its metadata); a model that names
none (a causal chat model) is mean-pooled over its tokens, as llama.cpp's ``llama-embedding``
example does for such models. Vectors are L2-normalised, as OpenAI's are, so a dot product is
the cosine similarity. One input is at most :data:`MAX_TOKENS` tokens (or the model's trained
context, if smaller) and a request at most :data:`MAX_TOTAL_TOKENS`; more is refused, never
silently truncated.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import llama_cpp

from workbench.engine import llama_log
from workbench.engine.cpu_quirks import safe_model_params
from workbench.engine.templates import file_templates_deferred
from workbench.errors import InvalidInputError, ModelFileError

#: The most tokens one input may have: the embedding context's size and its batch (every
#: token of an input must be in one batch for pooling).
MAX_TOKENS = 2048
#: The most tokens one request may embed in all: bounds its time (on one busy CPU thread,
#: SmolLM2-135M took 40 s for one 2000-token input; a normal machine is many times faster).
MAX_TOTAL_TOKENS = 8 * MAX_TOKENS


def open_embedder(loaded: Any) -> llama_cpp.Llama:
    """An embedding context for ``loaded`` (a :class:`~workbench.engine.loaded.LoadedModel`)."""
    header = loaded.header
    pooling = header.arch_value("pooling_type")
    if pooling is not None and int(pooling) == llama_cpp.LLAMA_POOLING_TYPE_RANK:
        raise InvalidInputError(f"{loaded.path.name}: a reranking model, it makes scores, "
                                "not embeddings")
    if pooling is None or int(pooling) == llama_cpp.LLAMA_POOLING_TYPE_NONE:
        pooling = llama_cpp.LLAMA_POOLING_TYPE_MEAN
    size = min(MAX_TOKENS, header.context_length or MAX_TOKENS)
    threads = loaded.llama.n_threads
    llama_log.install()
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(
                io.StringIO()), safe_model_params(), file_templates_deferred():
            llama = llama_cpp.Llama(
                model_path=str(loaded.path),
                embedding=True,
                pooling_type=int(pooling),
                n_ctx=size,
                n_batch=size,
                n_ubatch=size,  # non-causal models need a whole input in one micro-batch
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=loaded.gpu_layers,
                use_mmap=loaded.settings.use_mmap,
                verbose=True,  # see load_model: keeps llama-cpp-python off our descriptors
            )
    except (ValueError, RuntimeError, OSError) as error:
        raise ModelFileError(f"{loaded.path.name}: llama.cpp could not open it for "
                             f"embeddings ({error})") from None
    finally:
        llama_log.install()
    llama.verbose = False
    return llama


def embed_texts(llama: llama_cpp.Llama, texts: list[str], truncate: bool = False
                ) -> tuple[list[list[float]], int]:
    """One normalised vector per text, and the number of tokens embedded. ``truncate``
    embeds the first tokens of a text longer than the context (a document's passage: its
    start stands for it) instead of refusing it (a client's input: see the server)."""
    limit = llama.n_batch
    total = 0
    for index, text in enumerate(texts):
        count = len(llama.tokenize(text.encode("utf-8")))
        if truncate:
            count = min(count, limit)
        elif count > limit:
            raise InvalidInputError(f"input[{index}]: {count} tokens, more than the {limit} "
                                    "this model embeds at once")
        if count == 0:
            raise InvalidInputError(f"input[{index}]: no tokens to embed")
        total += count
    if total > MAX_TOTAL_TOKENS:
        raise InvalidInputError(f"input: {total} tokens in all, more than the "
                                f"{MAX_TOTAL_TOKENS} one request may embed")
    vectors, tokens = llama.embed(texts, normalize=True, truncate=truncate, return_count=True)
    return [list(map(float, vector)) for vector in vectors], int(tokens)
