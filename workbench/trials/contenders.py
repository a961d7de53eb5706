"""A contender: one model file plus the settings that change the text it writes.

Identity is the model's sha256 plus every setting that shapes the reply: sampling (temperature,
top-p/k, min-p, repeat penalty, max tokens, seed), the chat template, the system prompt, any
schema, ``tool_choice`` (for the suite prompts that offer tools), and the context length (the
simple honest rule: it truncates long conversations, so it may change the text). Threads,
batch size, mmap and GPU layers change speed, not text, so they do not make a new contender:
asking again with other threads reuses the contender and records the new values for the next
run. Settings are resolved once, when the contender is made (command overrides, then the
model's defaults, then the global ones), and stored in full, so a trial rerun a month later
uses the same values even if the defaults moved.

Over documents, a contender may also name the collections it answers from (``docs``: a
collection has its own embedding model, so ``--set docs=handbook-bge`` and ``--set
docs=handbook-e5`` differ in embedding model) and how many passages it retrieves (``k``).
Both change the text, so both are part of its identity; they are stored only when given,
so a contender without them keeps the identity it always had.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from workbench.engine import LoadSettings, SamplingSettings, parse_gpu_layers
from workbench.engine.settings import describe_schema, schema_value
from workbench.errors import InvalidInputError, NotFoundError
from workbench.library import Model, now
from workbench.model_settings import LOAD_KEYS, SAMPLING_KEYS, Runnable, runnable

#: Settings that change speed or memory but not the text: they never make a new contender.
#: A draft (speculative decoding) is one of them: the target samples every token itself, so
#: the draft changes how fast the text comes, not which text (see workbench.engine.speculative;
#: like threads, its batches round differently, which can turn a near tie).
NON_TEXT_KEYS = {"n_threads", "n_batch", "use_mmap", "gpu_layers", "workers", "split",
                 "draft", "draft_max", "draft_p_min"}
INT_KEYS = {"n_ctx", "n_threads", "n_batch", "top_k", "max_tokens", "seed", "k", "draft_max"}
#: Settings of a contender over documents (see the module docstring), not of the model.
DOC_KEYS = ("docs", "k")
FLOAT_KEYS = {"temperature", "top_p", "min_p", "repeat_penalty", "draft_p_min"}


@dataclass
class Contender:
    """A stored contender; ``settings`` holds resolved load + sampling values."""

    id: int
    label: str
    model_id: int | None
    model_name: str
    model_path: str
    model_sha256: str
    model_source: str
    file_size: int
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Contender:
        return cls(
            id=row["id"],
            label=row["label"],
            model_id=row["model_id"],
            model_name=row["model_name"] or "",
            model_path=row["model_path"] or "",
            model_sha256=row["model_sha256"] or "",
            model_source=row["model_source"] or "local",
            file_size=row["file_size"] or 0,
            settings=json.loads(row["settings"] or "{}"),
        )

    @property
    def load(self) -> LoadSettings:
        values = {k: v for k, v in self.settings.items() if k in LOAD_KEYS}
        if "gpu_layers" in values:
            values["gpu_layers"] = parse_gpu_layers(values["gpu_layers"])
        return LoadSettings(**values)

    @property
    def sampling(self) -> SamplingSettings:
        return SamplingSettings(**{k: v for k, v in self.settings.items() if k in SAMPLING_KEYS})

    @property
    def system_prompt(self) -> str | None:
        return self.settings.get("system_prompt") or None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def coerce_value(key: str, text: Any) -> Any:
    """Turn a ``KEY=VALUE`` string into the setting's type; a bad value is one clear line."""
    if not isinstance(text, str):
        return text
    if key == "tool_choice":  # "none" is a choice here, not an unset value
        from workbench.trials.tool_prompts import check_choice

        return check_choice(text.strip())
    if text.lower() in ("none", "null", ""):
        return None
    if key == "json_schema":
        return schema_value(text, f"setting {key}")
    if key == "docs":  # docs=handbook or docs=handbook,notes
        return [name.strip() for name in text.split(",") if name.strip()]
    try:
        if key in INT_KEYS:
            return int(text)
        if key in FLOAT_KEYS:
            return float(text)
        if key == "use_mmap":
            return {"1": True, "true": True, "yes": True, "on": True, "0": False,
                    "false": False, "no": False, "off": False}[text.lower()]
        if key == "gpu_layers":
            return parse_gpu_layers(text)
    except (ValueError, KeyError):
        raise InvalidInputError(f"setting {key}={text}: not a valid value") from None
    return text


def parse_set_options(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["temperature=0", "n_ctx=2048"]`` to a typed dict. A key that is not a setting is
    kept as given: :func:`~workbench.model_settings.runnable` refuses it, in one line, like
    every other way a setting arrives."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise InvalidInputError(f"--set {item}: expected KEY=VALUE")
        if key == "ctx":
            key = "n_ctx"
        values[key] = coerce_value(key, value.strip())
    return values


def text_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that make a contender what it is (those that can change the text)."""
    return {k: v for k, v in settings.items() if k not in NON_TEXT_KEYS}


def identity_key(model_sha256: str, model_path: str, settings: dict[str, Any]) -> str:
    """One contender's identity: model file by sha256 (by path only when no hash is known)
    plus its text-shaping settings."""
    model = model_sha256 or f"path:{model_path}"
    blob = json.dumps({"model": model, "settings": text_settings(settings)}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def contender_identity(contender: Contender) -> str:
    return identity_key(contender.model_sha256, contender.model_path, contender.settings)


def variant_label(settings: dict[str, Any]) -> str:
    """The text-shaping settings in a short line, for a leaderboard's sub-rows."""
    shown = _shown(text_settings(settings))
    system = shown.pop("system_prompt", None)
    text = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()) if v is not None)
    return ", ".join(p for p in (text, "system prompt" if system else "") if p) or "defaults"


