"""The local model library: GGUF files the user has, described from their headers.

Adding a model never copies it: the library records where the file is and what its header
says, so listing is a database read, not a walk over gigabytes. Removing a model forgets it
and deletes the file only when asked. A model is its contents: a file whose sha256 is already
in the library is not a second entry (two entries with one name make every name ambiguous).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench import vision_models
from workbench.chat_tuning import marks_chat_tuning
from workbench.errors import (
    AlreadyInLibraryError,
    InvalidInputError,
    ModelFileError,
    ModelNotFound,
)
from workbench.gguf_header import read_header, split_info, split_parts
from workbench.model_check import check_model
from workbench.store.db import insert_row

#: How a base model is labelled wherever it is named: it continues text rather than answering.
BASE_MODEL_LABEL = "base model (not tuned for chat)"


def looks_like_base_model(header: Any, file_name: str) -> bool:
    """No chat template, and nothing in the file name or the header's ``general.name``,
    ``basename``, ``finetune``, ``tags`` or ``type`` that marks it as tuned for chat: such a
    model continues the prompt (often echoing it) instead of answering it."""
    if header.chat_template is not None:
        return False
    texts = [file_name]
    for key in ("general.name", "general.basename", "general.finetune", "general.type"):
        value = header.get(key)
        if isinstance(value, str):
            texts.append(value)
    tags = header.get("general.tags")
    if isinstance(tags, list):
        texts.extend(tag for tag in tags if isinstance(tag, str))
    return not marks_chat_tuning(texts)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Model:
    id: int
    name: str
    path: str
    file_name: str
    architecture: str
    parameters: int
    quantization: str
    context_length: int | None
    has_chat_template: bool
    license: str | None
    file_size: int
    sha256: str
    source: str
    added_at: str
    provenance: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    #: No chat template and no instruct/chat marker in its names or metadata.
    base_model: bool = False
    #: The paired vision projector (:mod:`workbench.vision_models`); None: it cannot see.
    mmproj: str | None = None

    @property
    def sees(self) -> bool:
        return bool(self.mmproj)

    @property
    def kind_label(self) -> str | None:
        """:data:`BASE_MODEL_LABEL` for a base model, else None: shown beside its name."""
        return BASE_MODEL_LABEL if self.base_model else None

    @property
    def template_note(self) -> str:
        """Where the chat template "Auto" uses comes from, said the same on the Library tab
        and in the model's Settings (a file with none gets a family guessed from its names
        and vocabulary: :func:`workbench.engine.templates.guess_family`)."""
        return ("the file's own template" if self.has_chat_template
                else "guessed: the file has none")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Model:
        return cls(
            id=row["id"],
            name=row["name"],
            path=row["path"],
            file_name=row["file_name"],
            architecture=row["architecture"] or "unknown",
            parameters=row["parameters"] or 0,
            quantization=row["quantization"] or "unknown",
            context_length=row["context_length"],
            has_chat_template=bool(row["has_chat_template"]),
            license=row["license"],
            file_size=row["file_size"] or 0,
            sha256=row["sha256"] or "",
            source=row["source"] or "local",
            added_at=row["added_at"],
            provenance=json.loads(row["provenance"] or "{}"),
            settings=json.loads(row["settings"] or "{}"),
            base_model=bool(row.get("base_model")),
            mmproj=row.get("mmproj"),
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sha256_file(
    path: Path, progress: Callable[[int, int], None] | None = None, chunk: int = 1 << 22
) -> str:
    """Hash a file in chunks, reporting (bytes done, total) so a long hash can show progress."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
            done += len(block)
            if progress:
                progress(done, total)
    return digest.hexdigest()


def describe_file(path: Path) -> dict[str, Any]:
    """The library's columns for a GGUF file, from its header; raises ModelFileError.

    A split model is one entry, its first part: size and parameters count every part (each
    part's header lists its own tensors), and the name drops the ``-00001-of-0000N``."""
    header = read_header(path)
    parts = split_parts(path, header)
    others = [read_header(part) for part in parts[1:]]
    # what llama.cpp would crash on later (vocabulary, tensor table), on the headers just read
    check_model(parts, [header, *others])
    split = split_info(path.name) if len(parts) > 1 else None
    license_ = header.get("general.license")
    return {
        # The file name, as LM Studio and GPT4All show it: users recognise it, the quantization
        # is in it, and ``general.name`` is often a training-run label.
        "name": split[0] if split else path.stem,
        "path": str(path),
        "file_name": path.name,
        "architecture": header.architecture,
        "parameters": header.parameter_count + sum(h.parameter_count for h in others),
        "quantization": header.quantization,
        "context_length": header.context_length,
        "has_chat_template": int(header.chat_template is not None),
        "base_model": int(looks_like_base_model(header, path.name)),
        "license": str(license_) if license_ else None,
        "file_size": sum(part.stat().st_size for part in parts),
    }


