"""One window of text scored by the loaded model, inside the engine process.

A window is ``ctx`` tokens decoded from an empty cache, its first one the model's BOS (as
llama-perplexity does); only its second half is scored, so every scored token has at least
half a window of context. llama.cpp is asked for logits at the scored positions only, and
they are turned into log-probabilities :data:`~workbench.quant.logits.ROWS` rows at a time,
so memory stays bounded by the window, never by the text. What crosses the pipe is small:
the reference's record goes to a file of the cache, a comparison returns per-position KL,
agreement and likelihood.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from workbench.quant.logits import ROWS, compare_rows, concat, log_softmax, reference_rows


def _decode(llama: Any, tokens: list[int], first: int) -> tuple[Any, float]:
    """Decode ``tokens`` from an empty cache; the logits of positions first..n-2 (each
    predicts the next token), as a read-only view of llama.cpp's buffer."""
    import llama_cpp

    n = len(tokens)
    if n > llama.n_batch:
        raise RuntimeError(f"window of {n} tokens exceeds the batch of {llama.n_batch}")
    llama.reset()
    llama._ctx.kv_cache_clear()
    batch = llama._batch
    batch.set_batch(tokens, n_past=0, logits_all=False)
    for i in range(n):
        batch.batch.logits[i] = first <= i <= n - 2
    started = time.perf_counter()
    llama._ctx.decode(batch)
    seconds = time.perf_counter() - started
    n_vocab = llama.n_vocab()
    pointer = llama_cpp.llama_get_logits(llama._ctx.ctx)
    logits = np.ctypeslib.as_array(pointer, shape=(n - 1 - first, n_vocab))
    llama.reset()
    return logits, seconds


def score_window(llama: Any, tokens: list[int], first: int, mode: str,
                 reference_file: str | None, write_to: str | None) -> dict[str, Any]:
    """Score one window. With ``write_to``: this is the reference; its record is saved
    there (``.npz``) and its likelihoods returned. With ``reference_file``: compare with
    the record saved there."""
    logits, seconds = _decode(llama, tokens, first)
    targets = np.asarray(tokens[first + 1:], dtype=np.int64)
    reference = dict(np.load(reference_file)) if reference_file else None
    parts = []
    for start in range(0, len(targets), ROWS):
        rows = slice(start, start + ROWS)
        logprobs = log_softmax(logits[rows])
        if reference is None:
            parts.append(reference_rows(logprobs, targets[rows], mode))
        else:
            parts.append(compare_rows({k: v[rows] for k, v in reference.items()}, logprobs,
                                      targets[rows]))
    record = concat(parts)
    if write_to:
        # the whole vocabulary compresses; top-k indices and values hardly do
        save = np.savez_compressed if "logprobs" in record else np.savez
        with Path(write_to).open("wb") as stream:
            save(stream, **record)  # type: ignore[arg-type]
        return {"nll": record["nll"], "top1": record["top1"], "seconds": seconds}
    return {"kl": record["kl"], "agree": record["agree"], "nll": record["nll"],
            "seconds": seconds}
