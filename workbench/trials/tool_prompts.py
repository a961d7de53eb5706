"""Trials of tool use: a suite prompt that offers tools, its canned results, and the cell
that runs it.

A prompt may carry ``"tools"`` (OpenAI's function format, checked by the engine's own
:func:`~workbench.engine.tools.check_tools`, as the server checks a request's) and
``"tool_results"``, the canned answers of those tools, so a trial runs nothing but the
model and is reproducible:

- ``{"get_weather": {"temp": 21}}``: every call of ``get_weather`` gets that result (text
  as it is, any other JSON value as JSON text);
- ``{"get_weather": [{"temp": 21}, {"temp": 15}]}``: the first call gets the first, the
  second the second; a call past the end gets a one-line error result (a tool whose one
  result is a list writes it inside a list: ``[[1, 2]]``).

Without canned results a cell is one reply, its calls recorded and graded. With them the
cell runs the engine's loop (:func:`~workbench.engine.tool_loop.tool_loop`, bounded by its
steps): call, canned result, until the model answers in words, and the ordinary checks
grade that final answer. The contender's ``tool_choice`` applies to the first step; later
steps are ``auto`` (a forced call on every step could never reach an answer), and ``none``
stays ``none`` (no loop). Every call is recorded with its arguments, valid or why not, and
the canned result it was given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from workbench.engine import ReplyStats, SamplingSettings
from workbench.engine.tool_loop import tool_loop
from workbench.engine.tool_parse import ToolCall, parse_reply
from workbench.engine.tools import (
    CHOICES,
    MAX_STEPS,
    argument_problem,
    check_tools,
    parameters_of,
    tool_names,
)
from workbench.errors import InvalidInputError

#: The most characters of one prompt's canned results, as JSON (they are stored with the
#: suite; the engine still cuts each result it gives the model at 200,000 characters).
MAX_RESULTS_CHARS = 1_000_000
#: The most canned results one tool may list (one per call).
MAX_RESULTS_PER_TOOL = 128
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def tool_fields(raw: dict[str, Any], checks: list[dict[str, Any]], where: str
                ) -> tuple[str | None, dict[str, Any] | None]:
    """A prompt's ``tools`` (canonical JSON text) and ``tool_results``, checked against each
    other and against its tool checks; each problem one line naming ``where`` and the field."""
    from workbench.trials.tool_checks import TOOL_CHECKS, expected_names

    try:
        tools = check_tools(raw.get("tools"), "tools")
    except InvalidInputError as error:
        raise InvalidInputError(f"{where}: {error}") from None
    results = check_results(raw.get("tool_results"), tools, where)
    offered = tool_names(tools)
    for check in checks:
        kind = check.get("type")
        if kind in TOOL_CHECKS and not tools:
            raise InvalidInputError(f"{where}: checks: {kind} needs the prompt's 'tools'")
        if kind == "tool_call":
            for name in expected_names(check):
                if name not in offered:
                    raise InvalidInputError(f"{where}: checks: tool_call expects '{name[:64]}'"
                                            f", which 'tools' does not offer ("
                                            f"{', '.join(offered)})")
    return tools, results


def check_results(value: Any, tools: str | None, where: str) -> dict[str, Any] | None:
    """Canned results: an object from an offered tool's name to its result, or to a list of
    results, one per call."""
    if value is None or value == {}:
        return None
    if not tools:
        raise InvalidInputError(f"{where}: tool_results needs the prompt's 'tools'")
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: tool_results must be an object from a tool's name "
                                "to its result (or a list of results, one per call)")
    size = len(json.dumps(value, ensure_ascii=False))
    if size > MAX_RESULTS_CHARS:
        raise InvalidInputError(f"{where}: tool_results is {size:,} characters; at most "
                                f"{MAX_RESULTS_CHARS:,}")
    offered = tool_names(tools)
    for name, result in value.items():
        if name not in offered:
            raise InvalidInputError(f"{where}: tool_results.{str(name)[:64]}: not one of the "
                                    f"tools offered ({', '.join(offered)})")
        if isinstance(result, list) and not 1 <= len(result) <= MAX_RESULTS_PER_TOOL:
            raise InvalidInputError(f"{where}: tool_results.{name}: a list of 1 to "
                                    f"{MAX_RESULTS_PER_TOOL} results, one per call")
    return value


def check_choice(value: Any, where: str = "setting tool_choice") -> str | None:
    """A contender's ``tool_choice``: auto, none, required or a tool's name (which each
    prompt with tools must then offer: :func:`check_choice_fits`)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not (value in CHOICES or _NAME.match(value)):
        raise InvalidInputError(f"{where}={str(value)[:64]}: auto, none, required or a "
                                "tool's name")
    return value


def check_choice_fits(choice: str | None, tools: str | None, where: str) -> None:
    """A named tool_choice must be a tool the prompt offers (checked when a trial is made)."""
    if choice and choice not in CHOICES and tools and choice not in tool_names(tools):
        raise InvalidInputError(f"{where}: tool_choice={choice[:64]} is not one of its tools "
                                f"({', '.join(tool_names(tools))})")


