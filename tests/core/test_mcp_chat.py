"""``chat --mcp``: a real MCP server (made with the ``mcp`` SDK, run as a subprocess) whose
tool the real model calls (a GGUF made here with a Qwen 2.5 tool template; ``--tool-choice
required`` holds the first step to a call), approved with --yes or denied without a
terminal; the calls and results are kept in History; a server that fails is one line and
the chat goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp_servers import write_server
from tool_model import tool_model

from workbench import conversations as convs
from workbench.cli import cli
from workbench.cli.mcp import NO_TTY_LINE
from workbench.library import add_model
from workbench.mcp.servers import add_server


@pytest.fixture(scope="module")
def tools_model(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tool_model(model_path, tmp_path_factory.getbasetemp() / "mcp-tool-variants")


@pytest.fixture
def chat(workspace, db, tools_model, tmp_path):
    model = add_model(db, tools_model)
    add_server(db, "weather", command=write_server(tmp_path / "servers"))

    def invoke(*args: str):
        return CliRunner().invoke(cli, [
            "--data-dir", str(workspace.root), "chat", str(model.id),
            "What is the weather in Paris?", "--ctx", "2048", "--threads", "1", "--seed", "1",
            "--temperature", "0", "--max-tokens", "64", "--tool-choice", "required", *args])

    return invoke


def _reply(db):
    (row,) = db.execute("SELECT id FROM messages WHERE role = 'assistant'").fetchall()
    return convs.get_message(db, row[0])


def test_yes_runs_the_call_shows_it_folded_and_keeps_it_in_history(chat, db) -> None:
    done = chat("--mcp", "weather", "--yes", "--format", "json")
    assert done.exit_code == 0, done.output
    assert "→ weather.get_weather {\"city\":" in done.output
    assert "allowed (--yes)" in done.output
    assert "result (" in done.output and "│ " in done.output  # folded: first lines + size
    result = json.loads(done.stdout)
    (call,) = result["tool_calls"][:1]
    assert call["server"] == "weather" and call["tool"] == "get_weather"
    assert call["decision"] == "once" and "sunny, 21" in call["result"]
    stored = _reply(db)
    assert stored.status == "done"
    assert stored.settings["tool_calls"][0]["result"] == call["result"]
    assert stored.settings["tool_format"] == "hermes"


def test_without_a_terminal_or_yes_calls_are_denied_in_one_line(chat, db) -> None:
    done = chat("--mcp", "weather")
    assert done.exit_code == 0, done.output
    assert done.output.count(NO_TTY_LINE) == 1
    calls = _reply(db).settings["tool_calls"]
    assert calls and all(c["decision"] == "deny" and c["is_error"] for c in calls)
    assert "did not allow" in calls[0]["result"]


def test_a_server_that_fails_to_start_is_one_line_and_the_chat_goes_on(
        chat, db, tmp_path) -> None:
    add_server(db, "broken", command=write_server(tmp_path / "servers", "exit"))
    done = chat("--mcp", "broken", "--mcp", "weather", "--yes")
    assert done.exit_code == 0, done.output
    assert ("note: MCP server 'broken': exited with code 3 during starting" in done.output
            or "note: MCP server 'broken': exited with code 3 during its handshake"
            in done.output)
    assert "→ weather.get_weather" in done.output


def test_an_unknown_server_is_one_line_before_anything_runs(chat, db) -> None:
    done = chat("--mcp", "nope", "--yes")
    assert done.exit_code == 1 and "MCP server 'nope': not added" in done.output
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_regenerate_and_edit_offer_the_tools_too(chat, db, workspace, engine) -> None:
    """A regenerate or an edit with servers named runs the tool loop again, approved by the
    callback (the window's bar answers it): the new reply's calls are in History."""
    from workbench.chat_runner import ChatRunner, TurnRequest
    from workbench.mcp.toolbox import ToolCallShown

    first = chat("--mcp", "weather", "--yes")
    assert first.exit_code == 0, first.output
    reply = _reply(db)
    asked: list[str] = []

    def approve(call) -> str:
        asked.append(call.tool)
        return "once"

    overrides = {"tool_choice": "required", "temperature": 0, "max_tokens": 64, "n_ctx": 2048,
                 "n_threads": 1}
    for request in (
            TurnRequest("regenerate", reply.model_id, message_id=reply.id, mcp=["weather"],
                        approve=approve, overrides=overrides),
            TurnRequest("edit", reply.model_id, prompt="And the weather in Rome?",
                        message_id=reply.parent_id, mcp=["weather"], approve=approve,
                        overrides=overrides)):
        events = list(ChatRunner(db, engine, request))
        assert any(isinstance(event, ToolCallShown) for event in events)
    assert asked == ["get_weather", "get_weather"]
    rows = db.execute("SELECT id FROM messages WHERE role = 'assistant' ORDER BY id").fetchall()
    assert len(rows) == 3
    for (message_id,) in rows[1:]:
        assert convs.get_message(db, message_id).settings["tool_calls"][0]["tool"] == \
            "get_weather"


def test_a_tool_allowed_always_runs_without_asking_until_taken_back(
        chat, db, workspace) -> None:
    """Allowed always (here through the core, as the window's bar or a terminal's [a] does):
    the CLI chat runs it with no terminal and no --yes, says so, and after 'mcp approvals
    rm' denies it again."""
    from click.testing import CliRunner

    from workbench.cli import cli
    from workbench.engine.tool_parse import ToolCall
    from workbench.mcp.toolbox import open_toolbox

    with open_toolbox(db, ["weather"], lambda call: "always") as box:
        box.run(ToolCall("get_weather", {"city": "Oslo"}))
    done = chat("--mcp", "weather")
    assert done.exit_code == 0, done.output
    assert NO_TTY_LINE not in done.output
    assert "allowed always (to be asked again: mcp approvals rm weather get_weather)" in \
        done.output
    first = _reply(db).settings["tool_calls"][0]
    assert first["decision"] == "auto" and "sunny" in first["result"]
    taken = CliRunner().invoke(cli, ["--data-dir", str(workspace.root), "mcp", "approvals",
                                     "rm", "weather", "get_weather"])
    assert taken.exit_code == 0, taken.output
    again = chat("--mcp", "weather")
    assert again.exit_code == 0 and NO_TTY_LINE in again.output
