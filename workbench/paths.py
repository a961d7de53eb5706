"""Where Workbench keeps its data on this machine.

One folder holds everything (database, downloaded models, settings) so that a backup or an
uninstall is a single decision for the user. It is chosen, first match wins, from an explicit
``--data-dir``, the ``LLM_WORKBENCH_HOME`` environment variable, and the platform's user data
folder (platformdirs), which lives outside any install folder and so survives upgrades.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from workbench.errors import StoreError

APP_NAME = "llm-workbench"
HOME_ENV = "LLM_WORKBENCH_HOME"
DB_NAME = "workbench.db"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data folder, created if needed; one that cannot be (under ``/proc``, below a file)
    is one line naming it and why."""
    if override:
        path = Path(override)
    elif os.environ.get(HOME_ENV):
        path = Path(os.environ[HOME_ENV])
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"data folder {path}: cannot create it "
                         f"({error.strerror or error})") from None
    if not path.is_dir():
        raise StoreError(f"data folder {path}: not a folder")
    return path


def db_path(root: Path) -> Path:
    return root / DB_NAME


def models_dir(root: Path) -> Path:
    """Downloaded models live here unless the user chose another folder in the settings."""
    path = root / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
