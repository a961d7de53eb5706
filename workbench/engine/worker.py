"""The engine process: owns llama.cpp, loads one model, and streams replies back over a pipe.

llama.cpp ends a process on a failed ``GGML_ASSERT`` (SIGABRT), and a model file truncated or
rewritten while it is memory-mapped ends it with SIGBUS; neither can be caught in Python. So
llama.cpp runs here, in a child process started by :mod:`workbench.engine.process`, and the
worst it can do is end this process: the app sees the pipe close and says why.

Two threads. The main thread runs the commands in order (load, reply, tokenize, embed, unload) with
the same in-process code the engine has always used (:func:`~workbench.engine.loaded.load_model`,
:class:`~workbench.engine.reply.Reply`). A listener thread reads the command pipe: a ``stop``
is applied at once (the reply's stop flag, which llama.cpp's abort callback reads, so a stop
never waits behind the work it stops); everything else is queued for the main thread. When the
app goes away the pipe closes and the listener ends this process, so no engine outlives it.

Nothing here imports Qt. The process's stdout and stderr go to a file the app reads after a
crash (llama.cpp prints its assertion there), so a terminal never sees llama.cpp's output.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import logging
import os
import queue
import signal
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from workbench.engine.stopflag import StopFlag

#: Messages, parent to child: ("load", path, LoadSettings), ("reply", id, messages, sampling,
#: fresh, keep_prefix), ("batch", id, cells, width, kv_budget), ("stop", id),
#: ("call", name, args), ("unload",), ("quit",). A call's name is the engine's own (tokenize,
#: detokenize, embed) or a feature's entry point, "package.module:function" (see
#: :func:`entry_point`).
#: Child to parent: ("loaded", info), ("chunk", id, text, meta), ("batch_started", id, info),
#: ("cell", id, CellResult), ("done", id, stats), ("failed", id, error, stats),
#: ("result", value), ("error", error), ("log", logger name, level, line).


class _Forward(logging.Handler):
    """Sends every ``workbench`` log record to the app, which logs it under the same name
    (llama.cpp's load log included: the app's log and its tests read it there)."""

    def __init__(self, send: Any) -> None:
        super().__init__(logging.DEBUG)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        # A closed pipe: the app is gone, and the listener ends this process.
        with contextlib.suppress(Exception):
            self._send(("log", record.name, record.levelno, record.getMessage()))


class Worker:
    def __init__(self, commands: Connection, events: Connection) -> None:
        self.commands = commands
        self.events = events
        self._send_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._stops: dict[int, threading.Event] = {}
        self._stops_lock = threading.Lock()
        self._finished_upto = 0
        self.loaded: Any = None
        #: The embedding context for the loaded model, opened on its first ``embed`` call.
        self.embedder: Any = None

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.events.send(message)

    # --- the listener thread ---------------------------------------------------------------

    def _stop_flag(self, reply_id: int) -> threading.Event:
        with self._stops_lock:
            return self._stops.setdefault(reply_id, StopFlag())

    def listen(self) -> None:
        try:
            while True:
                message = self.commands.recv()
                if message[0] == "stop":
                    # A stop may come before its reply starts (kept) or after it ended (ids
                    # only grow: dropped).
                    with self._stops_lock:
                        if message[1] > self._finished_upto:
                            self._stops.setdefault(message[1], StopFlag()).set()
                else:
                    self._queue.put(message)
                if message[0] == "quit":
                    return
        except (EOFError, OSError):
            os._exit(0)  # the app is gone (or dropped us): end now, mid-reply or not

    # --- the main thread -------------------------------------------------------------------

    def run(self) -> None:
        while True:
            message = self._queue.get()
            kind = message[0]
            if kind == "quit":
                self._unload()
                return
            if kind == "reply":
                self._reply(*message[1:])
                continue
            if kind == "batch":
                self._batch(*message[1:])
                continue
            try:
                if kind == "load":
                    result: Any = ("loaded", self._load(*message[1:]))
                elif kind == "call":
                    result = ("result", self._call(*message[1:]))
                elif kind == "unload":
                    self._unload()
                    result = ("result", None)
                else:
                    raise RuntimeError(f"engine process: unknown command {kind!r}")
            except Exception as error:
                result = ("error", _portable(error))
            self.send(result)

    def _load(self, path: str, settings: Any) -> dict[str, Any]:
        from workbench.engine.loaded import load_model

        self._unload()
        loaded = load_model(path, settings)
        self.loaded = loaded
        llama = loaded.llama
        model = llama._model
        bos, eos = llama.token_bos(), llama.token_eos()
        return {
            "gpu_layers": loaded.gpu_layers,
            "load_ms": loaded.load_ms,
            "n_ctx": llama.n_ctx(),
            "n_vocab": llama.n_vocab(),
            "n_threads": llama.n_threads,
            "bos_token": model.token_get_text(bos) if bos != -1 else "",
            "eos_token": model.token_get_text(eos) if eos != -1 else "",
            "token_bos": bos,
            "token_eos": eos,
            "split": loaded.split,
        }

    def _call(self, name: str, args: tuple[Any, ...]) -> Any:
        if self.loaded is None:
            raise RuntimeError("engine process: no model is loaded")
        llama = self.loaded.llama
        if name == "tokenize":
            return llama.tokenize(*args)
        if name == "detokenize":
            return llama.detokenize(*args)
        if ":" in name:  # a feature's work (quant-compare's windows), by its entry point
            return entry_point(name)(llama, *args)
        if name == "embed":  # the server's /v1/embeddings: (texts,) -> (vectors, tokens)
            from workbench.engine.embed import embed_texts, open_embedder

            if self.embedder is None:
                self.embedder = open_embedder(self.loaded)
            return embed_texts(self.embedder, *args)
        raise RuntimeError(f"engine process: unknown call {name!r}")

    def _unload(self) -> None:
        if self.embedder is not None:
            with contextlib.suppress(Exception):
                self.embedder.close()
            self.embedder = None
        if self.loaded is not None:
            self.loaded.close()
            self.loaded = None

    def _reply(self, reply_id: int, messages: list[dict[str, str]], sampling: Any,
               fresh: bool, keep_prefix: bool = False) -> None:
        from workbench.engine.reply import Reply
        from workbench.engine.vision import ImageReply, has_images

        stop = self._stop_flag(reply_id)
        reply = None
        try:
            if self.loaded is None:
                raise RuntimeError("engine process: no model is loaded")
            kind = ImageReply if has_images(messages) else Reply
            reply = kind(self.loaded, messages, sampling, fresh=fresh,
                          keep_prefix=keep_prefix, stop_flag=stop)
            first = True
            for piece in reply:
                meta = None
                if first:  # known once the prompt is in: kept even if the reply crashes
                    stats = reply.stats
                    meta = {"prompt_tokens": stats.prompt_tokens,
                            "dropped_turns": stats.dropped_turns,
                            "settings": stats.settings}
                    first = False
                self.send(("chunk", reply_id, piece, meta))
            self.send(("done", reply_id, reply.stats))
        except Exception as error:
            self.send(("failed", reply_id, _portable(error),
                       reply.stats if reply is not None else None))
        finally:
            with self._stops_lock:
                self._stops.pop(reply_id, None)
                self._finished_upto = reply_id


    def _batch(self, batch_id: int, cells: list[Any], width: int, kv_budget: int | None
               ) -> None:
        """Several replies side by side (:mod:`workbench.engine.batched`): each finished
        cell is sent as it ends, so a stop keeps every one already made."""
        from workbench.engine.batched import run_batch

        stop = self._stop_flag(batch_id)
        try:
            if self.loaded is None:
                raise RuntimeError("engine process: no model is loaded")
            run_batch(self.loaded, cells, width, stop, self.send, batch_id, kv_budget)
            self.send(("done", batch_id, None))
        except Exception as error:
            self.send(("failed", batch_id, _portable(error), None))
        finally:
            with self._stops_lock:
                self._stops.pop(batch_id, None)
                self._finished_upto = batch_id


def entry_point(name: str) -> Callable[..., Any]:
    """The function a ``"package.module:function"`` name points at, imported here, in the
    engine process, on first use. This is how the engine runs a feature's work without
    importing the feature (the engine is a layer below them: see tests/core/test_layers.py);
    the function is called with the loaded ``Llama`` and the call's arguments."""
    module, _, function = name.partition(":")
    found = getattr(importlib.import_module(module), function, None)
    if not callable(found):
        raise RuntimeError(f"engine process: {name!r} names no function")
    return found