def _store(db: Database, identity: dict[str, Any], settings: dict[str, Any]) -> Contender:
    """Insert the contender unless one with this identity is already stored; then refresh
    its speed-only settings (threads...) to the ones asked for now."""
    key = identity_key(identity["model_sha256"], identity["model_path"], settings)
    where, params = (("model_sha256 = ?", [identity["model_sha256"]]) if identity[
        "model_sha256"] else ("model_path = ?", [identity["model_path"]]))
    for row in db.table("contenders").rows_where(where, params, order_by="id"):
        found = Contender.from_row(row)
        if contender_identity(found) == key:
            if found.settings != settings:
                db.table("contenders").update(found.id, {"settings": json.dumps(settings)})
                found.settings = settings
            return found
    row = {**identity, "fingerprint": key, "settings": json.dumps(settings),
           "created_at": now()}
    return get_contender(db, db.table("contenders").insert(row).last_pk or 0)


def _shown(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as a label shows them: a schema by its title or fingerprint, not its text."""
    if settings.get("json_schema"):
        return {**settings, "json_schema": describe_schema(settings["json_schema"])}
    return settings


def doc_settings(db: Database, overrides: dict[str, Any]) -> dict[str, Any]:
    """Take ``docs`` and ``k`` out of ``overrides``, checked: the collections exist, k is a
    whole number in range. Returned as stored (empty when neither is given)."""
    from workbench.documents.collections import get_collection
    from workbench.trials.sources import check_k, normalize_docs

    out: dict[str, Any] = {}
    docs = overrides.pop("docs", None)
    if docs:
        out["docs"] = normalize_docs(docs, "setting docs")
        for name in out["docs"]:
            get_collection(db, name)
    k = overrides.pop("k", None)
    if k is not None:
        out["k"] = check_k(k, "setting k")
    return out


def _label(model: Model, overrides: dict[str, Any]) -> str:
    shown = {k: v for k, v in _shown(overrides).items()
             if k != "system_prompt" and k not in NON_TEXT_KEYS and v is not None}
    if isinstance(shown.get("docs"), list):
        shown["docs"] = ",".join(shown["docs"])
    extra = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
    if overrides.get("system_prompt"):
        extra = ", ".join(p for p in (extra, "system prompt") if p)
    return f"{model.name} [{extra}]" if extra else model.name


def make_contender(
    db: Database, model: Model | str | int, overrides: dict[str, Any] | None = None,
    label: str | None = None,
) -> Contender:
    """Get the model ready (:func:`~workbench.model_settings.runnable`: found, its file there,
    the settings resolved) and store (or reuse) the contender for this model + settings."""
    overrides = dict(overrides or {})
    if overrides.get("json_schema") is not None:  # the window passes text, the CLI a file
        overrides["json_schema"] = schema_value(overrides["json_schema"])
    asked = dict(overrides)
    documents = doc_settings(db, overrides)
    ready = runnable(db, model, overrides)
    found, system_prompt = ready.model, ready.system_prompt
    settings: dict[str, Any] = {**ready.load.to_dict(), **ready.sampling.to_dict(),
                                "system_prompt": system_prompt, **_tool_choice(ready),
                                **documents}
    identity = {
        "label": label or _label(found, asked),
        "model_id": found.id or None,  # a remote model (id 0) is in no library
        "model_name": found.name,
        "model_path": found.path,
        "model_sha256": found.sha256,
        "model_source": found.source,
        "file_size": found.file_size,
    }
    return _store(db, identity, settings)


def _tool_choice(ready: Runnable) -> dict[str, Any]:
    """A contender's ``tool_choice`` (``--set tool_choice=required``): part of its identity,
    used by the suite prompts that offer tools (their tools are the prompt's, not the
    contender's). Absent when not set, so contenders made before it keep their identity."""
    from workbench.trials.tool_prompts import check_choice

    choice = check_choice(ready.sampling.tool_choice)
    return {"tool_choice": choice} if choice else {}


def contenders_from(db: Database, chosen: Iterable[tuple[str | int, Sequence[str]]],
                    shared: dict[str, Any] | None = None) -> list[Contender]:
    """The contenders a comparison or trial names: one per (model reference, ``KEY=VALUE``
    items) pair, as the window's rows and the CLI's ``--model``/``--set`` give them, each
    pair's items over ``shared``. Made in order; the first that cannot run is one line."""
    return [make_contender(db, ref, {**(shared or {}), **parse_set_options(list(items))})
            for ref, items in chosen]


def get_contender(db: Database, contender_id: int) -> Contender:
    rows = list(db.table("contenders").rows_where("id = ?", [contender_id]))
    if not rows:
        raise NotFoundError(f"contender {contender_id}: not found")
    return Contender.from_row(rows[0])


def list_contenders(db: Database) -> list[Contender]:
    return [Contender.from_row(r) for r in db.table("contenders").rows_where(order_by="id")]

