"""The one place where SQLite's errors become Workbench's: a connection whose every statement,
commit and row fetch translates a failure the machine caused (see :mod:`.failures`).

sqlite-utils runs everything through ``conn.execute``/``executescript``/``with conn`` and
iterates the cursors it gets back, so a connection made with ``factory=GuardedConnection``
covers every read and write of the app without a wrapper at each call site.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from workbench.errors import InvalidInputError, StoreError
from workbench.store.failures import damaged, not_text, translate


def _unstorable(error: UnicodeEncodeError) -> InvalidInputError:
    """Text with a lone surrogate (from a JSON ``\\ud800`` escape, or a command-line byte
    that is not UTF-8) cannot become the UTF-8 SQLite stores: one line, not a traceback."""
    bad = error.object[error.start:error.start + 1] if isinstance(error.object, str) else ""
    return InvalidInputError(f"text with a lone surrogate ({bad!r} at position "
                             f"{error.start:,}) cannot be stored: it is not valid Unicode")


def _undecodable(conn: GuardedConnection, error: UnicodeDecodeError) -> Exception:
    """Bytes that are not UTF-8 where SQLite hands over text: a text value, or SQLite's own
    message quoting a schema that random bytes overwrote. Either way the file is damaged."""
    raw = error.object if isinstance(error.object, bytes) else b""
    if raw.startswith(b"malformed") or b"database disk image" in raw:
        return damaged(conn.store_path, raw.decode("utf-8", errors="replace"))
    return not_text(conn.store_path)


def _translated(conn: GuardedConnection, error: sqlite3.Error) -> Exception:
    """The StoreError for ``error``, or ``error`` itself when it is not the machine's doing."""
    return translate(error, conn.store_path, conn.busy_timeout) or error


# The methods below are written out (no helper call on the good path): every statement and
# row of the app passes through them, and a try block costs nothing until it catches.

class GuardedCursor(sqlite3.Cursor):
    connection: GuardedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:
        try:
            return cast(GuardedCursor, super().execute(sql, parameters))
        except sqlite3.Error as error:
            raise _translated(self.connection, error) from error
        except UnicodeDecodeError as error:
            raise _undecodable(self.connection, error) from None
        except UnicodeEncodeError as error:
            raise _unstorable(error) from None

    def executemany(self, sql: str, seq: Iterable[Any], /) -> GuardedCursor:
        try:
            return cast(GuardedCursor, super().executemany(sql, seq))
        except sqlite3.Error as error:
            raise _translated(self.connection, error) from error
        except UnicodeDecodeError as error:
            raise _undecodable(self.connection, error) from None
        except UnicodeEncodeError as error:
            raise _unstorable(error) from None

    def executescript(self, script: str, /) -> GuardedCursor:
        try:
            return cast(GuardedCursor, super().executescript(script))
        except sqlite3.Error as error:
            raise _translated(self.connection, error) from error
        except UnicodeDecodeError as error:
            raise _undecodable(self.connection, error) from None

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as error:
            raise _translated(self.connection, error) from error
        except UnicodeDecodeError as error:
            raise _undecodable(self.connection, error) from None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.Error as error:
            raise _translated(self.connection, error) from error
        except UnicodeDecodeError as error:
            raise _undecodable(self.connection, error) from None

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as error:
            raise _translated(self.connection, error) from error
        except UnicodeDecodeError as error:
            raise _undecodable(self.connection, error) from None

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as error:
            raise _translated(self.connection, error) from error
        except UnicodeDecodeError as error:
            raise _undecodable(self.connection, error) from None


_new_cursor = sqlite3.Connection.cursor


class GuardedConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` that knows its file and busy timeout, for the messages."""

    store_path: Path | None = None
    busy_timeout: float = 0.0
    read_only: bool = False

    def cursor(self, factory: Any = None) -> GuardedCursor:  # type: ignore[override]
        return cast(GuardedCursor, _new_cursor(self, factory or GuardedCursor))

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:
        if sql == "BEGIN" and not self.read_only:
            # sqlite-utils' atomic() begins a deferred transaction, reads (the table's
            # columns), then writes. Upgrading that read to a write while another thread's
            # connection writes is refused at once (SQLITE_BUSY, no busy timeout: it could
            # deadlock), so with a connection per thread two saves at once lost one. An
            # immediate transaction takes the write lock first and waits its turn instead.
            sql = "BEGIN IMMEDIATE"
        return _new_cursor(self, GuardedCursor).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> GuardedCursor:
        return _new_cursor(self, GuardedCursor).executemany(sql, parameters)

    def executescript(self, script: str, /) -> GuardedCursor:
        return _new_cursor(self, GuardedCursor).executescript(script)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as error:
            raise _translated(self, error) from error

    def __exit__(self, *exc: Any) -> Any:
        try:
            return super().__exit__(*exc)
        except sqlite3.Error as error:
            raise _translated(self, error) from error


def folder_is_read_only(path: Path) -> bool:
    """True when the database file exists but its folder cannot be written (a read-only
    mount, or permissions): SQLite then cannot make the WAL's side files."""
    folder = path.parent
    if not path.exists():
        return False
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):  # AttributeError: no statvfs on Windows
        pass
    return not os.access(folder, os.W_OK)


def connect(path: Path | None, busy_timeout: float) -> GuardedConnection:
    """A guarded connection to ``path`` (``None``: in memory) that any thread may use, one at
    a time, waiting up to ``busy_timeout`` seconds for another program's lock.

    A database in a read-only folder is opened read-only, so it can still be read (a WAL
    database whose side files cannot be made is opened as immutable); writes then fail as
    :class:`~workbench.store.failures.ReadOnlyDatabaseError`.
    """
    read_only = path is not None and folder_is_read_only(path)
    if path is None:
        targets = [":memory:"]
    elif read_only:
        uri = path.absolute().as_uri()
        targets = [f"{uri}?mode=ro", f"{uri}?mode=ro&immutable=1"]
    else:
        targets = [str(path)]
    for index, target in enumerate(targets):
        conn = _open(path, busy_timeout, target, read_only)
        assert isinstance(conn, GuardedConnection)
        conn.store_path = path
        conn.busy_timeout = busy_timeout
        conn.read_only = read_only
        if index == len(targets) - 1:
            return conn
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except StoreError:
            conn.close()
    raise AssertionError("unreachable")


def _open(path: Path | None, busy_timeout: float, target: str,
          uri: bool) -> sqlite3.Connection:
    try:
        return sqlite3.connect(target, timeout=busy_timeout, check_same_thread=False, uri=uri,
                               factory=GuardedConnection)
    except sqlite3.Error as error:
        translated = translate(error, path, busy_timeout)
        if translated is None:
            raise
        raise translated from error
