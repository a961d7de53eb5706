"""Opening the database: WAL, migrations, a copy aside before any upgrade, refusal of a
database that a newer Workbench wrote, and a check for damage beyond the first page.

Every connection is a :class:`~workbench.store.connection.GuardedConnection`, so any failed
read or write later on says why in one line (disk full, read-only, locked, damaged), as a
:class:`~workbench.errors.StoreError` subclass from :mod:`workbench.store.failures`.
"""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from workbench.errors import NewerDatabaseError, StoreError
from workbench.store.connection import connect
from workbench.store.failures import BACKUP_DIR, damaged
from workbench.store.migrations import migrations

__all__ = ["BACKUP_DIR", "BUSY_TIMEOUT", "open_database", "insert_row", "schema_version"]

#: Seconds a statement waits for another program's lock before failing with
#: :class:`~workbench.store.failures.DatabaseLockedError`.
BUSY_TIMEOUT = 30.0
#: Files up to this size get ``PRAGMA quick_check`` when first opened in a process (about
#: 2 ms per MB); larger ones are found damaged at the first read that meets the damage.
QUICK_CHECK_MAX_BYTES = 64 * 2**20
_checked: set[tuple[Path, int, int, int]] = set()


def schema_version() -> int:
    """How many migrations this version knows: the number in backup file names."""
    return len(migrations._migrations)


def _applied_names(db: Database) -> list[str]:
    return [m.name for m in migrations.applied(db)]


def _copy_aside(db: Database, path: Path, version: int) -> Path:
    """Copy the database before upgrading it, so an upgrade can never lose the user's data."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.parent / BACKUP_DIR / f"{path.stem}_v{version}_{stamp}.db"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(target) as copy:
            db.conn.backup(copy)
        copy.close()
    except (OSError, sqlite3.Error) as error:
        target.unlink(missing_ok=True)
        raise StoreError(f"{path}: cannot copy the database aside before upgrading it "
                         f"({error}); the database was not changed") from None
    return target


def _quick_check(db: Database, path: Path) -> None:
    """Find a damaged page anywhere in the file (small files), once per process for a file
    unchanged since (the window opens a connection per worker)."""
    try:
        stat = path.stat()
    except OSError:
        return
    key = (path.resolve(), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key in _checked:
        return
    if stat.st_size <= QUICK_CHECK_MAX_BYTES:
        # The report may quote damaged bytes that are not UTF-8: read it as it comes.
        factory = db.conn.text_factory
        db.conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(3)").fetchall()]
        finally:
            db.conn.text_factory = factory
        if problems != ["ok"]:
            raise damaged(path, "; ".join(str(p) for p in problems))
    _checked.add(key)


def open_database(path: str | Path | None, *, migrate: bool = True,
                  busy_timeout: float | None = None) -> Database:
    """Open (creating if needed) and migrate the database at ``path``; ``None`` means in memory.

    The connection may be handed between threads, but only one may use it at a time: each
    worker in the window owns its own connection, and WAL lets them read while one writes.
    ``busy_timeout`` is how long a statement waits for another program's lock (default
    :data:`BUSY_TIMEOUT`).
    """
    if busy_timeout is None:
        busy_timeout = BUSY_TIMEOUT
    if path is not None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"{path}: cannot create the data folder "
                             f"({error.strerror or error})") from None
    db = Database(connect(path, busy_timeout))
    try:
        _prepare(db, path, migrate)
    except StoreError:
        db.close()
        raise
    except sqlite3.DatabaseError as error:
        db.close()
        raise StoreError(f"{path}: cannot open the database ({error})") from None
    return db


def _prepare(db: Database, path: Path | None, migrate: bool) -> None:
    """Check, configure and migrate a freshly opened database (raises StoreError)."""
    if path is not None:
        _quick_check(db, path)
    applied = _applied_names(db)
    known = {m.name for m in migrations._migrations}
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise NewerDatabaseError(
            f"{path}: written by a newer version of Workbench (schema {', '.join(unknown)}); "
            "upgrade Workbench to open it. The file was not changed."
        )
    if path is not None and not getattr(db.conn, "read_only", False):
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA synchronous=NORMAL")
    if migrate and migrations.pending(db):
        if applied and path is not None:
            _copy_aside(db, path, len(applied))
        migrations.apply(db)


def insert_row(db: Database, table: str, row: dict[str, object]) -> int:
    """Insert a row and return its integer primary key."""
    last_pk = db.table(table).insert(row).last_pk
    if last_pk is None:
        raise StoreError(f"{table}: the database did not return the new row's id")
    return int(last_pk)
