"""Which MCP servers a conversation uses, and the tools one server offers, for the window's
Tools section (the CLI names its servers with ``--mcp`` on each ``chat``).

The servers switched on for a chat are kept as ``mcp`` in the conversation's ``settings``
JSON (a column every conversation has): no table of its own, and a deleted conversation
takes its choice with it. A server removed since is no longer on: it is left out when read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlite_utils import Database

from workbench.conversations import chat_setting, get_conversation, set_chat_setting
from workbench.errors import WorkbenchError
from workbench.mcp.connection import McpConnection, McpTool
from workbench.mcp.servers import get_server, list_servers, require_reachable


def chat_servers(db: Database, conversation_id: int) -> list[str]:
    """The servers switched on for the conversation that are still added, in order."""
    names = chat_setting(db, conversation_id, "mcp") or []
    added = {server.name for server in list_servers(db)}
    return [name for name in names if isinstance(name, str) and name in added]


def set_chat_servers(db: Database, conversation_id: int, names: Sequence[str]) -> list[str]:
    """Switch exactly ``names`` on for the conversation (none: all off); each must have been
    added (one NotFoundError line otherwise, nothing changed)."""
    get_conversation(db, conversation_id)
    unique = list(dict.fromkeys(names))
    for name in unique:
        get_server(db, name)
    set_chat_setting(db, conversation_id, "mcp", unique)
    return unique


@dataclass
class ServerTools:
    """What one server offers, or the one line saying why it offers nothing."""

    name: str
    tools: list[McpTool] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)


def server_tools(db: Database, name: str,
                 report: Callable[[str], None] | None = None) -> ServerTools:
    """Start the server, list its tools and stop it (bounded by its timeout, like a chat's
    start). A failure is the result's ``error`` line, never an exception: a panel lists the
    other servers whatever one of them does."""
    listed = ServerTools(name)

    def note(line: str) -> None:
        listed.notes.append(line)
        if report is not None:
            report(line)

    try:
        server = get_server(db, name)
        require_reachable(db, server)
        with McpConnection(server, note) as live:
            listed.tools = list(live.tools)
    except WorkbenchError as error:
        listed.error = str(error)
    return listed
