"""Greedy sampling through llama.cpp's own chain, handed only the tokens that can win.

``llama_sampler_sample`` fills a candidate for every token of the vocabulary and the chain's
repeat penalty looks each one up in its window (0.3-0.8 ms a step for SmolLM2's 49,152
tokens: 3-4% of a batched step at width 8, repeated for every sequence). llama.cpp already has
the way out: a sampler may be handed a *reduced* candidate set (``llama_sampler_sample`` does
so when a backend sampler has pre-selected candidates) and its CPU chain runs over just those.

For a greedy chain without a grammar (a repeat penalty, then the first highest logit) only two
kinds of token can be picked: one in the penalty's window (its logit changed), or the first
highest of all the others (their logits unchanged). So the candidates are the window and that
one token, in token-id order as in the full array (llama.cpp's greedy keeps the first of equal
logits), and the chain, unchanged, applies its penalty and picks among them, then accepts the
token as ``llama_sampler_sample`` would. The pick is the chain's over the whole vocabulary
(``tests/core/test_batched.py`` checks it token by token); no sampling of our own.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
import numpy as np

from workbench.engine.generate import PENALTY_LAST_N

#: llama_token_data as numpy sees it (id, logit, p), for one C array without a Python loop.
_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
assert _TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)


def candidates(logits: np.ndarray, window: list[int]) -> np.ndarray:
    """The token ids (sorted) that a repeat penalty over ``window`` and a greedy pick can
    choose from the ``logits`` row: the window's tokens and the first highest of the rest."""
    best = int(np.argmax(logits))
    if not window:
        return np.array([best], dtype=np.int32)
    seen = np.unique(np.asarray(window, dtype=np.int32))
    if best in window:
        rest = logits.copy()
        rest[seen] = -np.inf
        best = int(np.argmax(rest))
    return np.union1d(seen, np.array([best], dtype=np.int32)).astype(np.int32)


class GreedyChain:
    """One sequence's greedy chain (from :func:`~workbench.engine.generate.build_sampler` at
    temperature 0, no grammar), sampled over :func:`candidates` of each logits row."""

    def __init__(self, chain: Any, n_vocab: int) -> None:
        self.chain = chain
        self.n_vocab = n_vocab
        #: The tokens accepted so far: the penalty's window is the last PENALTY_LAST_N.
        self.window: list[int] = []

    def sample(self, ctx: Any, index: int) -> int:
        """The chain's pick from the logits of output ``index``, accepted into the chain."""
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, index),
                                    shape=(self.n_vocab,))
        ids = candidates(row, self.window)
        data = np.zeros(len(ids), dtype=_TOKEN_DATA)
        data["id"] = ids
        data["logit"] = row[ids]
        array = llama_cpp.llama_token_data_array(
            data=data.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)),
            size=len(ids), selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self.chain, ctypes.byref(array))
        token = int(ids[array.selected])
        llama_cpp.llama_sampler_accept(self.chain, token)
        self.window.append(token)
        if len(self.window) > PENALTY_LAST_N:
            del self.window[0]
        return token
