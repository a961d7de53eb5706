"""Prompts that carry images, in suites, trials and comparisons.

A suite line names its pictures by path relative to the suite file (``"images":
["receipt.png"]``); import reads and checks each (:mod:`workbench.images`: one line for a
damaged or oversized one, the whole import refused), keeps it in the data folder by sha256
and stores only the sha256s on the prompt, so a trial reruns after the files move or are
deleted. An export writes them as ``"sha256:<hex>"``, which an import in the same data folder
reads back. A contender whose model has no vision projector is refused for a suite with
image prompts when the trial is made, in one line naming it and the prompts; a comparison
with images likewise. The pictures ride on the user message as ``"images"``, as chat's do,
so checks grade the reply as for any text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.engine import Message
from workbench.engine.vision import Picture
from workbench.errors import InvalidInputError
from workbench.images import keep_image, kept_pictures, picture_from_bytes, read_image_file

#: The most images one prompt carries.
MAX_PROMPT_IMAGES = 8
_REF = "sha256:"
_DIGEST = re.compile(r"[0-9a-f]{64}")  # a stored prompt's own (kept) picture


def normalize_images(value: Any, where: str) -> list[str]:
    """A prompt's ``images`` as a list of names (paths or ``sha256:`` references)."""
    if value is None or value == "":
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip()
                                              for n in names):
        raise InvalidInputError(f"{where}: 'images' must be a list of image file paths")
    if len(names) > MAX_PROMPT_IMAGES:
        raise InvalidInputError(f"{where}: {len(names)} images; at most {MAX_PROMPT_IMAGES} "
                                "in one prompt")
    return [n.strip() for n in names]


def keep_prompt_images(db: Database, names: Sequence[str], base: Path | None,
                       where: str) -> list[str]:
    """Read, check and keep each named picture (a path relative to ``base``, the suite
    file's folder, or a ``sha256:`` reference to one already kept); their sha256s. Every
    picture is checked before any is kept."""
    datas: list[bytes | str] = []
    for name in names:
        if name.startswith(_REF) or _DIGEST.fullmatch(name):
            digest = name.removeprefix(_REF).lower()
            kept_pictures(db, [digest])  # one line when it is not in this data folder
            datas.append(digest)
            continue
        path = Path(name).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            data = read_image_file(path)
            picture_from_bytes(data, str(path))
        except InvalidInputError as error:
            raise InvalidInputError(f"{where}: {error}") from None
        datas.append(data)
    return [item if isinstance(item, str) else keep_image(db, item) for item in datas]


def image_refs(digests: Sequence[str]) -> list[str]:
    """How an export names kept pictures (an import in the same data folder reads them)."""
    return [_REF + digest for digest in digests]


def with_images(db: Database, messages: list[Message], digests: Sequence[str]
                ) -> list[Message]:
    """``messages`` with the kept pictures on the last user message (none: unchanged)."""
    return with_pictures(messages, kept_pictures(db, list(digests)) if digests else [])


def with_pictures(messages: list[Message], pictures: Sequence[Picture]) -> list[Message]:
    """``messages`` with ``pictures`` on the last user message (none: unchanged)."""
    if not pictures:
        return messages
    out = list(messages)
    last = max(i for i, m in enumerate(out) if m["role"] == "user")
    out[last] = {**out[last], "images": list(pictures)}
    return out


def check_contenders_see(contenders: Sequence[Any], carries: str) -> None:
    """One line naming the first contender that cannot see, when ``carries`` says which
    prompts carry images (empty: none do)."""
    if not carries:
        return
    for contender in contenders:
        if not contender.load.mmproj:
            raise InvalidInputError(
                f"{contender.label}: cannot see images, and {carries}; pair its model with a "
                "projector (models add MODEL --mmproj FILE) or leave it out")


def suite_carries(prompts: Sequence[Any]) -> str:
    """Which of a suite's prompts (counted from 1) carry images, in words; empty: none."""
    numbers = [str(n) for n, prompt in enumerate(prompts, 1) if prompt.images]
    if not numbers:
        return ""
    shown = ", ".join(numbers[:8]) + (", ..." if len(numbers) > 8 else "")
    return f"prompt{'s' if len(numbers) > 1 else ''} {shown} of the suite carr" + (
        "y images" if len(numbers) > 1 else "ies images")
