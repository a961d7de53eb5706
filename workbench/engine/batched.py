"""Several replies decoded together: the sequences of one llama.cpp context (a trial's cells).

A trial's cells share a model, a template and usually a system prompt, and a small model on a
few cores leaves most of each core idle while it decodes one token: llama.cpp's
``llama-batched-bench`` gets 1.65x the tokens a second from 8 sequences at once on 2 cores.
So a contender's cells run here as the sequences of a second context of the loaded model
(the model's weights are shared; only a KV cache is added), the way llama.cpp's
``examples/batched`` does it:

- the template's and system prompt's shared start (:func:`~workbench.engine.reply.fit_messages`
  finds it) is evaluated once, as a batch of its own, and copied to every sequence that shares
  it (``llama_memory_seq_cp``);
- each cell's own prompt tokens are then evaluated as a batch of their own, so its first token
  comes from the same computation as in a sequential trial;
- then one ``llama_decode`` a step carries one token of every running sequence, and each
  sequence samples from its own logits with its own sampler chain (its own seed).

Reproducibility. Each sequence has a stream of KV cells of its own (``kv_unified`` off), so
its attention reads the same cells in the same order as it would alone. With one cache shared
by all (``kv_unified`` on, llama.cpp's choice for a shared prefix) a sequence's cells sit
between the others' and the masked softmax adds them up in another order: measured on the
test model, half of 8 greedy replies of 32 tokens turned at a near tie. With a stream each,
a token's logits decoded in a batch of several sequences equal those decoded alone, bit for
bit (``tests/core/test_batched.py`` measures it), and a fixed seed gives the same replies
batched as one after another. A backend whose batched kernels round differently (a GPU's, or
a CPU's repacked weights) could still differ; so each reply is also recorded with the layout
it ran in (``batch_width``, ``batch_position`` in its settings), and the same layout reruns
it exactly.

Per-step work. Beside one ``llama_decode`` a step, everything a step does for each sequence is
repeated ``width`` times, so it is kept small: each sequence samples with its own llama.cpp
chain (the one plain replies use), a greedy one over only the tokens that can win
(:mod:`workbench.engine.greedy`: the full vocabulary's candidates and penalty lookups cost
3-4% of a step at width 8), and token pieces are converted once per token id.

Memory. Each sequence needs KV cache for its prompt and its longest reply; the width is cut to
what half the free memory holds (:func:`fit_width`), and a cut says so.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import llama_cpp
import psutil

from workbench.engine.generate import StopText, build_sampler, grammar_text
from workbench.engine.greedy import GreedyChain
from workbench.engine.loaded import LoadedModel
from workbench.engine.settings import ReplyStats, SamplingSettings
from workbench.engine.stopflag import AbortWatch
from workbench.errors import WorkbenchError
from workbench.units import human_size

Message = dict[str, Any]

#: The widest batch chosen on its own on a CPU: ``llama-batched-bench`` on 2 cores gave 1.27x
#: the single-sequence speed at 4 sequences, 1.65x at 8 and 0.81x at 16 (issue 25).
AUTO_WIDTH_CPU = 8
#: With the model on a GPU, more sequences keep it busy.
AUTO_WIDTH_GPU = 32
#: The most sequences one call takes (llama.cpp's own limit is 256; the setting's range).
MAX_WIDTH = 64
#: The share of free memory a batch's KV cache may take.
KV_SHARE = 0.5
#: One KV cache shared by every sequence (True), or a stream of cells per sequence (False):
#: see the module's docstring for why each sequence gets its own.
UNIFIED = False
#: How the batched cells' cache use is recorded with their settings.
PROMPT_CACHE = "shared prefix, evaluated once and copied to each sequence of a batch"


@dataclass
class BatchCell:
    """One reply to make: its conversation and sampling (a seed, for a reproducible cell)."""

    messages: list[Message]
    sampling: SamplingSettings


@dataclass
class CellResult:
    """A finished cell: its text and stats, or the one-line error it ended with."""

    index: int
    text: str
    stats: ReplyStats
    error: str | None = None


def auto_width(gpu_layers: int) -> int:
    return AUTO_WIDTH_GPU if gpu_layers else AUTO_WIDTH_CPU


def fit_width(requested: int, per_sequence: int, budget: int) -> tuple[int, str]:
    """The widest batch at most ``requested`` wide whose KV cache (``per_sequence`` bytes a
    sequence) fits in ``budget`` bytes (at least 1), and the line that says it was cut ('' when
    not)."""
    fits = max(1, budget // max(1, per_sequence))
    if fits >= requested:
        return requested, ""
    return fits, (f"batch width {requested} does not fit: each sequence needs "
                  f"{human_size(per_sequence)} of KV cache and "
                  f"{human_size(budget)} is free for it; running {fits} at a time")


def kv_bytes(loaded: LoadedModel, tokens: int) -> int:
    """The KV cache one sequence of ``tokens`` takes (the memory model's own figure)."""
    from workbench.fit import ModelShape, kv_cache_bytes

    return kv_cache_bytes(ModelShape.from_header(loaded.header), tokens)


@dataclass
class _Sequence:
    """One running cell: its place in the batch, its sampler and what it has made."""

    index: int
    slot: int
    tokens: list[int]
    prefix: int
    limit: int
    stops: list[str]
    chain: Any = None
    seed: int = 0
    pos: int = 0
    logits_at: int = -1
    #: The token sampled from the logits of the last decode, not yet passed on.
    next_token: int = -1
    text: str = ""
    finish: str = "stop"
    times: list[float] = field(default_factory=list)
    stats: ReplyStats = field(default_factory=ReplyStats)
    decoder: Any = None
    stopper: StopText | None = None
    #: Set for a greedy cell without a grammar: its chain over the tokens that can win.
    greedy: GreedyChain | None = None


class BatchContext:
    """A second llama.cpp context of a loaded model, for ``width`` sequences, each with a
    stream of ``n_ctx / width`` KV cells. Kept on the loaded model and reused while it is
    wide and long enough."""

    def __init__(self, loaded: LoadedModel, width: int, n_ctx: int) -> None:
        llama = loaded.llama
        params = type(llama.context_params).from_buffer_copy(llama.context_params)
        params.n_ctx = n_ctx
        params.n_seq_max = width
        params.kv_unified = UNIFIED
        self.ctx = llama_cpp.llama_init_from_model(llama.model, params)
        if not self.ctx:
            raise WorkbenchError(f"batch: llama.cpp could not make a context for {width} "
                                 f"sequences of {n_ctx:,} tokens in all")
        self.width = width
        self.n_ctx = n_ctx
        self.n_batch = int(params.n_batch)
        self.batch = llama_cpp.llama_batch_init(max(self.n_batch, width), 0, 1)

    def close(self) -> None:
        if self.batch is not None:
            llama_cpp.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None


def context_for(loaded: LoadedModel, width: int, n_ctx: int) -> BatchContext:
    """The loaded model's batch context, made (again) when the one kept is too small."""
    kept: BatchContext | None = loaded.batch_context
    if kept is not None and kept.width == width and kept.n_ctx >= n_ctx:
        return kept
    if kept is not None:
        kept.close()
        loaded.batch_context = None
    made = BatchContext(loaded, width, n_ctx)
    loaded.batch_context = made
    return made


class BatchRun:
    """Runs ``cells`` ``width`` at a time; iterate for each :class:`CellResult` as its cell
    finishes. ``message`` says when the width was cut to fit memory. A stop (the flag) ends
    the running cells, which are not reported: every finished one already was."""

    def __init__(self, loaded: LoadedModel, cells: list[BatchCell], width: int,
                 stop_flag: threading.Event, kv_budget: int | None = None) -> None:
        self.loaded = loaded
        self.cells = cells
        self.stop_flag = stop_flag
        self.message = ""
        self.prepared: list[Any] = [self._prepare(i, c) for i, c in enumerate(cells)]
        #: Each token's text and whether it ends a turn, looked up once per token id.
        self.pieces: dict[int, bytes | None] = {}
        need = max((len(p.tokens) + p.limit for p in self.prepared if isinstance(p, _Sequence)),
                   default=1)
        self.per_sequence = min(need, loaded.llama.n_ctx())
        if kv_budget is None:  # the share of free memory a batch's KV cache may take
            kv_budget = int(psutil.virtual_memory().available * KV_SHARE)
        # no wider than the cells (the recorded width is the one they ran at)
        cells_to_run = sum(isinstance(p, _Sequence) for p in self.prepared)
        requested = max(1, min(width, MAX_WIDTH, cells_to_run))
        self.width, self.message = fit_width(requested, kv_bytes(loaded, self.per_sequence),
                                             kv_budget)

    def _prepare(self, index: int, cell: BatchCell) -> _Sequence | CellResult:
        from workbench.engine.reply import Reply, fit_messages

        sampling = cell.sampling
        n_ctx = self.loaded.llama.n_ctx()
        reserve = min(sampling.max_tokens or n_ctx // 4, n_ctx // 2)
        try:
            fitted = fit_messages(self.loaded, cell.messages, reserve, sampling.template,
                                  shared_prefix=True)
        except WorkbenchError as error:
            return CellResult(index, "", ReplyStats(finish_reason="error"), str(error))
        limit = n_ctx - len(fitted.tokens)
        if sampling.max_tokens:
            limit = min(limit, sampling.max_tokens)
        seed = sampling.seed if sampling.seed is not None else random.randrange(2**31)
        sequence = _Sequence(index, -1, fitted.tokens, fitted.prefix, limit, fitted.stops,
                             seed=seed)
        stats = sequence.stats
        stats.prompt_tokens = len(fitted.tokens)
        stats.dropped_turns = fitted.dropped
        stats.settings = Reply(self.loaded, cell.messages, sampling)._settings_record(
            seed, fitted, "prefix")
        stats.settings["prompt_cache"] = PROMPT_CACHE
        return sequence

    def __iter__(self) -> Iterator[CellResult]:
        waiting = []
        for item in self.prepared:
            if isinstance(item, CellResult):
                yield item
            else:
                waiting.append(item)
        for start in range(0, len(waiting), self.width):
            if self.stop_flag.is_set():
                return
            yield from self._wave(waiting[start:start + self.width])

    # --- one wave: up to ``width`` cells side by side ----------------------------------

    def _wave(self, wave: list[_Sequence]) -> Iterator[CellResult]:
        loaded = self.loaded
        llama = loaded.llama
        context = context_for(loaded, self.width, self.width * self.per_sequence)
        ctx = context.ctx
        memory = llama_cpp.llama_get_memory(ctx)
        llama_cpp.llama_memory_clear(memory, True)
        watch = AbortWatch(ctx, self.stop_flag)
        started = time.perf_counter()
        running: list[_Sequence] = []
        try:
            for slot, seq in enumerate(wave):
                seq.slot = slot
                seq.stats.settings.update(batch_width=self.width, batch_position=slot)
                grammar = grammar_text(_grammar(self.cells[seq.index].sampling.json_schema))
                seq.chain = build_sampler(llama, self.cells[seq.index].sampling, seq.seed,
                                          grammar)
                seq.greedy = (GreedyChain(seq.chain, llama.n_vocab())
                              if self.cells[seq.index].sampling.temperature <= 0
                              and grammar is None else None)
                seq.decoder = codecs.getincrementaldecoder("utf-8")("ignore")
                seq.stopper = StopText(seq.stops)
                running.append(seq)
            self._prompts(context, wave)
            yield from self._generate(context, running, started)
        except _Aborted:
            return
        finally:
            watch.close()
            for seq in wave:
                if seq.chain is not None:
                    llama_cpp.llama_sampler_free(seq.chain)
                    seq.chain, seq.greedy = None, None

    def _decode(self, context: BatchContext, entries: list[tuple[int, int, int, bool]]
                ) -> None:
        """One ``llama_decode`` of (token, position, sequence, wants logits) entries."""
        batch = context.batch
        for i, (token, pos, seq_id, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq_id
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        code = llama_cpp.llama_decode(context.ctx, batch)
        if code != 0:
            if self.stop_flag.is_set() or code == 2:
                raise _Aborted
            if code == 1:
                raise WorkbenchError("batch: the KV cache is full; lower the batch width")
            raise WorkbenchError(f"batch: llama_decode returned {code}")

    def _run(self, context: BatchContext, tokens: list[int], start: int, seq_id: int,
             last_logits: bool) -> int:
        """Evaluate ``tokens`` of one sequence from ``start``, n_batch at a time; returns the
        batch index of the last token's logits."""
        step = context.n_batch
        index = -1
        for at in range(0, len(tokens), step):
            chunk = tokens[at:at + step]
            final = at + step >= len(tokens)
            self._decode(context, [(t, start + at + k, seq_id,
                                    last_logits and final and k == len(chunk) - 1)
                                   for k, t in enumerate(chunk)])
            index = len(chunk) - 1
        return index

    def _prompts(self, context: BatchContext, wave: list[_Sequence]) -> None:
        """Each shared prefix once, copied to the sequences that share it; then each cell's
        own tokens as a batch of their own (as the sequential trial evaluates them)."""
        memory = llama_cpp.llama_get_memory(context.ctx)
        done: dict[tuple[int, ...], int] = {}
        for seq in wave:
            if not seq.prefix:
                continue
            key = tuple(seq.tokens[:seq.prefix])
            if key in done:  # between streams llama.cpp copies whole sequences only
                llama_cpp.llama_memory_seq_cp(memory, done[key], seq.slot, -1, -1)
            else:
                self._run(context, list(key), 0, seq.slot, False)
                done[key] = seq.slot
        for seq in wave:
            seq.stats.settings["batch_prefix_shared"] = bool(seq.prefix)
            seq.logits_at = self._run(context, seq.tokens[seq.prefix:], seq.prefix, seq.slot,
                                      True)
            seq.pos = len(seq.tokens)
            # The next step samples every sequence from one batch: keep this one's logits
            # by sampling it now (llama.cpp keeps only the last decode's outputs).
            seq.next_token = self._sample(context, seq)

    def _sample(self, context: BatchContext, seq: _Sequence) -> int:
        if seq.greedy is not None:
            token = seq.greedy.sample(context.ctx, seq.logits_at)
        else:
            token = int(llama_cpp.llama_sampler_sample(seq.chain, context.ctx, seq.logits_at))
        seq.times.append(time.perf_counter())
        return token

    def _piece(self, token: int) -> bytes | None:
        """The token's bytes, or None for an end-of-generation token (cached per id)."""
        vocab = self.loaded.llama._model.vocab
        piece: bytes | None = None
        if not llama_cpp.llama_vocab_is_eog(vocab, token):
            size = 64
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, False)
            if n < 0:
                size = -n
                buffer = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, False)
            piece = buffer.raw[:n]
        self.pieces[token] = piece
        return piece

    def _generate(self, context: BatchContext, running: list[_Sequence], started: float
                  ) -> Iterator[CellResult]:
        pieces = self.pieces
        while running:
            if self.stop_flag.is_set():
                return
            entries: list[tuple[int, int, int, bool]] = []
            still = []
            for seq in running:
                token = seq.next_token
                done = False
                piece = pieces[token] if token in pieces else self._piece(token)
                if piece is None:
                    seq.times.pop()
                    seq.finish, done = "stop", True
                else:
                    assert seq.stopper is not None
                    text, hit = seq.stopper.feed(seq.decoder.decode(piece))
                    seq.text += text
                    if hit:
                        seq.times.pop()
                        seq.finish, done = "stop", True
                    elif len(seq.times) >= seq.limit:
                        seq.finish, done = "length", True
                if done:
                    yield self._finished(seq, started)
                    continue
                seq.logits_at = len(entries)
                entries.append((token, seq.pos, seq.slot, True))
                seq.pos += 1
                still.append(seq)
            running = still
            if not running:
                break
            self._decode(context, entries)
            for seq in running:
                seq.next_token = self._sample(context, seq)

    def _finished(self, seq: _Sequence, started: float) -> CellResult:
        assert seq.stopper is not None
        seq.text += seq.stopper.flush() + seq.decoder.decode(b"", final=True)
        stats = seq.stats
        stats.timed(seq.times, started, time.perf_counter())
        stats.finish_reason = seq.finish
        stats.peak_rss = psutil.Process(os.getpid()).memory_info().rss
        return CellResult(seq.index, seq.text, stats)


class _Aborted(Exception):
    """A decode ended by the abort callback: a stop."""


def _grammar(schema: str | None) -> llama_cpp.LlamaGrammar | None:
    from workbench.engine.reply import _grammar as build

    return build(schema)


def run_batch(loaded: LoadedModel, cells: list[BatchCell], width: int, stop_flag: Any,
              send: Callable[[tuple[Any, ...]], None], batch_id: int,
              kv_budget: int | None = None) -> None:
    """The engine process's side of ``Engine.reply_batch``: ("batch_started", id, info),
    one ("cell", id, CellResult) a finished cell, then the caller's ("done", id, info)."""
    run = BatchRun(loaded, cells, width, stop_flag, kv_budget)
    send(("batch_started", batch_id, {"width": run.width, "message": run.message}))
    for result in run:
        if loaded.fresh:  # the first reply after the load carries the load's time
            result.stats.load_ms = loaded.load_ms
            loaded.fresh = False
        send(("cell", batch_id, result))
