"""Speculative decoding: a small draft model of the same vocabulary guesses the next tokens,
and the target checks all the guesses in one batch.

This follows llama.cpp's own ``common/speculative.cpp`` and ``examples/speculative-simple``:

- The draft runs in the same engine process, in a second llama.cpp context of its own
  (:class:`Draft`); its KV cache keeps the longest prefix it shares with the reply so far.
- It drafts greedily (its likeliest token, as llama.cpp's top-k draft sampler takes
  ``cur_p[0]``), at most ``draft_max`` tokens, and stops early at a token whose probability
  among its top 10 is under ``draft_p_min`` (llama.cpp's "only collect very high-confidence
  draft tokens").
- The target evaluates the last token and the drafted ones as one batch, with logits for every
  position, then samples each position with its own sampler chain, in order, and keeps the
  drafted tokens while they agree (llama.cpp's ``common_sampler_sample_and_accept_n``). The
  first disagreement is replaced by the target's own token; both caches are cut back
  (``llama_memory_seq_rm``) to what was kept.

Because every token of the reply is the target's own sample at its own position, through the
same chain (penalties, grammar, temperature, seeded dist) consuming the same random draws in
the same order, the reply is the one the target writes alone: under greedy sampling token for
token, and with sampling drawn from exactly the same distribution (with a fixed seed, the same
reply). The one caveat is llama.cpp's: logits computed in a batch may differ from one-token
ones in the last bits of rounding, which can only matter where two tokens tie.

A draft with another vocabulary is refused (:func:`vocab_mismatch`, llama.cpp's
``common_speculative_are_compatible``): its guesses would be other tokens' ids.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from workbench.engine.generate import CacheRecord, Generation, TokenTail, common_prefix
from workbench.errors import InvalidInputError, WorkbenchError

#: llama.cpp's SPEC_VOCAB_MAX_SIZE_DIFFERENCE and SPEC_VOCAB_CHECK_START_TOKEN_ID.
VOCAB_MAX_SIZE_DIFFERENCE = 128
VOCAB_CHECK_START = 5
#: The draft's candidates, as llama.cpp's draft sampler (top-k 10) keeps them.
DRAFT_TOP_K = 10


def vocab_mismatch(target: Any, draft: Any) -> str:
    """Why two loaded ``llama_model`` pointers cannot be target and draft ("" when they can):
    llama.cpp's ``common_speculative_are_compatible``, check for check (vocabulary type, BOS
    and EOS, sizes within 128, every token's text from id 5 on)."""
    vt, vd = llama_cpp.llama_model_get_vocab(target), llama_cpp.llama_model_get_vocab(draft)
    if llama_cpp.llama_vocab_type(vt) != llama_cpp.llama_vocab_type(vd):
        return "another kind of tokenizer"
    for add, token, name in ((llama_cpp.llama_vocab_get_add_bos, llama_cpp.llama_vocab_bos,
                              "start"),
                             (llama_cpp.llama_vocab_get_add_eos, llama_cpp.llama_vocab_eos,
                              "end")):
        if add(vt) != add(vd) or (add(vt) and token(vt) != token(vd)):
            return f"another {name}-of-text token"
    n_t, n_d = llama_cpp.llama_vocab_n_tokens(vt), llama_cpp.llama_vocab_n_tokens(vd)
    if abs(n_t - n_d) > VOCAB_MAX_SIZE_DIFFERENCE:
        return f"{n_d:,} tokens against {n_t:,}"
    text = llama_cpp.llama_vocab_get_text
    for index in range(VOCAB_CHECK_START, min(n_t, n_d)):
        if text(vt, index) != text(vd, index):
            return f"token {index} differs"
    return ""


@dataclass
class Draft:
    """A draft model loaded beside the target (see the module docstring)."""

    path: Path
    llama: llama_cpp.Llama
    load_ms: float
    #: The target's time for one one-token decode, measured when the draft was attached: the
    #: reference for the estimated speed-up.
    target_token_s: float
    #: A line to show with replies (a draft bigger than its target), or "".
    note: str = ""
    cache: CacheRecord = field(default_factory=CacheRecord)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.llama.close()


