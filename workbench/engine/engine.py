"""The :class:`Engine`: one loaded model in its own engine process, handed out to one worker
at a time (see the package's docstring)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from workbench.engine.batched import BatchCell
from workbench.engine.endpoint_http import Target, is_remote
from workbench.engine.process import RemoteModel, RemoteReply, WorkerProcess, load_in, start_worker
from workbench.engine.remote import EndpointReply
from workbench.engine.remote_batch import RemoteBatch
from workbench.engine.reply import Message
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.errors import InvalidInputError

#: What :meth:`Engine.reply` returns (callers annotate with this name): a reply from the
#: engine process, or one streamed from a remote endpoint, with the same interface.
Reply = RemoteReply | EndpointReply


class Engine:
    """Keeps one model loaded, in its own engine process, and reuses it while the path and
    load settings match.

    Call one engine from one thread (the window calls it only from its "engine" worker): a
    reply reads its pipe on the calling thread. Each Engine has its own engine process, so two
    Engines (``compare --together``) no longer share llama.cpp's thread pools in one process;
    their threads still share the machine's cores."""

    def __init__(self) -> None:
        self._loaded: RemoteModel | None = None
        self._worker: WorkerProcess | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> RemoteModel | None:
        """The loaded model; None when none is, or when its engine process has died."""
        current = self._loaded
        if current is not None and not current.alive:
            return None
        return current

    @property
    def worker_pid(self) -> int | None:
        """The engine process's id while one runs (tests end it to prove the app survives)."""
        worker = self._worker
        return worker.pid if worker is not None and worker.alive else None

    def load(self, path: str | Path, settings: LoadSettings) -> RemoteModel:
        if is_remote(path):
            raise InvalidInputError(f"{Target.from_path(str(path)).shown}: a remote model is "
                                    "not loaded here, and this needs a local one")
        path = Path(path).resolve()
        with self._lock:
            current = self.loaded
            if current is not None and current.path == path and current.settings == settings:
                return current
            self._loaded = None
            started = time.perf_counter()
            worker = self._worker
            if worker is None or not worker.alive:
                if worker is not None:
                    worker.close()
                worker = self._worker = start_worker()
            self._loaded = load_in(worker, path, settings, started)
            return self._loaded

    def reply(
        self,
        path: str | Path,
        messages: list[Message],
        *,
        load: LoadSettings | None = None,
        sampling: SamplingSettings | None = None,
        fresh: bool = False,
        keep_prefix: bool = False,
    ) -> Reply:
        """Load (or reuse) the model, and return a reply ready to be iterated.

        ``fresh`` evaluates the whole prompt again instead of reusing the cached prefix of the
        previous reply: slower for long chats, but the same settings then give the same reply
        bit for bit (a reused prefix ends in a one-token batch, whose rounding differs).

        ``keep_prefix`` is as reproducible as ``fresh`` and cheaper for many prompts under one
        template and system prompt (a trial): that shared start is evaluated from an empty
        cache as a batch of its own, kept, and each prompt evaluates only the rest as a batch
        of its own, so the split, and with it the reply, is the same in every run.

        A remote model's path (:meth:`Target.path <workbench.engine.remote.Target.path>`)
        streams from its endpoint instead (:class:`EndpointReply`): nothing is loaded here."""
        if is_remote(path):
            return EndpointReply(Target.from_path(str(path)), messages,
                                 sampling or SamplingSettings(), fresh=fresh,
                                 keep_prefix=keep_prefix)
        loaded = self.load(path, load or LoadSettings())
        return RemoteReply(loaded, messages, sampling or SamplingSettings(), fresh=fresh,
                           keep_prefix=keep_prefix)

    def reply_batch(self, path: str | Path, cells: list[BatchCell], *, width: int,
                    load: LoadSettings | None = None, kv_budget: int | None = None
                    ) -> RemoteBatch:
        """Load (or reuse) the model, and return a batch of replies made ``width`` at a
        time as the sequences of one context (see :mod:`workbench.engine.batched`), ready to
        be iterated for each cell as it finishes. The width is cut to what ``kv_budget``
        bytes of KV cache hold (default: half the free memory), and ``message`` says so."""
        loaded = self.load(path, load or LoadSettings())
        return RemoteBatch(loaded, cells, width, kv_budget)

    def unload(self) -> None:
        """Free the model and end its engine process."""
        with self._lock:
            self._loaded = None
            if self._worker is not None:
                self._worker.close()
                self._worker = None
