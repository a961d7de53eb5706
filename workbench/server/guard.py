"""What the local server refuses before any endpoint runs: the checks that keep a web page
in the user's own browser from using it.

- **Host** (DNS rebinding, as in Ollama's CVE-2024-28224; Jupyter checks the same): a page
  can point its own name at 127.0.0.1 and then talk to the server as "itself". The browser
  still sends that name in ``Host``, so only the addresses the server listens on, loopback,
  ``localhost`` and the names the user allowed are answered (403 otherwise).
- **Origin**: a browser names the page that makes a request; such a request is refused (403)
  unless the user allowed that origin (setting ``server_allowed_origins``, ``--allow-origin``),
  and an allowed one gets CORS headers, its preflight (``OPTIONS``) included. Apps that are
  not browsers send no ``Origin`` and are not affected.
- **Content-Type**: a POST must be ``application/json`` (415 otherwise). A page can send
  ``text/plain``, form or multipart bodies without a preflight; JSON it cannot.

Refusals have OpenAI's error shape. The connection-level bounds (headers that never end, a
body that never finishes) are in :mod:`workbench.server.limits`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from workbench.settings import normalize_host, normalize_origin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ALLOW_HOST_HINT = "--allow-host NAME (or the setting 'Server: other names for it')"
ALLOW_ORIGIN_HINT = "--allow-origin ORIGIN (or the setting 'Server: web apps allowed')"
PREFLIGHT_MAX_AGE_S = 600


@dataclass(frozen=True)
class Allowed:
    """The names (``Host``) and web origins (``Origin``) the server answers besides its own."""

    bound: str = "127.0.0.1"
    hosts: frozenset[str] = frozenset()
    origins: frozenset[str] = frozenset()

    def host_ok(self, header: str) -> bool:
        name = _host_name(header)
        if name is None:
            return False
        if "*" in self.hosts or name in self.hosts or name == "localhost":
            return True
        bound = self.bound.strip("[]").lower()
        if name == bound:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        # An address cannot be rebound: loopback always, any address when listening on all.
        return address.is_loopback or bound in ("0.0.0.0", "::")

    def origin_ok(self, origin: str) -> bool:
        if "*" in self.origins:
            return True
        try:
            return normalize_origin(origin) in self.origins
        except ValueError:
            return False


def allowed_from(bound: str, hosts: list[str], origins: list[str]) -> Allowed:
    """The :class:`Allowed` for a server listening on ``bound``; a name or origin that is not
    one is an error naming it (the CLI's options, checked when the server starts)."""
    from workbench.errors import InvalidInputError

    def each(items: list[str], normalize: Callable[[str], str], option: str) -> frozenset[str]:
        out = set()
        for item in items:
            try:
                out.add(normalize(item))
            except ValueError:
                raise InvalidInputError(f"{option} {item!r}: not a "
                                        + ("web origin such as http://localhost:3000"
                                           if option == "--allow-origin" else "host name")
                                        ) from None
        return frozenset(out)

    return Allowed(bound, each(hosts, normalize_host, "--allow-host"),
                   each(origins, normalize_origin, "--allow-origin"))


def _host_name(header: str) -> str | None:
    """The name in a ``Host`` header, without its port (None if it is not one)."""
    text = header.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1:] and not text[end + 1:].startswith(":")):
            return None
        return text[1:end]
    name, _, port = text.partition(":")
    if port and not (port.isascii() and port.isdigit()):
        return None
    return name or None


def _error(status: int, message: str, code: str) -> tuple[int, bytes]:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}
    return status, json.dumps(body).encode()


class Guard:
    """ASGI middleware: the Host, Origin and Content-Type checks, and CORS for the origins
    allowed (see the module docstring)."""

    def __init__(self, app: ASGIApp, allowed: Allowed) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        host = headers.get("host")
        origin = headers.get("origin")
        if host is not None and not self.allowed.host_ok(host):
            shown = host[:80].encode("ascii", "replace").decode()
            await _send(send, *_error(403, f"Host '{shown}': this server answers only to its "
                                      f"own address and localhost; to use another name, "
                                      f"allow it with {ALLOW_HOST_HINT}", "host_not_allowed"))
            return
        cors: list[tuple[bytes, bytes]] = []
        if origin is not None:
            if not self.allowed.origin_ok(origin):
                shown = origin[:80].encode("ascii", "replace").decode()
                await _send(send, *_error(
                    403, f"Origin '{shown}': web pages may not use this server unless you "
                    f"allow them; to allow a web app you trust, use {ALLOW_ORIGIN_HINT}",
                    "origin_not_allowed"))
                return
            cors = [(b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"vary", b"Origin")]
            if method == "OPTIONS":
                asked = headers.get("access-control-request-headers", "")
                await _send(send, 204, b"", cors + [
                    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                    (b"access-control-allow-headers",
                     (asked or "Authorization, Content-Type").encode("latin-1")),
                    (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode())])
                return
        if method == "POST":
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                await _send(send, *_error(
                    415, f"Content-Type: must be application/json (got "
                    f"{(kind or 'none')[:60]!r})", "unsupported_media_type"), cors)
                return
        if not cors:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *cors]
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _send(send: Send, status: int, body: bytes,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode())] + (extra or [])
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
