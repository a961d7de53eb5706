"""A remote endpoint's address and its HTTP side, light enough for every layer to import.

:class:`Target` names one model of one endpoint and is written as the model "path" that
:meth:`Engine.reply <workbench.engine.engine.Engine.reply>` recognises; the reply itself is
:class:`~workbench.engine.remote.EndpointReply` (see that module for the whole story). Here:
the URL rules, the one HTTP exchange (bounded in time and bytes, closable from any thread),
every failure as one line naming *remote: HOST* with any key redacted, and ``GET /models``.
Nothing here loads llama.cpp.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from workbench.engine.settings import SamplingSettings
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.keychain import env_key, keyring_key, redact
from workbench.units import human_duration, human_size

Message = dict[str, Any]

#: A model path naming an endpoint starts with this (:meth:`Target.path`).
PREFIX = "remote:"
#: Seconds to open the connection; seconds with no byte from the server; a whole reply's most.
CONNECT_S = 10.0
READ_S = 120.0
TOTAL_S = 3600.0
#: The most bytes a reply's stream may have, and one event line.
MAX_BYTES = 32 * 1024 * 1024
MAX_LINE = 1024 * 1024
#: The most of an error body read (and shown, cut to one line).
MAX_ERROR_BYTES = 64 * 1024


class EndpointError(WorkbenchError):
    """A remote endpoint failed: one line naming it, never its key."""


def host_of(url: str) -> str:
    """The host (and port) a URL names, as *remote: HOST* shows it."""
    parts = urllib.parse.urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def check_url(url: str) -> str:
    """An endpoint's base URL, tidied (no trailing slash); one line when it is not http(s)
    with a host, or carries a user, a query or a fragment (a key belongs in the keyring)."""
    text = url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"endpoint URL {redact(text)!r}: must be http:// or https:// "
                                "with a host, such as http://127.0.0.1:8080/v1")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise InvalidInputError("endpoint URL: must not carry a user, a password, a query or "
                                "a fragment (give the key with --key-env or the keyring)")
    try:
        _ = parts.port
    except ValueError:
        raise InvalidInputError(f"endpoint URL {text!r}: its port is not a number from 1 to "
                                "65535") from None
    return text


@dataclass(frozen=True)
class Target:
    """One model of one endpoint, and where its key is (``key_env``: an environment
    variable's name; ``keyring``: the OS keyring, under the endpoint's name)."""

    name: str
    url: str
    model: str
    key_env: str | None = None
    keyring: bool = False

    @property
    def host(self) -> str:
        return host_of(self.url)

    @property
    def shown(self) -> str:
        """How the model is named everywhere: ``NAME/MODEL (remote: HOST)``."""
        return f"{self.name}/{self.model} (remote: {self.host})"

    @property
    def path(self) -> str:
        """The model path :meth:`Engine.reply` takes for this target (canonical JSON)."""
        return PREFIX + json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_path(cls, path: str) -> Target:
        try:
            values = json.loads(str(path)[len(PREFIX):])
            return cls(**values)
        except (ValueError, TypeError):
            raise InvalidInputError(f"remote model {str(path)[:80]!r}: not readable; make "
                                    "the contender again with -m endpoint:NAME/MODEL") from None

    def key(self) -> str | None:
        """The key, read now from where it is kept; None when the endpoint has none."""
        if self.key_env:
            return env_key(self.name, self.key_env)
        if self.keyring:
            found = keyring_key(self.name)
            if found is None:
                raise InvalidInputError(f"endpoint {self.name}: its key is not in the OS "
                                        "keyring here; add the endpoint again with its key")
            return found
        return None


def is_remote(path: object) -> bool:
    return isinstance(path, str) and path.startswith(PREFIX)


def request_body(model: str, messages: list[Message], sampling: SamplingSettings
                 ) -> dict[str, Any]:
    """The chat-completions request for a reply with ``sampling`` (llama.cpp's names for the
    samplers OpenAI lacks: llama-server, vLLM and Workbench read them)."""
    if sampling.tools:
        raise InvalidInputError("tools: not supported with a remote endpoint yet")
    body: dict[str, Any] = {
        "model": model, "messages": messages, "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": sampling.top_k,
        "min_p": sampling.min_p, "repeat_penalty": sampling.repeat_penalty,
    }
    if sampling.max_tokens is not None:
        body["max_tokens"] = sampling.max_tokens
    if sampling.seed is not None:
        body["seed"] = int(sampling.seed)
    if sampling.json_schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": json.loads(sampling.json_schema)}}
    return body


class Connection:
    """One HTTP exchange with an endpoint, closable from another thread."""

    def __init__(self, target: Target, key: str | None) -> None:
        self.target = target
        self.key = key
        parts = urllib.parse.urlsplit(target.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else \
            http.client.HTTPConnection
        self.base = parts.path.rstrip("/")
        self.conn = kind(parts.hostname or "", parts.port, timeout=CONNECT_S)
        self.sock: socket.socket | None = None
        self.closed = False

    def fail(self, reason: str) -> EndpointError:
        return EndpointError(redact(f"endpoint {self.target.name} (remote: "
                                    f"{self.target.host}): {reason}", self.key))

    def open(self, method: str, path: str, body: dict[str, Any] | None
             ) -> http.client.HTTPResponse:
        headers = {"Accept": "text/event-stream, application/json",
                   "User-Agent": "llm-workbench"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        try:
            self.conn.request(method, self.base + path, body=data, headers=headers)
            self.sock = self.conn.sock  # kept: the connection lets go of it on "close"
            if self.sock is not None:
                self.sock.settimeout(READ_S)
            response = self.conn.getresponse()
        except TimeoutError:
            raise self.fail(f"no answer within {human_duration(READ_S)} (timed out)") from None
        except ConnectionRefusedError:
            raise self.fail("refused the connection (is the server running, and is the "
                            "address right?)") from None
        except (OSError, http.client.HTTPException) as error:
            if self.closed:
                raise self.fail("stopped") from None
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            raise self.fail(f"could not be reached ({reason})") from None
        if response.status != 200:
            raise self.fail(self._status_text(response))
        return response

    def _status_text(self, response: http.client.HTTPResponse) -> str:
        status = response.status
        try:
            raw = response.read(MAX_ERROR_BYTES)
        except (OSError, http.client.HTTPException):
            raw = b""
        detail = error_detail(raw, response.getheader("Content-Type") or "")
        said = f": {detail}" if detail else ""
        if status in (401, 403):
            return (f"refused the key ({status}{said}); check the key it was added with "
                    "(endpoint rm, then endpoint add)")
        if status == 429:
            wait = response.getheader("Retry-After")
            when = f"; it asks to wait {wait} s" if wait and wait.isdigit() else ""
            return f"too many requests (429{said}){when}; try again later"
        if status == 404:
            return (f"not found (404{said}); is the URL the API's base, such as "
                    "http://HOST:PORT/v1, and the model one it serves?")
        if status >= 500:
            return f"server error ({status}{said})"
        return f"answered {status}{said}"

    def close(self) -> None:
        """Close now, from any thread: a read waiting on the server ends at once."""
        self.closed = True
        sock = self.sock or self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.conn.close()


def error_detail(raw: bytes, content_type: str) -> str:
    """The server's own error message, on one short line (HTML said as such)."""
    text = raw.decode("utf-8", "replace").strip()
    if "html" in content_type.lower() or text[:15].lower().startswith(("<!doctype", "<html")):
        return "an HTML page, not the API"
    with contextlib.suppress(ValueError):
        value = json.loads(text)
        if isinstance(value, dict):
            error = value.get("error", value.get("detail", value.get("message")))
            if isinstance(error, dict):
                error = error.get("message")
            if error is not None:
                text = str(error)
    line = " ".join(text.split())
    return line[:200] + ("..." if len(line) > 200 else "")


