"""The generation loop, on llama.cpp's own API: decode, sample with llama.cpp's sampler chain,
detokenize as it goes.

llama-cpp-python's high-level stream re-detokenizes the whole reply and slices numpy arrays for
every token, which costs 1-2 ms a token on a large vocabulary: for small, fast models that was
7-13% of the speed llama.cpp itself reaches (issue 12). Here each token is one ``llama_decode``
of a one-token batch, one ``llama_sampler_sample`` through a C sampler chain (penalties,
grammar, top-k, top-p, min-p, temperature, seeded dist: the order llama-cpp-python used, so a
seed gives the reply it gave before), and one ``llama_token_to_piece``; the Python work left is
a few microseconds a token.

What the KV cache holds is recorded (:class:`CacheRecord`) so a prompt can reuse it in one of
three ways (:class:`Generation`'s ``mode``):

- ``chat``: the longest common prefix with the previous reply's tokens is kept and only the
  rest evaluated (a chat's next turn); fast, but the split moves with every turn, so the same
  reply can differ in the last bits of rounding from a fresh run.
- ``fresh``: the whole prompt is evaluated from an empty cache as one batch: bit-identical reruns.
- ``prefix``: the first ``prefix`` tokens (a template's and system prompt's shared start) are
  evaluated from an empty cache as a batch of their own and kept; each prompt then evaluates
  only its suffix, as a batch of its own. The split is the same in every run, so a reply is
  bit-identical whatever ran before it, and a trial pays for its shared prefix once.
"""

from __future__ import annotations

import codecs
import ctypes
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import llama_cpp

from workbench.engine.settings import SamplingSettings
from workbench.engine.stopflag import AbortWatch
from workbench.errors import WorkbenchError

#: llama-cpp-python's ``last_n_tokens_size``: the window the repeat penalty looks back over.
PENALTY_LAST_N = 64

@dataclass
class CacheRecord:
    """What sequence 0 of a context's KV cache holds, from position 0 on."""

    tokens: list[int] = field(default_factory=list)
    #: ``tokens[:boundary]`` were evaluated from an empty cache as a batch of their own (the
    #: ``prefix`` mode's shared start); 0 when not.
    boundary: int = 0

    def forget(self) -> None:
        self.tokens = []
        self.boundary = 0


