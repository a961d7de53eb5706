"""The files of a collection: its paths, folders walked recursively, include and exclude
patterns applied, hidden files and folders (a name starting with ``.``) left out.

A folder that cannot be read, a symlink loop and a folder reached twice through links are
yielded with their one-line reason instead of stopping the walk. Symlinked folders are
followed once each (by device and inode), so a loop ends.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from fnmatch import fnmatch


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(error, PermissionError):
        return "cannot read: permission denied"
    return f"cannot read: {error.strerror or error}"


def _matches(patterns: list[str], name: str, relative: str, full: str) -> bool:
    return any(fnmatch(name, pattern) or fnmatch(relative, pattern) or fnmatch(full, pattern)
               for pattern in patterns)


def walk(roots: list[str], include: list[str], exclude: list[str]
         ) -> Iterator[tuple[str, str | None]]:
    """``(path, None)`` for each file to index, ``(path, reason)`` for each that cannot be
    reached; a root named directly is yielded whatever its name (unless excluded)."""
    visited: set[tuple[int, int]] = set()
    for root in roots:
        name = os.path.basename(root)
        if _matches(exclude, name, name, root):
            continue
        try:
            info = os.stat(root)
        except OSError as error:
            yield root, _reason(error)
            continue
        if not stat.S_ISDIR(info.st_mode):
            yield root, None
            continue
        yield from _folder(root, include, exclude, visited)


def _folder(root: str, include: list[str], exclude: list[str],
            visited: set[tuple[int, int]]) -> Iterator[tuple[str, str | None]]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError as error:
            yield folder, _reason(error)
            continue
        key = (info.st_dev, info.st_ino)
        if key in visited:
            if folder != root and os.path.islink(folder):
                yield folder, "symlink loop: this folder is already in the collection"
            continue
        visited.add(key)
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            yield folder, _reason(error)
            continue
        for entry in entries:
            relative = os.path.relpath(entry.path, root).replace(os.sep, "/")
            if entry.name.startswith(".") or _matches(exclude, entry.name, relative,
                                                      entry.path):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError as error:
                yield entry.path, _reason(error)
                continue
            if is_dir:
                stack.append(entry.path)
            elif not include or _matches(include, entry.name, relative, entry.path):
                yield entry.path, None
