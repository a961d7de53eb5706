"""Opening the database: WAL, migrations, a copy aside before any upgrade, and refusal of
a database that a newer Workbench wrote.
"""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from workbench.errors import NewerDatabaseError, StoreError
from workbench.store.migrations import migrations

BACKUP_DIR = "backups"


def schema_version() -> int:
    """How many migrations this version knows: the number in backup file names."""
    return len(migrations._migrations)


def _applied_names(db: Database) -> list[str]:
    return [m.name for m in migrations.applied(db)]


def _copy_aside(db: Database, path: Path, version: int) -> Path:
    """Copy the database before upgrading it, so an upgrade can never lose the user's data."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.parent / BACKUP_DIR / f"{path.stem}_v{version}_{stamp}.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(target) as copy:
        db.conn.backup(copy)
    copy.close()
    return target


def open_database(path: str | Path | None, *, migrate: bool = True) -> Database:
    """Open (creating if needed) and migrate the database at ``path``; ``None`` means in memory.

    The connection may be handed between threads, but only one may use it at a time: each
    worker in the window owns its own connection, and WAL lets them read while one writes.
    """
    try:
        if path is None:
            db = Database(memory=True)
        else:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            db = Database(conn)
        applied = _applied_names(db)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path}: cannot open the database ({error})") from None
    known = {m.name for m in migrations._migrations}
    unknown = [name for name in applied if name not in known]
    if unknown:
        db.close()
        raise NewerDatabaseError(
            f"{path}: written by a newer version of Workbench (schema {', '.join(unknown)}); "
            "upgrade Workbench to open it. The file was not changed."
        )
    try:
        if path is not None:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path}: cannot open the database ({error})") from None
    if migrate and migrations.pending(db):
        try:
            if applied and path is not None:
                _copy_aside(db, Path(path), len(applied))
            migrations.apply(db)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{path}: cannot upgrade the database ({error})") from None
    return db


def insert_row(db: Database, table: str, row: dict[str, object]) -> int:
    """Insert a row and return its integer primary key."""
    last_pk = db.table(table).insert(row).last_pk
    if last_pk is None:
        raise StoreError(f"{table}: the database did not return the new row's id")
    return int(last_pk)
