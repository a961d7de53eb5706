"""User settings, kept in the database beside the data they govern.

Values are JSON so a setting keeps its type. Reading an unset key gives its default, so a new
setting needs no migration. Secrets (the Hub token) are stored like any setting, only on this
machine, and are never printed: ``public_settings`` masks them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from workbench.errors import InvalidInputError

DEFAULTS: dict[str, Any] = {
    "models_dir": None,  # None: <data folder>/models
    "threads": None,  # None: llama.cpp's choice (physical cores)
    "gpu_layers": "auto",
    "context_length": 4096,
    "offline": False,
    "hub_endpoint": None,  # None: HF_ENDPOINT or https://huggingface.co
    "hub_token": None,
    "theme": "system",  # system, light, dark
    "sampling_preset": "balanced",
    "min_pass_rate": 80,  # %, the default bar of trial recommendations (CLI and window); 0: none
}
SECRET_KEYS = {"hub_token"}


def get_setting(db: Database, key: str) -> Any:
    if key not in DEFAULTS:
        raise InvalidInputError(f"setting '{key}': unknown (known: {', '.join(DEFAULTS)})")
    rows = list(db.table("settings").rows_where("key = ?", [key]))
    return json.loads(rows[0]["value"]) if rows else DEFAULTS[key]


def set_setting(db: Database, key: str, value: Any) -> None:
    if key not in DEFAULTS:
        raise InvalidInputError(f"setting '{key}': unknown (known: {', '.join(DEFAULTS)})")
    db.table("settings").upsert({"key": key, "value": json.dumps(value)}, pk="key")


def all_settings(db: Database) -> dict[str, Any]:
    values = dict(DEFAULTS)
    for row in db.table("settings").rows:
        if row["key"] in values:
            values[row["key"]] = json.loads(row["value"])
    return values


def mask(value: Any) -> Any:
    if not value:
        return value
    text = str(value)
    return text[:3] + "…" + "*" * 4 if len(text) > 6 else "*" * 4


def public_settings(db: Database) -> dict[str, Any]:
    """All settings with secrets masked: the only form that is ever shown or logged."""
    return {k: (mask(v) if k in SECRET_KEYS else v) for k, v in all_settings(db).items()}
