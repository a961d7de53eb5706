"""Small MCP servers for the tests, written as Python scripts into a test's folder and run
as real subprocesses: one made with the ``mcp`` SDK's ``MCPServer`` (the 2.x FastMCP), and
misbehaving ones written by hand in JSON-RPC over stdio (each does one wrong thing)."""

from __future__ import annotations

import sys
from pathlib import Path

WEATHER_SERVER = '''
from mcp.server.mcpserver import MCPServer

app = MCPServer("weather")


@app.tool()
def get_weather(city: str, unit: str = "C") -> str:
    """The weather in a city now."""
    return f"{city}: sunny, 21 {unit}\\nwind: calm\\nhumidity: 40%\\npressure: 1013 hPa"


app.run()
'''

#: A hand-written stdio server: answers the handshake and tools/list, and on tools/call
#: does what MODE says. ``{mode}`` is filled in per server.
_HAND = r'''
import json, sys, time
MODE = {mode!r}
TOOL = {{"name": "get_weather", "description": "The weather in a city now.",
        "inputSchema": {{"type": "object", "properties": {{"city": {{"type": "string"}}}},
                        "required": ["city"]}}}}


def send(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


if MODE == "silent":
    time.sleep(3600)
if MODE == "exit":
    sys.stderr.write("cannot open the database\n")
    sys.exit(3)
if MODE == "garbage":
    print("Starting server... ready!", flush=True)
    time.sleep(3600)
for line in sys.stdin:
    message = json.loads(line)
    method, ident = message.get("method"), message.get("id")
    if method == "initialize":
        if MODE == "flood":
            for _ in range(2000):
                sys.stderr.write("x" * 1000 + "\n")
            sys.stderr.flush()
        send({{"jsonrpc": "2.0", "id": ident, "result": {{
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {{"tools": {{}}}},
            "serverInfo": {{"name": "hand", "version": "1"}}}}}})
    elif method == "tools/list":
        send({{"jsonrpc": "2.0", "id": ident, "result": {{"tools": [TOOL]}}}})
    elif method == "tools/call":
        if MODE == "hang":
            time.sleep(3600)
        if MODE == "crash":
            sys.stderr.write("segfault-ish\n")
            sys.stderr.flush()
            import os
            os._exit(7)
        if MODE == "sampling":
            send({{"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage",
                  "params": {{"messages": [{{"role": "user", "content": {{"type": "text",
                  "text": "hi"}}}}], "maxTokens": 5}}}})
            reply = json.loads(sys.stdin.readline())
            text = "sampling refused: " + str(reply.get("error", {{}}).get("message"))
        elif MODE == "huge":
            head = '{{"jsonrpc": "2.0", "id": ' + json.dumps(ident) + \
                ', "result": {{"content": [{{"type": "text", "text": "'
            sys.stdout.write(head)
            chunk = "y" * (1 << 20)
            for _ in range(50):
                sys.stdout.write(chunk)
            sys.stdout.write('"}}], "isError": false}}}}\n')
            sys.stdout.flush()
            continue
        else:
            text = "sunny"
        send({{"jsonrpc": "2.0", "id": ident, "result": {{
            "content": [{{"type": "text", "text": text}}], "isError": False}}}})
'''

MODES = ("silent", "exit", "garbage", "flood", "hang", "crash", "sampling", "huge")


def write_server(folder: Path, mode: str | None = None) -> list[str]:
    """The command that runs the server: the SDK-made one, or the hand-written ``mode``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"server_{mode or 'weather'}.py"
    path.write_text(WEATHER_SERVER if mode is None else _HAND.format(mode=mode))
    return [sys.executable, str(path)]
