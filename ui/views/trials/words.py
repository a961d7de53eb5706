"""Contender settings as words ("greedy, up to 256 tokens"), never as a dict or KEY=VALUE
list, wherever the Trials page shows them (the picker's hint, the results' column tooltips,
the leaderboard's variant rows).

Kept to the same name and behaviour as the core's plain-language verdict helper
(``workbench.trials.plain.settings_in_words``, on its way in on another branch): once both
are merged this module becomes a re-export of that one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.errors import WorkbenchError
from workbench.trials.contenders import parse_set_options

_SAMPLING = SamplingSettings()
_LOAD = LoadSettings()


def settings_in_words(settings: Mapping[str, Any]) -> str:
    """``{"temperature": 0, "max_tokens": 256}`` as "greedy, up to 256 tokens": how the reply
    is sampled and how long it may be, then only what differs from the defaults."""
    words: list[str] = []
    temperature = settings.get("temperature")
    if temperature is not None and float(temperature) == 0:
        words.append("greedy")
    elif temperature is not None:
        words.append(f"temperature {float(temperature):g}")
        for key, name in (("top_p", "top-p"), ("top_k", "top-k"), ("min_p", "min-p")):
            value = settings.get(key)
            if value is not None and value != getattr(_SAMPLING, key):
                words.append(f"{name} {value:g}")
        if settings.get("seed") is not None:
            words.append(f"seed {settings['seed']}")
    penalty = settings.get("repeat_penalty")
    if penalty is not None and penalty != _SAMPLING.repeat_penalty:
        words.append(f"repeat penalty {penalty:g}")
    if "max_tokens" in settings:
        limit = settings["max_tokens"]
        words.append(f"up to {limit} tokens" if limit else "no length limit")
    n_ctx = settings.get("n_ctx")
    if n_ctx and n_ctx != _LOAD.n_ctx:
        words.append(f"{n_ctx}-token context")
    template = settings.get("template")
    if template and template != "auto":
        words.append(f"{template} template")
    if settings.get("system_prompt"):
        words.append("a system prompt")
    schema = settings.get("json_schema")
    if schema:
        words.append("JSON output" if str(schema).strip() == "{}" else "JSON following a schema")
    return ", ".join(words) or "default settings"


def typed_in_words(items: list[str]) -> str:
    """A picker row's ``KEY=VALUE`` items in words, or why they are not valid yet."""
    try:
        return settings_in_words(parse_set_options(items))
    except WorkbenchError as error:
        return str(error)


def contender_in_words(row: Mapping[str, Any]) -> str:
    """A contender as "model (settings in words)"; its stored label when the row has no
    model name and settings."""
    model, settings = row.get("model"), row.get("settings")
    if not model or settings is None:
        return str(row["label"])
    return f"{model} ({settings_in_words(settings)})"
