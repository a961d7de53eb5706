"""Which settings a reply uses: the command's, else the model's own defaults, else the
user's global settings, else the built-in defaults. One function so the CLI, the window and
trials all agree.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlite_utils import Database

from workbench.engine import PRESETS, LoadSettings, SamplingSettings, parse_gpu_layers
from workbench.library import Model
from workbench.settings import all_settings, check_value

LOAD_KEYS = {f.name for f in fields(LoadSettings)}
#: Load settings bounded by the user setting of the same meaning (its definition's range).
CHECKED_AS = {"n_threads": "threads", "n_ctx": "context_length"}
SAMPLING_KEYS = {f.name for f in fields(SamplingSettings)}


def resolve_settings(
    db: Database, model: Model, overrides: dict[str, Any] | None = None
) -> tuple[LoadSettings, SamplingSettings]:
    """Overrides win over the model's settings, which win over the global ones."""
    app = all_settings(db)
    base = PRESETS.get(str(app.get("sampling_preset")), SamplingSettings())
    load: dict[str, Any] = {
        "n_ctx": app["context_length"],
        "n_threads": app["threads"],
        "gpu_layers": app["gpu_layers"],
    }
    sampling = base.to_dict()
    for source in (model.settings, overrides or {}):
        for key, value in source.items():
            if value is None:
                continue
            if key in LOAD_KEYS:
                load[key] = check_value(CHECKED_AS[key], value) if key in CHECKED_AS else value
            elif key in SAMPLING_KEYS:
                sampling[key] = value
    if model.context_length:
        load["n_ctx"] = min(int(load["n_ctx"]), int(model.context_length))
    load["gpu_layers"] = parse_gpu_layers(load["gpu_layers"])
    return LoadSettings(**load), SamplingSettings(**sampling)
