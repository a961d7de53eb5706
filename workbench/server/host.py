"""The server's model host: one engine, one worker thread, requests served in arrival order.

Every request becomes a :class:`Job` (or an :class:`EmbedJob`) queued on a single thread that
owns the :class:`~workbench.engine.Engine`, so one model is in memory at a time and the engine
is only ever called from one thread. A request for another model waits for the one running, then the
engine swaps models. A job's pieces reach the event loop through a callback; :meth:`Job.cancel`
(a client gone) stops its reply from any thread, and the next job starts only once the engine
has finished with it. After ``idle_unload_s`` without a request the model is unloaded.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine import Engine, LoadSettings, Message, Reply, ReplyStats, SamplingSettings
from workbench.errors import EngineCrashed, WorkbenchError

log = logging.getLogger(__name__)

#: What a job hands to its listener: ("piece", text), ("done", stats) or ("error", error).
Event = tuple[str, Any]


@dataclass
class Job:
    """One generation request: what to run, and where its pieces go."""

    model_name: str
    path: str | Path
    messages: list[Message]
    load: LoadSettings
    sampling: SamplingSettings
    emit: Callable[[Event], None]
    #: Called on the engine thread after the reply ends, with the reply (history, if kept).
    after: Callable[[Reply], None] | None = None
    model_id: int | None = None
    reply: Reply | None = None
    cancelled: bool = False
    #: An alias with collections: fits the passages into the messages on the engine
    #: thread (:mod:`workbench.server.grounded`), which keeps what it put there here.
    ground: Callable[[Engine], list[Message]] | None = None
    grounding: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cancel(self) -> None:
        """Stop this job's reply (or skip it if it has not started); safe from any thread."""
        with self._lock:
            self.cancelled = True
            reply = self.reply
        if reply is not None:
            reply.stop()


@dataclass
class EmbedJob:
    """One embeddings request: the texts, the model (loaded with the same settings as for
    generation, so one model stays in memory) and where the answer goes: ("done", (vectors,
    tokens)) or ("error", error)."""

    model_name: str
    path: str | Path
    load: LoadSettings
    texts: list[str]
    emit: Callable[[Event], None]
    model_id: int | None = None
    cancelled: bool = False

    def cancel(self) -> None:
        """Skip this job if it has not started (an embedding call runs to its end)."""
        self.cancelled = True


@dataclass
class Finished:
    """What the host remembers of a finished reply (for the window and the tests)."""

    model_name: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    #: The token limit cut the JSON the request's response_format asked for (or None); the
    #: client sees it as OpenAI's ``finish_reason: length`` with the cut text.
    note: str | None = None


