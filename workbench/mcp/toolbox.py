"""The tools of the MCP servers one chat names: offered to the model, each call approved
(or not) by the user, each result bounded, and what happened told as events.

This is the core API every front end uses (the CLI now, the window's Tools panel later):

- :func:`open_toolbox` starts the named servers; one that fails is left out with one line
  (an :class:`McpNotice`) and the chat goes on with the others;
- ``toolbox.tools`` is the OpenAI tool list (checked like any other, a tool whose schema
  is refused is left out with one line); ``toolbox.offered`` says which server owns which;
- ``approve`` is called with a :class:`ToolCallShown` before each call and answers
  ``"once"``, ``"always"`` (this tool from now on: kept in the database by
  :mod:`.approvals`, bound to the tool's description and schema, so it holds after a restart
  and a changed tool is asked about again) or ``"deny"``;
- :meth:`McpToolbox.run` is the tool loop's ``run_tool``; :meth:`McpToolbox.drain` gives the
  events since the last drain: :class:`McpNotice`, :class:`ToolResultShown`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from sqlite_utils import Database

from workbench.engine.tool_parse import ToolCall
from workbench.engine.tools import MAX_DESCRIPTION, MAX_RESULT_CHARS, check_tools
from workbench.errors import McpError, WorkbenchError
from workbench.mcp.approvals import allow_always, approval_state, tool_hash
from workbench.mcp.servers import get_server, require_reachable

if TYPE_CHECKING:  # the SDK is imported when a chat opens servers, not by every command
    from workbench.mcp.connection import McpConnection, McpTool

Decision = Literal["once", "always", "deny"]
#: The lines of a result shown folded, and the characters kept in History per result.
FOLD_LINES = 3
SAVED_RESULT_CHARS = 20_000
DENIED = "the user did not allow this call"
#: The notices kept with one reply (a server that misbehaves on every call says it once each).
MAX_NOTES = 20


@dataclass(frozen=True)
class McpNotice:
    """One line about a server (failed to start, misbehaved); the chat goes on."""

    line: str


@dataclass(frozen=True)
class ToolCallShown:
    """A call the model made, before it runs (or is denied)."""

    server: str
    tool: str
    arguments: dict[str, Any]
    call_id: str = ""
    #: Allowed "always" before, but the tool's description or schema changed since: the
    #: approval was dropped and this call is asked about again.
    changed: bool = False


@dataclass(frozen=True)
class ToolResultShown:
    server: str
    tool: str
    arguments: dict[str, Any]
    decision: str  # once, always, deny, auto (allowed "always" before)
    text: str  # what the model read (bounded)
    size: int  # bytes of the whole result as the server sent it
    is_error: bool = False
    call_id: str = ""

    def folded(self, lines: int = FOLD_LINES) -> list[str]:
        """The first lines of the result, for a folded view."""
        return self.text.splitlines()[:lines]

    def record(self) -> dict[str, Any]:
        """As History keeps it (the text cut at :data:`SAVED_RESULT_CHARS`)."""
        return {"server": self.server, "tool": self.tool, "arguments": self.arguments,
                "decision": self.decision, "is_error": self.is_error, "size": self.size,
                "result": self.text[:SAVED_RESULT_CHARS],
                "result_cut": len(self.text) > SAVED_RESULT_CHARS}


Approver = Callable[[ToolCallShown], Decision]


@dataclass
class McpToolbox:
    connections: list[McpConnection]
    approve: Approver
    tools: str | None = None  # OpenAI's tool list as canonical JSON (None: no tools)
    #: The name the model calls: (server, the server's own tool name).
    offered: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Where "always" answers are kept (None: only for this toolbox, in ``always``).
    db: Database | None = None
    always: set[str] = field(default_factory=set)
    #: The name the model calls: the hash of the tool as its server described it.
    hashes: dict[str, str] = field(default_factory=dict)
    results: list[ToolResultShown] = field(default_factory=list)
    #: Every notice of this chat turn, kept with the reply (``settings.tool_notices``) so a
    #: reopened chat shows them too.
    notes: list[str] = field(default_factory=list)
    _events: list[Any] = field(default_factory=list)

    def notice(self, line: str) -> None:
        self._events.append(McpNotice(line))
        if len(self.notes) < MAX_NOTES:
            self.notes.append(line[:500])

    def drain(self) -> list[Any]:
        events, self._events = self._events, []
        return events

    def shown(self, call: ToolCall) -> ToolCallShown:
        server, tool = self.offered.get(call.name, ("?", call.name))
        return ToolCallShown(server, tool, call.arguments, call.id)

    def run(self, call: ToolCall) -> str:
        """Ask, call, and give the model the result (or why there is none)."""
        shown = self.shown(call)
        decision = self.decide(call.name, shown)
        size, is_error = 0, False
        if decision == "deny":
            text, is_error = f"error: {DENIED}", True
        else:
            connection = next(c for c in self.connections if c.server.name == shown.server)
            try:
                outcome = connection.call(shown.tool, call.arguments)
                text, size, is_error = outcome.text, outcome.size, outcome.is_error
            except McpError as error:
                self.notice(str(error))
                text, is_error = f"error: {error}", True
        result = ToolResultShown(shown.server, shown.tool, call.arguments, decision,
                                 text[:MAX_RESULT_CHARS + 200], size, is_error, call.id)
        self.results.append(result)
        self._events.append(result)
        return text

    def decide(self, name: str, shown: ToolCallShown) -> str:
        """"auto" for a tool allowed always (as it is now), else the user's answer; an
        "always" answer is kept."""
        hashed = self.hashes.get(name)
        if self.db is not None and hashed is not None:
            state = approval_state(self.db, shown.server, shown.tool, hashed)
            if state == "allowed":
                return "auto"
            if state == "changed":
                self.notice(f"MCP server '{shown.server}': tool '{shown.tool}' changed since "
                            "you allowed it always (its description or input schema "
                            "differs); asked again")
                shown = replace(shown, changed=True)
        elif name in self.always:
            return "auto"
        decision = self.approve(shown)
        if decision == "always":
            if self.db is not None and hashed is not None:
                allow_always(self.db, shown.server, shown.tool, hashed)
            else:
                self.always.add(name)
        return decision

    def records(self) -> list[dict[str, Any]]:
        """The calls and results so far, as the reply's record in History keeps them."""
        return [result.record() for result in self.results]

    def close(self) -> None:
        for connection in self.connections:
            connection.close()

    def __enter__(self) -> McpToolbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_toolbox(db: Database, names: Sequence[str], approve: Approver) -> McpToolbox:
    """Start the servers ``names`` (each must have been added); unknown names are an error
    before anything starts, a server that fails to start is a notice."""
    servers = [get_server(db, name) for name in dict.fromkeys(names)]
    for server in servers:
        require_reachable(db, server)
    from workbench.mcp.connection import McpConnection

    box = McpToolbox([], approve, db=db)
    listed: list[McpTool] = []
    for server in servers:
        connection = McpConnection(server, box.notice)
        try:
            listed += connection.open()
        except WorkbenchError as error:
            box.notice(f"{error}; the chat goes on without it")
            continue
        box.connections.append(connection)
    box.tools = _offer(box, listed)
    return box


