"""A workspace: the data folder and its database, as one object every service takes.

The CLI makes one per command and the window one per session; tests make one per temporary
folder. Nothing here is global, so two workspaces never share state.

The workspace is the one place a connection comes from. :attr:`Workspace.db` is the calling
thread's own connection, opened on its first use there: the window's GUI thread and each of
its workers, the server's request threads and the CLI's one thread each get theirs, so no
connection is ever used by two threads at once and nobody needs a lock (WAL lets readers go
on while a thread writes). Code below the front ends never asks for a connection: it is
handed one (``func(db, ...)``, see :mod:`ui.operations` and the server's ``with_db``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlite_utils import Database

from workbench import paths
from workbench.settings import InvalidSettingError, get_setting
from workbench.store import open_database


def models_dir(db: Database, root: Path) -> Path:
    """Where downloads go: the folder chosen in the settings (read on ``db``, the calling
    thread's connection), made if need be, else the data folder's own. A chosen folder that
    cannot be used now (its disk went away since it was set) is one line saying so."""
    chosen = get_setting(db, "models_dir")
    if chosen:
        path = Path(chosen).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # checked when set, but a disk can go away since
            raise InvalidSettingError("models_dir", f"{str(path)!r} cannot be used now "
                                      f"({error.strerror or error}); reconnect its disk "
                                      "or choose another folder") from None
        return path
    return paths.models_dir(root)


class Workspace:
    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = paths.data_dir(root)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opening = threading.Lock()
        #: every connection this workspace opened and still holds, with its thread
        self._opened: dict[int, tuple[threading.Thread, Database]] = {}
        self._generation = 0

    @property
    def db_path(self) -> Path:
        return paths.db_path(self.root)

    @property
    def db(self) -> Database:
        """This thread's connection to the workspace database (opened on first use here)."""
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == self._generation:
            return held[1]
        return self._open_for_this_thread()

    def _open_for_this_thread(self) -> Database:
        thread = threading.current_thread()
        with self._opening:  # one at a time: the first one creates and migrates the file
            connection = open_database(self.db_path)
        with self._lock:
            # a thread that ended leaves its connection behind: close it now (the server's
            # request threads come and go), so open connections never outnumber live threads
            for key, (owner, old) in list(self._opened.items()):
                if not owner.is_alive() or owner is thread:
                    del self._opened[key]
                    old.close()
            self._opened[id(thread)] = (thread, connection)
            self._local.held = (self._generation, connection)
        return connection

    @property
    def models_dir(self) -> Path:
        return models_dir(self.db, self.root)

    def close(self) -> None:
        """Close every connection this workspace opened, in any thread (call it once the
        threads that used them are done); a later use opens a fresh one."""
        with self._lock:
            opened, self._opened = self._opened, {}
            self._generation += 1
        for _thread, connection in opened.values():
            connection.close()
