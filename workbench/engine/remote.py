"""A model served by another program, reached through OpenAI's chat-completions API.

An endpoint (Workbench's own ``serve``, llama-server, vLLM, Ollama) is a base URL and an
optional key. :class:`EndpointReply` streams its reply with the same shape as a local one
(:class:`~workbench.engine.reply.StreamedReply`: iterate for text, ``stop()`` from any thread,
``text`` and ``stats`` kept as it runs), so a trial, a comparison and the judge take it from
:meth:`Engine.reply <workbench.engine.engine.Engine.reply>` like any model, by the model
"path" :meth:`Target.path` writes. That path holds everything a reply needs but the key (the
endpoint's name, base URL and model, and where its key is kept), so it needs no database and
a contender's identity includes the endpoint.

Speed is what the server reports (llama-server's ``timings``) or, failing that, what the stream
shows (tokens from ``usage`` over the time after the first token), and
``stats.settings["speed"]`` says which. Memory is not claimed: the model is not here.

Every failure is one line naming the endpoint as *remote: HOST* (refused, timed out, not the
API, a refused key, too many requests, a server error, a malformed event, a stream that stops),
the text streamed so far is kept, time and bytes are bounded, and a key never appears in it
(:func:`~workbench.keychain.redact`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from workbench.engine.endpoint_http import (
    MAX_BYTES,
    MAX_ERROR_BYTES,
    TOTAL_S,
    Connection,
    EndpointError,
    Target,
    error_detail,
    event_lines,
    request_body,
)
from workbench.engine.reply import Message, StreamedReply
from workbench.engine.settings import SamplingSettings
from workbench.units import human_duration, human_size

__all__ = ["EndpointError", "EndpointReply", "Target"]


class EndpointReply(StreamedReply):
    """A reply streamed from an endpoint; the local reply's interface (see the module)."""

    def __init__(self, target: Target, messages: list[Message], sampling: SamplingSettings,
                 *, fresh: bool = False, keep_prefix: bool = False) -> None:
        super().__init__(messages, sampling, fresh=fresh, keep_prefix=keep_prefix,
                         stop_flag=threading.Event())
        self.target = target
        self._connection: Connection | None = None
        self.stats.settings = {"endpoint": target.name, "host": target.host,
                               "model": target.model, "remote": True,
                               **sampling.to_dict()}

    def stop(self) -> None:
        self._stop.set()
        connection = self._connection
        if connection is not None:
            connection.close()

    def _run(self) -> Iterator[str]:
        began = time.perf_counter()
        connection = self._connection = Connection(self.target, self.target.key())
        body = request_body(self.target.model, self.messages, self.sampling)
        first: float | None = None
        chunks = 0
        usage: dict[str, Any] = {}
        timings: dict[str, Any] = {}
        finish = ""
        try:
            if self._stop.is_set():
                self.stats.finish_reason = "stopped"
                return
            response = connection.open("POST", "/chat/completions", body)
            kind = (response.getheader("Content-Type") or "").lower()
            if "event-stream" not in kind:
                detail = error_detail(response.read(MAX_ERROR_BYTES), kind)
                raise connection.fail(f"answered {kind or 'without a content type'}, not an "
                                      f"event stream ({detail or 'not the API'}); is the URL "
                                      "the API's base, such as http://HOST:PORT/v1?")
            read = 0
            done = False
            for line in event_lines(response, connection):
                read += len(line)
                if read > MAX_BYTES:
                    raise connection.fail(f"its reply passed {human_size(MAX_BYTES)}; "
                                          "the text so far is kept")
                if time.perf_counter() - began > TOTAL_S:
                    raise connection.fail(f"its reply took over {human_duration(TOTAL_S)}; "
                                          "the text so far is kept")
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                try:
                    event = json.loads(data)
                    if not isinstance(event, dict):
                        raise ValueError("not an object")
                except ValueError:
                    raise connection.fail(
                        f"sent a malformed event ({data[:60].decode('utf-8', 'replace')!r}); "
                        "the text so far is kept") from None
                if event.get("error"):
                    raise connection.fail(f"reported an error mid-reply "
                                          f"({error_detail(json.dumps(event).encode(), '')})")
                usage = event.get("usage") or usage
                timings = event.get("timings") or timings
                for choice in event.get("choices") or []:
                    piece = ((choice.get("delta") or {}).get("content")) or ""
                    finish = choice.get("finish_reason") or finish
                    if piece:
                        if first is None:
                            first = time.perf_counter()
                            self.stats.ttft_ms = (first - began) * 1000
                        chunks += 1
                        self.text += piece
                        yield piece
            if self._stop.is_set():
                finish = "stopped"
            elif not done and not finish:
                self.stats.finish_reason = "interrupted"
                raise connection.fail(f"its stream stopped midway (after {len(self.text):,} "
                                      "characters); the text so far is kept")
            self.stats.finish_reason = {"length": "length"}.get(finish, finish or "stop")
        except EndpointError:
            if self._stop.is_set():
                self.stats.finish_reason = "stopped"
                return
            if self.stats.finish_reason != "interrupted":
                self.stats.finish_reason = "error"
            raise
        finally:
            connection.close()
            self._connection = None
            self._finish(began, first, chunks, usage, timings)

    def _finish(self, began: float, first: float | None, chunks: int,
                usage: dict[str, Any], timings: dict[str, Any]) -> None:
        """Token counts from ``usage`` (else the chunks counted), speed as the server reports
        it (else measured from the stream), and which of the two, in ``settings["speed"]``."""
        end = time.perf_counter()
        self.stats.total_ms = (end - began) * 1000
        self.stats.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        self.stats.completion_tokens = int(usage.get("completion_tokens") or chunks)
        reported = timings.get("predicted_per_second")
        if isinstance(reported, int | float) and reported > 0:
            self.stats.gen_tps = float(reported)
            prompt = timings.get("prompt_per_second")
            if isinstance(prompt, int | float) and prompt > 0:
                self.stats.prompt_tps = float(prompt)
            self.stats.settings["speed"] = "reported by the server"
        elif first is not None and self.stats.completion_tokens > 1 and end > first:
            self.stats.gen_tps = (self.stats.completion_tokens - 1) / (end - first)
            self.stats.settings["speed"] = "measured from the stream"


