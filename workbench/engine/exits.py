"""Why the engine process died, in one line: from its exit status (a signal, a Windows
exception code) and the last of its output (a failed ``GGML_ASSERT``, a C++ exception, a
Python error)."""

from __future__ import annotations

import os
import re
import signal

#: How much of the process's output is read to explain a crash.
_OUTPUT_TAIL = 16_384

_WINDOWS_CODES = {
    0xC0000005: "an access violation in llama.cpp",
    0xC0000409: "llama.cpp aborted (fast fail)",
    0xC00000FD: "a stack overflow in llama.cpp",
    0xC0000006: "the model file changed or was truncated while in use (in-page error)",
}


def describe_exit(exitcode: int | None, output: str) -> str:
    """Why the engine process ended, in a few words, from its exit status and last output."""
    # faulthandler's "Fatal Python error: Aborted" only names the signal: not a detail then.
    detail = _crash_detail(output, python=exitcode is not None and exitcode > 0)
    if exitcode is None:
        return "the engine process stopped answering"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number == signal.SIGABRT and "Remote RPC server crashed" in output:
            return ("a worker stopped answering (llama.cpp's RPC: \"Remote RPC server crashed "
                    "or returned malformed response\"); the next request loads without it")
        if number == signal.SIGABRT:
            return f"killed by SIGABRT ({detail or 'llama.cpp aborted'})"
        if number == getattr(signal, "SIGBUS", None):
            return "SIGBUS: the model file changed or was truncated while in use"
        if number == signal.SIGSEGV:
            return f"killed by SIGSEGV ({detail or 'a memory fault in llama.cpp'})"
        if number == getattr(signal, "SIGKILL", None):
            return "killed by SIGKILL (out of memory, or ended by another program)"
        return f"killed by {name}" + (f" ({detail})" if detail else "")
    if exitcode in _WINDOWS_CODES:
        return _WINDOWS_CODES[exitcode] + (f" ({detail})" if detail else "")
    if exitcode == 0:
        return "the engine process ended unexpectedly"
    return f"the engine process exited with code {exitcode}" + (f" ({detail})" if detail else "")


_DETAIL_PATTERNS = (
    re.compile(r"(GGML_ASSERT\(.*\) failed)"),
    re.compile(r"what\(\):\s*(.+)"),  # an uncaught C++ exception: std::terminate, SIGABRT
    re.compile(r"(GGML_ABORT.*|ggml_abort.*)", re.IGNORECASE),
)
_PYTHON_PATTERN = re.compile(r"^(Fatal Python error: .+|\w+(?:Error|Exception): .+)$")


def _crash_detail(output: str, *, python: bool = False) -> str:
    """The line of the process's output that says what went wrong, if there is one."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in _DETAIL_PATTERNS + ((_PYTHON_PATTERN,) if python else ()):
        for line in reversed(lines):
            found = pattern.search(line)
            if found:
                text = re.sub(r"[\x00-\x1f\x7f-\x9f]", "", found.group(1))
                return text[:200]
    return ""


def read_tail(path: str) -> str:
    """The last of a file (the process's output), or nothing when it cannot be read."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - _OUTPUT_TAIL))
            return file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
