"""One streamed reply: a plain iterator of text chunks that measures itself as it runs.

Stopping is cooperative and fast. A stop request (from any thread) is seen by llama.cpp's abort
callback, which ends a long prompt evaluation or a token's decode in the middle, and by the
stopping criterion checked after every sampled token. Either way the text generated so far is
kept and the finish reason is ``stopped``.
"""

from __future__ import annotations

import ctypes
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import llama_cpp
import psutil

from workbench import __version__
from workbench.engine.loaded import LoadedModel
from workbench.engine.settings import ReplyStats, SamplingSettings
from workbench.engine.templates import FOLDED_NOTE
from workbench.errors import ContextOverflowError, TemplateError, WorkbenchError

Message = dict[str, str]

_abort_type = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)


@dataclass
class FittedPrompt:
    """The conversation as tokens that fit the context, and how it was made to fit."""

    tokens: list[int]
    stops: list[str]
    dropped: int  # oldest turns left out
    template: str  # how the template was chosen, in words
    folded: bool  # the system prompt went into the first user message


def fit_messages(
    loaded: LoadedModel, messages: list[Message], reserve: int, template_override: str | None
) -> FittedPrompt:
    """Tokenize the conversation, dropping the oldest turns (never the system prompt) until
    it leaves ``reserve`` tokens for the reply. A template failure is a TemplateError."""
    template = loaded.template(template_override)
    template.model = loaded.path.name
    n_ctx = loaded.llama.n_ctx()
    system = [m for m in messages if m["role"] == "system"][:1]
    turns = [m for m in messages if m["role"] != "system"]
    dropped = 0
    while True:
        rendered = template.render(system + turns)
        tokens = loaded.llama.tokenize(rendered.prompt.encode("utf-8"),
                                       add_bos=not rendered.added_bos, special=True)
        if not tokens:  # llama.cpp asserts on an empty prompt, taking the process with it
            raise TemplateError(f"{template.model}: {template.describe()} rendered an "
                                "empty prompt")
        if len(tokens) + reserve <= n_ctx:
            return FittedPrompt(tokens, rendered.stops, dropped, template.describe(),
                                rendered.folded)
        if len(turns) <= 1:
            raise ContextOverflowError(
                f"prompt: {len(tokens):,} tokens do not fit the {n_ctx:,}-token context "
                f"(with {reserve:,} kept for the reply); shorten it or raise the context length"
            )
        # Drop the oldest turn, and the reply that answered it, so roles keep alternating.
        turns = turns[2:] if len(turns) > 2 and turns[1]["role"] == "assistant" else turns[1:]
        dropped += 1


