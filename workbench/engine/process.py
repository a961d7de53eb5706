"""The app's side of the engine process: start it, ask it, stream from it, and say why it died.

llama.cpp runs in a child process (:mod:`workbench.engine.worker`), started with
``multiprocessing``'s 'spawn' method (a fresh interpreter: no copy of the app's threads, Qt or
open files, and the same on Linux, macOS and Windows). The app talks to it over two one-way
pipes. When llama.cpp aborts (a failed ``GGML_ASSERT``: SIGABRT), faults (SIGSEGV) or reads a
memory-mapped model file that was truncated under it (SIGBUS), only that process ends: the pipe
closes, its exit status says which signal it was, and the reply in progress raises
:class:`~workbench.errors.EngineCrashed` with that reason in one line, keeping the text it had
streamed (the one line is written by :mod:`workbench.engine.exits`). The next request starts a
fresh process.

What it costs is measured by ``benchmarks/bench_isolation.py``: one message per streamed piece
(a few microseconds), and the interpreter's start on the first load (see the README).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import fields
from functools import cached_property
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Generic, TypeVar

from workbench.engine import llama_log
from workbench.engine.exits import describe_exit, read_tail
from workbench.engine.reply import Message, StreamedReply
from workbench.engine.settings import LoadSettings, ReplyStats, SamplingSettings
from workbench.engine.templates import ChatTemplate, choose_template
from workbench.engine.worker import main as worker_main
from workbench.errors import EngineCrashed, WorkbenchError
from workbench.gguf_header import GGUFHeader, read_header
from workbench.spawning import without_main_module

log = logging.getLogger(__name__)

_SPAWN = get_context("spawn")
#: How often a streaming reply looks up from the pipe to check its stop deadline.
POLL_S = 0.25
#: A stop the engine process has not answered in this time ends the process (a template or a
#: decode that ignores the abort callback cannot hold the app).
STOP_GRACE_S = 5.0
TOKENS_KEY = "tokenizer.ggml.tokens"
T = TypeVar("T")


def _shutdown(process: Any, commands: Connection, events: Connection, output_path: str
              ) -> None:
    """End the engine process politely, then firmly; remove its output file."""
    with contextlib.suppress(Exception):
        if process.is_alive():
            commands.send(("quit",))
            process.join(3)
    with contextlib.suppress(Exception):
        if process.is_alive():
            process.kill()
            process.join(3)
    with contextlib.suppress(Exception):
        commands.close()
    with contextlib.suppress(Exception):
        events.close()
    with contextlib.suppress(OSError):
        os.unlink(output_path)


class Request(Generic[T]):
    """What the engine process is working on for us, a reply (:class:`RemoteReply`) or a batch
    of them (:class:`~workbench.engine.remote_batch.RemoteBatch`), and the one protocol both
    follow with it: one request id; a stop that any thread may send, even before the request
    is sent; a request its consumer abandons stopped and read to its end, so the pipe is clean
    for the next; an engine process that dies raises :class:`EngineCrashed` after what had
    come. Subclasses set ``loaded`` and ``_stop`` and write :meth:`command`, :meth:`handle`
    and :meth:`interrupted`; iterating :meth:`_exchange` runs the request."""

    loaded: RemoteModel
    _stop: threading.Event
    reply_id: int | None = None
    finished = False
    stop_requested_at: float | None = None

    def command(self, reply_id: int) -> tuple[Any, ...]:
        """The message that asks the engine process for this request."""
        raise NotImplementedError

    def handle(self, message: tuple[Any, ...]) -> T | None:
        """Apply one message from the engine process; what it adds for the consumer (None or
        empty: nothing). Sets ``finished`` on the request's last message."""
        raise NotImplementedError

    def interrupted(self) -> None:
        """The engine process died before the request finished."""
        self.finished = True

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the request to end; safe from any thread; it ends within one token's time."""
        if not self._stop.is_set():
            self.stop_requested_at = time.monotonic()
        self._stop.set()
        if self.reply_id is not None and not self.finished:
            self.loaded.worker.send_stop(self.reply_id)

    def _exchange(self) -> Iterator[T]:
        """Send the request, then yield what each message about it adds until it finishes."""
        worker = self.loaded.worker
        if not worker.alive:
            raise worker.crashed()
        self.reply_id = worker.begin(self)
        if self._stop.is_set():
            worker.send_stop(self.reply_id)
        try:
            while not self.finished:
                item = self.handle(worker.next_for(self))
                if item:
                    yield item
        except EngineCrashed:
            self.interrupted()
            raise
        except GeneratorExit:
            self.stop()  # the consumer closed the stream: that is a stop too
            with contextlib.suppress(WorkbenchError):
                worker.finish_active()
            raise
        finally:
            if worker.active is self and self.finished:
                worker.active = None


