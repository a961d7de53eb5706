"""One live MCP server, driven without an event loop in the caller.

The ``mcp`` SDK is asynchronous (anyio); the core is not (a chat turn is a plain iterator).
:class:`McpConnection` runs the SDK's ``ClientSession`` on an event loop in a thread of its
own (anyio's blocking portal) and gives plain methods: :meth:`open` (start, handshake, list
tools), :meth:`call`, :meth:`close`. Every wait is bounded by the server's timeout; every
failure is one :class:`~workbench.errors.McpError` line naming the server and the reason.

The server may ask things of us: sampling (that the model write for it), elicitation (that
the user fill a form) and its roots. Workbench refuses each, says so in one line, and the
server's own request gets an error; nothing runs that the user did not approve.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import mcp_types as types
from anyio.from_thread import BlockingPortal, start_blocking_portal

from workbench import __version__
from workbench.errors import McpError
from workbench.mcp.servers import McpServer
from workbench.mcp.transport import MAX_MESSAGE_BYTES, ProcessState, bounded_stdio
from workbench.units import human_duration, human_size

T = TypeVar("T")
#: The most tools read from one server (pages of ``tools/list`` included).
MAX_SERVER_TOOLS = 128


@dataclass(frozen=True)
class McpTool:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "name": self.name, "description": self.description,
                "input_schema": self.input_schema}


@dataclass(frozen=True)
class CallOutcome:
    text: str  # what the model reads
    is_error: bool
    size: int  # bytes of the text


class McpConnection:
    """Use as a context manager, or :meth:`open` then :meth:`close`."""

    def __init__(self, server: McpServer, report: Callable[[str], None] | None = None) -> None:
        self.server = server
        self._report = report or (lambda line: None)
        self.state = ProcessState()
        #: Lines of answers refused by the HTTP byte bound (workbench.mcp.http_bound).
        self.refused: list[str] = []
        self.tools: list[McpTool] = []
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._session: Any = None

    def report(self, line: str) -> None:
        self._report(f"MCP server '{self.server.name}': {line}")

    def __enter__(self) -> McpConnection:
        self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- starting -----------------------------------------------------------------------

    def open(self) -> list[McpTool]:
        from mcp.client.session import ClientSession

        stack = ExitStack()
        self._stack = stack
        try:
            portal = stack.enter_context(start_blocking_portal())
            self._portal = portal
            streams = self._enter(self._transport())
            session = ClientSession(
                streams[0], streams[1], sampling_callback=self._refuse_sampling,
                elicitation_callback=self._refuse_elicitation,
                list_roots_callback=self._refuse_roots,
                logging_callback=self._ignore_log, message_handler=self._on_message,
                client_info=types.Implementation(name="llm-workbench", version=__version__))
            self._session = self._enter(session)
            self._within("its handshake", session.initialize)
            self.tools = self._list_tools()
        except BaseException:
            self.close()
            raise
        return self.tools

    def _enter(self, manager: Any) -> Any:
        assert self._stack is not None and self._portal is not None
        wrapped: AbstractContextManager[Any] = self._portal.wrap_async_context_manager(manager)
        try:
            return self._stack.enter_context(wrapped)
        except OSError as error:
            raise McpError(f"MCP server '{self.server.name}': cannot start "
                           f"'{self.server.command[0]}' ({error.strerror or error})") from None
        except Exception as error:
            raise self._failure("starting", error) from None

    def _transport(self) -> Any:
        server = self.server
        if server.transport == "stdio":
            return bounded_stdio(server.command, server.env, self.state, self.report)
        return _http(server.url, self.refused)

    def _list_tools(self) -> list[McpTool]:
        tools: list[McpTool] = []
        cursor = None
        for _page in range(32):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            listed = self._within("tools/list", self._session.list_tools, params=params)
            tools += [McpTool(self.server.name, t.name, t.description or "",
                              dict(t.input_schema or {})) for t in listed.tools]
            cursor = listed.next_cursor
            if not cursor or len(tools) >= MAX_SERVER_TOOLS:
                break
        if len(tools) > MAX_SERVER_TOOLS:
            self.report(f"offers {len(tools)} tools; the first {MAX_SERVER_TOOLS} are used")
        return tools[:MAX_SERVER_TOOLS]

    # --- calling ------------------------------------------------------------------------

    def call(self, tool: str, arguments: dict[str, Any]) -> CallOutcome:
        """Call ``tool``; a server that fails, hangs or ends raises one :class:`McpError`
        line (the tool loop gives the model that line as the result)."""
        if self._session is None:
            raise McpError(f"MCP server '{self.server.name}': not running")
        result = self._within(f"the call of {tool}", self._session.call_tool, tool, arguments)
        text = _result_text(result)
        return CallOutcome(text, bool(getattr(result, "is_error", False)),
                           len(text.encode("utf-8")))

    def _within(self, what: str, func: Callable[..., Awaitable[T]], *args: Any,
                **kwargs: Any) -> T:
        assert self._portal is not None
        timeout = self.server.timeout_s

        async def bounded() -> T:
            with anyio.fail_after(timeout):
                return await func(*args, **kwargs)

        try:
            return self._portal.call(bounded)
        except TimeoutError:
            raise McpError(f"MCP server '{self.server.name}': no answer to {what} in "
                           f"{human_duration(timeout)} (its timeout; 'mcp add --timeout' "
                           "changes it)") from None
        except Exception as error:
            raise self._failure(what, error) from None

    def _failure(self, what: str, error: BaseException) -> McpError:
        from mcp.shared.exceptions import MCPError

        name = self.server.name
        if self.refused:  # the SDK reports our bound as a closed connection: say the bound
            return McpError(f"MCP server '{name}': {what} failed: {self.refused[-1]}")
        code = self.state.returncode
        if code is None and self.server.transport == "stdio" and isinstance(error, MCPError) \
                and "closed" in str(error.error.message).lower():
            code = self._exit_code()
        if code is not None:
            said = self.state.last_stderr_line()
            tail = f"; its last stderr line: {said}" if said else ""
            return McpError(f"MCP server '{name}': exited with code {code} during {what}{tail}")
        if isinstance(error, MCPError):
            return McpError(f"MCP server '{name}': {what} failed: {error.error.message[:200]}")
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        return McpError(f"MCP server '{name}': {what} failed ({reason})")

    def _exit_code(self) -> int | None:
        """Give a closed pipe a moment to become an exit code."""
        for _ in range(20):
            if self.state.returncode is not None:
                break
            time.sleep(0.05)
        return self.state.returncode

    # --- what the server asks of us -----------------------------------------------------

    async def _refuse_sampling(self, context: Any, params: Any) -> types.ErrorData:
        self.report("asked for sampling (the model writing for the server); refused")
        return types.ErrorData(code=types.INVALID_REQUEST,
                               message="Workbench does not let MCP servers sample its models")

    async def _refuse_elicitation(self, context: Any, params: Any) -> types.ErrorData:
        self.report("asked the user for input (elicitation); refused")
        return types.ErrorData(code=types.INVALID_REQUEST, message="elicitation not supported")

    async def _refuse_roots(self, context: Any) -> types.ErrorData:
        return types.ErrorData(code=types.INVALID_REQUEST, message="roots not supported")

    async def _ignore_log(self, params: Any) -> None:
        return None

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            self.report(f"broke the protocol ({str(message).splitlines()[0][:160]})")

    def close(self) -> None:
        stack, self._stack = self._stack, None
        self._session = None
        if stack is not None:
            with suppress(Exception):  # a server that failed to start may fail to close too
                stack.close()


@asynccontextmanager
async def _http(url: str, refused: list[str]) -> Any:
    from mcp.client.streamable_http import streamable_http_client

    from workbench.mcp.http_bound import bounded_client

    async with bounded_client(refused) as client, streamable_http_client(
            url, http_client=client, max_sse_event_size=MAX_MESSAGE_BYTES) as streams:
        yield streams[0], streams[1]


def _result_text(result: Any) -> str:
    """A tool's result as text: its text parts joined; other parts named by kind and size."""
    parts: list[str] = []
    for item in getattr(result, "content", None) or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {item.mime_type}, {human_size(len(item.data) * 3 // 4)}]")
        elif kind == "resource":
            resource = item.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        else:
            parts.append(f"[{kind or 'content'}]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    text = "\n".join(parts)
    return ("error: " + text) if getattr(result, "is_error", False) else text
