"""MCP servers: added, listed, imported and removed; a real server made with the ``mcp`` SDK
listed and called; and each kind of misbehaving server (a real subprocess doing one wrong
thing) reported in one line within its bound, without taking the caller down."""

from __future__ import annotations

import contextlib
import json
import resource
import time

import pytest
from mcp_servers import write_server

from workbench.errors import InvalidInputError, McpError, NotFoundError, OfflineError
from workbench.mcp.connection import McpConnection
from workbench.mcp.servers import (
    McpServer,
    add_server,
    get_server,
    list_servers,
    remove_server,
)
from workbench.mcp.transport import MAX_MESSAGE_BYTES
from workbench.settings import set_setting


def _server(tmp_path, mode=None, timeout_s=5.0) -> McpServer:
    return McpServer(mode or "weather", "stdio", write_server(tmp_path, mode),
                     timeout_s=timeout_s)


def test_add_list_tools_rm_from_the_cli(cli_run, tmp_path) -> None:
    command = write_server(tmp_path)
    added = cli_run("mcp", "add", "weather", "--", *command)
    assert added.exit_code == 0, added.output
    listed = json.loads(cli_run("mcp", "list", "--json").output)
    assert [(s["name"], s["transport"], s["command"]) for s in listed] == [
        ("weather", "stdio", command)]
    tools = cli_run("mcp", "tools", "weather", "--json")
    assert tools.exit_code == 0, tools.output
    (tool,) = json.loads(tools.output)
    assert tool["name"] == "get_weather" and tool["server"] == "weather"
    assert tool["input_schema"]["required"] == ["city"]
    assert "get_weather" in cli_run("mcp", "tools", "weather").output
    again = cli_run("mcp", "add", "weather", "--", *command)
    assert again.exit_code == 1 and "already added" in again.output
    assert cli_run("mcp", "rm", "weather").exit_code == 0
    assert json.loads(cli_run("mcp", "list", "--json").output) == []
    gone = cli_run("mcp", "tools", "weather")
    assert gone.exit_code == 1 and "not added" in gone.output


def test_import_of_an_mcpservers_file(cli_run, db, tmp_path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(json.dumps({"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem",
                                             "/tmp"], "env": {"DEBUG": "1"}},
        "local": {"url": "http://127.0.0.1:8123/mcp"},
        "bad name!": {"command": "x"},
        "noargs": {"command": "srv", "args": "not a list"},
        "off": {"command": "srv", "disabled": True}}}))
    done = cli_run("mcp", "import", str(config))
    assert done.exit_code == 0, done.output
    assert "2 added, 3 skipped" in done.output
    servers = {s.name: s for s in list_servers(db)}
    assert servers["files"].command[:2] == ["npx", "-y"] and servers["files"].env == {
        "DEBUG": "1"}
    assert servers["local"].transport == "http"
    assert "args must be a list" in done.output and "disabled" in done.output
    not_json = tmp_path / "x.json"
    not_json.write_text("{nope")
    bad = cli_run("mcp", "import", str(not_json))
    assert bad.exit_code == 1 and "not JSON" in bad.output
    not_json.write_text("{}")
    assert "no \"mcpServers\" object" in cli_run("mcp", "import", str(not_json)).output


def test_bad_additions_are_one_line(db) -> None:
    with pytest.raises(InvalidInputError, match="give a command"):
        add_server(db, "x")
    with pytest.raises(InvalidInputError, match="not an http"):
        add_server(db, "x", url="ftp://host/mcp")
    with pytest.raises(InvalidInputError, match="timeout"):
        add_server(db, "x", command=["srv"], timeout_s=0)
    with pytest.raises(NotFoundError, match="not added"):
        get_server(db, "nope")
    with pytest.raises(NotFoundError):
        remove_server(db, "nope")


def test_offline_mode_refuses_an_address_that_is_not_loopback(db) -> None:
    add_server(db, "remote", url="https://mcp.example.com/mcp")
    add_server(db, "near", url="http://localhost:9/mcp")
    set_setting(db, "offline", True)
    with pytest.raises(OfflineError, match="offline"):
        add_server(db, "remote2", url="https://mcp.example.com/mcp")
    from workbench.mcp.toolbox import open_toolbox

    with pytest.raises(OfflineError, match="not on this computer"):
        open_toolbox(db, ["remote"], lambda call: "deny")
    box = open_toolbox(db, ["near"], lambda call: "deny")  # loopback: tried, and fails
    (notice,) = box.drain()
    assert "MCP server 'near'" in notice.line and "goes on without it" in notice.line
    assert box.tools is None


def test_a_real_sdk_server_is_listed_and_called(tmp_path) -> None:
    with McpConnection(_server(tmp_path)) as live:
        assert [t.name for t in live.tools] == ["get_weather"]
        outcome = live.call("get_weather", {"city": "Oslo"})
    assert outcome.text.startswith("Oslo: sunny, 21 C") and not outcome.is_error


# --- servers that misbehave ---------------------------------------------------------------

def _opened(tmp_path, mode, timeout_s=3.0):
    lines: list[str] = []
    live = McpConnection(_server(tmp_path, mode, timeout_s), lines.append)
    return live, lines


