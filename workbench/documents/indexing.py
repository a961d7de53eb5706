"""Indexing a collection: a stoppable stream of one event per file (the house's
:class:`~workbench.streams.EventStream`).

Each file is read once with one bound, hashed, extracted and cut into passages, and its row
and passages are committed together before the next file starts, so a stop or a kill leaves a
consistent index and the next run resumes: a file whose size and time (or, failing those, its
sha256) match what is stored is not read again. Files gone from the walk lose their passages.

A collection with an embedding model gets its passages' vectors in that same transaction,
made by an :class:`~workbench.documents.embedder.Embedder` (the caller's, or one the run
starts and ends itself). A file whose text is unchanged but whose vectors are missing or
were made by another model has only its stored passages embedded (status ``embedded``).
A stop is also heard between two embedding requests of one file, which is then left as it
was.

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
    file_chunk_texts,
    forget_file,
    get_collection,
    save_file,
    save_file_vectors,
    stored_file,
    stored_paths,
    touch_file,
)
from workbench.documents.embedder import Embedder, Stopped
from workbench.documents.extract import MAX_FILE_BYTES, extract, format_of
from workbench.documents.reader_process import ISOLATED, ReaderProcess, ReadStopped
from workbench.documents.walk import walk
from workbench.units import human_size


@dataclass(frozen=True)
class IndexEvent:
    """One file handled: ``status`` is indexed, unchanged, embedded (its stored passages got
    vectors), skipped, error or removed."""

    path: str
    status: str
    reason: str | None
    done: int
    total: int
    chunks: int = 0


class IndexRun:
    """Iterate for one :class:`IndexEvent` per file; :meth:`stop` ends the run between files
    (or between two embedding requests, or within a slow read). :attr:`counts` holds how many
    files ended in each status; :attr:`embedded` how many passages got vectors.

    ``embedder`` embeds for a collection with an embedding model; without one, the run
    starts its own and ends it when the run ends. A keyword-only collection starts none.
    ``reader`` reads PDF, DOCX and HTML (one is started for the run, and ended with it, when
    none is given)."""

    def __init__(self, db: Database, name: str, embedder: Embedder | None = None, *,
                 reader: ReaderProcess | None = None) -> None:
        self.db = db
        self.reader = reader or ReaderProcess()
        self._own_reader = reader is None
        self.collection = get_collection(db, name)
        self.counts: Counter[str] = Counter()
        self.stopped = False
        self.embedded = 0
        self.model_id: int | None = self.collection["embed_model_id"]
        self._embedder = embedder
        self._own_embedder: Embedder | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def __iter__(self) -> Iterator[IndexEvent]:
        try:
            yield from self._files()
        except Stopped:
            self.stopped = True
        finally:
            if self._own_embedder is not None:
                self._own_embedder.close()
                self._own_embedder = None
            if self._own_reader:
                self.reader.close()

    def _embed(self, texts: list[str]) -> list[list[float]]:
        assert self.model_id is not None
        embedder = self._embedder
        if embedder is None:
            embedder = self._own_embedder = self._own_embedder or Embedder()
        vectors = embedder.embed(self.db, self.model_id, texts, stop=self._stop.is_set)
        self.embedded += len(texts)
        return vectors

    def _unchanged(self, old: dict[str, Any]) -> tuple[str, str | None, int]:
        """A file whose text is as stored: embed its passages if its vectors are not the
        collection's model's."""
        chunks = old["chunk_count"] or 0
        if (self.model_id is None or not chunks or old["status"] != "indexed"
                or old["embed_model_id"] == self.model_id):
            return "unchanged", old["reason"], chunks
        _, texts = file_chunk_texts(self.db, old["id"])
        vectors = self._embed(texts)
        save_file_vectors(self.db, self.collection["id"], old["id"], vectors, self.model_id)
        return "embedded", old["reason"], chunks

    def _files(self) -> Iterator[IndexEvent]:
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
            return self._unchanged(old)
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
            return self._unchanged(old)
        try:
            if row["format"] in ISOLATED:
                extracted = self.reader.read(Path(path), data, self._stop)
            else:
                extracted = extract(Path(path), data)
        except Unreadable as error:
            return self._skip(path, str(error), old, row)
        passages = chunk(extracted.blocks)
        reason = "; ".join(extracted.notes) or None
        vectors = None
        if self.model_id is not None and passages:
            vectors = self._embed([passage.text for passage in passages])
        save_file(self.db, cid, {**row, "format": extracted.format, "pages": extracted.pages,
                                 "status": "indexed", "reason": reason}, passages, vectors,
                  self.model_id)
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


def index(db: Database, name: str, embedder: Embedder | None = None, *,
          reader: ReaderProcess | None = None) -> IndexRun:
    """The run that brings collection ``name``'s index up to date with its files."""
    return IndexRun(db, name, embedder, reader=reader)
