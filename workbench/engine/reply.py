"""One streamed reply: a plain iterator of text chunks that measures itself as it runs.

Stopping is cooperative and fast. A stop request (from any thread) is seen by llama.cpp's abort
callback, which ends a long prompt evaluation or a token's decode in the middle, and by the
generation loop (:mod:`workbench.engine.generate`) before every token. Either way the text
generated so far is kept and the finish reason is ``stopped``.
"""

from __future__ import annotations

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
from workbench.engine.generate import Generation, common_prefix, grammar_text
from workbench.engine.loaded import LoadedModel
from workbench.engine.settings import ReplyStats, SamplingSettings, json_cut_note
from workbench.engine.stopflag import StopFlag
from workbench.engine.templates import FOLDED_NOTE
from workbench.engine.tools import plan_for
from workbench.errors import ContextOverflowError, TemplateError
from workbench.streams import EventStream

Message = dict[str, Any]


@dataclass
class FittedPrompt:
    """The conversation as tokens that fit the context, and how it was made to fit."""

    tokens: list[int]
    stops: list[str]
    dropped: int  # oldest turns left out
    template: str  # how the template was chosen, in words
    folded: bool  # the system prompt went into the first user message
    #: How many leading tokens are the template's and system prompt's own, the same for every
    #: user prompt (0: not asked for, or not found): the ``keep_prefix`` reuse boundary.
    prefix: int = 0


def fit_messages(
    loaded: LoadedModel, messages: list[Message], reserve: int, template_override: str | None,
    *, shared_prefix: bool = False, tools: list[dict[str, Any]] | None = None
) -> FittedPrompt:
    """Tokenize the conversation, dropping the oldest turns (never the system prompt) until
    it leaves ``reserve`` tokens for the reply. A template failure is a TemplateError.
    ``shared_prefix`` also finds the tokens before the first user message's text.

    The fewest turns to drop are found by halving, not one at a time (which took 40 s for
    1,000 messages and held every other request): each try renders and tokenizes what it
    keeps. Tokenizing a long prompt costs more than its length (llama.cpp's special-token
    scan), so tries that surely cannot fit (:func:`_surely_too_long`) are skipped."""
    template = loaded.template(template_override)
    template.model = loaded.path.name
    n_ctx = loaded.llama.n_ctx()
    system = [m for m in messages if m["role"] == "system"][:1]
    turns = [m for m in messages if m["role"] != "system"]
    # Where each drop starts: the oldest turn goes with the reply that answered it, so roles
    # keep alternating; the last cut keeps one turn.
    cuts = [0]
    while len(turns) - cuts[-1] > 1:
        rest = turns[cuts[-1]:]
        cuts.append(cuts[-1] + (2 if len(rest) > 2 and rest[1]["role"] == "assistant" else 1))
    tried: dict[int, tuple[Any, list[int]]] = {}

    def attempt(dropped: int) -> tuple[Any, list[int]]:
        if dropped not in tried:
            rendered = template.render(system + turns[cuts[dropped]:], tools)
            tokens = loaded.llama.tokenize(rendered.prompt.encode("utf-8"),
                                           add_bos=not rendered.added_bos, special=True)
            if not tokens:  # llama.cpp asserts on an empty prompt, taking the process with it
                raise TemplateError(f"{template.model}: {template.describe()} rendered an "
                                    "empty prompt")
            tried[dropped] = (rendered, tokens)
        return tried[dropped]

    def fits(dropped: int) -> bool:
        return len(attempt(dropped)[1]) + reserve <= n_ctx

    dropped = 0
    known_long = _surely_too_long(loaded, turns, cuts, n_ctx - reserve)
    if known_long >= 0 or not fits(0):
        last = len(cuts) - 1
        if last == 0 or not fits(last):
            raise ContextOverflowError(
                f"prompt: {len(attempt(last)[1]):,} tokens do not fit the {n_ctx:,}-token "
                f"context (with {reserve:,} kept for the reply); shorten it or raise the "
                "context length")
        low, high = max(known_long, 0), last  # low does not fit, high does
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if fits(middle) else (middle, high)
        dropped = high
    rendered, tokens = attempt(dropped)
    prefix = 0
    if shared_prefix and not dropped:
        prefix = _shared_prefix(loaded, template, system, turns, tokens,
                                not rendered.added_bos)
    return FittedPrompt(tokens, rendered.stops, dropped, template.describe(),
                        rendered.folded, prefix)


#: The fewest tokens a message's text can lose to its neighbours in the rendered prompt (a
#: token merging across each end, with room to spare).
_EDGE_TOKENS = 4