def open_draft(loaded: Any, path: str | Path) -> Draft:
    """Load ``path`` as a draft for ``loaded`` (a :class:`~workbench.engine.loaded
    .LoadedModel`) with its context length, threads and GPU use; a draft of another vocabulary
    is one line naming both files."""
    from workbench.engine.loaded import load_model

    path = Path(path)
    draft = load_model(path, loaded.settings)
    reason = vocab_mismatch(loaded.llama.model, draft.llama.model)
    if reason:
        draft.close()
        raise InvalidInputError(f"draft {path.name}: its vocabulary is not the one of "
                                f"{loaded.path.name} ({reason}); a draft must share its "
                                "target's tokens")
    note = ""
    with contextlib.suppress(OSError):
        if path.stat().st_size > loaded.path.stat().st_size:
            note = (f"draft {path.name} is bigger than {loaded.path.name}: it will likely "
                    "slow replies down")
    return Draft(path, draft.llama, draft.load_ms, _time_one_token(loaded), note)


def _time_one_token(loaded: Any) -> float:
    """The target's one-token decode time (the median of 5 after a warm-up), measured on an
    emptied cache that is emptied again after (the next reply evaluates its prompt whole)."""
    ctx = loaded.llama.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    one = (llama_cpp.llama_token * 1)(max(0, int(loaded.llama.token_bos())))
    times = []
    llama_cpp.llama_memory_clear(memory, True)
    loaded.cache.forget()
    try:
        for _ in range(6):
            started = time.perf_counter()
            if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(one, 1)) != 0:
                break
            times.append(time.perf_counter() - started)
            llama_cpp.llama_memory_seq_rm(memory, 0, 0, -1)
    finally:
        llama_cpp.llama_memory_clear(memory, True)
    return statistics.median(times[1:]) if len(times) > 1 else 0.0


def attach_draft(loaded: Any, path: str | Path) -> Draft:
    """The draft for ``loaded``, loaded once and kept with it while ``path`` stays the same
    (another path replaces it)."""
    path = Path(path)
    current: Draft | None = getattr(loaded, "draft", None)
    if current is not None and current.path == path:
        return current
    if current is not None:
        current.close()
        loaded.draft = None
    loaded.draft = open_draft(loaded, path)
    return loaded.draft


@dataclass
class DraftFigures:
    """What speculation did in one reply (recorded as the reply's ``speculative`` figures)."""

    drafted: int = 0  # tokens the draft proposed
    accepted: int = 0  # of those, kept by the target
    passes: int = 0  # target batches evaluated

    def record(self, draft: Draft, gen_tps: float | None, draft_max: int) -> dict[str, Any]:
        """The figures as stored: acceptance = accepted / drafted; the speed-up is an
        estimate, the reply's generation speed times the target's measured one-token time."""
        speedup = gen_tps * draft.target_token_s if gen_tps and draft.target_token_s else None
        return {
            "draft": draft.path.name,
            "draft_max": draft_max,
            "drafted": self.drafted,
            "accepted": self.accepted,
            "acceptance": self.accepted / self.drafted if self.drafted else None,
            "target_passes": self.passes,
            "speedup": round(speedup, 3) if speedup else None,
        }


