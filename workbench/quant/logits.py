"""The numbers of a quantization comparison, from logits to KL divergence; numpy only.

Both sides are rounded to float32 log-probabilities before they are compared (llama.cpp's
logits are float32 to begin with), so a file compared with itself gives exactly KL 0 and
agreement 1, and a stored reference compares the same as one computed again.

The reference is kept one of two ways (:data:`FULL`, :data:`TOP_K`):

- the whole vocabulary per position, when vocabulary x positions is small (at most
  :data:`FULL_LIMIT` values): KL is exact;
- otherwise its :data:`K` most likely tokens per position plus the rest of the probability
  as one bin (llama-perplexity keeps the whole vocabulary at 16 bits instead, which costs
  ``2 x vocabulary`` bytes a position: 300 KB a position for a 150k vocabulary). Merging the
  tail into one bin can only lose divergence (the log-sum inequality), so the KL reported is
  a lower bound of the exact one (measured on the test model's Q2_K: 0.476 against 0.527
  exact with 256 tokens, 0.426 with 64); the top-1 token and perplexity are exact either way.
  So every KL figure carries which of the two it is (:func:`kl_exact`), and the front ends
  mark a lower bound ("≥") wherever they show one.

A token the reference gives probability 0 (logit -inf) contributes 0 to KL whatever the
other file gives it (the limit of p log(p/q) as p goes to 0), not the NaN that 0 x (-inf - x)
is in floating point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FULL, TOP_K = "full", "top-k"
#: Tokens kept per position in :data:`TOP_K` mode.
K = 256
#: The most float32 values (vocabulary x scored positions) kept whole: 32 MB on disk at most.
FULL_LIMIT = 8_000_000
#: Rows turned into log-probabilities at once: bounds the float64 work area
#: (32 x 150k x 8 bytes = 39 MB for the largest vocabularies).
ROWS = 32

Floats = npt.NDArray[np.float64]


def choose_mode(n_vocab: int, positions: int, full_limit: int = FULL_LIMIT) -> str:
    return FULL if n_vocab * positions <= full_limit else TOP_K


def kl_exact(mode: str) -> bool:
    """Whether KL in this mode is exact (else a lower bound of the exact figure)."""
    return mode == FULL


def describe_mode(mode: str) -> str:
    if mode == FULL:
        return "the whole vocabulary per position (exact KL)"
    return f"the top {K} tokens per position plus the rest as one (KL is a lower bound)"


def log_softmax(logits: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Row-wise log-probabilities, computed in float64 and rounded to float32."""
    rows = logits.astype(np.float64)
    rows -= rows.max(axis=1, keepdims=True)
    rows -= np.log(np.exp(rows).sum(axis=1, keepdims=True))
    return rows.astype(np.float32)


def _logsumexp(values: Floats) -> Floats:
    top = values.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return (np.log(np.exp(values - top).sum(axis=1, keepdims=True)) + top)[:, 0]


def _rest(logprobs: Floats, keep: npt.NDArray[np.int64]) -> Floats:
    """The log of the probability outside ``keep`` in each row (-inf when none is left)."""
    masked = logprobs.copy()
    np.put_along_axis(masked, keep, -np.inf, axis=1)
    return _logsumexp(masked)


def _kl_terms(lp: Floats, lq: Floats) -> Floats:
    """``p (log p - log q)`` element-wise, 0 where ``p`` is 0 (``log p`` is -inf)."""
    with np.errstate(invalid="ignore"):
        terms = np.exp(lp) * (lp - lq)
    return np.where(np.isneginf(lp), 0.0, terms)


def reference_rows(logprobs: npt.NDArray[np.float32], targets: npt.NDArray[np.int64],
                   mode: str) -> dict[str, npt.NDArray[Any]]:
    """What is kept of the reference for these rows (one row per scored position)."""
    lp = logprobs.astype(np.float64)
    rows = np.arange(len(lp))
    kept: dict[str, npt.NDArray[Any]] = {
        "top1": lp.argmax(axis=1).astype(np.int32),
        "nll": -lp[rows, targets],
    }
    if mode == FULL:
        kept["logprobs"] = logprobs
        return kept
    k = min(K, lp.shape[1])
    index = np.argpartition(-lp, k - 1, axis=1)[:, :k]
    kept["index"] = index.astype(np.int32)
    kept["top"] = np.take_along_axis(logprobs, index, axis=1)
    kept["rest"] = _rest(lp, index.astype(np.int64))
    return kept


def compare_rows(reference: dict[str, npt.NDArray[Any]], logprobs: npt.NDArray[np.float32],
                 targets: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[Any]]:
    """Per position: KL(reference || model), whether the top-1 tokens agree, the model's
    negative log-likelihood of the text's next token."""
    lq = logprobs.astype(np.float64)
    rows = np.arange(len(lq))
    if "logprobs" in reference:
        lp = reference["logprobs"].astype(np.float64)
        kl = _kl_terms(lp, lq).sum(axis=1)
    else:
        index = reference["index"].astype(np.int64)
        lp_top = reference["top"].astype(np.float64)
        lq_top = np.take_along_axis(lq, index, axis=1)
        kl = _kl_terms(lp_top, lq_top).sum(axis=1)
        lp_rest = reference["rest"].astype(np.float64)[:, None]
        kl += _kl_terms(lp_rest, _rest(lq, index)[:, None])[:, 0]  # 0: nothing left outside
    return {"kl": kl, "agree": lq.argmax(axis=1) == reference["top1"],
            "nll": -lq[rows, targets]}


def concat(parts: list[dict[str, npt.NDArray[Any]]]) -> dict[str, npt.NDArray[Any]]:
    """Row chunks joined back into one record per window."""
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def summarize(kl: Floats, agree: npt.NDArray[np.bool_], nll: Floats) -> dict[str, float]:
    """Mean and 99th percentile of KL, agreement count, perplexity, over all positions."""
    return {"kl_mean": float(kl.mean()), "kl_p99": float(np.percentile(kl, 99)),
            "kl_max": float(kl.max()), "agree": int(agree.sum()), "positions": int(len(kl)),
            "perplexity": float(np.exp(nll.mean()))}
