"""Call, result, answer: the loop that runs a model's tool calls until it answers in words,
with a bound on its steps so a model that calls forever stops with one clear line.

The loop knows nothing of where results come from (canned results in a trial, an MCP
server in chat, a test's dictionary): ``run_tool`` gives each call's result as text, and
``reply_for`` makes the reply of each step (so a caller can change ``tool_choice`` between
steps, e.g. ``required`` first and ``auto`` after).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.tool_parse import ToolCall, ToolTurn, parse_reply
from workbench.engine.tool_stream import ToolStream
from workbench.engine.tools import MAX_STEPS, bounded_result


@dataclass
class LoopResult:
    messages: list[dict[str, Any]]  # the conversation, with every call and result
    answer: str  # the final reply's text ("" when the bound stopped it)
    steps: int
    calls: list[ToolCall] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: One line when the loop stopped before an answer (the bound on steps).
    stopped: str | None = None


def steps_line(steps: int) -> str:
    return (f"stopped after {steps} tool steps: the model kept calling tools without "
            "answering")


@dataclass(frozen=True)
class StepText:
    """Said by :func:`tool_steps` with ``stream``: more of a step's text, as it is written
    (only what is surely not part of a call: :mod:`~workbench.engine.tool_stream`)."""

    text: str


@dataclass(frozen=True)
class StepEvent:
    """Said by :func:`tool_steps` around each call: before it runs (``result`` None), and
    after, with the text the model will read."""

    call: ToolCall
    result: str | None = None


def tool_loop(reply_for: Callable[[list[dict[str, Any]], int], Any],
              messages: list[dict[str, Any]], run_tool: Callable[[ToolCall], str], *,
              tools: str, max_steps: int = MAX_STEPS) -> LoopResult:
    """Run steps until a reply makes no call, or ``max_steps`` replies have been made.
    ``reply_for(messages, step)`` returns a reply (an iterable of text with ``stats``)."""
    steps = tool_steps(reply_for, messages, run_tool, tools=tools, max_steps=max_steps)
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def tool_steps(reply_for: Callable[[list[dict[str, Any]], int], Any],
               messages: list[dict[str, Any]], run_tool: Callable[[ToolCall], str], *,
               tools: str, max_steps: int = MAX_STEPS, stream: bool = False
               ) -> Generator[StepEvent | StepText, None, LoopResult]:
    """:func:`tool_loop` as a generator that yields a :class:`StepEvent` before and after
    each call (a chat shows them as they happen, and can stop between them), and with
    ``stream`` each step's text as a :class:`StepText` as it is written; its return value
    is the :class:`LoopResult`."""
    conversation = list(messages)
    result = LoopResult(conversation, "", 0)
    for step in range(max_steps):
        reply = reply_for(conversation, step)
        shown: ToolStream | None = None
        pieces = []
        for piece in reply:
            pieces.append(piece)
            if not stream:
                continue
            if shown is None:  # the syntax is known once the reply has begun
                shown = ToolStream(reply.stats.settings.get("tool_format", "generic"), tools)
            for delta in shown.feed(piece):
                if delta.content:
                    yield StepText(delta.content)
        text = "".join(pieces)
        result.steps = step + 1
        form = reply.stats.settings.get("tool_format", "generic")
        turn: ToolTurn = parse_reply(text, form, tools)
        if stream and shown is not None:
            for delta in shown.finish(turn):
                if delta.content:
                    yield StepText(delta.content)
        result.problems.extend(turn.problems)
        if not turn.calls:
            conversation.append({"role": "assistant", "content": turn.content})
            result.answer = turn.content
            return result
        entries = [call.openai() for call in turn.calls]
        for call, entry in zip(turn.calls, entries, strict=True):
            call.id = entry["id"]
        conversation.append({"role": "assistant", "content": turn.content,
                             "tool_calls": entries})
        for call in turn.calls:
            result.calls.append(call)
            yield StepEvent(call)
            content = bounded_result(run_tool(call))
            conversation.append({"role": "tool", "tool_call_id": call.id, "name": call.name,
                                 "content": content})
            yield StepEvent(call, content)
    result.stopped = steps_line(max_steps)
    return result
