"""A chat reply that may call tools: the engine's tool loop run inside one chat turn.

:class:`ToolLoopReply` stands where a plain :class:`~workbench.engine.Reply` stands in a
:class:`~workbench.chat.ChatTurn` (the same ``text``, ``stats``, ``stop()``), so the turn is
saved and stopped as every other; it runs :func:`~workbench.engine.tool_loop.tool_steps`
with the toolbox's ``run`` and yields, besides the answer's text, the toolbox's events (each
call before it runs, each result, each server's notice) as they happen.

The first step uses the ``tool_choice`` asked for (``required`` makes the model call); the
steps after it are ``auto``, so the model can answer once it has the results. Each step's
text is shown as it is written, less what may be part of a call (the partial parser the
server streams with, :mod:`workbench.engine.tool_stream`); steps that wrote text are joined
by a blank line, and the reply's saved text is what was shown.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from workbench.engine import Engine, LoadSettings, ReplyStats, SamplingSettings
from workbench.engine.tool_loop import LoopResult, StepText, tool_steps
from workbench.engine.tool_parse import ToolCall
from workbench.engine.tools import MAX_STEPS, check_tool_choice


class Toolbox(Protocol):
    """What the loop needs of a toolbox (:class:`workbench.mcp.toolbox.McpToolbox`)."""

    tools: str | None

    def run(self, call: ToolCall) -> str: ...

    def shown(self, call: ToolCall) -> Any: ...

    def drain(self) -> list[Any]: ...

    def records(self) -> list[dict[str, Any]]: ...


class ToolLoopReply:
    def __init__(self, engine: Engine, path: str | Path, messages: list[dict[str, Any]],
                 load: LoadSettings | None, sampling: SamplingSettings, toolbox: Toolbox,
                 *, fresh: bool = False, max_steps: int = MAX_STEPS) -> None:
        self.engine, self.path, self.messages = engine, path, messages
        self.load, self.sampling, self.toolbox = load, sampling, toolbox
        self.fresh, self.max_steps = fresh, max_steps
        self.text = ""
        self.stats = ReplyStats()
        self.loop: LoopResult | None = None
        self._stop = threading.Event()
        self._current: Any = None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def note(self) -> str | None:
        return self.loop.stopped if self.loop else None

    def stop(self) -> None:
        self._stop.set()
        if self._current is not None:
            self._current.stop()

    def _reply_for(self, messages: list[dict[str, Any]], step: int) -> Any:
        choice = self.sampling.tool_choice if step == 0 else "auto"
        choice = check_tool_choice(choice or "auto", self.toolbox.tools, "--tool-choice")
        sampling = replace(self.sampling, tools=self.toolbox.tools, tool_choice=choice)
        reply = self.engine.reply(self.path, messages, load=self.load, sampling=sampling,
                                  fresh=self.fresh and step == 0)
        self._current = reply
        if self.stopped:
            reply.stop()
        return reply

    def __iter__(self) -> Iterator[Any]:
        steps = tool_steps(self._reply_for, self.messages, self.toolbox.run,
                           tools=self.toolbox.tools or "[]", max_steps=self.max_steps,
                           stream=True)
        step_shown = 0  # the loop's step whose text was shown last
        try:
            while not self.stopped:
                try:
                    event = next(steps)
                except StopIteration as end:
                    self.loop = end.value
                    break
                if isinstance(event, StepText):
                    text = event.text
                    if self.text and step_shown != id(self._current):
                        text = "\n\n" + text  # a new step's text
                    step_shown = id(self._current)
                    self.text += text
                    yield text
                    continue
                if event.result is None:
                    yield self.toolbox.shown(event.call)
                yield from self.toolbox.drain()
        finally:
            steps.close()
            if self._current is not None:
                self.stats = self._current.stats
            self.stats.settings = {**self.stats.settings, "tool_calls": self.toolbox.records()}
            notes = getattr(self.toolbox, "notes", None)
            if notes:
                self.stats.settings["tool_notices"] = list(notes)
            if self.loop is not None:
                if self.loop.stopped:
                    self.stats.settings["tool_loop_note"] = self.loop.stopped
                self.stats.finish_reason = self.stats.finish_reason or "stop"
        yield from self.toolbox.drain()
