"""A byte bound on an MCP server's answers over Streamable HTTP.

The ``mcp`` SDK bounds each server-sent event (``max_sse_event_size``), but an answer sent as
plain JSON (``Content-Type: application/json``, which a server may choose for any request)
is read whole with ``response.aread()``: a server answering a tool call with 50 MB would
put 50 MB in memory, and more before the JSON parser copies it. So the HTTP client given to
the SDK wraps every non-SSE body in a stream that stops at :data:`MAX_JSON_BYTES`; past it
the request fails with one line naming the bound. (A stdio server's result can be cut and
shown in part, since lines arrive one by one; a JSON document cannot be read in part.)
An event stream is left to the SDK's per-event bound, as it may rightly run long.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from workbench.mcp.transport import MAX_MESSAGE_BYTES
from workbench.units import human_size

#: The most one plain-JSON answer may hold: the same bound as one stdio message.
MAX_JSON_BYTES = MAX_MESSAGE_BYTES


class AnswerTooLarge(Exception):  # noqa: N818 (a reason, said as it is)
    """A server's JSON answer passed :data:`MAX_JSON_BYTES`."""


def bounded_client(refused: list[str], limit: int = MAX_JSON_BYTES) -> Any:
    """An ``httpx2.AsyncClient`` with the SDK's own timeouts whose plain answers stop at
    ``limit`` bytes; each refusal's line is appended to ``refused`` (the SDK turns the
    error into a closed connection, so the caller reads the reason there)."""
    import httpx2
    from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

    class Bounded(httpx2.AsyncByteStream):
        def __init__(self, stream: Any) -> None:
            self.stream = stream

        async def __aiter__(self) -> AsyncIterator[bytes]:
            seen = 0
            async for chunk in self.stream:
                seen += len(chunk)
                if seen > limit:
                    line = (f"its answer is larger than {human_size(limit)}, the most read "
                            "from one answer")
                    refused.append(line)
                    raise AnswerTooLarge(line)
                yield chunk

        async def aclose(self) -> None:
            await self.stream.aclose()

    class BoundedTransport(httpx2.AsyncHTTPTransport):
        async def handle_async_request(self, request: Any) -> Any:
            response = await super().handle_async_request(request)
            kind = response.headers.get("content-type", "")
            if not kind.startswith("text/event-stream"):
                response.stream = Bounded(response.stream)
            return response

    timeout = httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT)
    return httpx2.AsyncClient(timeout=timeout, transport=BoundedTransport())
