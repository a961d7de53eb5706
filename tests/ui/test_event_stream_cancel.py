"""Cancel reaches a running job by the stream's name (workbench.streams.EventStream): the task
manager calls ``stop()`` on it at once, not after the next value."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ui.tasks import TaskManager


class Waits:
    """Yields once, then waits until stopped (a reply between two tokens)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.stopped = threading.Event()

    def __iter__(self) -> Iterator[str]:
        self.started.set()
        yield "first"
        assert self.stopped.wait(10), "stop() was never called"

    def stop(self) -> None:
        self.stopped.set()


def test_cancel_stops_an_event_stream_at_once(qtbot) -> None:
    tasks = TaskManager()
    stream = Waits()
    cancelled: list[bool] = []
    job = tasks.run("disk", lambda: stream, name="waits",
                    on_cancelled=lambda: cancelled.append(True))
    assert stream.started.wait(10)
    job.cancel()
    qtbot.waitUntil(lambda: cancelled == [True], timeout=10000)
    assert stream.stopped.is_set()
    tasks.shutdown()
