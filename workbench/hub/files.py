"""The GGUF files of a Hub repository, as models a user can choose between.

A repository lists files; a user chooses models. Split files ("-00001-of-00003", also inside
sub-folders) are one model, vision projectors (mmproj) are not chat models, and each model's
quantization is read from its name (the header confirms it once the file is local).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workbench.gguf_header import split_info
from workbench.hub.client import HubClient

_QUANT = re.compile(
    r"(?<![A-Za-z0-9])("
    r"IQ[1-4]_(?:XXS|XS|NL|S|M|L)|"
    r"I?Q[2-8]_K(?:_XXL|_XL|_[SML])?|"
    r"Q[4-8]_[01](?:_[48]_[48])?|"
    r"TQ[12]_0|MXFP4(?:_MOE)?|BF16|F16|F32|FP16|FP32"
    r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def quantization_from_name(name: str) -> str | None:
    """``Q4_K_M``, ``IQ3_XXS``, ``BF16``... from a file name (the last match wins)."""
    found = _QUANT.findall(name.rsplit("/", 1)[-1])
    if not found:
        return None
    quant = found[-1].upper()
    return {"FP16": "F16", "FP32": "F32"}.get(quant, quant)


def is_projector(name: str) -> bool:
    """A vision projector (mmproj): loaded beside a model, never as a chat model itself."""
    return "mmproj" in name.rsplit("/", 1)[-1].lower()


@dataclass
class RemotePart:
    """One file on the Hub: its path in the repository, size and LFS sha256."""

    path: str
    size: int | None = None
    sha256: str | None = None


@dataclass
class HubModelFile:
    """One model in a repository: a single .gguf, or all the parts of a split one."""

    name: str  # the path of the (first) file, what the user types to pull it
    parts: list[RemotePart]
    quantization: str | None
    projector: bool = False
    #: Parts missing from the repository (a split model that cannot be loaded).
    missing_parts: int = 0

    @property
    def size(self) -> int:
        return sum(p.size or 0 for p in self.parts)

    @property
    def is_split(self) -> bool:
        return len(self.parts) > 1 or split_info(self.name) is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "size": self.size, "quantization": self.quantization,
            "projector": self.projector, "split": self.is_split,
            "parts": [p.__dict__ for p in self.parts], "missing_parts": self.missing_parts,
        }


@dataclass
class RepoFiles:
    """A repository at one commit, with the facts the Hub gives about it."""

    repo_id: str
    commit: str | None
    license: str | None = None
    gated: Any = False
    private: bool = False
    architecture: str | None = None
    context_length: int | None = None
    parameters: int | None = None
    last_modified: datetime | None = None
    files: list[HubModelFile] = field(default_factory=list)

    def find(self, name: str) -> HubModelFile | None:
        """The model a name refers to: its own name, any of its parts, or a unique quant."""
        for model in self.files:
            if name == model.name or name in (p.path for p in model.parts):
                return model
        by_quant = [m for m in self.files if (m.quantization or "").lower() == name.lower()
                    and not m.projector]
        return by_quant[0] if len(by_quant) == 1 else None


def group_files(parts: list[RemotePart]) -> list[HubModelFile]:
    """Group a repository's .gguf files into models: splits joined, projectors marked."""
    singles: list[HubModelFile] = []
    groups: dict[tuple[str, int], list[tuple[int, RemotePart]]] = {}
    for part in parts:
        if not part.path.lower().endswith(".gguf"):
            continue
        split = split_info(part.path)
        if split:
            base, index, count = split
            groups.setdefault((base, count), []).append((index, part))
        else:
            singles.append(HubModelFile(part.path, [part], quantization_from_name(part.path),
                                        is_projector(part.path)))
    for (base, count), members in groups.items():
        members.sort(key=lambda item: item[0])
        ordered = [p for _, p in members]
        singles.append(HubModelFile(
            ordered[0].path, ordered, quantization_from_name(base), is_projector(base),
            missing_parts=max(0, count - len(ordered)),
        ))
    singles.sort(key=lambda m: (m.projector, m.size, m.name))
    return singles


# --- the Hub's answers, as Workbench uses them ---------------------------------------------
# A mirror (or the Hub on a bad day) may send a field of another type (``downloads: "many"``).
# Each field is taken only when it has the type Workbench uses, else left out, so one odd
# field never ends a listing in a traceback.

MAX_COUNT = (1 << 63) - 1  # what SQLite and the JSON output keep exactly


def count_or_none(value: Any) -> int | None:
    """A non-negative whole number (a count, a size), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_COUNT else None


def text_or_none(value: Any, limit: int = 200) -> str | None:
    """A short string, else None."""
    return value[:limit] if isinstance(value, str) and value else None


def date_or_none(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def license_of(info: Any) -> str | None:
    tags = getattr(info, "tags", None)
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, str) and tag.startswith("license:"):
            return text_or_none(tag.split(":", 1)[1])
    card = getattr(info, "card_data", None)
    value = card.get("license") if card is not None and hasattr(card, "get") else None
    return text_or_none(value)


def gguf_facts(info: Any) -> tuple[str | None, int | None, int | None]:
    """(architecture, context length, parameter count) from the Hub's ``gguf`` summary."""
    gguf = getattr(info, "gguf", None) or {}
    if not isinstance(gguf, dict):
        return None, None, None
    return (text_or_none(gguf.get("architecture")), count_or_none(gguf.get("context_length"))
            or None, count_or_none(gguf.get("total")) or None)


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and _SHA256.match(value) else None


def _lfs_sha(lfs: Any) -> str | None:
    return _sha(getattr(lfs, "sha256", None)) if lfs is not None else None


def list_files(client: HubClient, repo_id: str, revision: str | None = None) -> RepoFiles:
    """The repository's GGUF models at ``revision`` (default: its main branch).

    One call (model info with file metadata) gives the commit, sizes and LFS hashes; a mirror
    that leaves sizes out is asked for the file tree instead.
    """
    what = f"{repo_id}" + (f"@{revision}" if revision else "")
    with client.call(what):
        api = client.api()
        info = api.model_info(repo_id, revision=revision, files_metadata=True,
                              timeout=client.timeout)
        siblings = info.siblings if isinstance(info.siblings, list) else []
        parts = [
            RemotePart(s.rfilename, count_or_none(s.size), _lfs_sha(s.lfs))
            for s in siblings if isinstance(getattr(s, "rfilename", None), str)
        ]
        commit = text_or_none(info.sha, 64)
        if any(p.size is None for p in parts if p.path.lower().endswith(".gguf")):
            parts = [
                RemotePart(entry.path, count_or_none(entry.size),
                           _lfs_sha(getattr(entry, "lfs", None)))
                for entry in api.list_repo_tree(repo_id, revision=commit or revision,
                                                recursive=True)
                if hasattr(entry, "size") and isinstance(getattr(entry, "path", None), str)
            ]
    architecture, context_length, parameters = gguf_facts(info)
    return RepoFiles(
        repo_id=text_or_none(info.id) or repo_id,
        commit=commit,
        license=license_of(info),
        gated=info.gated if info.gated in ("auto", "manual", True) else False,
        private=info.private is True,
        architecture=architecture,
        context_length=context_length,
        parameters=parameters,
        last_modified=date_or_none(info.last_modified),
        files=group_files(parts),
    )
