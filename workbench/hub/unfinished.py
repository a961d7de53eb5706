"""Downloads that stopped before their last byte: found again after a restart, resumed or
discarded.

The transfer keeps each file's bytes in ``<models>/.partial/<key>.part`` beside a JSON record
(repository, path, size, sha256). That record is all that is needed to offer the download again
when the app starts: pulling the same file re-hashes the bytes and asks only for the rest. The
parts of a split model are shown as one download, named by its first part (the name ``pull``
takes). A part whose lock is held is being downloaded right now and is left alone.

A download that was verified but then refused by the library (not a usable model) is put
back here with the reason (``refused``), so it is neither orphaned in the models folder nor
forgotten: it can be discarded, or pulled again once Workbench accepts it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from workbench.gguf_header import split_info, split_name

# The models folder's subfolder for unfinished downloads. It lives here, not in ``download``,
# so that the transfer imports this module and not the other way round (no import circle).
PARTIAL_DIR = ".partial"


@dataclass
class Unfinished:
    """One interrupted download (all the started parts of a split model together)."""

    repo_id: str
    file: str  # what to pull again: the file's path, or a split model's first part
    have: int = 0  # bytes on disk
    size: int = 0  # bytes of the started parts (a split's unstarted parts are not counted)
    commit: str | None = None
    started_at: str = ""
    files: list[Path] = field(default_factory=list)  # the partials and their records
    refused: str | None = None  # why the library refused the finished, verified file

    def to_dict(self) -> dict[str, Any]:
        return {"repo": self.repo_id, "file": self.file, "have": self.have, "size": self.size,
                "commit": self.commit, "started_at": self.started_at,
                "refused": self.refused}


def first_part(path: str) -> str:
    """``x-00002-of-00003.gguf`` -> ``x-00001-of-00003.gguf``; other names unchanged."""
    split = split_info(path)
    return split_name(split[0], 1, split[2]) if split else path


def _in_use(partial: Path) -> bool:
    lock = FileLock(str(partial) + ".lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    Path(str(partial) + ".lock").unlink(missing_ok=True)
    return False


def list_unfinished(models_dir: Path) -> list[Unfinished]:
    """Every interrupted download in the models folder, newest first. Unreadable records are
    skipped (a record is rewritten whenever its download starts again)."""
    folder = models_dir / PARTIAL_DIR
    if not folder.is_dir():
        return []
    found: dict[tuple[str, str], Unfinished] = {}
    for record_path in sorted(folder.glob("*.json")):
        partial = record_path.with_suffix(".part")
        try:
            record = json.loads(record_path.read_text())
            repo_id, path = str(record["repo"]), str(record["path"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _in_use(partial):
            continue
        key = (repo_id, first_part(path))
        item = found.setdefault(key, Unfinished(repo_id, key[1], commit=record.get("commit")))
        item.have += partial.stat().st_size if partial.exists() else 0
        item.size += int(record.get("size") or 0)
        item.started_at = max(item.started_at, str(record.get("started_at") or ""))
        item.refused = item.refused or (str(record["refused"]) if record.get("refused")
                                        else None)
        item.files += [f for f in (partial, record_path) if f.exists()]
    return sorted(found.values(), key=lambda u: u.started_at, reverse=True)


def keep_refused(moved: list[tuple[Path, Path, Path]], reason: str) -> None:
    """Put files the library refused back where unfinished downloads live, with the reason.

    ``moved`` is (file in the models folder, its partial path, its record) for each part.
    The record keeps what a later pull needs (repo, path, size, sha256) and gains
    ``refused``; a pull of the same file re-verifies the bytes and asks the library again.
    """
    for target, partial, record_path in moved:
        if target.exists():
            os.replace(target, partial)
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record = {}
        record["refused"] = reason
        record_path.write_text(json.dumps(record))


def discard_unfinished(item: Unfinished) -> int:
    """Delete an interrupted download's bytes and records; returns the bytes freed."""
    freed = 0
    for path in item.files:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        if path.suffix == ".part":
            freed += size
    return freed


def discard_download(models_dir: Path, repo_id: str, file: str) -> int:
    """Discard whatever is on disk of one download (``file`` as it was pulled: the file, or
    any part of a split model); returns the bytes freed, 0 when nothing was there."""
    wanted = (repo_id, first_part(file))
    return sum(discard_unfinished(item) for item in list_unfinished(models_dir)
               if (item.repo_id, item.file) == wanted)