class Reply:
    """Iterate to stream text; ``stats``, ``text`` and ``finish_reason`` are set as it runs."""

    def __init__(
        self,
        loaded: LoadedModel,
        messages: list[Message],
        sampling: SamplingSettings,
        *,
        fresh: bool = False,
        stop_flag: threading.Event | None = None,
    ) -> None:
        self.loaded = loaded
        self.messages = messages
        self.sampling = sampling
        self.fresh = fresh
        self.text = ""
        self.stats = ReplyStats()
        #: The engine process passes the flag its command listener sets on a stop request.
        self._stop = stop_flag or threading.Event()
        self._started = False

    def stop(self) -> None:
        """Ask the reply to end; safe from any thread; it ends within one token's time."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def finish_reason(self) -> str:
        return self.stats.finish_reason

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("a Reply can be iterated once")
        self._started = True
        return self._run()

    def _settings_record(self, seed: int, fitted: FittedPrompt) -> dict[str, Any]:
        load = self.loaded.settings
        notes = {"template_note": FOLDED_NOTE} if fitted.folded else {}
        return {
            **self.sampling.to_dict(),
            "seed": seed,
            "template": fitted.template,
            **notes,
            "n_ctx": load.n_ctx,
            "n_threads": load.n_threads or self.loaded.llama.n_threads,
            "gpu_layers": self.loaded.gpu_layers,
            "gpu_layers_requested": load.gpu_layers,
            "use_mmap": load.use_mmap,
            "n_batch": load.n_batch,
            "prompt_cache": "off" if self.fresh else "reused prefix",
            "model_path": str(self.loaded.path),
            "llama_cpp_python": llama_cpp.__version__,
            "workbench": __version__,
        }

    def _run(self) -> Iterator[str]:
        llama = self.loaded.llama
        sampling = self.sampling
        stats = self.stats
        process = psutil.Process(os.getpid())
        peak = process.memory_info().rss
        n_ctx = llama.n_ctx()
        reserve = min(sampling.max_tokens or n_ctx // 4, n_ctx // 2)
        started = time.perf_counter()
        fitted = fit_messages(self.loaded, self.messages, reserve, sampling.template)
        tokens, stops = fitted.tokens, fitted.stops
        seed = sampling.seed if sampling.seed is not None else random.randrange(2**31)
        stats.prompt_tokens = len(tokens)
        stats.dropped_turns = fitted.dropped
        stats.settings = self._settings_record(seed, fitted)
        if self.loaded.fresh:
            stats.load_ms = self.loaded.load_ms
            self.loaded.fresh = False
        token_times: list[float] = []

        def on_token(_ids: Any, _logits: Any) -> bool:
            nonlocal peak
            if self._stop.is_set():
                return True
            token_times.append(time.perf_counter())
            if len(token_times) % 16 == 1:
                peak = max(peak, process.memory_info().rss)
            return False

        abort = _abort_type(lambda _data: self._stop.is_set())
        llama_cpp.llama_set_abort_callback(llama.ctx, abort, None)
        llama_cpp.llama_perf_context_reset(llama.ctx)
        if self.fresh:
            llama.reset()  # no cached prefix: the prompt is evaluated as one batch
        finish = "stop"
        aborted = False
        try:
            stream = llama.create_completion(
                prompt=tokens,
                max_tokens=sampling.max_tokens if sampling.max_tokens else -1,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                min_p=sampling.min_p,
                repeat_penalty=sampling.repeat_penalty,
                seed=seed,
                stop=stops,
                stream=True,
                stopping_criteria=llama_cpp.StoppingCriteriaList([on_token]),
            )
            try:
                for chunk in stream:
                    choice: dict[str, Any] = chunk["choices"][0]  # type: ignore[index,assignment]
                    piece = choice.get("text") or ""
                    if piece:
                        self.text += piece
                        yield piece
                    if choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
                    if self._stop.is_set():
                        break
            finally:
                stream.close()  # type: ignore[union-attr]
        except GeneratorExit:
            self._stop.set()  # the consumer closed the stream: that is a stop too
            raise
        except RuntimeError as error:
            if not self._stop.is_set():
                raise WorkbenchError(f"generation failed: {error}") from None
            aborted = True
        finally:
            llama_cpp.llama_set_abort_callback(llama.ctx, _abort_type(0), None)
            ended = time.perf_counter()
            if self._stop.is_set():
                finish = "stopped"
            if aborted:
                # An aborted decode leaves the KV cache unknown: forget it, so the next reply
                # evaluates its prompt again instead of reusing a half-written prefix.
                llama.reset()
                llama._ctx.kv_cache_clear()
            perf = llama_cpp.llama_perf_context(llama.ctx)
            stats.finish_reason = finish
            # A natural end samples one token more than the text holds: the end-of-turn
            # token, or the one past max_tokens. Count the tokens of the reply itself.
            if finish in ("stop", "length") and token_times:
                token_times.pop()
            stats.completion_tokens = len(token_times)
            stats.total_ms = (ended - started) * 1000
            if token_times:
                stats.ttft_ms = (token_times[0] - started) * 1000
            if len(token_times) > 1 and token_times[-1] > token_times[0]:
                stats.gen_tps = (len(token_times) - 1) / (token_times[-1] - token_times[0])
            if perf.n_p_eval > 0 and perf.t_p_eval_ms > 0:
                stats.prompt_tps = perf.n_p_eval / (perf.t_p_eval_ms / 1000)
            stats.peak_rss = max(peak, process.memory_info().rss)