def _surely_too_long(loaded: LoadedModel, turns: list[Message], cuts: list[int],
                     budget: int) -> int:
    """The most cuts after which the kept turns' texts alone, tokenized one by one (linear),
    still surely exceed ``budget`` tokens; -1 when none do or the texts are short enough that
    trying them whole is cheap."""
    if sum(len(m["content"]) for m in turns) <= 2 * budget:
        return -1
    tokenize = loaded.llama.tokenize
    least = [0] * (len(turns) + 1)  # the fewest tokens the turns from index i on can take
    for index in range(len(turns) - 1, -1, -1):
        count = len(tokenize(turns[index]["content"].encode("utf-8"), add_bos=False,
                             special=False))
        least[index] = least[index + 1] + max(0, count - _EDGE_TOKENS)
    surely = [k for k, cut in enumerate(cuts) if least[cut] > budget]
    return max(surely, default=-1)


#: Stands in for the first user message's text to find where the template's own start ends.
_MARK = "Wbprefixmark7q"


def _shared_prefix(loaded: LoadedModel, template: Any, system: list[Message],
                   turns: list[Message], tokens: list[int], add_bos: bool) -> int:
    """The number of leading ``tokens`` that come from the template and system prompt alone:
    the conversation rendered with a marker for the first user text, cut at the marker,
    tokenized, and compared with ``tokens`` (a token merging across the cut is left out).
    It depends only on the template, the system prompt and this prompt, never on what ran
    before, so a reused prefix splits at the same place in every run."""
    if not turns or turns[0]["role"] != "user":
        return 0
    marked = template.render(system + [{**turns[0], "content": _MARK}])
    cut = marked.prompt.find(_MARK)
    if cut <= 0:
        return 0
    head = loaded.llama.tokenize(marked.prompt[:cut].encode("utf-8"), add_bos=add_bos,
                                 special=True)
    # The head's last token may merge with the user's text in the real prompt: keep only the
    # tokens both agree on, and never the whole prompt (its last token gives the logits).
    return min(common_prefix(head, tokens), len(tokens) - 1)


def _grammar(schema: str | None) -> llama_cpp.LlamaGrammar | None:
    """llama.cpp's grammar for a JSON schema (structured output); None for free text."""
    if not schema:
        return None
    from workbench.engine.json_grammar import json_gbnf
    from workbench.engine.settings import check_json_schema

    text = check_json_schema(schema)
    return llama_cpp.LlamaGrammar.from_string(json_gbnf(text or "{}", "json_schema"),
                                              verbose=False)


#: How each cache mode is recorded with a reply's settings.
PROMPT_CACHE = {"chat": "reused prefix", "fresh": "off",
                "prefix": "shared prefix, evaluated apart"}


class StreamedReply(EventStream[str]):
    """What every reply shares, in this process or the engine process: iterate once to stream
    text; ``stats``, ``text`` and ``finish_reason`` are set as it runs; :meth:`stop` from any
    thread. Subclasses write :meth:`_run`."""

    def __init__(self, messages: list[Message], sampling: SamplingSettings, *,
                 fresh: bool = False, keep_prefix: bool = False,
                 stop_flag: threading.Event | None = None) -> None:
        self.messages = messages
        self.sampling = sampling
        self.fresh = fresh
        #: Reproducible like ``fresh``, but the template's and system prompt's shared start
        #: is evaluated as a batch of its own and kept for the next reply (trials).
        self.keep_prefix = keep_prefix
        self.text = ""
        self.stats = ReplyStats()
        self._stop = stop_flag or StopFlag()
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

    @property
    def note(self) -> str | None:
        """A line to show with the finished reply, or None: whether the token limit cut the
        JSON a schema asked for (:func:`~workbench.engine.settings.json_cut_note`)."""
        return json_cut_note(self.finish_reason, self.sampling.json_schema, self.text)

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("a Reply can be iterated once")
        self._started = True
        return self._run()

    def _run(self) -> Iterator[str]:
        raise NotImplementedError


