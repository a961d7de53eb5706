"""Stored collections and the state of each file in them (tables ``doc_collections``,
``doc_files``, ``doc_chunks`` and its keyword index ``doc_chunks_fts``).

A collection records paths, never copies: removing one deletes its rows and passages from the
database and leaves every file where it was.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.documents.chunking import Chunk
from workbench.documents.vectors import save_vectors, vector_count
from workbench.errors import InvalidInputError, NotFoundError
from workbench.library import get_model, now
from workbench.store.db import insert_row


def _absolute(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(Path(path).expanduser()))


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("paths", "include", "exclude"):
        row[key] = json.loads(row[key] or "[]")
    return row


def add_collection(db: Database, name: str, paths: list[str], include: Sequence[str] = (),
                   exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Make collection ``name`` (or add paths and patterns to it); each path must exist now.
    Returns the stored collection; indexing is :func:`workbench.documents.indexing.index`."""
    name = name.strip()
    if not name:
        raise InvalidInputError("a collection needs a name")
    if not paths:
        raise InvalidInputError("name at least one file or folder")
    absolute = []
    for path in paths:
        full = _absolute(path)
        if not os.path.lexists(full):
            raise InvalidInputError(f"{path}: no such file or folder")
        absolute.append(full)
    found = db.execute("SELECT * FROM doc_collections WHERE name = ?", [name]).fetchone()
    if found is None:
        insert_row(db, "doc_collections", {
            "name": name, "paths": json.dumps(absolute), "include": json.dumps(list(include)),
            "exclude": json.dumps(list(exclude)), "created_at": now(), "updated_at": now()})
    else:
        old = get_collection(db, name)
        db.table("doc_collections").update(old["id"], {
            "paths": json.dumps(_merged(old["paths"], absolute)),
            "include": json.dumps(_merged(old["include"], list(include))),
            "exclude": json.dumps(_merged(old["exclude"], list(exclude))),
            "updated_at": now()})
    return get_collection(db, name)


def _merged(old: list[str], new: list[str]) -> list[str]:
    return old + [item for item in new if item not in old]


def get_collection(db: Database, name: str) -> dict[str, Any]:
    """The stored collection; ``embed_model_id`` is its embedding model's library id, or
    None for keyword search only."""
    row = db.execute("SELECT * FROM doc_collections WHERE name = ?", [name]).fetchone()
    if row is None:
        raise NotFoundError(f"no collection named {name!r} (see: docs list)")
    columns = [d[0] for d in db.execute("SELECT * FROM doc_collections LIMIT 0").description]
    return _decoded(dict(zip(columns, row, strict=True)))


def list_collections(db: Database) -> list[dict[str, Any]]:
    """Every collection with its counts of files (by status), passages and vectors, and
    the name of its embedding model (None: keyword search only)."""
    rows = db.execute("""
        SELECT c.*,
          (SELECT COUNT(*) FROM doc_files f WHERE f.collection_id = c.id) AS files,
          (SELECT COUNT(*) FROM doc_files f WHERE f.collection_id = c.id
             AND f.status = 'indexed') AS indexed,
          (SELECT COUNT(*) FROM doc_files f WHERE f.collection_id = c.id
             AND f.status != 'indexed') AS not_indexed,
          (SELECT COUNT(*) FROM doc_chunks k WHERE k.collection_id = c.id) AS chunks,
          (SELECT COUNT(*) FROM doc_vectors v WHERE v.collection_id = c.id) AS vectors,
          (SELECT m.name FROM models m WHERE m.id = c.embed_model_id) AS embed_model
        FROM doc_collections c ORDER BY c.name""")
    columns = [d[0] for d in rows.description]
    return [_decoded(dict(zip(columns, row, strict=True))) for row in rows.fetchall()]


def collection_names(db: Database) -> list[str]:
    """The collections' names, in order (what a chooser lists)."""
    return [row[0] for row in db.execute("SELECT name FROM doc_collections ORDER BY name")]


def collection_files(db: Database, collection_id: int) -> list[dict[str, Any]]:
    return [dict(row) for row in db.table("doc_files").rows_where(
        "collection_id = ?", [collection_id], order_by="path")]


def stored_files(db: Database, collection_id: int) -> dict[str, dict[str, Any]]:
    return {row["path"]: row for row in collection_files(db, collection_id)}


def stored_paths(db: Database, collection_id: int) -> dict[str, int]:
    """The path and row id of each file stored for the collection (what a run keeps in memory)."""
    return dict(db.execute("SELECT path, id FROM doc_files WHERE collection_id = ?",
                           [collection_id]).fetchall())


def stored_file(db: Database, file_id: int) -> dict[str, Any]:
    cursor = db.execute("SELECT * FROM doc_files WHERE id = ?", [file_id])
    columns = [d[0] for d in cursor.description]
    return dict(zip(columns, cursor.fetchone(), strict=True))


