"""The one place where work leaves the GUI thread and results come back.

Every long job runs on a worker of its resource ("engine": the one loaded model, "db": quick
database work, "disk": slow file work such as hashing, scanning and writing reports, "hub":
searches, "download"), one job at a time per resource, so one model belongs to one worker,
downloads carry on while the user chats, and opening a chat never waits behind a 20 GB hash.
Pages do not call this directly: they go through :mod:`ui.operations`, which adds the
default failure display, stale-result dropping, busy counts and change announcements.

A job is a function; when it returns an iterator (a reply streaming, a download's progress
events), each yielded value is sent back as ``progress`` and the job checks for cancellation
between yields (superqt's GeneratorWorker shape). A job that yields fast (a reply: one value
per token) asks for batches instead (``batch_ms``): the worker queues its values and wakes
the GUI thread once per batch, which takes them all at most every ``batch_ms``, so the GUI
thread does one wake-up and one redraw per frame, not per token (see :class:`Batches`).
Results and errors come back through Qt signals, which Qt queues onto the GUI thread. A
:class:`~workbench.errors.WorkbenchError` arrives as its one-line message; anything else as
"Unexpected error: ..." and the traceback goes to the log, never to the user.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from workbench.errors import WorkbenchError
from workbench.streams import EventStream

log = logging.getLogger(__name__)

#: "mcp": starting MCP servers to list their tools (each bounded by its timeout, up to a
#: minute), so a slow server never holds up the database or the disk work.
RESOURCES = ("engine", "db", "disk", "hub", "download", "mcp")

#: How long a thread may keep the GIL while another waits for it (Python's default is 5 ms).
#: Each time Qt calls back into Python on the GUI thread (a table's ``data()`` per cell, a
#: slot) that thread must take the GIL again; with a worker busy in Python code (a GGUF header
#: being parsed, a download's bookkeeping) every such call could wait the full interval, and a
#: repaint with twenty callbacks stalled the window for 90 ms. 1 ms keeps those waits short.
GIL_SWITCH_INTERVAL_S = 0.001


#: How often the GUI thread runs Python's garbage collector (see :class:`GuiThreadCollector`).
GC_INTERVAL_MS = 100
#: The oldest generation at most this often: a full collection walks every object of the
#: process (150 ms here with the window, llama-cpp-python and Qt loaded) and CPython itself
#: runs one only when the long-lived objects have grown by a quarter, a rule Python code
#: cannot read. What is alive at start (modules, the window) is frozen out of it anyway.
GC_FULL_EVERY_S = 120.0


class GuiThreadCollector(QObject):
    """Python's cyclic garbage collector, run only on the GUI thread.

    Left automatic, the collector runs in whichever thread happens to allocate: a worker (a
    reply streaming, a download) can then destroy a QObject that belongs to the GUI thread
    (a finished job, a timer). Its C++ destructor takes Qt's signal lock and then waits for
    the GIL, while the GUI thread holds the GIL and waits for that lock in a ``connect()``:
    the window freezes for good. Seen here with a trial run under load (py-spy: the GUI thread
    in ``connect``, a worker in ``Sbk_GetPyOverride`` waiting for the GIL). pyqtgraph's
    ``GarbageCollector`` does the same for the same reason: automatic collection off,
    collection by a timer on the GUI thread, generation by generation as Python would.
    """

    _installed: GuiThreadCollector | None = None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.last_full = time.monotonic()
        self.timer = QTimer(self)
        self.timer.setInterval(GC_INTERVAL_MS)
        self.timer.timeout.connect(self.collect)

    @classmethod
    def install(cls) -> None:
        """Once per application (the timer lives as long as the QCoreApplication)."""
        app = QCoreApplication.instance()
        if cls._installed is not None or app is None:
            return
        collector = cls(app)
        gc.disable()
        gc.collect()
        gc.freeze()  # start-up objects live as long as the app: no collection walks them again
        collector.timer.start()
        cls._installed = collector

    def collect(self) -> None:
        first, second, third = gc.get_count()
        if first > self.thresholds[0]:
            gc.collect(0)
            if second > self.thresholds[1]:
                gc.collect(1)
                now = time.monotonic()
                if third > self.thresholds[2] and now - self.last_full >= GC_FULL_EVERY_S:
                    gc.collect(2)
                    self.last_full = now


class Job(QObject):
    """A running job. Connect to its signals; call :meth:`cancel` to stop it."""

    progress = Signal(object)
    #: Batched jobs only: values are waiting in :meth:`take_progress` (sent once per batch).
    progress_ready = Signal()
    finished = Signal(object)  # the function's return value (None for iterators)
    failed = Signal(str)  # a one-line message for the user
    cancelled = Signal()
    done = Signal()  # always last, whatever the outcome
    #: :attr:`detail` changed (the status bar shows it after the name).
    detail_changed = Signal()

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        #: How far the job is, in words ("12 of 40 files"), set on the GUI thread.
        self.detail = ""
        self.resource = ""
        self._cancel = threading.Event()
        self._stoppable: Any = None
        self.batched = False
        self._queued: list[Any] = []
        self._queued_lock = threading.Lock()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop; an :class:`~workbench.streams.EventStream` (a reply, a trial)
        is told at once."""
        self._cancel.set()
        stoppable = self._stoppable
        if isinstance(stoppable, EventStream):
            stoppable.stop()

    def set_detail(self, text: str) -> None:
        """Say how far the job is (GUI thread); the status bar follows."""
        if text != self.detail:
            self.detail = text
            self.detail_changed.emit()

    def _send_progress(self, value: Any) -> None:
        """On the worker: a signal per value, or (batched) the value queued and the GUI
        thread told only when the queue was empty, i.e. once per batch it takes."""
        if not self.batched:
            self.progress.emit(value)
            return
        with self._queued_lock:
            first = not self._queued
            self._queued.append(value)
        if first:
            self.progress_ready.emit()

    def take_progress(self) -> list[Any]:
        """The values queued since the last call, in order (batched jobs)."""
        with self._queued_lock:
            values, self._queued = self._queued, []
        return values

    def _run(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        try:
            result = func(*args, **kwargs)
            if isinstance(result, (Iterator, EventStream)):
                self._stoppable = result
                if self._cancel.is_set():
                    self.cancel()
                iterator = iter(result)
                try:
                    for value in iterator:
                        self._send_progress(value)
                        if self._cancel.is_set():
                            break
                finally:
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                if self._cancel.is_set():
                    self.cancelled.emit()
                else:
                    self.finished.emit(result)
            elif self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.finished.emit(result)
        except WorkbenchError as error:
            self.failed.emit(str(error))
        except Exception as error:  # the user sees one line; the log keeps the traceback
            log.exception("job %s failed", self.name)
            self.failed.emit(f"Unexpected error: {type(error).__name__}: {error}")
        finally:
            self.done.emit()


class Batches(QObject):
    """Delivers a batched job's progress on the GUI thread: a list of values at most every
    ``interval_ms`` (the first value of a burst at once: no wait for the first token), and
    whatever is left before the job's outcome, so no value is lost or comes after it."""

    def __init__(self, job: Job, deliver: Callable[[list[Any]], None], interval_ms: int
                 ) -> None:
        super().__init__(job)
        self.job = job
        self.deliver = deliver
        self.interval_s = interval_ms / 1000
        self.last = 0.0
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.flush)
        job.progress_ready.connect(self.ready)

    def ready(self) -> None:
        if self.timer.isActive():
            return
        wait = self.last + self.interval_s - time.perf_counter()
        if wait <= 0:
            self.flush()
        else:
            self.timer.start(max(1, round(wait * 1000)))

    def flush(self, *_: object) -> None:
        self.timer.stop()
        values = self.job.take_progress()
        if values:
            self.last = time.perf_counter()
            self.deliver(values)


