"""The curated catalog of recommended models, shipped inside the package.

The data is ``models/catalog.json`` at the repository root: data, not code, so it can be
reviewed and updated without touching Python. The wheel carries it as
``workbench/_catalog/catalog.json`` (hatch force-include); an editable install reads the
repository's copy. Both the ``catalog`` command and the window's "Recommended" list go through
:func:`load_catalog` and :func:`filter_catalog`, so they always agree.

The file is validated on load: a broken catalog is a packaging bug, and it should fail with one
line that names the entry and the field rather than with a ``KeyError`` deep in the window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from workbench.errors import InvalidInputError, WorkbenchError

TASKS: tuple[str, ...] = ("chat", "code", "reasoning", "multilingual", "small-and-fast",
                          "vision", "embedding")
"""Every task tag an entry may carry, in the order the CLI and the window list them."""

VISION = "vision"
"""The task of a model that sees images: it names a projector (``mmproj``) from its
repository, which a pull brings along (:mod:`workbench.hub.projectors`)."""

EMBEDDING = "embedding"
"""The task of an embedding model (a collection's search by meaning): it makes vectors, not
replies, so it is listed only when asked for and never offered for chat."""

#: Tasks an embedding model cannot have: they are what a chat model is for.
CHAT_ONLY = ("chat", "code", "reasoning")

OPENNESS: tuple[str, ...] = ("open source", "open weights", "restricted")
"""From most to least open; the catalog's ``definitions`` object says what each one means."""

_CATALOG_FILE = "catalog.json"


class CatalogError(WorkbenchError):
    """The shipped catalog is missing or malformed (a packaging bug, not a user mistake)."""


@dataclass(frozen=True)
class CatalogEntry:
    """One recommended GGUF file on the Hugging Face Hub, and what it needs to run."""

    id: str
    """Short stable slug, e.g. ``qwen2.5-7b``; what a user types to pick it."""
    name: str
    repo: str
    """Hub repository, ``owner/name``."""
    file: str
    """The one ``.gguf`` file in :attr:`repo` that this entry recommends."""
    quantization: str
    size_bytes: int
    size_verified: bool
    """True when :attr:`size_bytes` was read from the Hub's LFS pointer, False for an estimate."""
    parameters: int
    context_length: int
    license: str
    openness: str
    tasks: tuple[str, ...]
    min_memory_bytes: int
    """RAM needed at a 4096-token context (file + KV cache + 10%); see the catalog's notes."""
    description: str
    query_prefix: str = ""
    """For an embedding model: put before a question before embedding it (what the model
    was trained with, e.g. Nomic's ``search_query: ``); see :mod:`workbench.documents.prefixes`."""
    passage_prefix: str = ""
    """For an embedding model: put before each passage before embedding it."""
    mmproj: str = ""
    """For a vision model: an example projector in :attr:`repo` (a pull chooses from the
    repository's own list, the smallest that fits)."""
    mmproj_size_bytes: int = 0
    """That projector's size; :attr:`min_memory_bytes` includes it."""

    @property
    def vision(self) -> bool:
        """A model that sees images, downloaded with its projector."""
        return VISION in self.tasks

    @property
    def embedding(self) -> bool:
        """An embedding model: listed only under the ``embedding`` task, never for chat."""
        return EMBEDDING in self.tasks

    @property
    def url(self) -> str:
        """Direct download address of the file on the Hub's main branch."""
        return f"https://huggingface.co/{self.repo}/resolve/main/{self.file}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (what ``catalog --json`` prints), with the download URL."""
        data = asdict(self)
        data["tasks"] = list(self.tasks)
        data["url"] = self.url
        return data


# field name -> accepted JSON types (bool is excluded from int fields explicitly below).
_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "name": (str,),
    "repo": (str,),
    "file": (str,),
    "quantization": (str,),
    "size_bytes": (int,),
    "size_verified": (bool,),
    "parameters": (int,),
    "context_length": (int,),
    "license": (str,),
    "openness": (str,),
    "tasks": (list,),
    "min_memory_bytes": (int,),
    "description": (str,),
}


#: Fields an entry may leave out (strings, "" when absent).
_OPTIONAL = ("query_prefix", "passage_prefix")


def catalog_path() -> Path:
    """Where the catalog file is: inside the installed wheel, else in the source checkout.

    A wheel has ``workbench/_catalog/catalog.json``; an editable install (or running from the
    repository) has no ``_catalog`` folder, so fall back to ``<repo>/models/catalog.json``.
    """
    packaged = resources.files("workbench").joinpath("_catalog").joinpath(_CATALOG_FILE)
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "models" / _CATALOG_FILE


