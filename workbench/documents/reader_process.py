"""The reader process: PDF, DOCX and HTML are parsed in a child process, bounded in time and
memory, so a hostile file costs one line in the collection and never the run.

pypdf, python-docx (lxml) and the HTML parser are pure Python or well-kept C, but a crafted
file can still make them work for hours (a PDF whose pages all share one content stream of
millions of operators) or swallow memory (a DOCX whose XML expands to gigabytes of nodes).
Neither can be interrupted from inside the process that runs them, so they run here, in one
long-lived child started with ``multiprocessing``'s 'spawn' method (the engine process's style:
a fresh interpreter, two pipe ends, the child ends itself when the app goes away). One child
serves every file of a run, so 100,000 files start one process, not 100,000; it is replaced
only after a file that took too long, needed too much memory or crashed it.

The bounds, and where they hold:

- **Time** (:data:`READ_TIMEOUT_S` per file), everywhere: the app waits on the pipe that long,
  then kills the child; the file's reason is "took longer than 30.0 s to read".
- **Memory** (:data:`READ_MEMORY_BYTES` per file, above what the child needs to start): on
  Linux the child caps its own address space with ``resource.setrlimit(RLIMIT_AS)``, so an
  allocation past it fails with ``MemoryError`` and the reason is "needed more than 1.0 GB of
  memory to read". On Windows there is no ``resource`` module and no job object is used, and
  macOS does not enforce ``RLIMIT_AS``: there only the time bound holds (a file that would
  need more memory than the machine has is still ended by the timeout, or by the system).

Plain text, Markdown and source code are not sent here: they are decoded in the app from
bytes already read with the 64 MiB bound, work that is linear in that bound.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
import weakref
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from workbench.documents.blocks import Extracted, Unreadable
from workbench.spawning import without_main_module
from workbench.units import human_duration, human_size

#: The formats parsed in the reader process (by :func:`~workbench.documents.extract.format_of`).
ISOLATED = frozenset({"pdf", "docx", "html"})
#: The longest one file may take to read.
READ_TIMEOUT_S = 30.0
#: The most memory one file may take to read, above the reader's own start-up.
READ_MEMORY_BYTES = 1_000_000_000
#: What the reader calls: ``"package.module:function"``, ``(path, data) -> Extracted``.
EXTRACTOR = "workbench.documents.extract:extract"
#: The longest the reader may take to start (a fresh interpreter importing pypdf and lxml:
#: a second or two, far more on a busy machine). Not counted in a file's time.
START_TIMEOUT_S = 120.0
#: How often a read in progress looks up to see whether the run was stopped.
POLL_S = 0.25

_SPAWN = get_context("spawn")


class ReadStopped(Exception):
    """The run was stopped while a file was being read: the file is left as it was."""


def _function(name: str) -> Callable[[Path, bytes], Extracted]:
    module, _, attribute = name.partition(":")
    found = getattr(importlib.import_module(module), attribute, None)
    if not callable(found):
        raise RuntimeError(f"reader process: {name!r} names no function")
    return found


def _address_space() -> int | None:
    """This process's mapped address space in bytes (Linux), or None where it is unknown."""
    try:
        with open("/proc/self/statm") as stream:
            pages = int(stream.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _cap_memory(budget: int) -> int | None:
    """Cap this process's address space at what it maps now plus ``budget`` (Linux only:
    see the module's docstring). The cap in bytes, or None where there is none."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    now = _address_space()
    if now is None:  # macOS and the BSDs: RLIMIT_AS is not (reliably) enforced
        return None
    limit = now + budget
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        return limit
    return None


#: A peak this close to the cap means an allocation was refused.
_NEAR_CAP = 64 << 20


def _reached(cap: int | None) -> bool:
    """Whether this process's peak address space came to its cap. A parser in C (lxml's
    libxml2) reports a refused allocation its own way ("unknown error"), so the peak, not
    the error, says the file needed more memory than it may have."""
    if cap is None:
        return False
    try:
        with open("/proc/self/status") as stream:
            for line in stream:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024 >= cap - _NEAR_CAP
    except (OSError, ValueError, IndexError):
        pass
    return False


def _one_line(error: BaseException) -> str:
    return (" ".join(str(error).split()) or type(error).__name__)[:200]


def main(connection: Connection, memory_bytes: int, extractor: str) -> None:
    """The reader process's loop (the 'spawn' target): ``("read", path)`` then the file's
    bytes in; ``("ok", Extracted, leaving)``, ``("unreadable", reason, leaving)`` or
    ``("memory",)`` out, ``leaving`` saying that the process ends after this answer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the app's, which stops the run
    # The parsers' own chatter about a damaged file stays out of the user's terminal: the
    # file's reason line says it once.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    read = _function(extractor)
    for module in ("pypdf", "docx", "lxml.etree", "workbench.documents.office",
                   "workbench.documents.html_text"):
        with contextlib.suppress(ImportError):  # imported before the cap: not the file's cost
            importlib.import_module(module)
    cap = _cap_memory(memory_bytes)
    try:
        connection.send(("ready",))
    except (OSError, ValueError):
        os._exit(0)
    while True:
        try:
            message = connection.recv()
            if message[0] != "read":
                os._exit(0)
            path = message[1]
            data = connection.recv_bytes()
        except (EOFError, OSError, MemoryError):
            os._exit(0)  # the app is gone, or its file is too big to even receive
        answer: tuple[Any, ...]
        try:
            answer = ("ok", read(Path(path), data))
        except Unreadable as error:
            answer = ("unreadable", str(error))
        except MemoryError:
            answer = ("memory",)
        except RecursionError:
            answer = ("unreadable", "nested too deeply to read")
        except Exception as error:
            answer = ("unreadable", f"cannot read: {type(error).__name__}: {_one_line(error)}")
        del data
        # After a file that came to the cap the process ends (the next file gets a fresh
        # heap, and a fresh peak to judge it by), and says so with its answer.
        leaving = _reached(cap) or answer[0] == "memory"
        if leaving and answer[0] != "ok":
            answer = ("memory",)
        try:
            connection.send((*answer, leaving) if answer[0] != "memory" else answer)
        except MemoryError:
            leaving = True
            with contextlib.suppress(Exception):
                connection.send(("memory",))
        except (OSError, ValueError):
            os._exit(0)
        if leaving:
            os._exit(0)