def remove_collection(db: Database, name: str) -> dict[str, int]:
    """Delete the collection, its files' rows, its passages and their vectors (a trigger
    deletes a passage's vector with it); the files stay."""
    collection = get_collection(db, name)
    with db.atomic():
        vectors = vector_count(db, collection["id"])
        chunks = db.execute("DELETE FROM doc_chunks WHERE collection_id = ?",
                            [collection["id"]]).rowcount
        files = db.execute("DELETE FROM doc_files WHERE collection_id = ?",
                           [collection["id"]]).rowcount
        db.execute("DELETE FROM doc_collections WHERE id = ?", [collection["id"]])
    return {"files": files, "chunks": chunks, "vectors": vectors}


def remove_path(db: Database, name: str, path: str) -> dict[str, int]:
    """Take ``path`` out of the collection: a path it was given is dropped, a file or folder
    inside one is excluded from now on; its rows and passages go (the files stay)."""
    collection = get_collection(db, name)
    full = _absolute(path)
    roots = collection["paths"]
    if full in roots:
        roots = [root for root in roots if root != full]
    elif any(full.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        exclude = _merged(collection["exclude"], [glob.escape(full)])
        db.table("doc_collections").update(collection["id"], {"exclude": json.dumps(exclude)})
    else:
        raise InvalidInputError(f"{path}: not in collection {name!r}")
    removed = {"files": 0, "chunks": 0}
    with db.atomic():
        db.table("doc_collections").update(collection["id"], {
            "paths": json.dumps(roots), "updated_at": now()})
        for row in collection_files(db, collection["id"]):
            if row["path"] == full or row["path"].startswith(full.rstrip(os.sep) + os.sep):
                removed["chunks"] += forget_file(db, row["id"])
                removed["files"] += 1
    return removed


def forget_file(db: Database, file_id: int) -> int:
    """Delete one file's row and passages (inside the caller's transaction, if any)."""
    chunks = db.execute("DELETE FROM doc_chunks WHERE file_id = ?", [file_id]).rowcount
    db.execute("DELETE FROM doc_files WHERE id = ?", [file_id])
    return int(chunks)


def save_file(db: Database, collection_id: int, row: dict[str, Any],
              chunks: Sequence[Chunk] = (), vectors: Sequence[Sequence[float]] | None = None,
              embed_model_id: int | None = None) -> int:
    """One file's state, its passages and their vectors (made by ``embed_model_id``),
    replacing what was stored, in one transaction: a kill leaves the file either as it was
    or as it now is."""
    with db.atomic():
        old = db.execute("SELECT id FROM doc_files WHERE collection_id = ? AND path = ?",
                         [collection_id, row["path"]]).fetchone()
        if old is not None:
            forget_file(db, old[0])
        file_id = insert_row(db, "doc_files", {
            **row, "collection_id": collection_id, "chunk_count": len(chunks),
            "embed_model_id": embed_model_id if vectors is not None else None,
            "indexed_at": now()})
        db.table("doc_chunks").insert_all(({
            "collection_id": collection_id, "file_id": file_id, "position": position,
            "page": chunk.page, "section": chunk.section, "start": chunk.start,
            "end": chunk.end, "text": chunk.text} for position, chunk in enumerate(chunks)),
            batch_size=200)
        if vectors is not None:
            save_vectors(db, collection_id, file_chunk_ids(db, file_id), vectors)
    return file_id


def file_chunk_ids(db: Database, file_id: int) -> list[int]:
    return [row[0] for row in db.execute(
        "SELECT id FROM doc_chunks WHERE file_id = ? ORDER BY position", [file_id])]


def file_chunk_texts(db: Database, file_id: int) -> tuple[list[int], list[str]]:
    rows = db.execute("SELECT id, text FROM doc_chunks WHERE file_id = ? ORDER BY position",
                      [file_id]).fetchall()
    return [row[0] for row in rows], [row[1] for row in rows]


def save_file_vectors(db: Database, collection_id: int, file_id: int,
                      vectors: Sequence[Sequence[float]], embed_model_id: int) -> None:
    """Vectors for a file's stored passages (the embedding model changed, its text did not),
    with the model noted on the file, in one transaction."""
    with db.atomic():
        save_vectors(db, collection_id, file_chunk_ids(db, file_id), vectors)
        db.table("doc_files").update(file_id, {"embed_model_id": embed_model_id})


def set_embed_model(db: Database, name: str, model_ref: str | int | None) -> dict[str, Any]:
    """Give collection ``name`` an embedding model from the library (None: keyword search
    only). A change drops the vectors made by the old one; the next index run embeds every
    file's stored passages again (:class:`~workbench.documents.indexing.IndexRun`)."""
    collection = get_collection(db, name)
    model_id = None if model_ref is None else get_model(db, model_ref).id
    if model_id != collection["embed_model_id"]:
        with db.atomic():
            db.table("doc_collections").update(collection["id"], {
                "embed_model_id": model_id, "updated_at": now()})
            db.execute("DELETE FROM doc_vectors WHERE collection_id = ?", [collection["id"]])
            db.execute("UPDATE doc_files SET embed_model_id = NULL WHERE collection_id = ?",
                       [collection["id"]])
    return get_collection(db, name)


def touch_file(db: Database, file_id: int, mtime_ns: int) -> None:
    """The file's time changed but not its bytes: keep its passages, note the new time."""
    with db.atomic():
        db.table("doc_files").update(file_id, {"mtime_ns": mtime_ns})
