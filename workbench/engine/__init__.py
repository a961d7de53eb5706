"""The engine: llama.cpp (through llama-cpp-python) behind a small, stoppable interface.

One :class:`Engine` holds at most one loaded model and hands it out to one worker at a time;
asking for the model that is already loaded, with the same load settings, reuses it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from workbench.engine.loaded import (
    LoadedModel,
    default_threads,
    gpu_offload_supported,
    load_model,
)
from workbench.engine.reply import Message, Reply
from workbench.engine.settings import (
    PRESETS,
    LoadSettings,
    ReplyStats,
    SamplingSettings,
    parse_gpu_layers,
)

__all__ = [
    "PRESETS",
    "Engine",
    "LoadSettings",
    "LoadedModel",
    "Message",
    "Reply",
    "ReplyStats",
    "SamplingSettings",
    "default_threads",
    "gpu_offload_supported",
    "parse_gpu_layers",
]


class Engine:
    """Keeps one model in memory and reuses it while the path and load settings match.

    Call one engine from one thread. llama.cpp's CPU backend (OpenMP in pip's build) keeps a
    pool of threads per calling thread; once two threads have called it, the pools compete
    for the cores: SmolLM2 on 2 cores fell from 78 to 28 tokens/s, for both threads, for the
    rest of the process. The window calls it only from its "engine" worker."""

    def __init__(self) -> None:
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def load(self, path: str | Path, settings: LoadSettings) -> LoadedModel:
        path = Path(path).resolve()
        with self._lock:
            current = self._loaded
            if current is not None and current.path == path and current.settings == settings:
                return current
            self._unload_locked()
            self._loaded = load_model(path, settings)
            return self._loaded

    def reply(
        self,
        path: str | Path,
        messages: list[Message],
        *,
        load: LoadSettings | None = None,
        sampling: SamplingSettings | None = None,
        fresh: bool = False,
    ) -> Reply:
        """Load (or reuse) the model, and return a reply ready to be iterated.

        ``fresh`` evaluates the whole prompt again instead of reusing the cached prefix of the
        previous reply: slower for long chats, but the same settings then give the same reply
        bit for bit (a reused prefix ends in a one-token batch, whose rounding differs)."""
        loaded = self.load(path, load or LoadSettings())
        return Reply(loaded, messages, sampling or SamplingSettings(), fresh=fresh)

    def unload(self) -> None:
        with self._lock:
            self._unload_locked()

    def _unload_locked(self) -> None:
        if self._loaded is not None:
            self._loaded.close()
            self._loaded = None
