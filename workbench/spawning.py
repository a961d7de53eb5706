"""Starting a child process with ``multiprocessing``'s 'spawn' method without running the
app's ``__main__`` again in it (shared by the engine process and the documents' reader).

'spawn' imports the parent's main module again in the child, to find functions pickled from
there. Our children need nothing from it, and a script that does not guard its top level
(``if __name__ == "__main__"``) would run again in the child and fail. So the main module is
left out of what the child is told to prepare, only while our process starts, under one lock
for every caller (two threads patching and restoring in turn would otherwise leave it patched).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from multiprocessing import spawn as mp_spawn
from typing import Any

_start_lock = threading.Lock()


@contextlib.contextmanager
def without_main_module() -> Iterator[None]:
    """Around ``Process.start()``: the child does not import the app's ``__main__``."""
    with _start_lock:
        original = mp_spawn.get_preparation_data

        def without_main(name: str) -> dict[str, Any]:
            data: dict[str, Any] = original(name)
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
            return data

        mp_spawn.get_preparation_data = without_main
        try:
            yield
        finally:
            mp_spawn.get_preparation_data = original