def _entry_from_json(raw: Any, index: int) -> CatalogEntry:
    if not isinstance(raw, Mapping):
        raise CatalogError(f"Catalog entry #{index + 1} is not an object.")
    label = f"Catalog entry {raw.get('id')!r}" if isinstance(raw.get("id"), str) else (
        f"Catalog entry #{index + 1}")
    missing = [name for name in _FIELDS if name not in raw]
    if missing:
        raise CatalogError(f"{label} is missing {', '.join(missing)}.")
    for name, types in _FIELDS.items():
        value = raw[name]
        wrong_bool = isinstance(value, bool) and bool not in types
        if wrong_bool or not isinstance(value, types):
            raise CatalogError(f"{label}: {name} should be {types[0].__name__}, "
                               f"not {type(value).__name__}.")
        if isinstance(value, str) and not value.strip():
            raise CatalogError(f"{label}: {name} is empty.")
    for name in ("size_bytes", "parameters", "context_length", "min_memory_bytes"):
        if raw[name] <= 0:
            raise CatalogError(f"{label}: {name} must be positive.")
    if raw["openness"] not in OPENNESS:
        raise CatalogError(f"{label}: openness {raw['openness']!r} is not one of "
                           f"{', '.join(OPENNESS)}.")
    tasks = raw["tasks"]
    unknown = [t for t in tasks if t not in TASKS]
    if not tasks or unknown:
        raise CatalogError(f"{label}: tasks must be a non-empty subset of {', '.join(TASKS)}"
                           + (f" (unknown: {', '.join(map(str, unknown))})." if unknown else "."))
    if EMBEDDING in tasks and set(CHAT_ONLY) & set(tasks):
        raise CatalogError(f"{label}: an embedding model cannot have the tasks "
                           f"{', '.join(CHAT_ONLY)}.")
    if not raw["file"].endswith(".gguf") or raw["repo"].count("/") != 1:
        raise CatalogError(f"{label}: repo must be owner/name and file a .gguf file.")
    if raw["min_memory_bytes"] < raw["size_bytes"]:
        raise CatalogError(f"{label}: min_memory_bytes is smaller than the file itself.")
    values = {name: raw[name] for name in _FIELDS}
    for name in _OPTIONAL:
        if name in raw:
            if not isinstance(raw[name], str):
                raise CatalogError(f"{label}: {name} should be str, "
                                   f"not {type(raw[name]).__name__}.")
            values[name] = raw[name]
    if (VISION in tasks) != bool(raw.get("mmproj")):
        raise CatalogError(f"{label}: a vision model names its projector (mmproj), and only "
                           "a vision model does.")
    if VISION in tasks:
        mmproj, size = raw["mmproj"], raw.get("mmproj_size_bytes")
        if not isinstance(mmproj, str) or "mmproj" not in mmproj.lower() or not \
                mmproj.endswith(".gguf"):
            raise CatalogError(f"{label}: mmproj must be a projector's .gguf file name.")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise CatalogError(f"{label}: mmproj_size_bytes must be a positive int.")
        if raw["min_memory_bytes"] < raw["size_bytes"] + size:
            raise CatalogError(f"{label}: min_memory_bytes is smaller than the model and "
                               "its projector.")
        values.update(mmproj=mmproj, mmproj_size_bytes=size)
    values["tasks"] = tuple(tasks)
    return CatalogEntry(**values)


def parse_catalog(data: Any) -> list[CatalogEntry]:
    """Validate a decoded catalog document and return its entries, in file order."""
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
        raise CatalogError("The model catalog has no \"models\" list.")
    entries = [_entry_from_json(raw, i) for i, raw in enumerate(data["models"])]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise CatalogError(f"The model catalog lists {entry.id!r} twice.")
        seen.add(entry.id)
    return entries


@lru_cache(maxsize=8)
def _load(path: Path) -> tuple[CatalogEntry, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogError(f"The model catalog cannot be read ({path}): "
                           f"{error.strerror or error}.") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(f"The model catalog is not valid JSON ({path}, line {error.lineno}): "
                           f"{error.msg}.") from error
    return tuple(parse_catalog(data))


def load_catalog(path: str | Path | None = None) -> list[CatalogEntry]:
    """Load and validate the catalog (the shipped one unless ``path`` is given).

    The result is cached per path: the window filters it on every keystroke.
    """
    return list(_load(Path(path) if path is not None else catalog_path()))


def fits(entry: CatalogEntry, available_bytes: int) -> bool:
    """Whether ``entry`` can run at a 4096-token context in ``available_bytes`` of memory."""
    return entry.min_memory_bytes <= available_bytes


def filter_catalog(
    entries: Iterable[CatalogEntry],
    task: str | None = None,
    max_memory: int | None = None,
) -> list[CatalogEntry]:
    """Entries tagged ``task`` (any task if None) that fit in ``max_memory`` bytes (if given).

    Embedding models are listed only for the ``embedding`` task: a list of models to chat
    with (no task, or any other task) never offers one. The order of ``entries`` is kept.
    An unknown task is the user's typo, so it raises
    :class:`~workbench.errors.InvalidInputError` naming the valid ones instead of returning
    an empty list that would look like "nothing recommended".
    """
    if task is not None and task not in TASKS:
        raise InvalidInputError(f"Unknown task {task!r}; choose one of: {', '.join(TASKS)}.")
    return [
        entry for entry in entries
        if (task is None or task in entry.tasks)
        and entry.embedding == (task == EMBEDDING)
        and (max_memory is None or fits(entry, max_memory))
    ]


def machine_memory_bytes() -> int:
    """This machine's total physical memory, the budget ``--fits`` and the window compare with.

    Total rather than currently free memory: free memory changes from second to second, and a
    recommendation should not flicker; the user can close other programs.
    """
    import psutil

    return int(psutil.virtual_memory().total)
