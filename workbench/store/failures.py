"""Why a database operation failed, in one line: disk full, read-only, locked, damaged.

SQLite reports these as ``sqlite3.OperationalError`` or ``DatabaseError`` with a result code
(``sqlite_errorcode``). :func:`translate` turns the ones the user's machine causes into a
:class:`~workbench.errors.StoreError` subclass whose message names the database, the reason,
what was kept and what to do. Errors that are bugs (a constraint, a missing column) are not
translated: they must stay visible as what they are.

A failed statement changes nothing (SQLite rolls it back), so "everything saved before it is
kept" is true for every failure here; a damaged file is the exception, and its message offers
the newest copy in ``backups/`` (made before every upgrade, see :mod:`workbench.store.db`).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

from workbench.errors import StoreError

BACKUP_DIR = "backups"

# SQLite's primary result codes (https://sqlite.org/rescode.html).
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26
SQLITE_IOERR_NOMEM = 10 | (12 << 8)
SQLITE_IOERR_SHMSIZE = 10 | (19 << 8)  # no room to make the WAL's shared-memory file
#: Below this many free bytes, an input/output error is taken for a full disk: SQLite reports
#: ENOSPC as SQLITE_FULL for most writes, but as an I/O error when making its side files.
NEARLY_FULL = 1 << 20

KEPT = "nothing was changed (everything saved before is kept)"


# Each class is also the sqlite3 error it replaces, so code that catches sqlite3's errors (as
# sqlite-utils does in places) behaves as before, while the CLI and the window, which catch
# WorkbenchError, show the one line.


class DatabaseFullError(StoreError, sqlite3.OperationalError):
    """The disk (or the database's size limit) has no room for the change."""


class ReadOnlyDatabaseError(StoreError, sqlite3.OperationalError):
    """The database file or its folder cannot be written."""


class DatabaseLockedError(StoreError, sqlite3.OperationalError):
    """Another program held the database for longer than the busy timeout."""


class DamagedDatabaseError(StoreError, sqlite3.DatabaseError):
    """The file is damaged; ``backup`` is the newest copy aside, if there is one."""

    def __init__(self, message: str, backup: Path | None = None) -> None:
        super().__init__(message)
        self.backup = backup


class DatabaseDiskError(StoreError, sqlite3.OperationalError):
    """The operating system reported an input/output error under the database."""


def latest_backup(path: Path) -> Path | None:
    """The newest copy of ``path`` made before an upgrade (``backups/<stem>_v<N>_<stamp>.db``)."""
    folder = path.parent / BACKUP_DIR
    try:
        copies = [p for p in folder.glob(f"{path.stem}_v*.db") if p.is_file()]
    except OSError:
        return None
    return max(copies, key=lambda p: p.stat().st_mtime, default=None)


def damaged(path: Path | None, detail: str) -> DamagedDatabaseError:
    """The one line for a damaged file; SQLite's detail (quick_check's report spans lines and
    may quote the damaged bytes) is folded onto it, escaped and shortened."""
    detail = "; ".join(part.strip() for part in detail.splitlines() if part.strip())
    detail = re.sub(r"[\x00-\x1f\x7f-\x9f\ufffd]+", "?", detail)
    if len(detail) > 300:
        detail = detail[:300] + "..."
    name = str(path) if path else "the database"
    file_name = path.name if path else "the file"
    backup = latest_backup(path) if path else None
    if backup is not None:
        offer = (f"the last backup is {backup}: quit Workbench and copy it over {file_name} "
                 "to go back to it (the damaged file is not changed by Workbench)")
    else:
        offer = ("there is no backup to go back to; keep a copy of the file, then try "
                 f"'sqlite3 {file_name} .recover'")
    return DamagedDatabaseError(f"{name}: the database is damaged ({detail}); {offer}",
                                backup)


def not_text(path: Path | None, column: str | None = None) -> DamagedDatabaseError:
    """A text value that is not UTF-8 (random bytes written over a page's cells): the file
    is damaged, whether SQLite's reader says so or Python's decoder does."""
    where = f" in column '{column}'" if column else ""
    return damaged(path, f"a text value{where} is not valid UTF-8")


def _nearly_full(path: Path | None) -> bool:
    if path is None:
        return False
    try:
        return shutil.disk_usage(path.parent).free < NEARLY_FULL
    except OSError:
        return False


def translate(error: sqlite3.Error, path: Path | None, busy_timeout: float) -> StoreError | None:
    """The user-facing error for ``error``, or ``None`` when it is not the machine's doing."""
    name = str(path) if path else "the in-memory database"
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(error)
    if primary == SQLITE_IOERR and code != SQLITE_IOERR_NOMEM and (
            code == SQLITE_IOERR_SHMSIZE or _nearly_full(path)):
        primary = SQLITE_FULL
    if primary == SQLITE_FULL or "database or disk is full" in text:
        return DatabaseFullError(f"{name}: the disk is full: {KEPT}. Free some space (or "
                                 "choose a data folder on another disk) and try again.")
    if primary in (SQLITE_READONLY, SQLITE_PERM) or "readonly database" in text:
        return ReadOnlyDatabaseError(
            f"{name}: the database is read-only (the file or its folder cannot be written): "
            f"{KEPT}. Check the permissions of the data folder, or choose another one.")
    # SQLITE_BUSY also means "cannot release savepoint - SQL statements in progress", which
    # sqlite-utils handles itself: only a lock is the other program's doing.
    if primary in (SQLITE_BUSY, SQLITE_LOCKED) and "locked" in text:
        return DatabaseLockedError(
            f"{name}: locked by another program for more than {busy_timeout:g} s: {KEPT}. "
            "Close the other program (another Workbench, a database browser) and try again.")
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in text:
        return damaged(path, text)
    if "Could not decode to UTF-8" in text:  # bytes in a text column that are not text
        column = re.search(r"column '([^']*)'", text)
        return not_text(path, column.group(1) if column else None)
    if code == SQLITE_IOERR_NOMEM:
        return None  # out of memory: not a disk problem
    if primary == SQLITE_CANTOPEN:
        return DatabaseDiskError(f"{name}: the database file cannot be opened or created "
                                 f"({text}): check that its folder exists and can be written.")
    if primary == SQLITE_IOERR:
        return DatabaseDiskError(f"{name}: the disk reported an error ({text}): {KEPT}. "
                                 "Check that the disk is still connected and not failing.")
    return None
