"""Find GGUF models other apps already downloaded, to add them without copying.

Known places, each overridable (function parameter or environment) so tests can plant files:

- Hugging Face cache: ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``
  (read with huggingface_hub's own ``scan_cache_dir``; the blob name is the file's sha256).
- LM Studio: ``~/.lmstudio/models/<publisher>/<repo>/*.gguf`` on every platform (the folder
  can be moved: ``downloadsFolder`` in ``~/.lmstudio/settings.json``), older installs
  ``~/.cache/lm-studio/models``.
- GPT4All: Qt's app-local data folder, ``~/.local/share/nomic.ai/GPT4All`` (Linux),
  ``~/Library/Application Support/nomic.ai/GPT4All`` (macOS), ``%LOCALAPPDATA%\\nomic.ai\\GPT4All``
  (Windows), or ``modelPath`` in ``nomic.ai/GPT4All.ini``.
- Jan: ``<data>/llamacpp/models/<org>/<id>/model.gguf`` with ``model.yml`` beside it; data is
  ``$XDG_DATA_HOME/Jan/data`` (Linux), ``~/Library/Application Support/Jan/data`` (macOS),
  ``%APPDATA%\\Jan\\data`` (Windows); before 0.6, ``~/jan/models/<id>/`` with ``model.json``.
- Ollama: ``OLLAMA_MODELS``, else ``~/.ollama/models`` (also ``/usr/share/ollama/.ollama/models``
  for the Linux service): ``manifests/<registry>/<namespace>/<model>/<tag>`` name the layers,
  and the GGUF is the ``application/vnd.ollama.image.model`` layer, kept as
  ``blobs/sha256-<digest>`` without an extension.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.errors import AlreadyInLibraryError, StoreError, WorkbenchError
from workbench.gguf_header import split_info
from workbench.hub.files import is_projector
from workbench.library import Model, add_model, get_model, list_models

SOURCES = ("hf-cache", "lmstudio", "gpt4all", "jan", "ollama")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_OLLAMA_MODEL = "application/vnd.ollama.image.model"


@dataclass
class Found:
    """A GGUF file another app keeps, with whatever provenance that app recorded."""

    path: Path
    source: str
    name: str
    size: int
    sha256: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    in_library: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def default_roots(
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> dict[str, list[Path]]:
    """Each app's model folders on this platform (they need not exist)."""
    env = os.environ if env is None else env
    home = home or Path.home()
    platform = platform or sys.platform
    mac, win = platform == "darwin", platform.startswith("win")
    local_app = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    roaming = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    xdg_data = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    xdg_config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    support = home / "Library" / "Application Support"

    if env.get("HF_HUB_CACHE"):
        hf = [Path(env["HF_HUB_CACHE"])]
    elif env.get("HF_HOME"):
        hf = [Path(env["HF_HOME"]) / "hub"]
    else:
        hf = [Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "huggingface" / "hub"]

    lmstudio = [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    lms_settings = _read_json(home / ".lmstudio" / "settings.json")
    if isinstance(lms_settings, dict) and lms_settings.get("downloadsFolder"):
        lmstudio.insert(0, Path(str(lms_settings["downloadsFolder"])).expanduser())

    gpt4all_base = (support if mac else local_app if win else xdg_data) / "nomic.ai" / "GPT4All"
    gpt4all = [gpt4all_base]
    ini = (roaming if win else xdg_config) / "nomic.ai" / "GPT4All.ini"
    custom = _ini_value(ini, "modelPath")
    if custom:
        gpt4all.insert(0, Path(custom).expanduser())

    jan_data = (support if mac else roaming if win else xdg_data) / "Jan" / "data"
    jan = [jan_data / "llamacpp" / "models", jan_data / "models", home / "jan" / "models"]

    if env.get("OLLAMA_MODELS"):
        ollama = [Path(env["OLLAMA_MODELS"])]
    else:
        ollama = [home / ".ollama" / "models"]
        if not (mac or win):
            ollama.append(Path("/usr/share/ollama/.ollama/models"))
    return {"hf-cache": hf, "lmstudio": lmstudio, "gpt4all": gpt4all, "jan": jan,
            "ollama": ollama}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _ini_value(path: Path, key: str) -> str | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return None
    for section in parser.sections():
        if parser.has_option(section, key):
            return parser.get(section, key) or None
    return None


def _simple_yaml(path: Path) -> dict[str, str]:
    """Top-level ``key: value`` lines of a small YAML file (Jan's model.yml)."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return values
    for line in lines:
        if line[:1] in (" ", "\t", "#", "-") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(4) == b"GGUF"
    except OSError:
        return False


def _chat_model(path: Path) -> bool:
    """A loadable chat model: GGUF, not a projector, not a later shard of a split model."""
    split = split_info(path.name)
    return not is_projector(path.name) and (split is None or split[1] == 1) and is_gguf(path)


def _walk_gguf(root: Path, max_depth: int) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        depth = len(Path(dirpath).relative_to(root).parts)
        if depth >= max_depth:
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in sorted(filenames):
            if filename.lower().endswith(".gguf"):
                yield Path(dirpath) / filename


def _scan_hf_cache(root: Path) -> Iterator[Found]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    if not root.is_dir():
        return
    try:
        cache = scan_cache_dir(root)
    except (CacheNotFound, OSError, ValueError):
        return
    for repo in cache.repos:
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            for file in revision.files:
                if not file.file_name.lower().endswith(".gguf"):
                    continue
                if not _chat_model(Path(file.file_path)):
                    continue
                blob = Path(file.blob_path).name
                relative = Path(file.file_path).relative_to(revision.snapshot_path).as_posix()
                yield Found(
                    Path(file.file_path), "hf-cache", f"{repo.repo_id}/{relative}",
                    file.size_on_disk, blob if _SHA256.match(blob) else None,
                    {"app": "Hugging Face cache", "repo": repo.repo_id,
                     "commit": revision.commit_hash, "file": relative, "cache": str(root)},
                )


def _scan_lmstudio(root: Path) -> Iterator[Found]:
    for path in _walk_gguf(root, 4):
        if not _chat_model(path):
            continue
        relative = path.relative_to(root).parts
        provenance: dict[str, Any] = {"app": "LM Studio", "folder": str(root)}
        if len(relative) >= 3:  # <publisher>/<repo>/<file>: the Hub repository it came from
            provenance["repo"] = f"{relative[0]}/{relative[1]}"
        yield Found(path, "lmstudio", path.name, path.stat().st_size, None, provenance)


def _scan_gpt4all(root: Path) -> Iterator[Found]:
    for path in _walk_gguf(root, 1):
        if _chat_model(path):
            yield Found(path, "gpt4all", path.name, path.stat().st_size, None,
                        {"app": "GPT4All", "folder": str(root)})


def _scan_jan(root: Path) -> Iterator[Found]:
    for path in _walk_gguf(root, 4):
        if not _chat_model(path):
            continue
        provenance: dict[str, Any] = {"app": "Jan", "folder": str(root)}
        meta = _simple_yaml(path.parent / "model.yml")
        legacy = _read_json(path.parent / "model.json")
        name = path.name
        if meta:
            model_id = str(path.parent.relative_to(root)).replace(os.sep, "/")
            provenance["model_id"] = model_id
            name = meta.get("name") or model_id
            for key in ("source_url", "model_path"):
                if meta.get(key):
                    provenance[key] = meta[key]
        elif isinstance(legacy, dict):
            name = str(legacy.get("name") or legacy.get("id") or name)
            provenance["model_id"] = legacy.get("id")
            sources = legacy.get("sources") or []
            url = legacy.get("source_url") or (
                sources[0].get("url") if sources and isinstance(sources[0], dict) else None)
            if url:
                provenance["source_url"] = url
        yield Found(path, "jan", name, path.stat().st_size, None, provenance)


def _scan_ollama(root: Path) -> Iterator[Found]:
    manifests = root / "manifests"
    if not manifests.is_dir():
        return
    for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
        parts = manifest.relative_to(manifests).parts
        if len(parts) != 4:  # <registry>/<namespace>/<model>/<tag>
            continue
        registry, namespace, model, tag = parts
        data = _read_json(manifest)
        layers = data.get("layers") if isinstance(data, dict) else None
        for layer in layers or []:
            if not isinstance(layer, dict) or layer.get("mediaType") != _OLLAMA_MODEL:
                continue
            digest = str(layer.get("digest", ""))
            hex_digest = digest.removeprefix("sha256:")
            blob = root / "blobs" / f"sha256-{hex_digest}"
            if not _SHA256.match(hex_digest) or not is_gguf(blob):
                continue
            short = model if namespace == "library" else f"{namespace}/{model}"
            if registry != "registry.ollama.ai":
                short = f"{registry}/{short}"
            provenance = {"app": "Ollama", "name": f"{short}:{tag}", "registry": registry,
                          "digest": digest, "manifest": str(manifest)}
            if registry in ("hf.co", "huggingface.co"):
                provenance["repo"] = f"{namespace}/{model}"
            yield Found(blob, "ollama", f"{short}:{tag}", blob.stat().st_size, hex_digest,
                        provenance)


_SCANNERS = {"hf-cache": _scan_hf_cache, "lmstudio": _scan_lmstudio, "gpt4all": _scan_gpt4all,
             "jan": _scan_jan, "ollama": _scan_ollama}


def scan(
    db: Database | None = None,
    roots: Mapping[str, list[Path]] | None = None,
    sources: tuple[str, ...] = SOURCES,
) -> Iterator[Found]:
    """Every GGUF chat model in the known folders, each file once, marked if already added.

    An iterator, so a window can show models as they are found and stop a long walk.
    """
    roots = roots if roots is not None else default_roots()
    known = {m.path for m in list_models(db)} if db is not None else set()
    seen: set[Path] = set()
    for source in sources:
        for root in roots.get(source, []):
            for found in _SCANNERS[source](Path(root).expanduser()):
                real = found.path.resolve()
                if real in seen:
                    continue
                seen.add(real)
                found.in_library = str(real) in known or str(found.path) in known
                yield found


def add_found(db: Database, found: Found) -> Model:
    """Add a found model in place; a digest the app recorded saves hashing it again."""
    return add_model(db, found.path, source=found.source, provenance=found.provenance,
                     sha256=found.sha256, name=found.name if found.source == "ollama" else None)


def add_each(db: Database, items: list[Found]) -> Iterator[tuple[Found, Model | None, str]]:
    """Add each found model, going on past a bad file: yields (found, model, "") or (found,
    None, the one-line reason). A file whose contents are already in the library (another copy
    or a hard link of a model there) is no failure: its entry is yielded with the reason. A
    database that cannot be written stops it (StoreError): every later file would fail the
    same way."""
    for item in items:
        try:
            yield item, add_found(db, item), ""
        except StoreError:
            raise
        except AlreadyInLibraryError as error:
            yield item, (get_model(db, error.model_id) if error.model_id else None), str(error)
        except WorkbenchError as error:
            yield item, None, str(error)
        except OSError as error:
            yield item, None, f"{item.path}: {error.strerror or error}"