def _ended(process: Any, connection: Connection) -> None:
    with contextlib.suppress(Exception):
        if process.is_alive():
            process.kill()
        process.join(5)
    with contextlib.suppress(Exception):
        connection.close()


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == getattr(signal, "SIGKILL", None):
            return f"the reader was killed ({name}: out of memory, or ended by another program)"
        return f"the reader crashed ({name})"
    return f"the reader ended unexpectedly (exit code {exitcode})"


class ReaderProcess:
    """Reads files in the reader process, one at a time, from one thread; started on the
    first file it is given and after each file that ended it. :meth:`close` ends it (and it
    ends by itself when this object, or the app, goes away)."""

    def __init__(self, timeout_s: float = READ_TIMEOUT_S,
                 memory_bytes: int = READ_MEMORY_BYTES, extractor: str = EXTRACTOR) -> None:
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.extractor = extractor
        #: How many reader processes were started (one per run, plus one per replaced).
        self.starts = 0
        self._process: Any = None
        self._connection: Connection | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> Connection:
        if self._connection is not None and self._process.is_alive():
            return self._connection
        self._end()
        ours, theirs = _SPAWN.Pipe(duplex=True)
        process = _SPAWN.Process(target=main, args=(theirs, self.memory_bytes, self.extractor),
                                 name="workbench-reader", daemon=True)
        with without_main_module():
            process.start()
        theirs.close()  # only the child holds that end now: its death closes ours
        self._process, self._connection = process, ours
        self._finalizer = weakref.finalize(self, _ended, process, ours)
        self.starts += 1
        # A file's time starts when the reader is ready, not while it imports its parsers.
        try:
            ready = ours.poll(START_TIMEOUT_S) and ours.recv() == ("ready",)
        except (EOFError, OSError):
            ready = False
        if not ready:
            if process.is_alive():
                self._end()
                raise Unreadable("the reader did not start: not ready in "
                                 f"{human_duration(START_TIMEOUT_S)}")
            raise Unreadable(f"the reader did not start: {_exit_reason(self._exit_status())}")
        return ours

    def _end(self) -> int | None:
        """End the child (killed if still running); its exit status."""
        if self._finalizer is None:
            return None
        process = self._process
        self._finalizer()
        self._finalizer = None
        self._process = self._connection = None
        return process.exitcode

    def close(self) -> None:
        self._end()

    def read(self, path: Path, data: bytes,
             stopped: threading.Event | None = None) -> Extracted:
        """The blocks of ``data`` (the bytes of ``path``), read in the reader process;
        :class:`Unreadable` with the one-line reason, :class:`ReadStopped` when ``stopped``
        is set while the file is read."""
        connection = self._start()
        try:
            connection.send(("read", str(path)))
            connection.send_bytes(data)
        except (OSError, ValueError):  # it died while idle: one fresh try
            connection = self._fresh()
            connection.send(("read", str(path)))
            connection.send_bytes(data)
        waited = 0.0
        while not connection.poll(min(POLL_S, max(self.timeout_s - waited, 0))):
            waited += POLL_S
            if stopped is not None and stopped.is_set():
                self._end()
                raise ReadStopped(str(path))
            if waited >= self.timeout_s:
                self._end()
                raise Unreadable(f"took longer than {human_duration(self.timeout_s)} to read")
        try:
            answer = connection.recv()
        except (EOFError, OSError):
            reason = _exit_reason(self._exit_status())
            raise Unreadable(reason) from None
        if answer[0] == "memory" or answer[-1]:  # it ends after this answer
            self._exit_status()
        if answer[0] == "memory":
            raise Unreadable(f"needed more than {human_size(self.memory_bytes)} of memory "
                             "to read")
        if answer[0] == "ok":
            return answer[1]
        raise Unreadable(answer[1])

    def _fresh(self) -> Connection:
        self._end()
        return self._start()

    def _exit_status(self) -> int | None:
        if self._process is not None:
            self._process.join(5)
        return self._end()
