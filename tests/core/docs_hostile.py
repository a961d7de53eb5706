"""A parser for the reader process's tests, named by its entry point
(``docs_hostile:extract``): it runs in the real reader process and behaves by the file's first
bytes, so a test makes a file that sleeps, crashes or exits the process that reads it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from workbench.documents.blocks import Extracted
from workbench.documents.extract import extract as real_extract

ENTRY = "docs_hostile:extract"


def extract(path: Path, data: bytes) -> Extracted:
    if data.startswith(b"%SLEEP"):
        time.sleep(3600)
    if data.startswith(b"%CRASH"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if data.startswith(b"%EXIT"):
        os._exit(3)
    if data.startswith(b"%PID"):  # which process read it
        from workbench.documents.blocks import Block

        return Extracted("html", [Block(f"read by process {os.getpid()}")])
    return real_extract(path, data)