class ModelHost:
    """Owns the engine and the one thread that calls it; see the module docstring."""

    def __init__(self, *, idle_unload_s: float = 600.0, engine: Engine | None = None,
                 engine_worker: Executor | None = None,
                 workers: tuple[str, ...] | None = None) -> None:
        """``engine`` and ``engine_worker``: the window's own engine and the one thread that
        calls it, so that the window's chat and the server share one model in memory and
        take turns; without them the host has an engine and calls it on its own thread.
        ``workers`` (``serve --workers``): every model is split across them, whatever its own
        settings say; None: each model's own choice."""
        self.engine = engine or Engine()
        self.workers = workers
        self.engine_worker = engine_worker
        self.idle_unload_s = idle_unload_s
        self.requests = 0  # requests answered or refused, for the status bar
        self.finished: deque[Finished] = deque(maxlen=50)
        self._jobs: queue.Queue[Job | EmbedJob | None] = queue.Queue()
        self._busy = threading.Event()
        self._pending = 0
        self._count_lock = threading.Lock()
        self._last_used = time.monotonic()
        self._model_name: str | None = None
        self._current: Job | EmbedJob | None = None
        self._served: object = None  # the loaded model the server last used
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="server-engine", daemon=True)
        self._thread.start()

    # --- what the window shows ----------------------------------------------------------

    @property
    def model_name(self) -> str | None:
        """The model the server has in memory (None when none is)."""
        loaded = self.engine.loaded
        return self._model_name if loaded is not None and loaded is self._served else None

    @property
    def busy(self) -> bool:
        """A reply is running or waiting."""
        return self._busy.is_set() or self._pending > 0

    def count_request(self) -> None:
        with self._count_lock:
            self.requests += 1

    # --- jobs ---------------------------------------------------------------------------

    def submit(self, job: Job | EmbedJob) -> None:
        """Queue a job; its events arrive through ``job.emit`` from the engine thread."""
        if self._closed.is_set():
            raise WorkbenchError("the server is stopping")
        with self._count_lock:
            self._pending += 1
        self._jobs.put(job)

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking jobs, stop the reply running and those waiting, unload the model."""
        self._closed.set()
        current = self._current
        if current is not None:
            current.cancel()
        self._jobs.put(None)
        self._thread.join(timeout=timeout)

    def _serve(self) -> None:
        while True:
            wait = max(0.05, self.idle_unload_s - (time.monotonic() - self._last_used))
            try:
                job = self._jobs.get(timeout=min(wait, 5.0))
            except queue.Empty:
                self._maybe_unload()
                continue
            if job is None:
                break
            with self._count_lock:
                self._pending -= 1
            if self._closed.is_set():
                job.emit(("error", WorkbenchError("the server is stopping")))
                continue
            self._busy.set()
            self._current = job
            try:
                if isinstance(job, EmbedJob):
                    self._on_engine(functools.partial(self._embed, job))
                else:
                    self._on_engine(functools.partial(self._run, job))
            except Exception as error:  # the window's worker is shutting down
                job.emit(("error", WorkbenchError(f"the engine is not available ({error})")))
            finally:
                self._current = None
                self._last_used = time.monotonic()
                self._busy.clear()
        try:
            self._on_engine(self._unload_ours)
        except Exception:  # the process may already be gone; nothing is lost
            log.debug("engine unload at close failed", exc_info=True)

    def _on_engine(self, func: Callable[[], None]) -> None:
        """Run ``func`` on the thread that calls the engine, and wait for it."""
        if self.engine_worker is None:
            func()
        else:
            self.engine_worker.submit(func).result()

    def _unload_ours(self) -> None:
        """Unload the model if it is the one the server loaded (a shared engine may hold the
        chat's model now: that one is the chat's to keep)."""
        loaded = self.engine.loaded
        if loaded is not None and loaded is self._served:
            self.engine.unload()
        self._served = None
        self._model_name = None

    def _maybe_unload(self) -> None:
        if self._served is not None and \
                time.monotonic() - self._last_used >= self.idle_unload_s:
            log.info("unloading %s after %.0f s idle", self._model_name, self.idle_unload_s)
            try:
                self._on_engine(self._unload_ours)
            except Exception:  # the window's worker is shutting down
                log.debug("idle unload failed", exc_info=True)

    def _load_settings(self, load: LoadSettings) -> LoadSettings:
        if self.workers is None:
            return load
        return dataclasses.replace(load, workers=self.workers)

    def _embed(self, job: EmbedJob) -> None:
        if job.cancelled:
            job.emit(("error", WorkbenchError("cancelled before it started")))
            return
        try:
            loaded = self.engine.load(job.path, self._load_settings(job.load))
            self._model_name = job.model_name
            self._served = loaded
            job.emit(("done", loaded.embed(job.texts)))
        except WorkbenchError as error:
            job.emit(("error", error))
        except Exception as error:  # a bug must not end the engine thread and hang the queue
            log.exception("server embeddings job failed")
            job.emit(("error", WorkbenchError(f"embedding failed: {error}")))

    def _run(self, job: Job) -> None:
        if job.cancelled:
            job.emit(("error", WorkbenchError("cancelled before it started")))
            return
        reply: Reply | None = None
        try:
            for attempt in (1, 2):
                try:
                    job.load = self._load_settings(job.load)  # the passages fit this load
                    messages = job.messages if job.ground is None else job.ground(self.engine)
                    reply = self.engine.reply(job.path, messages, load=job.load,
                                              sampling=job.sampling)
                    self._model_name = job.model_name
                    self._served = self.engine.loaded
                    with job._lock:
                        job.reply = reply
                        if job.cancelled:
                            reply.stop()
                    for piece in reply:
                        job.emit(("piece", piece))
                    break
                except EngineCrashed:
                    # An engine that died before this reply gave anything (it raced the
                    # death of the one before, or was killed while idle) is started afresh
                    # once; a second death is this request's own and is answered as one.
                    if attempt == 2 or (reply is not None and reply.text) or job.cancelled:
                        raise
                    log.info("the engine stopped before %s's reply began; starting it again",
                             job.model_name)
        except WorkbenchError as error:
            job.emit(("error", error))
            return
        except Exception as error:  # a bug must not end the engine thread and hang the queue
            log.exception("server job failed")
            job.emit(("error", WorkbenchError(f"generation failed: {error}")))
            return
        finally:
            if reply is not None:
                stats = reply.stats
                self.finished.append(Finished(job.model_name, stats.finish_reason,
                                              stats.prompt_tokens, stats.completion_tokens,
                                              reply.note))
                if reply.note:
                    log.info("%s: %s (max_tokens %s)", job.model_name, reply.note,
                             job.sampling.max_tokens)
        assert reply is not None  # the loop ends by break, or raises
        job.emit(("done", reply.stats))
        if job.after is not None:
            try:
                job.after(reply)
            except Exception:  # keeping history is a courtesy: a failure must not fail the reply
                log.exception("saving a server request to the history failed")


def stats_usage(stats: ReplyStats) -> dict[str, int]:
    """OpenAI's usage object from a reply's measured token counts."""
    return {"prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens,
            "total_tokens": stats.prompt_tokens + stats.completion_tokens}
