"""Task names: ``summarize`` or ``code`` pointing at a library model and its settings.

An app asks the server for ``model="summarize"``; repointing the alias at another model (the
one a trial recommended) changes what answers without touching the app. Settings are checked
when the alias is set, by the same rules as a model's own settings, so a bad value never
reaches a request.

An alias may carry document collections (``alias set NAME MODEL --docs COLLECTION [--k N]``):
a chat completion to it is answered from their passages, grounded as chat is, and the
citations travel in the response (:mod:`workbench.server.grounded`). They are kept in the
alias's settings as ``docs`` and ``k``, as a trial's contender keeps them, so an alias made
from a recommended contender answers from the same collection.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from workbench.engine.settings import check_json_schema
from workbench.errors import InvalidInputError, NotFoundError
from workbench.library import Model, get_model, now
from workbench.model_settings import check_keys, resolve_settings

#: Passages retrieved for an alias with collections that does not say (as ``chat --docs``).
DEFAULT_K = 5
DOC_KEYS = ("docs", "k")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
TABLE = "server_aliases"


@dataclass
class Alias:
    """A stored alias; ``settings`` are overrides on top of the model's own defaults."""

    name: str
    model_id: int
    settings: dict[str, Any] = field(default_factory=dict)
    updated_at: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alias:
        return cls(row["name"], row["model_id"], json.loads(row["settings"] or "{}"),
                   row["updated_at"])

    @property
    def docs(self) -> list[str]:
        return list(self.settings.get("docs") or [])

    @property
    def k(self) -> int:
        return int(self.settings.get("k") or DEFAULT_K)

    def serving(self) -> tuple[dict[str, Any], str, list[str], int]:
        """The model settings it is served with, its system prompt, collections and k."""
        settings = {k: v for k, v in self.settings.items() if k not in DOC_KEYS}
        system = settings.pop("system_prompt", "") or ""
        return settings, system, self.docs, self.k


def check_name(name: str) -> str:
    text = name.strip()
    if not NAME_PATTERN.fullmatch(text):
        raise InvalidInputError(f"alias '{name}': use 1 to 64 letters, digits or . _ : / - "
                                "(starting with a letter or digit)")
    if text.isdigit():
        raise InvalidInputError(f"alias '{name}': a number would read as a library id")
    return text


def check_settings(db: Database, model: Model, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as stored, or one line naming the setting that is wrong: each is resolved
    the way a request will resolve it (ranges, thread counts, the template, the schema)."""
    documents = check_documents(db, settings)
    check_keys({k: v for k, v in settings.items() if k not in DOC_KEYS})
    values = {k: v for k, v in settings.items() if v is not None and k not in DOC_KEYS}
    for key in ("tools", "tool_choice", "parallel_tool_calls"):
        if key in values:
            raise InvalidInputError(f"setting '{key}': tools are given with each request, "
                                    "not with an alias")
    if "json_schema" in values:
        values["json_schema"] = check_json_schema(values["json_schema"], "json_schema")
    if "system_prompt" in values and not isinstance(values["system_prompt"], str):
        raise InvalidInputError("setting 'system_prompt': must be text")
    try:
        resolve_settings(db, model, values)
    except TypeError as error:  # a value of the wrong type reached a settings dataclass
        raise InvalidInputError(f"settings: {error}") from None
    template = values.get("template")
    if template is not None:
        from workbench.engine.templates import family_names

        allowed = ["auto", "gguf", *family_names()]
        if template not in allowed:
            raise InvalidInputError(f"setting 'template': '{template}' is unknown (choose "
                                    f"from {', '.join(allowed)})")
    for key in ("temperature", "top_p", "min_p", "repeat_penalty"):
        if key in values and not (isinstance(values[key], int | float) and values[key] >= 0):
            raise InvalidInputError(f"setting '{key}': must be a number from 0")
    for key in ("max_tokens", "top_k", "n_batch", "n_ctx"):
        if key in values and not (isinstance(values[key], int) and values[key] >= 1):
            raise InvalidInputError(f"setting '{key}': must be a whole number from 1")
    return {**values, **documents}


def check_documents(db: Database, settings: dict[str, Any]) -> dict[str, Any]:
    """The alias's ``docs`` (collections that exist) and ``k``, as stored; ``k`` without
    ``docs`` is refused (it would retrieve from nothing)."""
    from workbench.documents.collections import get_collection
    from workbench.trials.sources import check_k, normalize_docs

    out: dict[str, Any] = {}
    docs = normalize_docs(settings.get("docs"), "alias --docs")
    if docs:
        for name in docs:
            get_collection(db, name)
        out["docs"] = docs
    if settings.get("k") is not None:
        if not docs:
            raise InvalidInputError("alias --k: give the collections too (--docs NAME)")
        out["k"] = check_k(settings["k"], "alias --k")
    return out


def set_alias(db: Database, name: str, model_ref: str | int,
              settings: dict[str, Any] | None = None) -> Alias:
    """Create the alias, or repoint it (its settings replaced by these)."""
    name = check_name(name)
    model = get_model(db, model_ref)
    values = check_settings(db, model, settings or {})
    existing = find_alias(db, name)
    stamp = now()
    row = {"name": existing.name if existing else name, "model_id": model.id,
           "settings": json.dumps(values, sort_keys=True), "updated_at": stamp}
    with db.atomic():
        if existing:
            db.table(TABLE).update(existing.name, row)
        else:
            db.table(TABLE).insert({**row, "created_at": stamp})
    found = find_alias(db, name)
    assert found is not None
    return found


def find_alias(db: Database, name: str) -> Alias | None:
    """The alias of this name (case-insensitive), or None."""
    rows = list(db.query(f"select * from {TABLE} where name = ? collate nocase", [name.strip()]))
    return Alias.from_row(rows[0]) if rows else None


def list_aliases(db: Database) -> list[Alias]:
    return [Alias.from_row(r) for r in db.query(f"select * from {TABLE} order by name "
                                                 "collate nocase")]


def remove_alias(db: Database, name: str) -> Alias:
    found = find_alias(db, name)
    if found is None:
        raise NotFoundError(f"alias '{name}': no such alias (see 'alias list')")
    db.table(TABLE).delete(found.name)
    return found


def alias_model(db: Database, alias: Alias) -> Model:
    """The model an alias points at; a model removed since is one line naming both."""
    rows = list(db.table("models").rows_where("id = ?", [alias.model_id]))
    if not rows:
        raise NotFoundError(f"alias '{alias.name}': its model (library id {alias.model_id}) "
                            "is no longer in the library; point it at another with "
                            "'alias set'")
    return Model.from_row(rows[0])


def alias_for_contender(db: Database, name: str, contender_id: int) -> Alias:
    """Create or repoint ``name`` at a trial's contender: its model, and the settings that
    shaped the text it was judged on (speed settings stay this machine's own)."""
    from workbench.trials.contenders import get_contender, text_settings

    contender = get_contender(db, contender_id)
    model_id = contender.model_id
    if contender.model_sha256:
        rows = list(db.query("select id from models where sha256 = ? order by id limit 1",
                             [contender.model_sha256]))
        if rows:
            model_id = rows[0]["id"]
    if model_id is None or not list(db.table("models").rows_where("id = ?", [model_id])):
        raise NotFoundError(f"contender {contender.label}: its model "
                            f"({contender.model_name}) is no longer in the library")
    settings = {k: v for k, v in text_settings(contender.settings).items() if v is not None}
    return set_alias(db, name, model_id, settings)
