"""Thousands of emits (one per streamed token) must not wear out ``True`` (PySide6 bug)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

import ui  # noqa: F401 (installs the fix)


class Emitter(QObject):
    value = Signal(object)


def test_emit_keeps_reference_counts_balanced():
    emitter = Emitter()
    emitter.value.connect(lambda _v: None)
    before = sys.getrefcount(True)
    for _ in range(20_000):
        emitter.value.emit("token")
    assert abs(sys.getrefcount(True) - before) <= 2
