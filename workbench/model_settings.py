"""A model ready to run, and which settings it runs with.

Settings: the command's, else the model's own defaults, else the user's global settings, else
the built-in defaults. :func:`runnable` is the one way every front end and feature (chat,
compare, trials, the judge, quant-compare, the server) gets a model ready: found by reference,
its file checked, its settings resolved and checked, so a missing file or an unknown setting
reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench import endpoints, vision_models
from workbench.engine import PRESETS, LoadSettings, SamplingSettings, parse_gpu_layers
from workbench.engine.endpoint_http import Target, is_remote
from workbench.errors import InvalidInputError, ModelFileError
from workbench.library import Model, get_model
from workbench.settings import all_settings, check_value

LOAD_KEYS = {f.name for f in fields(LoadSettings)}
#: Load settings bounded by the user setting of the same meaning (its definition's range).
CHECKED_AS = {"n_threads": "threads", "n_ctx": "context_length"}
SAMPLING_KEYS = {f.name for f in fields(SamplingSettings)}
#: Settings a request may carry besides the load and sampling ones.
EXTRA_KEYS = {"system_prompt"}
KNOWN_KEYS = LOAD_KEYS | SAMPLING_KEYS | EXTRA_KEYS


@dataclass(frozen=True)
class Runnable:
    """A library model whose file is there, and the settings it loads and replies with."""

    model: Model
    load: LoadSettings
    sampling: SamplingSettings
    system_prompt: str | None = None


def check_keys(settings: Mapping[str, Any]) -> None:
    """One line naming the first key that is not a setting (:data:`KNOWN_KEYS`): a
    misspelt setting is refused, never silently dropped."""
    known = KNOWN_KEYS
    for key in settings:
        if key not in known:
            raise InvalidInputError(f"setting '{key}': unknown (known: "
                                    f"{', '.join(sorted(known))})")


def find_model(db: Database, ref: str | int | Model) -> Model:
    """The model ``ref`` names: a library id or name, or ``endpoint:NAME/MODEL`` (a model
    an endpoint serves, :mod:`workbench.endpoints`); one line when there is none."""
    if isinstance(ref, Model):
        return ref
    if endpoints.is_endpoint_ref(ref):
        return endpoints.remote_model(endpoints.resolve(db, str(ref)))
    return get_model(db, ref)


def check_file(model: Model) -> Model:
    """The model, or one line saying its file is gone (moved, deleted, a disk unplugged).
    A remote model has no file here: it is taken as it is."""
    if is_remote(model.path):
        return model
    if not Path(model.path).is_file():
        raise ModelFileError(f"model '{model.name}': its file is missing ({model.path}); it "
                             "may have been moved or deleted: add it again, or remove it from "
                             "the library")
    return model


def runnable(db: Database, ref: str | int | Model,
             overrides: Mapping[str, Any] | None = None) -> Runnable:
    """The model ``ref`` names (an id, or a name or file name unambiguous as a prefix, or
    ``endpoint:NAME/MODEL``; a :class:`Model` already found is taken as it is), checked and
    resolved to run.

    Raises one line: no such model or several match (:class:`ModelNotFound`), its file is
    missing (:class:`ModelFileError`), a remote one while offline (:class:`OfflineError`), or
    a setting is unknown or of the wrong type (:class:`InvalidInputError`)."""
    model = find_model(db, ref)
    check_file(model)
    if is_remote(model.path):
        endpoints.check_online(db, Target.from_path(model.path))
    values = dict(overrides or {})
    check_keys(values)
    system_prompt = values.pop("system_prompt", None)
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise InvalidInputError("setting 'system_prompt': must be text")
    try:
        load, sampling = resolve_settings(db, model, values)
    except TypeError as error:  # a value of the wrong type reached a settings dataclass
        raise InvalidInputError(f"settings: {error}") from None
    return Runnable(model, load, sampling, system_prompt)


def resolve_settings(
    db: Database, model: Model, overrides: dict[str, Any] | None = None
) -> tuple[LoadSettings, SamplingSettings]:
    """Overrides win over the model's settings, which win over the global ones. Keys that
    are not settings are skipped here (a model's stored settings may keep other keys):
    :func:`runnable` refuses them in what a caller asks for."""
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
    if "workers" in load:
        from workbench.workers import resolve_workers

        load["workers"] = resolve_workers(db, load["workers"])
    load["mmproj"] = vision_models.usable_projector(model.mmproj)
    return LoadSettings(**load), SamplingSettings(**sampling)