class WorkerProcess:
    """One engine process and its two pipes. Used from one thread, like the Engine, except
    :meth:`send_stop`, which any thread may call."""

    def __init__(self) -> None:
        handle, self.output_path = tempfile.mkstemp(prefix="workbench-engine-", suffix=".log")
        os.close(handle)
        child_commands, self._commands = _SPAWN.Pipe(duplex=False)
        self._events, child_events = _SPAWN.Pipe(duplex=False)
        self.process = _SPAWN.Process(
            target=worker_main, args=(child_commands, child_events, self.output_path),
            name="workbench-engine", daemon=True)
        with without_main_module():
            self.process.start()
        # Only the child holds these ends now, so its death closes the pipe we read.
        child_commands.close()
        child_events.close()
        self._send_lock = threading.Lock()
        self._pending_stops: list[int] = []
        self._next_id = 0
        self.active: Request[Any] | None = None
        self.crash_reason: str | None = None
        self.model_name = ""
        self.loading = False
        self._finalizer = weakref.finalize(self, _shutdown, self.process, self._commands,
                                           self._events, self.output_path)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.crash_reason is None and self._finalizer.alive and self.process.is_alive()

    def close(self) -> None:
        if self.crash_reason is None and self._finalizer.alive and not self.process.is_alive():
            self.crashed()  # it died while idle: say why in the log
        if self.active is not None:
            with contextlib.suppress(WorkbenchError):
                self.finish_active()
        self._finalizer()

    # --- messages --------------------------------------------------------------------------

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            try:
                self._commands.send(message)
                while self._pending_stops:
                    self._commands.send(("stop", self._pending_stops.pop()))
            except (OSError, ValueError):  # broken pipe, or closed by close()
                raise self.crashed() from None

    def send_stop(self, reply_id: int) -> None:
        """Any thread, or a signal handler (Ctrl+C) that may have interrupted a send on this
        very thread: then the stop is left for that send to pass on, never interleaved."""
        self._pending_stops.append(reply_id)
        self._flush_stops()

    def _flush_stops(self) -> None:
        if not self._send_lock.acquire(blocking=False):
            return  # the sender passes them on (or the reply's next read does)
        try:
            while self._pending_stops:
                self._commands.send(("stop", self._pending_stops.pop()))
        except (OSError, ValueError):
            pass  # the process is gone; the reply finds out when it reads
        finally:
            self._send_lock.release()

    def receive(self, timeout: float | None = None) -> tuple[Any, ...] | None:
        """The next message that is not a log line, or None after ``timeout`` seconds."""
        while True:
            try:
                if timeout is not None and not self._events.poll(timeout):
                    return None
                message: tuple[Any, ...] = self._events.recv()
            except (EOFError, OSError):
                raise self.crashed() from None
            if message[0] != "log":
                return message
            _, name, level, line = message
            if name == llama_log.logger.name:
                llama_log.remember(line)
            logging.getLogger(name).log(level, "%s", line)

    def request(self, message: tuple[Any, ...]) -> Any:
        """Send a command and wait for its answer; the process's error is raised here."""
        self.finish_active()
        self.send(message)
        answer = self.receive()
        assert answer is not None
        if answer[0] == "error":
            raise _reraised(answer[1])
        return answer[1]

    # --- crashes ---------------------------------------------------------------------------

    def crashed(self) -> EngineCrashed:
        """The error for a process that has died (waiting for its exit status first)."""
        if self.crash_reason is None:
            self.process.join(5)
            if self.process.exitcode is None:  # a closed pipe but still running: end it
                self.process.kill()
                self.process.join(5)
            output = read_tail(self.output_path)
            self.crash_reason = describe_exit(self.process.exitcode, output)
            # INFO: into the app's log file, but not onto a terminal (the CLI prints one line)
            log.info("engine process %s ended: %s; its last output:\n%s", self.pid,
                     self.crash_reason, output[-4000:])
            self._finalizer()
        where = ""
        if self.model_name:
            where = f", {'while loading' if self.loading else 'running'} {self.model_name}"
        error = EngineCrashed(f"The model stopped working: {self.crash_reason}{where}")
        error.reason = self.crash_reason
        return error

    def end(self, reason: str) -> None:
        """End a process that will not answer; the next request starts a fresh one."""
        log.info("engine process %s: %s; ending it", self.pid, reason)
        self.crash_reason = reason
        self._finalizer()

    # --- replies ---------------------------------------------------------------------------

    def begin(self, reply: Request[Any]) -> int:
        """Send a reply's (or a batch's) request; its messages are read with next_for."""
        self.finish_active()
        self._next_id += 1
        reply_id = self._next_id
        self.active = reply
        self.send(reply.command(reply_id))
        return reply_id

    def finish_active(self) -> None:
        """A reply left half-read (its consumer went away) is stopped and read to its end,
        so its stats are complete and the pipe is clean for the next request."""
        reply = self.active
        if reply is None:
            return
        reply.stop()
        try:
            while not reply.finished:
                reply.handle(self.next_for(reply))
        except EngineCrashed:
            reply.interrupted()
            raise
        finally:
            self.active = None

    def next_for(self, reply: Request[Any]) -> tuple[Any, ...]:
        """The next message about ``reply``; ends the process if a stop goes unanswered."""
        while True:
            if self._pending_stops:
                self._flush_stops()
            message = self.receive(POLL_S)
            if message is not None:
                if message[1] == reply.reply_id:
                    return message
                continue  # left over from an earlier reply: not ours
            stopped_at = reply.stop_requested_at
            if stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE_S:
                self.end(f"a stop was not answered in {STOP_GRACE_S:.0f} s")
                return ("ended", reply.reply_id)