class TaskManager(QObject):
    """One single-thread executor per resource; jobs of one resource run in order."""

    #: Emitted on the GUI thread when a job starts or ends (the status bar counts them).
    jobs_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        GuiThreadCollector.install()
        self._executors = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"wb-{name}")
            for name in RESOURCES
        }
        self._running: set[Job] = set()

    def run(
        self,
        resource: str,
        func: Callable[..., Any],
        *args: Any,
        name: str = "",
        on_progress: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_finally: Callable[[], None] | None = None,
        batch_ms: int | None = None,
        **kwargs: Any,
    ) -> Job:
        """Start ``func(*args, **kwargs)`` on the resource's worker; callbacks run on the GUI
        thread. Keep a reference to the returned job to cancel it.

        With ``batch_ms``, ``on_progress`` gets a list of the values yielded since its last
        call, at most every ``batch_ms`` (see :class:`Batches`); without, one value a call.

        Pass every callback here rather than connecting to the job afterwards: a fast job can
        end before a later connection exists, and its signal would reach no one.
        """
        job = Job(name or getattr(func, "__name__", "job"))
        if on_progress and batch_ms is not None:
            job.batched = True
            batches = Batches(job, on_progress, batch_ms)
            # Connected first, so what is queued is delivered before the outcome is.
            for outcome in (job.finished, job.failed, job.cancelled, job.done):
                outcome.connect(batches.flush)
        elif on_progress:
            job.progress.connect(on_progress)
        if on_done:
            job.finished.connect(on_done)
        if on_error:
            job.failed.connect(on_error)
        if on_cancelled:
            job.cancelled.connect(on_cancelled)
        if on_finally:
            job.done.connect(on_finally)
        job.resource = resource
        job.detail_changed.connect(self.jobs_changed)
        self._running.add(job)
        job.done.connect(lambda: self._job_done(job))
        self._executors[resource].submit(job._run, func, args, kwargs)
        self.jobs_changed.emit()
        return job

    def executor(self, resource: str) -> Executor:
        """The resource's worker itself, for work submitted off the GUI thread that waits
        for its own result (the local server's requests take turns on the window's engine
        worker): no job, no signals."""
        return self._executors[resource]

    def _job_done(self, job: Job) -> None:
        self._running.discard(job)
        self.jobs_changed.emit()

    @property
    def running(self) -> list[Job]:
        return list(self._running)

    def shutdown(self) -> None:
        """Cancel everything and wait for the workers (on quit)."""
        for job in list(self._running):
            job.cancel()
        for executor in self._executors.values():
            executor.shutdown(wait=True, cancel_futures=True)
