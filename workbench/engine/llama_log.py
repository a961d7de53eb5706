"""Route llama.cpp's own log into Python logging.

llama-cpp-python's ``verbose=False`` silences llama.cpp by redirecting the whole process's
stdout and stderr file descriptors while it works, which breaks a windowed app (no fileno)
and swallows other threads' output. Installing our own ``llama_log_set`` callback instead keeps
every line, at its level, in the ``workbench.llama`` logger, and keeps the most recent lines so
that a failed load can say why and the fit estimate can be checked against llama.cpp's figures.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import threading

import llama_cpp

logger = logging.getLogger("workbench.llama")

# ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5 (continues the last line).
_LEVELS = {0: logging.CRITICAL, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING,
           4: logging.ERROR}
_recent: collections.deque[tuple[int, str]] = collections.deque(maxlen=400)
_counter = [0]
_lock = threading.Lock()
_partial: list[str] = []
_last_level = logging.DEBUG


@llama_cpp.llama_log_callback
def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    global _last_level
    try:
        piece = text.decode("utf-8", errors="replace")
    except Exception:  # a log callback must never raise into C
        return
    py_level = _last_level if level == 5 else _LEVELS.get(level, logging.DEBUG)
    _last_level = py_level
    with _lock:
        _partial.append(piece)
        if not piece.endswith("\n"):
            return
        line = "".join(_partial).rstrip("\n")
        _partial.clear()
        _recent.append((_counter[0], line))
        _counter[0] += 1
    logger.log(py_level, "%s", line)


_installed = False


def install() -> None:
    """Take over llama.cpp's log (idempotent; llama-cpp-python installs its own on import)."""
    global _installed
    if not _installed:
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
        _installed = True


def callback() -> object:
    """The C log callback itself, for libraries that take their own (libmtmd's
    ``mtmd_helper_log_set``), so their lines land in the same logger."""
    return _callback


def remember(line: str) -> None:
    """Keep a line that llama.cpp logged in the engine process (forwarded to the app), so
    ``recent_lines`` and ``lines_since`` read the same in the app as in that process."""
    with _lock:
        _recent.append((_counter[0], line))
        _counter[0] += 1


def recent_lines() -> list[str]:
    with _lock:
        return [line for _, line in _recent]


def mark() -> int:
    """A position in the log, so a caller can read only what came after (``lines_since``)."""
    with _lock:
        return _counter[0]


def lines_since(position: int) -> list[str]:
    with _lock:
        return [line for index, line in _recent if index >= position]