def _portable(error: BaseException) -> BaseException:
    """The error itself when it survives pickling (every WorkbenchError does), else a
    RuntimeError that names it; the child's traceback goes with it for the app's log."""
    import pickle

    detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        copy = pickle.loads(pickle.dumps(error))
    except Exception:
        copy = RuntimeError(f"{type(error).__name__}: {error}")
    copy.__notes__ = [f"in the engine process:\n{detail}"]
    return copy


def main(commands: Connection, events: Connection, output_path: str) -> None:
    """The process's entry point (``multiprocessing`` 'spawn' target)."""
    # Ctrl+C in a terminal reaches the whole process group: the app turns it into a stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # llama.cpp's own output (an assertion's message above all) goes to a file the app reads.
    output = os.open(output_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    # On abort, ggml would attach gdb to print a backtrace: seconds, for nothing we show.
    os.environ.setdefault("GGML_NO_BACKTRACE", "1")
    faulthandler.enable()  # a crash leaves the Python stack in that file, for the log
    worker = Worker(commands, events)
    root = logging.getLogger("workbench")
    root.setLevel(logging.DEBUG)
    root.addHandler(_Forward(worker.send))
    root.propagate = False
    from workbench.engine import llama_log

    llama_log.install()
    threading.Thread(target=worker.listen, name="wb-engine-listener", daemon=True).start()
    with contextlib.suppress(OSError, EOFError):  # the app is gone
        worker.run()
    os._exit(0)  # skip interpreter teardown: llama.cpp's atexit work is not needed