class Reply(StreamedReply):
    """A reply generated by llama.cpp in this process (the engine process runs these)."""

    def __init__(
        self,
        loaded: LoadedModel,
        messages: list[Message],
        sampling: SamplingSettings,
        *,
        fresh: bool = False,
        keep_prefix: bool = False,
        stop_flag: threading.Event | None = None,
    ) -> None:
        #: The engine process passes the flag its command listener sets on a stop request.
        super().__init__(messages, sampling, fresh=fresh, keep_prefix=keep_prefix,
                         stop_flag=stop_flag)
        self.loaded = loaded

    def _settings_record(self, seed: int, fitted: FittedPrompt, mode: str) -> dict[str, Any]:
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
            "prompt_cache": PROMPT_CACHE[mode],
            "model_path": str(self.loaded.path),
            **_split_record(self.loaded.split),
            "llama_cpp_python": llama_cpp.__version__,
            "workbench": __version__,
        }

    def _fit(self, messages: list[Message], reserve: int,
             tools: list[dict[str, Any]] | None) -> FittedPrompt:
        """The prompt as tokens that fit (a reply with images makes it its own way)."""
        return fit_messages(self.loaded, messages, reserve, self.sampling.template,
                            shared_prefix=self.keep_prefix, tools=tools)

    #: Whether a draft model may speed this reply up (a reply with images evaluates its
    #: prompt its own way, so it runs without the draft).
    DRAFTED = True

    def _generation(self, tokens: list[int], **options: Any) -> Generation:
        """The generation loop over ``tokens`` (a reply with images evaluates its own)."""
        return Generation(self.loaded.llama, self.loaded.cache, tokens, **options)

    def _run(self) -> Iterator[str]:
        llama = self.loaded.llama
        sampling = self.sampling
        stats = self.stats
        process = psutil.Process(os.getpid())
        peak = process.memory_info().rss
        n_ctx = llama.n_ctx()
        reserve = min(sampling.max_tokens or n_ctx // 4, n_ctx // 2)
        started = time.perf_counter()
        plan = plan_for(self.loaded.template(sampling.template).template, sampling.tools,
                        sampling.tool_choice, sampling.parallel_tool_calls)
        messages = plan.messages(self.messages) if plan else self.messages
        fitted = self._fit(messages, reserve, plan.template_tools() if plan else None)
        grammar = plan.grammar() if plan else None
        triggers: tuple[str, ...] = ()
        if plan and grammar is None:
            grammar, triggers = plan.lazy_grammar()
        tokens, stops = fitted.tokens, fitted.stops
        seed = sampling.seed if sampling.seed is not None else random.randrange(2**31)
        stats.prompt_tokens = len(tokens)
        stats.dropped_turns = fitted.dropped
        mode = "prefix" if self.keep_prefix and fitted.prefix else (
            "fresh" if self.fresh or self.keep_prefix else "chat")
        stats.settings = self._settings_record(seed, fitted, mode)
        if plan:
            stats.settings["tool_format"] = plan.format
        if self.loaded.fresh:
            stats.load_ms = self.loaded.load_ms
            self.loaded.fresh = False
        options: dict[str, Any] = dict(
            sampling=sampling, seed=seed, stops=stops, stop_flag=self._stop, mode=mode,
            prefix=fitted.prefix, grammar=grammar or grammar_text(_grammar(sampling.json_schema)),
            triggers=triggers if grammar else ())
        generation: Generation
        draft = None
        if sampling.draft and self.DRAFTED:
            from workbench.engine.speculative import SpeculativeGeneration, attach_draft

            draft = attach_draft(self.loaded, sampling.draft)
            if draft.note:
                stats.settings["draft_note"] = draft.note
            generation = SpeculativeGeneration(
                llama, self.loaded.cache, tokens, **options, draft=draft,
                draft_max=sampling.draft_max, p_min=sampling.draft_p_min)
        else:
            generation = self._generation(tokens, **options)
        llama_cpp.llama_perf_context_reset(llama.ctx)
        stream = generation.__iter__()
        try:
            for count, piece in enumerate(stream):
                self.text += piece
                if count % 16 == 0:
                    peak = max(peak, process.memory_info().rss)
                yield piece
        except GeneratorExit:
            self._stop.set()  # the consumer closed the stream: that is a stop too
            raise
        finally:
            stream.close()  # its own finally puts llama.cpp's abort callback back
            stats.timed(generation.token_times, started, time.perf_counter())
            perf = llama_cpp.llama_perf_context(llama.ctx)
            stats.finish_reason = "stopped" if self._stop.is_set() else generation.finish
            n_prompt, prompt_ms = perf.n_p_eval, perf.t_p_eval_ms
            if draft is not None:
                n_prompt, prompt_ms = generation.prompt_perf  # type: ignore[attr-defined]
            if n_prompt > 0 and prompt_ms > 0:
                stats.prompt_tps = n_prompt / (prompt_ms / 1000)
            stats.peak_rss = max(peak, process.memory_info().rss)
            if draft is not None:
                figures = generation.figures  # type: ignore[attr-defined]
                stats.speculative = figures.record(draft, stats.gen_tps, sampling.draft_max)
                stats.settings["speculative"] = stats.speculative


def _split_record(split: dict[str, Any] | None) -> dict[str, Any]:
    """Where the model's layers sat when split across workers, kept with the reply (so its
    line says so when the chat is opened again), the output layer's place with them;
    nothing when it ran here alone."""
    if not split:
        return {}
    return {"split": [{"where": share["where"], "layers": share["layers"],
                       **({"output": True} if share.get("output") else {})}
                      for share in split.get("split", [])]}
