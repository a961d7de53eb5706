"""A stdio transport for the ``mcp`` SDK's ``ClientSession`` whose reading is bounded.

The SDK's own ``stdio_client`` keeps a whole stdout line in memory (a 50 MB tool result is
a 50 MB string, then a larger object) and hands the server's stderr our terminal. Here:

- a stdout line (one JSON-RPC message) is kept up to :data:`MAX_MESSAGE_BYTES`; the rest
  of it is read and dropped, and an answer so cut still reaches the caller, with the text
  read so far and a note saying how much the server sent;
- a line that is not JSON-RPC is dropped and reported once (then counted);
- stderr is read all along (a server blocked on a full pipe would hang) and only its last
  :data:`STDERR_TAIL` bytes are kept, for the line that says why a server failed; a server
  writing more than :data:`STDERR_FLOOD` is reported once;
- the server runs in its own process group, and closing ends it: stdin closed, then
  SIGTERM, then SIGKILL, each wait bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import anyio
import mcp_types as types
from mcp.shared.message import SessionMessage

from workbench.units import human_size as size

#: The most bytes of one message kept while reading (an answer past it is cut).
MAX_MESSAGE_BYTES = 2_000_000
#: The last bytes of stderr kept, to say why a server failed.
STDERR_TAIL = 2048
#: Stderr past this many bytes is reported once as a flood (and still read and dropped).
STDERR_FLOOD = 1_000_000
_GRACE_S = 2.0
_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")')
_TEXT = re.compile(rb'"text"\s*:\s*"')


@dataclass
class ProcessState:
    """What the transport saw of the server process, read by the connection."""

    returncode: int | None = None
    stderr_tail: bytearray = field(default_factory=bytearray)
    stderr_bytes: int = 0
    bad_lines: int = 0
    closing: bool = False

    def last_stderr_line(self) -> str:
        lines = [line for line in bytes(self.stderr_tail).decode("utf-8", "replace")
                 .splitlines() if line.strip()]
        return lines[-1].strip()[:200] if lines else ""


def _string_prefix(raw: bytes) -> str:
    """The text of a JSON string that starts ``raw`` and may be cut off (an escape cut in
    half is dropped). Scanned with ``find``: a regular expression over megabytes of one
    string keeps a mark per character."""
    end = -1
    while True:
        end = raw.find(b'"', end + 1)
        if end < 0:
            break
        slashes = 0
        while slashes < end and raw[end - slashes - 1] == 0x5C:  # a backslash
            slashes += 1
        if slashes % 2 == 0:
            raw = raw[:end]
            break
    text = raw.decode("utf-8", "ignore")
    for trim in range(8):
        try:
            return str(json.loads('"' + (text[:len(text) - trim] if trim else text) + '"'))
        except ValueError:
            continue
    return ""


def salvage(head: bytes, total: int) -> SessionMessage | None:
    """An answer cut at :data:`MAX_MESSAGE_BYTES` as a tool result: the text read so far
    and a note; None when the head does not say which request it answers."""
    found = _ID.search(head[:4096])
    if found is None:
        return None
    request_id = json.loads(found.group(1))
    text = _TEXT.search(head)
    kept = _string_prefix(head[text.end():]) if text else ""
    note = (f"\n[the server's answer was cut at {size(len(head))} while reading: it sent "
            f"{size(total)}]")
    raw = {"jsonrpc": "2.0", "id": request_id,
           "result": {"content": [{"type": "text", "text": kept + note}], "isError": False}}
    message = types.jsonrpc_message_adapter.validate_python(raw, by_name=False)
    return SessionMessage(message)


@asynccontextmanager
async def bounded_stdio(command: list[str], env: dict[str, str], state: ProcessState,
                        report: Callable[[str], None]) -> AsyncIterator[tuple[object, object]]:
    """Start ``command`` and yield the (read, write) streams a ``ClientSession`` takes.
    ``report`` gets one line for each thing worth saying while it runs."""
    from mcp.client.stdio import get_default_environment

    process = await anyio.open_process(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, **get_default_environment(), **env}, start_new_session=True)
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def deliver(line: bytes, dropped: int) -> None:
        if dropped:
            message = salvage(line, len(line) + dropped)
            report(f"an answer of {size(len(line) + dropped)} was cut at "
                   f"{size(MAX_MESSAGE_BYTES)} while reading")
            if message is not None:
                await read_writer.send(message)
            return
        if not line.strip():
            return
        try:
            parsed = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
        except ValueError:
            state.bad_lines += 1
            if state.bad_lines == 1:
                shown = line[:80].decode("utf-8", "replace")
                report(f"wrote a line that is not JSON-RPC on its stdout ({shown!r}); "
                       "such lines are dropped")
            return
        await read_writer.send(SessionMessage(parsed))

    async def stdout_reader() -> None:
        assert process.stdout is not None
        line, dropped = bytearray(), 0
        async with read_writer:
            with suppress(anyio.EndOfStream, anyio.ClosedResourceError,
                          anyio.BrokenResourceError, OSError):
                while True:
                    chunk = await process.stdout.receive(65536)
                    start = 0
                    while True:
                        end = chunk.find(b"\n", start)
                        part = chunk[start:] if end < 0 else chunk[start:end]
                        room = MAX_MESSAGE_BYTES - len(line)
                        line += part[:room]
                        dropped += max(0, len(part) - room)
                        if end < 0:
                            break
                        await deliver(bytes(line), dropped)
                        line, dropped = bytearray(), 0
                        start = end + 1
        state.returncode = await process.wait()

    async def stderr_reader() -> None:
        assert process.stderr is not None
        with suppress(anyio.EndOfStream, anyio.ClosedResourceError,
                      anyio.BrokenResourceError, OSError):
            while True:
                chunk = await process.stderr.receive(65536)
                state.stderr_bytes += len(chunk)
                state.stderr_tail += chunk
                del state.stderr_tail[:-STDERR_TAIL]
                if state.stderr_bytes > STDERR_FLOOD >= state.stderr_bytes - len(chunk):
                    report(f"wrote over {size(STDERR_FLOOD)} to its stderr; it is read and "
                           "dropped")

    async def stdin_writer() -> None:
        assert process.stdin is not None
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async with write_reader:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send(data.encode("utf-8") + b"\n")
        await read_writer.aclose()  # the server cannot be written to: end the session's wait

    async with anyio.create_task_group() as group:
        group.start_soon(stdout_reader)
        group.start_soon(stderr_reader)
        group.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream
        finally:
            state.closing = True
            with anyio.CancelScope(shield=True):
                await _stop(process)
                for stream in (read_stream, write_stream, read_writer, write_reader):
                    await stream.aclose()
            group.cancel_scope.cancel()


async def _stop(process: anyio.abc.Process) -> None:
    """Close stdin, wait; then SIGTERM the group, wait; then SIGKILL it."""
    if process.stdin is not None:
        with suppress(Exception):
            await process.stdin.aclose()
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
        with anyio.move_on_after(_GRACE_S):
            await process.wait()
            return
