"""Which process owns a row that is still being written: a lock file per live process.

A reply being streamed (``streaming``), a trial being run or a comparison being answered
(``running``) records the ``owner`` token of the process doing it. The process holds an OS
lock on ``<data folder>/running/<token>.lock`` for as long as it lives; the operating system
releases it when the process ends in any way, kill -9 and power loss included. So, at start,
the CLI and the window can tell a row left by a dead process (its lock is free, or gone) from
one another live Workbench is writing right now (its lock is held), with no clock, heartbeat
or pid reuse to get wrong. See :mod:`workbench.recovery` for what is done with them.
"""

from __future__ import annotations

import atexit
import logging
import os
import uuid
from pathlib import Path

from filelock import FileLock, Timeout
from sqlite_utils import Database

log = logging.getLogger(__name__)

LOCK_DIR = "running"

_held: dict[tuple[int, Path], tuple[str, FileLock]] = {}


def _folder(db: Database) -> Path | None:
    """The folder beside the database file, or ``None`` for a database in memory."""
    path = getattr(db.conn, "store_path", None)
    return Path(path).parent / LOCK_DIR if path is not None else None


def owner_token(db: Database) -> str | None:
    """This process's token for ``db``'s data folder, its lock taken on first use.

    ``None`` for a database in memory (no other process can see it) or where the lock cannot
    be made (a read-only folder, where nothing can be written anyway).
    """
    folder = _folder(db)
    if folder is None:
        return None
    key = (os.getpid(), folder)  # a forked child is another process: it takes its own
    if key in _held:
        token, held = _held[key]
        if Path(held.lock_file).exists():
            return token
        del _held[key]  # its file was removed (the folder was cleared): take a new one
        held.release()
    token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    lock = FileLock(str(folder / f"{token}.lock"), timeout=0)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except (OSError, Timeout) as error:
        log.warning("cannot take the lock that marks this process as alive (%s)", error)
        return None
    _held[key] = (token, lock)
    return token


def is_alive(db: Database, token: str) -> bool:
    """Whether the process that took ``token`` is still running (holds its lock)."""
    folder = _folder(db)
    if folder is None:
        return True
    if _held.get((os.getpid(), folder), ("", None))[0] == token:
        return True
    path = folder / f"{Path(token).name}.lock"
    if not path.exists():
        return False
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:
        return True  # cannot tell (a read-only folder): leave the row alone
    lock.release()
    path.unlink(missing_ok=True)  # the process is gone: its token is never used again
    return False


def clear_stale_locks(db: Database) -> int:
    """Remove the lock files of processes that ended without removing theirs."""
    folder = _folder(db)
    if folder is None or not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob("*.lock"):
        if not is_alive(db, path.stem):
            removed += 1
    return removed


@atexit.register
def _release_all() -> None:
    """A clean exit removes its lock files (a killed process leaves them, unlocked)."""
    for (pid, _folder_path), (_token, lock) in list(_held.items()):
        if pid != os.getpid():
            continue
        try:
            lock.release()
            Path(lock.lock_file).unlink(missing_ok=True)
        except OSError:
            pass