def _reraised(error: BaseException) -> BaseException:
    for note in getattr(error, "__notes__", []):
        log.debug("%s", note)
    if hasattr(error, "__notes__"):
        del error.__notes__
    return error


class LlamaView:
    """The read-only calls of ``llama_cpp.Llama`` that make sense across the process
    boundary, for callers written against an in-process model (tokenize, n_ctx...)."""

    def __init__(self, model: RemoteModel) -> None:
        self._model = model
        self.n_threads: int = model.info["n_threads"]

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return self._model.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: list[int]) -> bytes:
        return self._model.detokenize(tokens)

    def n_ctx(self) -> int:
        return self._model.n_ctx

    def n_vocab(self) -> int:
        return int(self._model.info["n_vocab"])

    def token_bos(self) -> int:
        return int(self._model.info["token_bos"])

    def token_eos(self) -> int:
        return int(self._model.info["token_eos"])


class RemoteModel:
    """A model loaded in the engine process: what callers read of a loaded model (path,
    settings, GPU layers, load time, template, tokenizer), none of llama.cpp's memory."""

    def __init__(self, worker: WorkerProcess, path: Path, settings: LoadSettings,
                 info: dict[str, Any], load_ms: float) -> None:
        self.worker = worker
        self.path = path
        self.settings = settings
        self.info = info
        self.gpu_layers: int = info["gpu_layers"]
        #: From the request to the model ready: the engine process's start included.
        self.load_ms = load_ms
        self.n_ctx: int = info["n_ctx"]
        #: Where each part sits when split across workers (fit.PoolPlan.to_dict, plus the
        #: workers left out as "missing"); None when loaded on this computer only.
        self.split: dict[str, Any] | None = info.get("split")
        self.llama = LlamaView(self)

    @property
    def alive(self) -> bool:
        return self.worker.alive

    @property
    def pid(self) -> int | None:
        return self.worker.pid

    @cached_property
    def header(self) -> GGUFHeader:
        return read_header(self.path, keep_arrays=[TOKENS_KEY])

    def template(self, override: str | None) -> ChatTemplate:
        return choose_template(self.header, override=override,
                               bos_token=self.info["bos_token"],
                               eos_token=self.info["eos_token"])

    def tokenize(self, text: bytes, *, add_bos: bool = True, special: bool = False
                 ) -> list[int]:
        return list(self.worker.request(("call", "tokenize", (text, add_bos, special))))

    def detokenize(self, tokens: list[int]) -> bytes:
        return bytes(self.worker.request(("call", "detokenize", (list(tokens),))))

    def embed(self, texts: list[str], truncate: bool = False
              ) -> tuple[list[list[float]], int]:
        """L2-normalised embeddings of ``texts`` and the tokens they took, made in the
        engine process (see :mod:`workbench.engine.embed`); a text longer than the embedding
        context raises InvalidInputError, or with ``truncate`` is embedded by its start."""
        vectors, tokens = self.worker.request(("call", "embed", (list(texts), truncate)))
        return vectors, int(tokens)

    def close(self) -> None:
        self.worker.close()


