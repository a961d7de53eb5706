"""A contender: one model plus every setting that shapes its replies.

The same model under two settings is two contenders. Settings are resolved once, when the
contender is made (command overrides, then the model's defaults, then the global ones), and
stored in full, so a trial rerun a month later uses the same values even if the defaults moved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from workbench.engine import LoadSettings, SamplingSettings, parse_gpu_layers
from workbench.errors import InvalidInputError, NotFoundError
from workbench.library import Model, now
from workbench.model_settings import LOAD_KEYS, SAMPLING_KEYS, resolve_settings

#: Keys a contender accepts besides the load and sampling settings.
EXTRA_KEYS = {"system_prompt"}
INT_KEYS = {"n_ctx", "n_threads", "n_batch", "top_k", "max_tokens", "seed"}
FLOAT_KEYS = {"temperature", "top_p", "min_p", "repeat_penalty"}


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
    if text.lower() in ("none", "null", ""):
        return None
    try:
        if key in INT_KEYS:
            return int(text)
        if key in FLOAT_KEYS:
            return float(text)
        if key == "use_mmap":
            return text.lower() in ("1", "true", "yes", "on")
        if key == "gpu_layers":
            return parse_gpu_layers(text)
    except ValueError:
        raise InvalidInputError(f"setting {key}={text}: not a valid value") from None
    return text


def parse_set_options(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["temperature=0", "n_ctx=2048"]`` to a typed dict; unknown keys are refused."""
    known = LOAD_KEYS | SAMPLING_KEYS | EXTRA_KEYS
    values: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise InvalidInputError(f"--set {item}: expected KEY=VALUE")
        if key == "ctx":
            key = "n_ctx"
        if key not in known:
            raise InvalidInputError(
                f"--set {item}: unknown setting (known: {', '.join(sorted(known))})"
            )
        values[key] = coerce_value(key, value.strip())
    return values


def _fingerprint(model_key: str, settings: dict[str, Any]) -> str:
    blob = json.dumps({"model": model_key, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _store(db: Database, identity: dict[str, Any], settings: dict[str, Any]) -> Contender:
    """Insert the contender unless this model + settings pair is already stored."""
    fingerprint = _fingerprint(f"{identity['model_sha256']}:{identity['model_path']}",
                               settings)
    existing = list(db.table("contenders").rows_where("fingerprint = ?", [fingerprint]))
    if existing:
        return Contender.from_row(existing[0])
    row = {**identity, "fingerprint": fingerprint, "settings": json.dumps(settings),
           "created_at": now()}
    return get_contender(db, db.table("contenders").insert(row).last_pk or 0)


def _label(model: Model, overrides: dict[str, Any]) -> str:
    shown = {k: v for k, v in overrides.items() if k != "system_prompt" and v is not None}
    extra = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
    if overrides.get("system_prompt"):
        extra = ", ".join(p for p in (extra, "system prompt") if p)
    return f"{model.name} [{extra}]" if extra else model.name


def make_contender(
    db: Database, model: Model, overrides: dict[str, Any] | None = None,
    label: str | None = None,
) -> Contender:
    """Resolve the settings and store (or reuse) the contender for this model + settings."""
    overrides = dict(overrides or {})
    system_prompt = overrides.pop("system_prompt", None)
    load, sampling = resolve_settings(db, model, overrides)
    settings: dict[str, Any] = {**load.to_dict(), **sampling.to_dict(),
                                "system_prompt": system_prompt}
    identity = {
        "label": label or _label(model, {**overrides, "system_prompt": system_prompt}),
        "model_id": model.id,
        "model_name": model.name,
        "model_path": model.path,
        "model_sha256": model.sha256,
        "model_source": model.source,
        "file_size": model.file_size,
    }
    return _store(db, identity, settings)


def get_contender(db: Database, contender_id: int) -> Contender:
    rows = list(db.table("contenders").rows_where("id = ?", [contender_id]))
    if not rows:
        raise NotFoundError(f"contender {contender_id}: not found")
    return Contender.from_row(rows[0])


def list_contenders(db: Database) -> list[Contender]:
    return [Contender.from_row(r) for r in db.table("contenders").rows_where(order_by="id")]