class SpeculativeGeneration(Generation):
    """:class:`~workbench.engine.generate.Generation` with a draft: the prompt is evaluated
    the same way, then tokens come in verified runs (see the module docstring)."""

    def __init__(self, *args: Any, draft: Draft, draft_max: int, p_min: float,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.draft = draft
        self.draft_max = draft_max
        self.p_min = p_min
        self.figures = DraftFigures()
        #: llama.cpp's prompt figures (tokens, ms) once the prompt is in: its perf counters
        #: count the verify batches as prompt tokens too.
        self.prompt_perf: tuple[int, float] = (0, 0.0)

    def evaluate_prompt(self) -> None:
        super().evaluate_prompt()
        perf = llama_cpp.llama_perf_context(self.llama.ctx)
        self.prompt_perf = (int(perf.n_p_eval), float(perf.t_p_eval_ms))

    # --- the draft -------------------------------------------------------------------------

    def _propose(self, context: list[int], most: int) -> list[int]:
        """Up to ``most`` tokens the draft expects after ``context`` (greedy, stopped at a
        guess under ``p_min``)."""
        draft, record = self.draft.llama, self.draft.cache
        ctx = draft.ctx
        memory = llama_cpp.llama_get_memory(ctx)
        same = min(len(context) - 1, common_prefix(record.tokens, context))
        if same <= 0 or not llama_cpp.llama_memory_seq_rm(memory, 0, same, -1):
            llama_cpp.llama_memory_clear(memory, True)
            same = 0
        del record.tokens[same:]
        step = max(1, draft.n_batch)
        for start in range(same, len(context), step):
            chunk = context[start:start + step]
            if not self._draft_decode(ctx, chunk):
                return []
        n_vocab = draft.n_vocab()
        out: list[int] = []
        while len(out) < most:
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1),
                                           shape=(n_vocab,))
            top = np.argpartition(logits, -DRAFT_TOP_K)[-DRAFT_TOP_K:]
            values = logits[top]
            best = int(np.argmax(values))
            token = int(top[best])
            weights = np.exp(values - values[best])
            if float(1.0 / weights.sum()) < self.p_min:
                break
            out.append(token)
            if len(out) >= most or not self._draft_decode(ctx, [token]):
                break
        return out

    def _draft_decode(self, ctx: Any, tokens: list[int]) -> bool:
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(array, len(tokens))):
            self.draft.cache.forget()
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
            return False  # a draft that fails only costs its guesses
        self.draft.cache.tokens.extend(tokens)
        return True

    # --- the target ------------------------------------------------------------------------

    def _verify(self, chain: Any, last: int, guesses: list[int], is_eog: Any,
                vocab: Any) -> list[int]:
        """Evaluate ``last`` and ``guesses`` in one batch and sample each position with the
        target's chain; the kept guesses and the target's own next token."""
        ctx, record = self.llama.ctx, self.record
        n = 1 + len(guesses)
        batch = llama_cpp.llama_batch_init(n, 0, 1)
        try:
            start = len(record.tokens)
            for i, token in enumerate([last, *guesses]):
                batch.token[i] = token
                batch.pos[i] = start + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 1
            batch.n_tokens = n
            code = llama_cpp.llama_decode(ctx, batch)
        finally:
            llama_cpp.llama_batch_free(batch)
        if code != 0:
            self._failed(code)
        record.tokens.extend([last, *guesses])
        self.figures.passes += 1
        self.figures.drafted += len(guesses)
        out: list[int] = []
        sample = llama_cpp.llama_sampler_sample
        for i in range(n):
            token = sample(chain, ctx, i)
            out.append(token)
            if i == len(guesses) or token != guesses[i] or is_eog(vocab, token):
                break
        self.figures.accepted += len(out) - 1
        self._cut(start + len(out), going_on=True)  # ``last`` and the kept guesses stay
        return out

    def _cut(self, n: int, *, going_on: bool = False) -> None:
        """The target's cache back to its first ``n`` tokens (what the reply has kept). A
        model whose cache cannot be cut (a recurrent one) cannot go on: one line."""
        if len(self.record.tokens) > n:
            memory = llama_cpp.llama_get_memory(self.llama.ctx)
            if not llama_cpp.llama_memory_seq_rm(memory, 0, n, -1):
                self._clear()  # the next prompt is evaluated whole
                if going_on:
                    raise WorkbenchError(f"draft: llama.cpp cannot take back rejected "
                                         f"guesses from this model's cache; run "
                                         f"{self.draft.path.name}'s target without a draft")
                return
            del self.record.tokens[n:]

    # --- the loop --------------------------------------------------------------------------

    def _loop(self, chain: Any, vocab: Any, limit: int) -> Iterator[str]:
        """The base loop's, but each token comes from a verified run: every token goes
        through the same :class:`~workbench.engine.generate.TokenTail`, and at the end the
        cache is cut back to what the reply kept (a run may hold tokens past it)."""
        flag, record = self.stop_flag, self.record
        is_eog = llama_cpp.llama_vocab_is_eog
        clock = time.perf_counter
        tail = TokenTail(self, vocab, limit)
        ready = [llama_cpp.llama_sampler_sample(chain, self.llama.ctx, -1)]
        while True:
            now = clock()
            for token in ready:
                if flag.is_set():
                    piece, ended = tail.end("stopped"), True
                else:
                    piece, ended = tail.take(token, now)
                if ended:
                    self._cut(len(self.tokens) + tail.kept)
                if piece:
                    yield piece
                if ended:
                    return
            last = ready[-1]
            room = min(self.draft_max, limit - tail.count - 1)
            guesses = self._propose(record.tokens + [last], room) if room > 0 else []
            ready = self._verify(chain, last, guesses, is_eog, vocab)
