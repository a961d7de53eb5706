"""A workaround for a PySide6 bug: ``SignalInstance.emit()`` returns ``True`` without taking
a reference (seen in PySide6 6.12.0 on CPython 3.11). Every emit from Python then lowers the
reference count of ``True`` by one, and after a few thousand emits (a long reply streams one
per token) the interpreter aborts with "Fatal Python error: bool_dealloc".

:func:`install` checks whether this PySide6 has the bug (emit a few times, compare counts) and
only then wraps ``emit`` to give back the missing reference. Imported by ``ui/__init__.py``
so it is in place before any page or job emits anything.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None
_installed = False


class _Probe(QObject):
    ping = Signal()


def emit_loses_a_reference() -> bool:
    """Whether ``emit()`` lowers the reference count of ``True`` (the bug)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    for _ in range(max(lost, 0)):  # give back what the probe itself took
        _incref(True)
    return lost >= 8


def install() -> bool:
    """Wrap ``SignalInstance.emit`` if this PySide6 needs it; returns whether it did."""
    global _installed
    if _installed or not emit_loses_a_reference():
        return _installed
    original = SignalInstance.emit

    def emit(self: SignalInstance, *args: Any) -> Any:
        result = original(self, *args)
        if result is True:
            _incref(True)  # the reference emit() should have taken
        return result

    SignalInstance.emit = emit  # type: ignore[method-assign]
    _installed = True
    return True
