"""Connection bounds, so that a few slow or idle clients cannot hold the server.

uvicorn closes an idle keep-alive connection and caps the connections it serves at once
(``limit_concurrency``; past it, a 503), but waits forever for headers that never end
(slowloris). :class:`TimedH11Protocol` closes a connection whose request line and headers
have not all arrived within ``header_timeout_s``; the app cuts a body that has not all
arrived within ``body_timeout_s`` (408).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class ServerLimits:
    """The server's connection bounds (tests make them short)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: int = 5
    max_connections: int = 64
    max_header_bytes: int = 64 << 10
    #: The longest a request may take from its body to a job on the model's queue (reading
    #: it, checking it, its schema and its model), before a 400.
    prepare_timeout_s: float = 10.0

    def uvicorn_options(self) -> dict[str, Any]:
        """The ``uvicorn.Config`` options these bounds set."""
        limits = self

        class Protocol(TimedH11Protocol):
            header_timeout_s = limits.header_timeout_s

        return {"http": Protocol, "timeout_keep_alive": self.keep_alive_s,
                "limit_concurrency": self.max_connections,
                "h11_max_incomplete_event_size": self.max_header_bytes}


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose headers do not all arrive in
    time (at its start, and again for each next request on a kept-alive connection)."""

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        between = self.cycle is None or self.cycle.response_complete
        if between and self._header_timer is None:
            self._arm_header_timer()
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._cancel_header_timer()  # the headers are in: the app has the request

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered (a pipelined one waits its turn)
        if not self.transport.is_closing():
            self.transport.close()