def sliding_window_holds(llama: llama_cpp.Llama, n_past: int) -> bool:
    """Whether the cache's first ``n_past`` tokens can be reused: False when a sliding-window
    cache has dropped positions that reusing them needs (the prompt is then evaluated whole).

    With ``swa_full=False`` the sliding-window layers keep ``window + n_ubatch`` cells, and
    llama.cpp overwrites the oldest once more positions than that have been decoded. A reply
    that reused such a prefix would attend to positions that are gone, and differ from a fresh
    one. This is llama-server's own rule (its "forcing full prompt re-processing due to lack
    of cache data"): reuse ``n_past`` cells only while the cache's oldest position is at most
    ``n_past - n_swa``. Models without sliding windows always hold their prefix."""
    n_swa = int(llama_cpp.llama_model_n_swa(llama.model))
    if n_swa <= 0 or n_past <= 0:
        return True
    memory = llama_cpp.llama_get_memory(llama.ctx)
    oldest = int(llama_cpp.llama_memory_seq_pos_min(memory, 0))
    return oldest <= max(0, n_past - n_swa)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def build_sampler(llama: llama_cpp.Llama, sampling: SamplingSettings, seed: int,
                  grammar: str | None, triggers: tuple[str, ...] = ()) -> Any:
    """llama.cpp's sampler chain for these settings (free it with ``llama_sampler_free``).

    The order is llama-cpp-python's (penalties, grammar, top-k, top-p, min-p, temperature,
    dist), so the same seed gives the same reply as before this loop; temperature 0 is greedy.
    ``grammar`` is GBNF text (a JSON schema's, from :func:`grammar_text`). With ``triggers``
    (regular expressions over the reply so far, llama.cpp's lazy grammar) the grammar binds
    only once one matches, from the start of its first group: a tool call's grammar, from
    where the call begins."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = llama_cpp.llama_sampler_chain_add
    add(chain, llama_cpp.llama_sampler_init_penalties(
        llama.n_vocab(), PENALTY_LAST_N, sampling.repeat_penalty, 0.0, 0.0))
    if grammar is not None:
        vocab = llama._model.vocab
        if triggers:
            patterns = (ctypes.c_char_p * len(triggers))(*[t.encode() for t in triggers])
            rule = llama_cpp.llama_sampler_init_grammar_lazy_patterns(
                vocab, grammar.encode("utf-8"), b"root", patterns, len(triggers), None, 0)
        else:
            rule = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"),
                                                        b"root")
        if not rule:
            llama_cpp.llama_sampler_free(chain)
            raise WorkbenchError("json_schema: llama.cpp could not parse the grammar made "
                                 "from it")
        add(chain, rule)
    if sampling.temperature <= 0:
        add(chain, llama_cpp.llama_sampler_init_greedy())
    else:
        add(chain, llama_cpp.llama_sampler_init_top_k(sampling.top_k))
        add(chain, llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1))
        add(chain, llama_cpp.llama_sampler_init_min_p(sampling.min_p, 1))
        add(chain, llama_cpp.llama_sampler_init_temp(sampling.temperature))
        add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain


class StopText:
    """Stop strings over streamed text: text that could still become a stop string is held
    back until it cannot (or the reply ends), so a stop string never reaches the reader."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.longest = max((len(s) for s in self.stops), default=0)
        self.held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """The text that is safe to show now, and whether a stop string was reached."""
        if not self.stops:
            return text, False
        pending = self.held + text
        found = min((i for i in (pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if found >= 0:
            self.held = ""
            return pending[:found], True
        keep = 0
        for k in range(min(self.longest - 1, len(pending)), 0, -1):
            tail = pending[-k:]
            if any(s.startswith(tail) for s in self.stops):
                keep = k
                break
        self.held = pending[len(pending) - keep:] if keep else ""
        return pending[:len(pending) - keep], False

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


class Generation:
    """One generation: iterate for text pieces; ``finish`` (stop, length, stopped),
    ``token_times`` (when each token of the reply was sampled) and ``aborted`` are set as it
    runs. The stop flag is read by llama.cpp's abort callback (inside a decode) and before
    every token, so a stop ends it within one token's time."""

    def __init__(self, llama: llama_cpp.Llama, record: CacheRecord, tokens: list[int], *,
                 sampling: SamplingSettings, seed: int, stops: list[str],
                 stop_flag: threading.Event, mode: str = "chat", prefix: int = 0,
                 grammar: str | None = None, triggers: tuple[str, ...] = ()) -> None:
        if mode not in ("chat", "fresh", "prefix"):
            raise ValueError(f"mode {mode!r}")
        self.llama = llama
        self.record = record
        self.tokens = list(tokens)
        self.sampling = sampling
        self.seed = seed
        self.stops = stops
        self.stop_flag = stop_flag
        self.mode = mode
        self.prefix = prefix
        self.grammar = grammar
        self.triggers = triggers
        self.finish = "stop"
        self.aborted = False
        self.token_times: list[float] = []
        self.prompt_evaluated = 0  # prompt tokens this generation evaluated (not reused)

    # --- the prompt ------------------------------------------------------------------------

    def _decode(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after what the cache holds, in batches of at most n_batch."""
        ctx = self.llama.ctx
        step = max(1, self.llama.n_batch)
        for start in range(0, len(tokens), step):
            chunk = tokens[start:start + step]
            array = (llama_cpp.llama_token * len(chunk))(*chunk)
            code = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(array, len(chunk)))
            if code != 0:
                self._failed(code)
            self.record.tokens.extend(chunk)
            self.prompt_evaluated += len(chunk)

    def _failed(self, code: int) -> None:
        # A failed or aborted decode may leave part of the batch in the cache: forget it all,
        # so the next reply evaluates its prompt again instead of reusing half a prefix.
        self._clear()
        if self.stop_flag.is_set() or code == 2:
            self.aborted = True
            raise _Aborted
        if code == 1:
            raise WorkbenchError("generation failed: the context is full (no room in the KV "
                                 "cache); raise the context length")
        raise WorkbenchError(f"generation failed: llama_decode returned {code}")

    def _clear(self) -> None:
        memory = llama_cpp.llama_get_memory(self.llama.ctx)
        if memory is not None:
            llama_cpp.llama_memory_clear(memory, True)
        self.record.forget()

    def _keep(self, n: int) -> bool:
        """Cut the cache back to its first ``n`` tokens; False if llama.cpp cannot, or if a
        sliding-window cache no longer holds what reusing them needs."""
        if not sliding_window_holds(self.llama, n):
            return False
        memory = llama_cpp.llama_get_memory(self.llama.ctx)
        if memory is None or not llama_cpp.llama_memory_seq_rm(memory, 0, n, -1):
            return False
        del self.record.tokens[n:]
        if self.record.boundary > n:
            self.record.boundary = 0
        return True

    def evaluate_prompt(self) -> None:
        """Bring the cache to the prompt as the mode says (iterating does this first)."""
        tokens, record = self.tokens, self.record
        prefix = self.prefix if self.mode == "prefix" and 0 < self.prefix < len(tokens) else 0
        if prefix:
            reusable = (record.boundary == prefix and len(record.tokens) >= prefix
                        and record.tokens[:prefix] == tokens[:prefix])
            if not (reusable and self._keep(prefix)):
                self._clear()
                self._decode(tokens[:prefix])
                record.boundary = prefix
            self._decode(tokens[prefix:])
            return
        if self.mode == "chat" and record.tokens:
            same = common_prefix(record.tokens, tokens)
            if same == len(tokens):
                same -= 1  # the last prompt token is evaluated again, for its logits
            if same > 0 and self._keep(same):
                self._decode(tokens[same:])
                return
        self._clear()
        self._decode(tokens)

    # --- the loop --------------------------------------------------------------------------

    def __iter__(self) -> Generator[str, None, None]:
        llama, flag = self.llama, self.stop_flag
        vocab = llama._model.vocab
        n_ctx = llama.n_ctx()
        watch = AbortWatch(llama.ctx, flag)
        chain = None
        try:
            chain = build_sampler(llama, self.sampling, self.seed, self.grammar, self.triggers)
            self.evaluate_prompt()
            limit = n_ctx - len(self.tokens)
            if self.sampling.max_tokens:
                limit = min(limit, self.sampling.max_tokens)
            yield from self._loop(chain, vocab, limit)
        except _Aborted:
            self.finish = "stopped"
        finally:
            watch.close()
            if chain is not None:
                llama_cpp.llama_sampler_free(chain)
            if flag.is_set():
                self.finish = "stopped"

    def _loop(self, chain: Any, vocab: Any, limit: int) -> Iterator[str]:
        ctx, flag, record = self.llama.ctx, self.stop_flag, self.record
        sample = llama_cpp.llama_sampler_sample
        decode = llama_cpp.llama_decode
        get_one = llama_cpp.llama_batch_get_one
        clock = time.perf_counter
        one = (llama_cpp.llama_token * 1)()
        tail = TokenTail(self, vocab, limit)
        take = tail.take
        while True:
            if flag.is_set():
                rest = tail.end("stopped")
                if rest:
                    yield rest
                return
            token = sample(chain, ctx, -1)
            piece, ended = take(token, clock())
            if piece:
                yield piece
            if ended:
                return
            one[0] = token
            code = decode(ctx, get_one(one, 1))
            if code != 0:
                self._failed(code)
            record.tokens.append(token)


class TokenTail:
    """What every generation loop does with each token it samples, one token at a time
    (:class:`Generation`'s, and the speculative one's runs of verified tokens): end at an
    end-of-generation token; turn the token into text (llama.cpp's piece, decoded as UTF-8
    across tokens, held back while it could become a stop string); record when it was sampled
    (``token_times``: the reply's metrics); and end at a stop string or the token limit,
    setting the generation's ``finish``. The text held back is given at the end, except after
    a stop string (it follows the stop)."""

    def __init__(self, generation: Generation, vocab: Any, limit: int) -> None:
        self.generation = generation
        self.vocab = vocab
        self.limit = limit
        #: Tokens of the reply so far, and of those the ones the cache holds or is about to
        #: (all but a last one that ended the reply when shown: a stop string's, the limit's).
        self.count = 0
        self.kept = 0
        self._times = generation.token_times
        self._size = 64
        self._buffer = ctypes.create_string_buffer(self._size)
        self._text = codecs.getincrementaldecoder("utf-8")("ignore")
        self._stopper = StopText(generation.stops)

    def take(self, token: int, now: float) -> tuple[str, bool]:
        """The text to show for ``token`` (sampled at ``now``), and whether the reply ends
        with it."""
        vocab, buffer = self.vocab, self._buffer
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            return self.end("stop"), True
        to_piece = llama_cpp.llama_token_to_piece
        n = to_piece(vocab, token, buffer, self._size, 0, False)
        if n < 0:  # a piece longer than the buffer: grow it once for this vocabulary
            self._size = -n
            self._buffer = buffer = ctypes.create_string_buffer(self._size)
            n = to_piece(vocab, token, buffer, self._size, 0, False)
        self._times.append(now)
        self.count += 1
        self.kept = self.count
        piece, hit = self._stopper.feed(self._text.decode(buffer.raw[:n]))
        if hit:
            self._times.pop()  # the token that completed the stop string is not the reply's
            self.generation.finish = "stop"
            self.kept -= 1
            return piece, True
        if self.count >= self.limit:
            piece += self.end("length")
            self.kept -= 1
            return piece, True
        return piece, False

    def end(self, finish: str) -> str:
        """End the reply for ``finish``; the text still held back."""
        self.generation.finish = finish
        return self._stopper.flush() + self._text.decode(b"", final=True)


class _Aborted(Exception):
    """A decode ended by the abort callback: a stop, not a failure."""


def grammar_text(grammar: llama_cpp.LlamaGrammar | None) -> str | None:
    """The GBNF text of a llama-cpp-python grammar (what llama.cpp's grammar sampler reads)."""
    return None if grammar is None else grammar._grammar
