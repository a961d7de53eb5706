"""The stoppable event stream: the one shape every long piece of work in the core has.

A chat turn, a reply, a comparison, a trial and a quant-compare run are each an object you
iterate for its events (text, progress) and may ``stop()`` from any other thread; the stop
ends the work within a token or a step, and the iteration then ends. The window's task manager,
the command line and the server drive them all the same way, by this name (``isinstance``
works: it is ``runtime_checkable``) rather than by asking an object whether it has a ``stop``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar, runtime_checkable

T_co = TypeVar("T_co", covariant=True)


@runtime_checkable
class EventStream(Protocol[T_co]):
    """Iterate once for the events; :meth:`stop` from any thread ends the work early."""

    def __iter__(self) -> Iterator[T_co]: ...

    def stop(self) -> None:
        """Ask the work to end; safe from any thread, returns at once."""
        ...
