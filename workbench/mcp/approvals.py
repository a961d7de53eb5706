"""Tools the user allowed "always": kept in the workspace database (``tool_approvals``,
migration ``m028_tool_approvals``), so the answer holds after a restart, in the window and the
CLI alike, until the user takes it back (the window's Tools panel, ``mcp approvals rm``).

An approval is for one (MCP server, tool name) *as it was when allowed*: the sha256 of the
tool's name, description and input schema is stored with it. A server that later describes
the tool differently (an MCP "rug pull": a harmless tool approved, then changed to do
something else) no longer matches, so the call is asked about again and the stale approval
is dropped. Removing or replacing a server forgets its approvals too (another program may
answer to the same name).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from workbench.errors import NotFoundError

TABLE = "tool_approvals"


@dataclass(frozen=True)
class ToolApproval:
    server: str
    tool: str
    tool_hash: str
    approved_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "tool": self.tool, "tool_hash": self.tool_hash,
                "approved_at": self.approved_at}


def tool_hash(name: str, description: str, input_schema: dict[str, Any] | None) -> str:
    """What an approval is bound to: the tool as the server described it (key order does
    not matter; any other change does)."""
    text = json.dumps({"name": name, "description": description or "",
                       "input_schema": input_schema or {}},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _has_table(db: Database) -> bool:
    return TABLE in db.table_names()


def allow_always(db: Database, server: str, tool: str, hashed: str) -> ToolApproval:
    """Remember that ``tool`` of ``server``, described as ``hashed``, runs without asking."""
    approval = ToolApproval(server, tool, hashed, time.strftime("%Y-%m-%dT%H:%M:%S"))
    db.execute(f"INSERT OR REPLACE INTO {TABLE} (server, tool, tool_hash, approved_at) "
               "VALUES (?, ?, ?, ?)", [server, tool, hashed, approval.approved_at])
    return approval


def approval_state(db: Database, server: str, tool: str, hashed: str) -> str:
    """``"allowed"`` (approved as it is now), ``"changed"`` (approved, but the tool is no
    longer what was approved: the approval is dropped, so the caller asks again) or
    ``"ask"``."""
    if not _has_table(db):
        return "ask"
    row = db.execute(f"SELECT tool_hash FROM {TABLE} WHERE server = ? AND tool = ?",
                     [server, tool]).fetchone()
    if row is None:
        return "ask"
    if row[0] == hashed:
        return "allowed"
    db.execute(f"DELETE FROM {TABLE} WHERE server = ? AND tool = ?", [server, tool])
    return "changed"


def list_approvals(db: Database) -> list[ToolApproval]:
    if not _has_table(db):
        return []
    rows = db.execute(f"SELECT server, tool, tool_hash, approved_at FROM {TABLE} "
                      "ORDER BY server, tool").fetchall()
    return [ToolApproval(*row) for row in rows]


def remove_approval(db: Database, server: str, tool: str) -> ToolApproval:
    """Take an approval back: the tool's next call is asked about again."""
    row = (db.execute(f"SELECT server, tool, tool_hash, approved_at FROM {TABLE} "
                      "WHERE server = ? AND tool = ?", [server, tool]).fetchone()
           if _has_table(db) else None)
    if row is not None:
        db.execute(f"DELETE FROM {TABLE} WHERE server = ? AND tool = ?", [server, tool])
        return ToolApproval(*row)
    raise NotFoundError(f"tool '{tool[:64]}' of MCP server '{server[:64]}': not allowed "
                        "always (see 'mcp approvals list')")


def forget_server(db: Database, server: str) -> None:
    """A server removed or replaced: its approvals go with it."""
    if _has_table(db):
        db.execute(f"DELETE FROM {TABLE} WHERE server = ?", [server])
