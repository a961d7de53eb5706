"""The stop flag a reply shares with llama.cpp's abort callback, readable without Python.

llama.cpp calls the abort callback at every node of every graph it computes, so a stop request
ends even a long prompt evaluation within milliseconds. A Python callback there costs more
than the check is worth (below); this one is a C function reading one byte.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import threading
from typing import Any

#: llama.cpp's ``ggml_abort_callback``: ``bool (*)(void * data)``.
abort_type = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)


@functools.cache
def byte_reader() -> Any | None:
    """An abort callback in C that reads a flag byte: libc's ``strlen`` over a two-byte buffer
    is 0 while the byte is 0 and 1 once it is set (a ``bool`` return is read from the low
    byte of the same register). ggml calls the abort callback at every node of every graph,
    about 500 times a token for SmolLM2: a Python callback costs 2-3 us a call there, over
    1 ms a token, which is 10-15% of a small model's speed. Probed once; None (use the Python
    callback) where it does not behave."""
    try:
        libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(None)
        reader = ctypes.cast(libc.strlen, abort_type)
        probe = ctypes.create_string_buffer(2)
        clear = reader(ctypes.addressof(probe))
        probe[0] = b"\x01"
        set_ = reader(ctypes.addressof(probe))
    except (OSError, AttributeError, ValueError):
        return None
    return reader if (clear, set_) == (False, True) else None


class StopFlag(threading.Event):
    """A stop flag llama.cpp reads without Python: :meth:`set` also sets a byte that the abort
    callback (:func:`byte_reader`) reads inside a decode."""

    def __init__(self) -> None:
        super().__init__()
        self.byte = ctypes.create_string_buffer(2)

    def set(self) -> None:
        self.byte[0] = b"\x01"
        super().set()

    def clear(self) -> None:
        super().clear()
        self.byte[0] = b"\x00"


class AbortWatch:
    """llama.cpp's abort callback on a context, reading ``flag`` while a generation or a batch
    runs: the C reader (:func:`byte_reader`) for a :class:`StopFlag` where it works, else a
    Python callback, held here so it lives as long as llama.cpp may call it. :meth:`close`
    takes it off."""

    def __init__(self, ctx: Any, flag: threading.Event) -> None:
        import llama_cpp  # here, not above: the app imports this module without llama.cpp

        self._ctx = ctx
        self._set = llama_cpp.llama_set_abort_callback
        reader = byte_reader()
        if isinstance(flag, StopFlag) and reader is not None:
            self._callback, data = reader, ctypes.addressof(flag.byte)
        else:
            self._callback, data = abort_type(lambda _data: flag.is_set()), None
        self._set(ctx, self._callback, data)

    def close(self) -> None:
        self._set(self._ctx, abort_type(0), None)
