"""The MCP servers the user added, kept in the workspace database (``mcp_servers``).

A server is a stdio command (a program Workbench starts, talking JSON-RPC over its stdin and
stdout) or a Streamable HTTP address. Nothing is started or contacted unless the user added
it here and a chat names it. ``mcp import`` reads the ``mcpServers`` object that Claude
Desktop, LM Studio and Cursor keep in their JSON settings (``{"mcpServers": {"name":
{"command": ..., "args": [...], "env": {...}} or {"url": ...}}}``).

Offline mode (the ``offline`` setting, or ``HF_HUB_OFFLINE``, as for the Hub) refuses every
address that is not this computer's own (loopback); a stdio server is a local program and
is not a network connection, so it runs offline too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from workbench.addresses import is_loopback_url
from workbench.errors import InvalidInputError, NotFoundError, OfflineError
from workbench.library import now
from workbench.mcp.approvals import forget_server
from workbench.settings import is_offline
from workbench.text_files import read_text_file
from workbench.units import human_size

#: The wait for a server's handshake and for each tool call, unless the server says another.
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 3600.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: An imported settings file larger than this is not a settings file.
MAX_IMPORT_BYTES = 4_000_000


@dataclass(frozen=True)
class McpServer:
    name: str
    transport: str  # stdio or http
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    created_at: str = ""

    @property
    def where(self) -> str:
        """The command or the address, as ``mcp list`` shows it."""
        return " ".join(self.command) if self.transport == "stdio" else self.url

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "transport": self.transport, "command": self.command,
                "env": self.env, "url": self.url or None, "timeout_s": self.timeout_s,
                "created_at": self.created_at}


def _row(row: dict[str, Any]) -> McpServer:
    return McpServer(row["name"], row["transport"], json.loads(row["command"] or "[]"),
                     json.loads(row["env"] or "{}"), row["url"] or "",
                     float(row["timeout_s"] or DEFAULT_TIMEOUT_S), row["created_at"])


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(f"MCP server name '{str(name)[:64]}': 1 to 64 letters, digits, "
                                "_ . or -, starting with a letter or digit")
    return name


def check_url(url: str, where: str) -> str:
    if not isinstance(url, str):
        raise InvalidInputError(f"{where}: the address must be text")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"{where}: '{url[:200]}' is not an http:// or https:// address")
    return url


def require_reachable(db: Database, server: McpServer) -> None:
    """Offline mode refuses an address that is not loopback, before any connection."""
    if server.transport == "http" and not is_loopback_url(server.url) and is_offline(db):
        raise OfflineError(f"MCP server '{server.name}': {server.url} is not on this computer "
                           "and Workbench is offline (the 'offline' setting or "
                           "HF_HUB_OFFLINE=1); only loopback addresses are allowed")


def _check_timeout(timeout_s: float | None, where: str) -> float:
    if timeout_s is None:
        return DEFAULT_TIMEOUT_S
    if not isinstance(timeout_s, int | float) or not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise InvalidInputError(f"{where}: the timeout must be more than 0 and at most "
                                f"{MAX_TIMEOUT_S:,.0f} seconds")
    return float(timeout_s)


def _check_command(command: Any, args: Any, where: str) -> list[str]:
    if not isinstance(command, str) or not command.strip():
        raise InvalidInputError(f"{where}: the command must be a program to run")
    if args is None:
        args = []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise InvalidInputError(f"{where}: args must be a list of text")
    words = [command, *args]
    if any("\0" in word for word in words):
        raise InvalidInputError(f"{where}: the command holds a NUL character")
    return words


def _check_env(env: Any, where: str) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k and "=" not in k and "\0" not in k + v
            for k, v in env.items()):
        raise InvalidInputError(f"{where}: env must map variable names to text")
    return dict(env)


def add_server(db: Database, name: str, *, command: list[str] | None = None,
               url: str | None = None, env: dict[str, str] | None = None,
               timeout_s: float | None = None, replace: bool = False) -> McpServer:
    """Add (or with ``replace``, change) a server: a command or an address, not both."""
    check_name(name)
    where = f"MCP server '{name}'"
    if (command is None) == (url is None):
        raise InvalidInputError(f"{where}: give a command (-- COMMAND [ARG...]) or --url URL")
    timeout = _check_timeout(timeout_s, where)
    if command is not None:
        if not command:
            raise InvalidInputError(f"{where}: the command is missing after --")
        words = _check_command(command[0], command[1:], where)
        server = McpServer(name, "stdio", words, _check_env(env, where), "", timeout, now())
    else:
        assert url is not None
        server = McpServer(name, "http", [], {}, check_url(url, where), timeout, now())
        require_reachable(db, server)
    if db.table("mcp_servers").count_where("name = ?", [name]):
        if not replace:
            raise InvalidInputError(f"{where}: already added ('mcp rm {name}' first, or "
                                    "choose another name)")
        forget_server(db, name)  # another program may answer to the name now
    db.table("mcp_servers").insert({
        "name": name, "transport": server.transport, "command": json.dumps(server.command),
        "env": json.dumps(server.env), "url": server.url or None,
        "timeout_s": server.timeout_s, "created_at": server.created_at}, replace=True)
    return server


def list_servers(db: Database) -> list[McpServer]:
    return [_row(r) for r in db.table("mcp_servers").rows_where(order_by="name")]


def get_server(db: Database, name: str) -> McpServer:
    rows = list(db.table("mcp_servers").rows_where("name = ?", [name]))
    if not rows:
        known = ", ".join(s.name for s in list_servers(db)) or "none yet: 'mcp add' one"
        raise NotFoundError(f"MCP server '{name[:64]}': not added (added: {known})")
    return _row(rows[0])


def remove_server(db: Database, name: str) -> McpServer:
    server = get_server(db, name)
    db.table("mcp_servers").delete(name)
    forget_server(db, name)  # its tools allowed "always" go with it
    return server


@dataclass
class ImportResult:
    added: list[McpServer] = field(default_factory=list)
    #: One line per entry not added: its name and why.
    skipped: list[str] = field(default_factory=list)


def import_config(db: Database, path: str | Path, *, replace: bool = False) -> ImportResult:
    """Add the servers of an ``mcpServers`` JSON file; an entry that cannot be added is
    skipped with its reason, and the others are added."""
    where = f"MCP settings file {path}"
    if Path(path).is_file() and Path(path).stat().st_size > MAX_IMPORT_BYTES:
        raise InvalidInputError(f"{where}: larger than {human_size(MAX_IMPORT_BYTES)}; not an "
                                "mcpServers settings file")
    text = read_text_file(path, where)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InvalidInputError(f"{where}: not JSON ({str(error)[:120]})") from None
    servers = value.get("mcpServers") if isinstance(value, dict) else None
    if servers is None and isinstance(value, dict) and isinstance(value.get("servers"), dict):
        servers = value["servers"]  # VS Code's spelling
    if not isinstance(servers, dict):
        raise InvalidInputError(f"{where}: no \"mcpServers\" object (the form Claude Desktop, "
                                "LM Studio and Cursor use)")
    result = ImportResult()
    for name, entry in servers.items():
        try:
            if not isinstance(entry, dict):
                raise InvalidInputError(f"MCP server '{name}': must be an object")
            if entry.get("disabled") is True:
                raise InvalidInputError(f"MCP server '{name}': disabled in the file")
            url = entry.get("url") or entry.get("serverUrl")
            if url is not None:
                server = add_server(db, name, url=url, timeout_s=None, replace=replace)
            else:
                words = _check_command(entry.get("command"), entry.get("args"),
                                       f"MCP server '{name}'")
                server = add_server(db, name, command=words, env=entry.get("env"),
                                    replace=replace)
            result.added.append(server)
        except (InvalidInputError, OfflineError) as error:
            result.skipped.append(str(error))
    return result
