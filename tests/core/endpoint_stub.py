"""A tiny OpenAI-compatible stand-in on 127.0.0.1 that misbehaves on purpose, one way per base
URL (``http://127.0.0.1:PORT/CASE/v1``): the bad answers a remote endpoint can give. It
serves from a daemon thread and stops itself when the test's ``with`` block ends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _event(value: object) -> bytes:
    return f"data: {json.dumps(value)}\n\n".encode()


def _chunk(text: str, finish: str | None = None) -> bytes:
    return _event({"choices": [{"index": 0, "delta": {"content": text},
                                "finish_reason": finish}]})


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, kind: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self._send(200, "application/json",
                   json.dumps({"object": "list", "data": [{"id": "stub-model"}]}).encode())

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        case = self.path.strip("/").split("/")[0]
        key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        stream = "text/event-stream"
        if case == "html":
            self._send(200, "text/html", b"<!doctype html><html><body>Login</body></html>")
        elif case == "unauthorized":
            self._send(401, "application/json", json.dumps(
                {"error": {"message": f"Invalid API key: {key}"}}).encode())
        elif case == "busy":
            self._send(429, "application/json", b'{"error": "rate limited"}', Retry_After="7")
        elif case == "broken":
            self._send(500, "text/plain", f"Internal error; Authorization: Bearer {key}".encode())
        elif case == "malformed":
            self._send(200, stream, _chunk("Hel") + b"data: {not json\n\n")
        elif case == "cut":
            self._send(200, stream, _chunk("Hello") + _chunk(" wor"))
        elif case == "slow":
            self._send(200, stream, _chunk("Hel"))
            self.wfile.flush()
            time.sleep(3)
        else:  # "ok": a whole reply, with usage and llama-server's timings
            self._send(200, stream, _chunk("Hello") + _chunk(" world", "stop") + _event(
                {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2},
                 "timings": {"predicted_per_second": 42.5, "prompt_per_second": 300.0}})
                + b"data: [DONE]\n\n")


@contextmanager
def stub_server() -> Iterator[str]:
    """Yields ``http://127.0.0.1:PORT``; the server stops when the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
