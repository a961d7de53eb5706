"""The window's core: the servers a conversation uses (kept in its settings, a removed server
left out, an unknown one refused in one line) and one server's tools listed for the Tools
section (a server that fails is its line, never an exception)."""

from __future__ import annotations

import pytest
from mcp_servers import write_server

from workbench import conversations as convs
from workbench.errors import NotFoundError
from workbench.mcp.per_chat import chat_servers, server_tools, set_chat_servers
from workbench.mcp.servers import add_server, remove_server


def test_a_chat_keeps_its_servers_and_forgets_removed_ones(db, tmp_path) -> None:
    add_server(db, "weather", command=["python", "w.py"])
    add_server(db, "notes", command=["python", "n.py"])
    chat = convs.create_conversation(db, model_id=None)
    other = convs.create_conversation(db, model_id=None)
    assert chat_servers(db, chat) == []
    assert set_chat_servers(db, chat, ["weather", "notes", "weather"]) == ["weather", "notes"]
    assert chat_servers(db, chat) == ["weather", "notes"] and chat_servers(db, other) == []
    remove_server(db, "notes")
    assert chat_servers(db, chat) == ["weather"]
    with pytest.raises(NotFoundError, match="MCP server 'nope': not added"):
        set_chat_servers(db, chat, ["weather", "nope"])
    assert chat_servers(db, chat) == ["weather"]  # nothing changed
    with pytest.raises(NotFoundError, match="conversation 999"):
        set_chat_servers(db, 999, [])


def test_other_conversation_settings_are_kept(db) -> None:
    add_server(db, "weather", command=["python", "w.py"])
    chat = convs.create_conversation(db, model_id=None)
    db.table("conversations").update(chat, {"settings": '{"docs": ["manuals"]}'})
    set_chat_servers(db, chat, ["weather"])
    assert convs.get_conversation(db, chat)["settings"] == \
        '{"docs": ["manuals"], "mcp": ["weather"]}'


def test_server_tools_lists_or_says_why_not(db, tmp_path) -> None:
    add_server(db, "weather", command=write_server(tmp_path))
    add_server(db, "broken", command=write_server(tmp_path, "exit"))
    listed = server_tools(db, "weather")
    assert [t.name for t in listed.tools] == ["get_weather"] and listed.error == ""
    failed = server_tools(db, "broken")
    assert failed.tools == [] and failed.error.startswith(
        "MCP server 'broken': exited with code 3")
    assert server_tools(db, "nope").error.startswith("MCP server 'nope': not added")
