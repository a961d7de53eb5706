"""Running contenders at once: a managed set of engine workers, every one joined at the end.

Each worker is a thread of one :class:`~concurrent.futures.ThreadPoolExecutor` driving its own
:class:`~workbench.engine.Engine`, and so its own engine process: llama.cpp never runs two
models in one process, and the thread only reads that process's pipe. The cores are split
between them (:func:`threads_each`), since llama.cpp's threads wait for each other at every
step and two pools each taking every core make both crawl.

However the run ends (all jobs done, ``stop()``, Ctrl+C, the consumer leaving early or a job
failing), :meth:`EngineWorkers.close` stops what is running, joins every thread and ends every
engine process before it returns: nothing is left streaming into a closed run.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

import psutil

from workbench.engine import Engine

T = TypeVar("T")
#: How often the consumer looks up from the queue (a stop set by a signal handler is seen).
POLL_S = 0.25
_DONE = object()


def threads_each(n_workers: int) -> int:
    """llama.cpp threads for each of ``n_workers`` models running at once: the physical
    cores split evenly, at least one each."""
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    return max(1, cores // max(1, n_workers))


Job = Callable[[Engine], Iterator[T]]


class EngineWorkers(Generic[T]):
    """Run one job per engine worker; iterate :meth:`run` for what they yield, merged.

    ``on_stop`` is called (from any thread) when the run must end early: it stops the replies
    in progress, so the jobs reach their next yield and see :attr:`stopping`."""

    def __init__(self, n_workers: int, *, on_stop: Callable[[], None] | None = None,
                 name: str = "together") -> None:
        self.engines = [Engine() for _ in range(n_workers)]
        self._executor = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix=name)
        self._futures: list[Future[None]] = []
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._on_stop = on_stop
        self._closed = False

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """End the run early: safe from any thread and from a signal handler."""
        self._stopping.set()
        if self._on_stop is not None:
            self._on_stop()

    def _drive(self, job: Job[T], engine: Engine) -> None:
        try:
            for item in job(engine):
                self._events.put(item)
                if self._stopping.is_set():
                    break
        except BaseException:
            self.stop()  # one job failing ends the others too; run() raises its error
            raise
        finally:
            self._events.put(_DONE)

    def run(self, jobs: list[Job[T]]) -> Iterator[T]:
        """Start every job on its own worker and yield their items as they come; the workers
        are closed (joined, engine processes ended) when this ends, however it ends. A job
        that raises ends the run: the others are stopped and the error is raised here."""
        if len(jobs) > len(self.engines):
            raise ValueError("more jobs than engine workers")
        try:
            self._futures = [self._executor.submit(self._drive, job, engine)
                             for job, engine in zip(jobs, self.engines, strict=False)]
            running = len(self._futures)
            while running:
                try:
                    item = self._events.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if item is _DONE:
                    running -= 1
                    continue
                yield item  # type: ignore[misc]
            for future in self._futures:
                future.result()  # a job's own exception, now that every job has ended
        except BaseException:
            self.stop()
            raise
        finally:
            self.close()

    def close(self) -> None:
        """Stop what still runs, join every worker thread, end every engine process."""
        if self._closed:
            return
        self._closed = True
        if any(not f.done() for f in self._futures):
            self.stop()
        self._executor.shutdown(wait=True, cancel_futures=True)
        for engine in self.engines:
            engine.unload()

    @property
    def alive_threads(self) -> int:
        """Worker threads still running (0 once closed)."""
        return sum(1 for f in self._futures if not f.done())
