"""The engine: llama.cpp (through llama-cpp-python) behind a small, stoppable interface.

One :class:`Engine` holds at most one loaded model and hands it out to one worker at a time;
asking for the model that is already loaded, with the same load settings, reuses it.

llama.cpp itself runs in an engine process of its own (:mod:`workbench.engine.process`), so
an abort, a segfault or a SIGBUS inside it ends that process, never the app: the reply raises
:class:`~workbench.errors.EngineCrashed` and keeps its text, and the next request starts a
fresh process. :class:`Reply` is the reply streamed from that process; the process runs the
in-process :class:`workbench.engine.reply.Reply` for it, with the same interface.

The package itself imports nothing heavy: each public name below is loaded when first asked
for (PEP 562), so the pure modules inside it (``settings``, ``templates``) and everything that
only needs them can be imported and tested without llama.cpp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.engine.engine import Engine, Reply
    from workbench.engine.loaded import LoadedModel, default_threads, gpu_offload_supported
    from workbench.engine.process import RemoteModel, RemoteReply
    from workbench.engine.reply import Message
    from workbench.engine.settings import (
        PRESETS,
        LoadSettings,
        ReplyStats,
        SamplingSettings,
        parse_gpu_layers,
    )

#: Each public name and the module that defines it.
_HOMES = {
    "Engine": "engine", "Reply": "engine",
    "LoadedModel": "loaded", "default_threads": "loaded", "gpu_offload_supported": "loaded",
    "RemoteModel": "process", "RemoteReply": "process", "Message": "reply",
    "PRESETS": "settings", "LoadSettings": "settings", "ReplyStats": "settings",
    "SamplingSettings": "settings", "parse_gpu_layers": "settings",
}

__all__ = [
    "PRESETS", "Engine", "LoadSettings", "LoadedModel", "Message", "RemoteModel",
    "RemoteReply", "Reply", "ReplyStats", "SamplingSettings", "default_threads",
    "gpu_offload_supported", "parse_gpu_layers",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