def test_a_server_that_never_answers_its_handshake_times_out(tmp_path) -> None:
    live, _lines = _opened(tmp_path, "silent", timeout_s=1.5)
    started = time.monotonic()
    with pytest.raises(McpError, match="no answer to its handshake in 1.5 s"):
        live.open()
    assert time.monotonic() - started < 10


def test_a_server_that_exits_says_its_code_and_last_stderr_line(tmp_path) -> None:
    live, _lines = _opened(tmp_path, "exit")
    with pytest.raises(McpError, match="exited with code 3 .*cannot open the database"):
        live.open()


def test_a_server_that_writes_non_json_is_reported(tmp_path) -> None:
    live, lines = _opened(tmp_path, "garbage", timeout_s=1.5)
    with pytest.raises(McpError, match="no answer to its handshake"):
        live.open()
    assert any("not JSON-RPC" in line and "Starting server" in line for line in lines)


def test_a_server_that_floods_stderr_is_drained_and_reported_once(tmp_path) -> None:
    live, lines = _opened(tmp_path, "flood")
    with live:
        assert live.call("get_weather", {"city": "Rome"}).text == "sunny"
    assert [line for line in lines if "stderr" in line] == [
        "MCP server 'flood': wrote over 1.0 MB to its stderr; it is read and dropped"]
    assert len(live.state.stderr_tail) <= 2048


def test_a_call_that_hangs_times_out_and_the_connection_closes(tmp_path) -> None:
    live, _lines = _opened(tmp_path, "hang", timeout_s=1.5)
    with live, pytest.raises(McpError, match="no answer to the call of get_weather in 1.5 s"):
        live.call("get_weather", {"city": "Rome"})
    started = time.monotonic()
    live.close()
    assert time.monotonic() - started < 1


def test_a_server_that_crashes_mid_call_says_so(tmp_path) -> None:
    live, _lines = _opened(tmp_path, "crash")
    with live, pytest.raises(McpError, match="exited with code 7 during the call of "
                                       "get_weather.*segfault-ish"):
        live.call("get_weather", {"city": "Rome"})


def test_sampling_is_refused_and_said(tmp_path) -> None:
    live, lines = _opened(tmp_path, "sampling")
    with live:
        outcome = live.call("get_weather", {"city": "Rome"})
    assert outcome.text.startswith("sampling refused: ")
    assert "MCP server 'sampling': asked for sampling (the model writing for the server); " \
           "refused" in lines


def test_a_50_mb_result_is_cut_while_reading_with_memory_bounded(tmp_path) -> None:
    live, lines = _opened(tmp_path, "huge", timeout_s=60)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with live:
        outcome = live.call("get_weather", {"city": "Rome"})
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert outcome.text.startswith("yyyy") and "[the server's answer was cut at 2.0 MB " \
        "while reading: it sent 52.4 MB]" in outcome.text
    assert len(outcome.text) <= MAX_MESSAGE_BYTES
    assert any("cut at 2.0 MB while reading" in line for line in lines)
    assert grown_mb < 40, f"reading grew the process by {grown_mb:.0f} MB"


@contextlib.contextmanager
def _http_server(tmp_path, body: str, json_response: bool = False):
    """A real Streamable HTTP MCP server (the SDK's) on loopback whose one tool returns
    ``body`` (a Python expression of ``city``); yields its URL, stops it after."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "http_server.py"
    script.write_text("from mcp.server.mcpserver import MCPServer\n"
                      "app = MCPServer('weather')\n"
                      "@app.tool()\n"
                      "def get_weather(city: str) -> str:\n"
                      "    'The weather in a city now.'\n"
                      f"    return {body}\n"
                      f"app.run(transport='streamable-http', host='127.0.0.1', port={port}, "
                      f"json_response={json_response})\n")
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def test_a_streamable_http_server_on_loopback(cli_run, tmp_path) -> None:
    with _http_server(tmp_path, "city + ': sunny'") as url:
        assert cli_run("mcp", "add", "near", "--url", url).exit_code == 0
        listed = cli_run("mcp", "tools", "near", "--json")
        assert listed.exit_code == 0, listed.output
        assert [t["name"] for t in json.loads(listed.output)] == ["get_weather"]
        server = McpServer("near", "http", url=url, timeout_s=10)
        with McpConnection(server) as live:
            assert live.call("get_weather", {"city": "Rome"}).text == "Rome: sunny"


def test_a_50_mb_json_answer_over_http_is_refused_with_memory_bounded(tmp_path) -> None:
    """A server answering in plain JSON (not events) is read through a byte bound: a 50 MB
    tool result is one line, the connection goes on, and memory does not grow by the 50 MB."""
    with _http_server(tmp_path, "'y' * 50_000_000", json_response=True) as url:
        server = McpServer("near", "http", url=url, timeout_s=60)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with McpConnection(server) as live, pytest.raises(McpError) as refused:
            live.call("get_weather", {"city": "Rome"})
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert str(refused.value) == ("MCP server 'near': the call of get_weather failed: its "
                                  "answer is larger than 2.0 MB, the most read from one answer")
    assert grown_mb < 40, f"reading grew the process by {grown_mb:.0f} MB"
