"""A streamed chat answer that may call tools, sent as it is written (llama.cpp's server).

Each piece goes through :class:`~workbench.engine.tool_stream.ToolStream`: content that is
surely not part of a call is sent at once; a call's first delta carries its ``id``,
``type: function``, ``function.name`` and empty ``arguments``, the next ones more of
``function.arguments``; when the reply ends the final parse (the non-streamed answer's)
sends what is left and the finish reason is ``tool_calls`` when it made calls. So the
concatenated stream is the non-streamed answer.

The call syntax is known once the engine has begun the reply (its settings come with the
first piece: ``tool_format``), so the stream is made then.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from workbench.engine.settings import ReplyStats
from workbench.engine.tool_stream import StreamDelta, ToolStream
from workbench.server.tools import read_turn, tools_active

log = logging.getLogger(__name__)


class ToolDeltas:
    """OpenAI's ``delta`` objects for one streamed reply whose tools are active."""

    def __init__(self, sampling: dict[str, Any]) -> None:
        self.sampling = sampling
        self.stream: ToolStream | None = None
        self.ids: list[str] = []

    def feed(self, text: str, job: Any = None) -> list[dict[str, Any]]:
        """The deltas one piece adds (``job``: the server's, whose reply's settings name the
        call syntax once the reply has begun)."""
        if self.stream is None:
            self._open(job.reply.stats if job is not None and job.reply is not None
                       else None)
        assert self.stream is not None
        return [self._shaped(delta) for delta in self.stream.feed(text)]

    def _open(self, stats: ReplyStats | None) -> None:
        form = str((stats.settings if stats else {}).get("tool_format", "generic"))
        self.stream = ToolStream(form, self.sampling.get("tools"),
                                 str(self.sampling.get("tool_choice") or "auto"))

    def end(self, tail: str, stats: ReplyStats) -> tuple[list[dict[str, Any]], str | None]:
        """The last deltas (the stop watcher's held tail, then what the final parse adds)
        and ``tool_calls`` as the finish reason when calls were made."""
        if self.stream is None:  # nothing came before the end
            self._open(stats)
        deltas = self.feed(tail)
        assert self.stream is not None
        turn = read_turn(self.stream.text, stats, self.sampling)
        deltas += [self._shaped(delta) for delta in self.stream.finish(turn)]
        if self.stream.diverged:  # e.g. max_tokens cut a call: what was sent stays
            log.info("a streamed tool reply ended unlike its start (%s)",
                     "; ".join(turn.problems) or "cut")
        return deltas, "tool_calls" if turn.calls else None

    def _shaped(self, delta: StreamDelta) -> dict[str, Any]:
        if delta.index is None:
            return {"content": delta.content}
        if delta.name is not None:
            self.ids.append("call_" + uuid.uuid4().hex[:24])
            return {"tool_calls": [{"index": delta.index, "id": self.ids[delta.index],
                                    "type": "function", "function": {
                                        "name": delta.name, "arguments": ""}}]}
        return {"tool_calls": [{"index": delta.index,
                                "function": {"arguments": delta.arguments}}]}


def tool_deltas(chat: bool, sampling: dict[str, Any]) -> ToolDeltas | None:
    """The deltas maker of a streamed chat answer whose tools are active (else None)."""
    return ToolDeltas(sampling) if chat and tools_active(sampling) else None


def end_deltas(tooling: ToolDeltas | None, tail: str, stats: ReplyStats
               ) -> tuple[list[dict[str, Any]], str | None]:
    """A stream's last deltas: the stop watcher's held tail as content, or (tools active)
    :meth:`ToolDeltas.end`."""
    if tooling is None:
        return ([{"content": tail}] if tail else []), None
    return tooling.end(tail, stats)
