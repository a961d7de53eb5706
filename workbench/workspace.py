"""A workspace: the data folder and its open database, as one object every service takes.

The CLI makes one per command and the window one per session; tests make one per temporary
folder. Nothing here is global, so two workspaces never share state.
"""

from __future__ import annotations

import os
from functools import cached_property
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

    @property
    def db_path(self) -> Path:
        return paths.db_path(self.root)

    @cached_property
    def db(self) -> Database:
        return open_database(self.db_path)

    def connect(self) -> Database:
        """A second connection to the same database, for another worker thread."""
        return open_database(self.db_path)

    @property
    def models_dir(self) -> Path:
        return models_dir(self.db, self.root)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()
            del self.__dict__["db"]