def list_models(target: Target) -> list[str]:
    """The model names the endpoint lists (``GET /models``), or one line why not."""
    connection = Connection(target, target.key())
    try:
        response = connection.open("GET", "/models", None)
        raw = response.read(MAX_ERROR_BYTES * 16)
        try:
            data = json.loads(raw)
            return [str(item["id"]) for item in data["data"]][:200]
        except (ValueError, KeyError, TypeError):
            kind = error_detail(raw, response.getheader("Content-Type") or "")
            raise connection.fail(f"its model list is not the API's ({kind or 'not JSON'})"
                                  ) from None
    finally:
        connection.close()


def event_lines(response: http.client.HTTPResponse, connection: Connection) -> Iterator[bytes]:
    """The stream's lines, each bounded; a silent server is a timeout line, a line that
    never ends is refused."""
    while True:
        try:
            line = response.readline(MAX_LINE + 1)
        except TimeoutError:
            raise connection.fail(f"sent nothing for {human_duration(READ_S)} (timed out); "
                                  "the text so far is kept") from None
        except (OSError, http.client.HTTPException, ValueError):
            if connection.closed:
                return
            return  # the connection broke: the caller sees a stream without its end
        if not line:
            return
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            raise connection.fail(f"sent an event over {human_size(MAX_LINE)}")
        yield line.rstrip(b"\r\n")
