"""The stoppable event stream has a name (workbench/streams.py): the core's long-running work
declares it, and anything with ``__iter__`` and ``stop()`` is one, while a plain generator is
not (it cannot be stopped from another thread)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workbench.streams import EventStream


class Ticks:
    def __init__(self) -> None:
        self.stopped = False

    def __iter__(self) -> Iterator[int]:
        yield 1

    def stop(self) -> None:
        self.stopped = True


def test_the_shape_is_checked_by_isinstance() -> None:
    assert isinstance(Ticks(), EventStream)
    assert not isinstance(iter([1, 2]), EventStream)
    assert not isinstance((n for n in range(2)), EventStream)
    assert not isinstance(object(), EventStream)


@pytest.mark.parametrize("where", [
    "workbench.chat:ChatTurn", "workbench.engine.reply:Reply",
    "workbench.engine.process:RemoteReply", "workbench.trials.compare:CompareRun",
    "workbench.trials.runner:TrialRun", "workbench.quant.compare:QuantComparison",
])
def test_the_core_streams_declare_the_shape(where: str) -> None:
    import importlib

    module, _, name = where.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, EventStream)
    assert EventStream in cls.__mro__, f"{where}: say it is an EventStream (a base class)"