# --- running a cell ---------------------------------------------------------------------------

@dataclass
class ToolCell:
    """What a tool prompt's cell made: the text graded (the final answer, calls taken out),
    the final reply as written, the whole loop's metrics, and the record of its calls."""

    answer: str
    content: str
    stats: ReplyStats
    record: dict[str, Any]
    note: str | None = None


@dataclass
class _Canned:
    """The canned results, handed out call by call (a list: one per call, in order)."""

    results: dict[str, Any]
    used: dict[str, int] = field(default_factory=dict)

    def __call__(self, call: ToolCall) -> str:
        number = self.used.get(call.name, 0)
        self.used[call.name] = number + 1
        if call.name not in self.results:
            return f"error: the suite gives no canned result for {call.name}"
        result = self.results[call.name]
        if isinstance(result, list):
            if number >= len(result):
                return (f"error: no canned result left for {call.name} (call {number + 1}; "
                        f"the suite gives {len(result)})")
            result = result[number]
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


class Stopped(Exception):
    """The trial was stopped between two steps of a cell's loop."""


def run_tool_cell(reply_for: Callable[[list[dict[str, Any]], SamplingSettings], Any],
                  messages: list[dict[str, Any]], sampling: SamplingSettings, tools: str,
                  results: dict[str, Any] | None, max_steps: int = MAX_STEPS) -> ToolCell:
    """Run one tool prompt: ``reply_for(messages, sampling)`` makes each step's reply (the
    runner's engine call; it raises :class:`Stopped` when the trial is stopped)."""
    first = replace(sampling, tools=tools, tool_choice=sampling.tool_choice or "auto")
    replies: list[Any] = []
    given: list[tuple[ToolCall, str]] = []

    def step(conversation: list[dict[str, Any]], number: int) -> Any:
        later = first if number == 0 or first.tool_choice == "none" else replace(
            first, tool_choice="auto")
        reply = reply_for(conversation, later)
        replies.append(reply)
        return reply

    if results is None or first.tool_choice == "none":
        reply = step(messages, 0)
        text = "".join(reply)
        turn = parse_reply(text, _format(reply), tools)
        answer, stopped = turn.content, None
    else:
        canned = _Canned(results)

        def run(call: ToolCall) -> str:
            result = canned(call)
            given.append((call, result))
            return result

        loop = tool_loop(step, messages, run, tools=tools, max_steps=max_steps)
        answer, stopped = loop.answer, loop.stopped
    last = replies[-1]
    calls = [entry for number, reply in enumerate(replies, 1)
             for entry in recorded_calls(reply.text, _format(reply), tools, number)]
    valid = iter(given)
    for entry in calls:  # the loop ran the valid calls in order, step by step
        if entry["valid"] and results is not None:
            _call, result = next(valid, (None, None))
            entry["result"] = result
    record = {"calls": calls, "steps": len(replies), "stopped": stopped,
              "tool_choice": first.tool_choice, "canned": results is not None}
    return ToolCell(answer, last.text, combined_stats([r.stats for r in replies]), record,
                    last.note)


def _format(reply: Any) -> str:
    return str(reply.stats.settings.get("tool_format", "generic"))


def recorded_calls(text: str, form: str, tools: str, step: int = 1) -> list[dict[str, Any]]:
    """Every call a reply wrote, in order: its name, arguments, whether it is valid (parsed,
    an offered tool, arguments that follow its schema) or why not. A call too broken to
    name (half a call, JSON that does not parse) is an entry with no name."""
    schemas = parameters_of(tools)
    written = parse_reply(text, form, None)
    entries: list[dict[str, Any]] = []
    for call in written.calls:
        if call.name not in schemas:
            why: str | None = "not one of the tools offered"
        else:
            why = argument_problem(schemas[call.name], call.arguments)
        entries.append({"step": step, "name": call.name, "arguments": call.arguments,
                        "valid": why is None, "why": why})
    entries += [{"step": step, "name": None, "arguments": None, "valid": False, "why": problem}
                for problem in written.problems]
    return entries


def combined_stats(steps: list[ReplyStats]) -> ReplyStats:
    """One cell's metrics over the steps of its loop: tokens and time summed, the first
    step's time to first token, prompt rate and load, generation speed over all steps."""
    if len(steps) == 1:
        return steps[0]
    first, last = steps[0], steps[-1]
    tokens = sum(s.completion_tokens for s in steps)
    seconds = sum(s.completion_tokens / s.gen_tps for s in steps if s.gen_tps)
    settings = {**first.settings, "tool_steps": len(steps)}
    return ReplyStats(
        prompt_tokens=sum(s.prompt_tokens for s in steps), completion_tokens=tokens,
        ttft_ms=first.ttft_ms, prompt_tps=first.prompt_tps,
        gen_tps=tokens / seconds if seconds else None, load_ms=first.load_ms,
        peak_rss=max(s.peak_rss for s in steps), total_ms=sum(s.total_ms for s in steps),
        finish_reason=last.finish_reason, dropped_turns=max(s.dropped_turns for s in steps),
        settings=settings)