def add_model(
    db: Database,
    path: str | Path,
    *,
    source: str = "local",
    provenance: dict[str, Any] | None = None,
    sha256: str | None = None,
    name: str | None = None,
    mmproj: str | Path | None = None,
) -> Model:
    """Add a GGUF file by path; adding the same file again updates its record.

    The header is checked before anything is written, so a bad file leaves no trace. A file
    whose contents (sha256) are already in the library raises AlreadyInLibraryError and adds
    nothing, unless that entry's file is gone: then the model has moved, and the entry
    follows it to the new path. ``mmproj`` pairs a vision projector (refused, naming both
    files, unless it fits); without it a fitting projector beside a new model is paired.
    """
    # absolute(), not resolve(): a Hugging Face cache snapshot is a link to a blob named by
    # its hash, and llama.cpp finds a split model's other shards beside the link's name.
    path = Path(path).expanduser().absolute()
    row = describe_file(path)
    if mmproj:  # refused before anything is written
        vision_models.check_pair(path, mmproj)
    if name:
        row["name"] = name
    row["sha256"] = sha256 or sha256_file(path)
    row["source"] = source
    row["provenance"] = json.dumps(provenance or {})
    existing = list(db.table("models").rows_where("path = ?", [str(path)]))
    twin = None if existing else find_by_sha256(db, row["sha256"])
    if existing:
        db.table("models").update(existing[0]["id"], row)
        model_id = existing[0]["id"]
    elif twin is not None:
        if Path(twin.path).exists():
            raise AlreadyInLibraryError(
                f"{path.name}: already in the library as {twin.id}: {twin.name} ({twin.path})",
                model_id=twin.id)
        moved = {"path": row["path"], "file_name": row["file_name"]}
        db.table("models").update(twin.id, {**moved, "name": name} if name else moved)
        model_id = twin.id
    else:
        row["added_at"] = now()
        row["settings"] = "{}"
        model_id = insert_row(db, "models", row)
    # A vision projector: the one chosen (refused unless it fits), else the one beside it.
    found = mmproj or (None if existing else vision_models.projector_beside(path))
    if found:
        vision_models.pair(db, model_id, path, found)
    return get_model(db, model_id)


def find_by_sha256(db: Database, sha256: str) -> Model | None:
    """The library's entry for these contents, if any (the oldest, for an older database
    that recorded duplicates)."""
    if not sha256:
        return None
    rows = list(db.table("models").rows_where("sha256 = ?", [sha256], order_by="id", limit=1))
    return Model.from_row(rows[0]) if rows else None


def base_model_label(db: Database, model_id: int | None = None,
                     sha256: str | None = None) -> str | None:
    """:data:`BASE_MODEL_LABEL` when the model (by id, else by contents) is a base model.

    For trial results and reports, which know a contender's model id and sha256."""
    rows = list(db.table("models").rows_where("id = ?", [model_id])) if model_id else []
    model = Model.from_row(rows[0]) if rows else find_by_sha256(db, sha256 or "")
    return model.kind_label if model else None


def list_models(db: Database) -> list[Model]:
    return [Model.from_row(r) for r in db.table("models").rows_where(order_by="name, id")]


def get_model(db: Database, ref: str | int) -> Model:
    """Find a model by id, or by an unambiguous prefix of its name or file name."""
    text = str(ref).strip()
    if text.isascii() and text.isdigit() and len(text) <= 18:  # "²", "١": names, not ids
        rows = list(db.table("models").rows_where("id = ?", [int(text)]))
        if rows:
            return Model.from_row(rows[0])
    lowered = text.lower()
    models = list_models(db)
    exact = [m for m in models if lowered in (m.name.lower(), m.file_name.lower())]
    if len(exact) == 1:
        return exact[0]
    matches = [
        m
        for m in models
        if m.name.lower().startswith(lowered) or m.file_name.lower().startswith(lowered)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ModelNotFound(f"model '{text}': no model in the library has that id or name")
    names = ", ".join(f"{m.id}:{m.name}" for m in matches[:5])
    raise ModelNotFound(f"model '{text}': matches several models ({names}); be more specific")


def rename_model(db: Database, model_id: int, name: str) -> Model:
    """Give a model the name it is shown and asked for by; a name another model already
    has is refused (it would make both ambiguous), as is an empty one."""
    name = name.strip()
    if not name:
        raise InvalidInputError("model name: empty; give the model a name")
    model = get_model(db, model_id)
    taken = [m for m in list_models(db) if m.id != model.id and m.name.lower() == name.lower()]
    if taken:
        raise InvalidInputError(f"model name '{name}': {taken[0].id}:{taken[0].name} already "
                                "has it; choose another")
    db.table("models").update(model.id, {"name": name})
    return get_model(db, model.id)


def update_settings(db: Database, model_id: int, settings: dict[str, Any]) -> Model:
    """Replace a model's per-model defaults (context, GPU layers, template, sampling)."""
    db.table("models").update(model_id, {"settings": json.dumps(settings)})
    return get_model(db, model_id)


def remove_model(db: Database, ref: str | int, *, delete_file: bool = False) -> Model:
    """Forget a model; the file stays on disk unless ``delete_file`` is given.

    Conversations keep their messages: each reply's settings record the model's name and
    sha256, so the foreign keys are cleared rather than deleting anyone's chats.
    """
    model = get_model(db, ref)
    with db.atomic():
        db.execute("UPDATE messages SET model_id = NULL WHERE model_id = ?", [model.id])
        db.execute("UPDATE conversations SET model_id = NULL WHERE model_id = ?", [model.id])
        db.table("models").delete(model.id)
    if delete_file:
        try:
            Path(model.path).unlink(missing_ok=True)
        except OSError as error:
            raise ModelFileError(f"{model.path}: cannot delete ({error.strerror})") from None
    return model