def _offer(box: McpToolbox, listed: list[McpTool]) -> str | None:
    """The tools as the model sees them: a name two servers share gets the server's name
    before it; a tool whose schema is refused is left out with its reason."""
    counts: dict[str, int] = {}
    for tool in listed:
        counts[tool.name] = counts.get(tool.name, 0) + 1
    accepted: list[dict[str, Any]] = []
    for tool in listed:
        name = tool.name if counts[tool.name] == 1 else f"{tool.server}.{tool.name}"[:64]
        entry = {"type": "function", "function": {
            "name": name, "description": tool.description[:MAX_DESCRIPTION],
            "parameters": tool.input_schema or {"type": "object", "properties": {}}}}
        try:
            check_tools([entry], f"MCP server '{tool.server}' tool")
        except WorkbenchError as error:
            box.notice(f"{error}; the tool is not offered")
            continue
        accepted.append(entry)
        box.offered[name] = (tool.server, tool.name)
        box.hashes[name] = tool_hash(tool.name, tool.description, tool.input_schema)
    return check_tools(accepted) if accepted else None


def describe(tools: Sequence[McpTool]) -> list[dict[str, Any]]:
    return [tool.to_dict() for tool in tools]


def arguments_line(arguments: dict[str, Any], limit: int = 300) -> str:
    text = json.dumps(arguments, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"