class RemoteReply(Request[str], StreamedReply):
    """A reply generated in the engine process: iterate to stream text; ``stats``, ``text``
    and ``finish_reason`` are set as it runs, as for the in-process
    :class:`~workbench.engine.reply.Reply` that the engine process runs for it.

    If the engine process dies, iterating raises :class:`EngineCrashed`; ``text`` keeps what
    was streamed and ``finish_reason`` is ``interrupted``."""

    def __init__(self, loaded: RemoteModel, messages: list[Message],
                 sampling: SamplingSettings, *, fresh: bool = False,
                 keep_prefix: bool = False) -> None:
        super().__init__(messages, sampling, fresh=fresh, keep_prefix=keep_prefix)
        self.loaded = loaded
        self._began = 0.0

    def command(self, reply_id: int) -> tuple[Any, ...]:
        """The request the engine process runs this reply by."""
        return ("reply", reply_id, self.messages, self.sampling, self.fresh, self.keep_prefix)

    def _run(self) -> Iterator[str]:
        self._began = time.perf_counter()
        yield from self._exchange()

    def handle(self, message: tuple[Any, ...]) -> str:
        """Apply one message from the engine process; returns the text it adds."""
        kind = message[0]
        if kind == "chunk":
            _, _, piece, meta = message
            if meta:
                self.stats.prompt_tokens = meta["prompt_tokens"]
                self.stats.dropped_turns = meta["dropped_turns"]
                self.stats.settings = meta["settings"]
            self.text += piece
            return str(piece)
        self.finished = True
        if kind == "done":
            self._take(message[2])
            return ""
        if kind == "ended":  # a stop went unanswered: the process was ended, the text stays
            self.stats.finish_reason = "stopped"
            self.stats.total_ms = (time.perf_counter() - self._began) * 1000
            return ""
        # "failed": an error the engine process caught (context overflow, a bad template)
        if message[3] is not None:
            self._take(message[3])
        raise _reraised(message[2])

    def _take(self, stats: ReplyStats) -> None:
        """Copy the engine process's stats into ours (callers may hold ``self.stats``)."""
        for item in fields(ReplyStats):
            setattr(self.stats, item.name, getattr(stats, item.name))
        if self.stats.load_ms is not None:
            self.stats.load_ms = self.loaded.load_ms  # the wait the user had, process start in

    def interrupted(self) -> None:
        """Mark the reply as cut off by the engine process's death."""
        self.finished = True
        self.stats.finish_reason = "interrupted"
        self.stats.total_ms = (time.perf_counter() - self._began) * 1000


def start_worker() -> WorkerProcess:
    """A fresh engine process (its interpreter starts while the caller goes on)."""
    return WorkerProcess()


def load_in(worker: WorkerProcess, path: Path, settings: LoadSettings,
            started: float) -> RemoteModel:
    """Load ``path`` in the engine process; ``started`` is when the user asked for it."""
    worker.model_name = path.name
    worker.loading = True
    info = worker.request(("load", str(path), settings))
    worker.loading = False
    return RemoteModel(worker, path, settings, info, (time.perf_counter() - started) * 1000)
