"""Indexing a collection: a stoppable stream of one event per file (the house's
:class:`~workbench.streams.EventStream`).

Each file is read once with one bound, hashed, extracted and cut into passages, and its row
and passages are committed together before the next file starts, so a stop or a kill leaves a
consistent index and the next run resumes: a file whose size and time (or, failing those, its
sha256) match what is stored is not read again. Files gone from the walk lose their passages.

PDF, DOCX and HTML are parsed in the reader process (:mod:`~workbench.documents.reader_process`),
one per run, so each such file is bounded in time and memory and a hostile one is listed with
its reason ("took longer than 30.0 s to read") while the rest is indexed.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.documents.blocks import Unreadable
from workbench.documents.chunking import chunk
from workbench.documents.collections import (
    forget_file,
    get_collection,
    save_file,
    stored_file,
    stored_paths,
    touch_file,
)
from workbench.documents.extract import MAX_FILE_BYTES, extract, format_of
from workbench.documents.reader_process import ISOLATED, ReaderProcess, ReadStopped
from workbench.documents.walk import walk
from workbench.units import human_size


@dataclass(frozen=True)
class IndexEvent:
    """One file handled: ``status`` is indexed, unchanged, skipped, error or removed."""

    path: str
    status: str
    reason: str | None
    done: int
    total: int
    chunks: int = 0


class IndexRun:
    """Iterate for one :class:`IndexEvent` per file; :meth:`stop` ends the run between files.
    :attr:`counts` holds how many files ended in each status. ``reader`` reads PDF, DOCX
    and HTML (one is started for the run, and ended with it, when none is given)."""

    def __init__(self, db: Database, name: str, *, reader: ReaderProcess | None = None
                 ) -> None:
        self.db = db
        self.reader = reader or ReaderProcess()
        self._own_reader = reader is None
        self.collection = get_collection(db, name)
        self.counts: Counter[str] = Counter()
        self.stopped = False
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def __iter__(self) -> Iterator[IndexEvent]:
        try:
            yield from self._run()
        finally:
            if self._own_reader:
                self.reader.close()

    def _run(self) -> Iterator[IndexEvent]:
        collection = self.collection
        found = sorted(walk(collection["paths"], collection["include"], collection["exclude"]))
        # Only paths and ids are held for the run (a file's row is read when it comes up),
        # so a collection of 100,000 files costs megabytes, not its whole table.
        stored = stored_paths(self.db, collection["id"])
        gone = sorted(set(stored) - {path for path, _ in found})
        total = len(found) + len(gone)
        done = 0
        for path, problem in found:
            if self._stop.is_set():
                self.stopped = True
                return
            try:
                status, reason, chunks = self._one(path, problem, stored_file(
                    self.db, stored[path]) if path in stored else None)
            except ReadStopped:  # stopped while a file was read: that file is left as it was
                self.stopped = True
                return
            done += 1
            self.counts[status] += 1
            yield IndexEvent(path, status, reason, done, total, chunks)
        for path in gone:
            if self._stop.is_set():
                self.stopped = True
                return
            done += 1
            with self.db.atomic():
                forget_file(self.db, stored[path])
            self.counts["removed"] += 1
            yield IndexEvent(path, "removed", "no longer in the collection's folders", done,
                             total)

    def _one(self, path: str, problem: str | None, old: dict[str, Any] | None
             ) -> tuple[str, str | None, int]:
        cid = self.collection["id"]
        if problem is not None:
            return self._skip(path, problem, old)
        try:
            before = os.stat(path)
        except FileNotFoundError:
            return self._gone(old)
        except OSError as error:
            return self._skip(path, f"cannot read: {error.strerror or error}", old)
        if (old is not None and old["status"] != "error" and old["size"] == before.st_size
                and old["mtime_ns"] == before.st_mtime_ns):
            return "unchanged", old["reason"], old["chunk_count"] or 0
        row = {"path": path, "format": format_of(Path(path)), "size": before.st_size,
               "mtime_ns": before.st_mtime_ns}
        if row["format"] is None:
            suffix = Path(path).suffix.lower() or "no extension"
            return self._skip(path, f"unsupported format ({suffix})", old, row)
        if before.st_size > MAX_FILE_BYTES:
            return self._skip(path, f"larger than {human_size(MAX_FILE_BYTES)}, the most "
                              "read from one file", old, row)
        try:
            with open(path, "rb") as stream:
                data = stream.read(MAX_FILE_BYTES + 1)
            after = os.stat(path)
        except FileNotFoundError:
            return self._gone(old)
        except OSError as error:
            return self._skip(path, f"cannot read: {error.strerror or error}", old, row)
        if (len(data) != before.st_size or after.st_size != before.st_size
                or after.st_mtime_ns != before.st_mtime_ns):
            save_file(self.db, cid, {**row, "status": "error",
                                     "reason": "changed while being read: reindex to try "
                                               "again"})
            return "error", "changed while being read: reindex to try again", 0
        row["sha256"] = hashlib.sha256(data).hexdigest()
        if old is not None and old["status"] == "indexed" and old["sha256"] == row["sha256"]:
            touch_file(self.db, old["id"], before.st_mtime_ns)
            return "unchanged", old["reason"], old["chunk_count"] or 0
        try:
            if row["format"] in ISOLATED:
                extracted = self.reader.read(Path(path), data, self._stop)
            else:
                extracted = extract(Path(path), data)
        except Unreadable as error:
            return self._skip(path, str(error), old, row)
        passages = chunk(extracted.blocks)
        reason = "; ".join(extracted.notes) or None
        save_file(self.db, cid, {**row, "format": extracted.format, "pages": extracted.pages,
                                 "status": "indexed", "reason": reason}, passages)
        return "indexed", reason, len(passages)

    def _skip(self, path: str, reason: str, old: dict[str, Any] | None,
              row: dict[str, Any] | None = None) -> tuple[str, str | None, int]:
        if old is not None and old["status"] == "skipped" and old["reason"] == reason and (
                row is None or (old["size"], old["mtime_ns"]) == (row["size"],
                                                                 row["mtime_ns"])):
            return "skipped", reason, 0
        save_file(self.db, self.collection["id"], {**(row or {"path": path}),
                                                   "status": "skipped", "reason": reason})
        return "skipped", reason, 0

    def _gone(self, old: dict[str, Any] | None) -> tuple[str, str | None, int]:
        if old is not None:
            with self.db.atomic():
                forget_file(self.db, old["id"])
        return "removed", "deleted while indexing", 0


def index(db: Database, name: str, *, reader: ReaderProcess | None = None) -> IndexRun:
    """The run that brings collection ``name``'s index up to date with its files."""
    return IndexRun(db, name, reader=reader)
