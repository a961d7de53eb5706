"""``--self-check MODEL.gguf``: prove an install (a frozen bundle above all) can run a model.

Loads the model, generates a few tokens, runs a trial's JSON-schema check on the reply's
settings (which needs the meta-schemas that the ``jsonschema`` package reads from its data files,
the part of a bundle most easily left behind) and prints one JSON line, so a release workflow
can check each built installer with one command and no window.
"""

from __future__ import annotations

import json
import platform
import sys

import llama_cpp

from workbench import __version__
from workbench.engine import Engine, LoadSettings, SamplingSettings, gpu_offload_supported


def run_self_check(model_path: str) -> None:
    engine = Engine()
    reply = engine.reply(
        model_path,
        [{"role": "user", "content": "Say hello."}],
        load=LoadSettings(n_ctx=512, gpu_layers="auto"),
        sampling=SamplingSettings(temperature=0.0, seed=1, max_tokens=16),
    )
    text = "".join(reply)
    engine.unload()
    checks_work = _trial_checks_work(reply.stats.settings)
    result = {
        "ok": bool(text.strip()) and checks_work,
        "trial_checks": checks_work,
        "version": __version__,
        "llama_cpp_python": llama_cpp.__version__,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "frozen": bool(getattr(sys, "frozen", False)),
        "gpu_offload": gpu_offload_supported(),
        "gpu_layers": reply.stats.settings.get("gpu_layers"),
        "tokens": reply.stats.completion_tokens,
        "tokens_per_s": round(reply.stats.gen_tps or 0.0, 1),
        "load_ms": round(reply.stats.load_ms or 0.0),
    }
    print(json.dumps(result))
    if not result["ok"]:
        sys.exit(1)


def _trial_checks_work(settings: dict[str, object]) -> bool:
    from workbench.trials.checks import normalize_check, run_check

    schema = {"type": "object", "required": ["seed"], "properties": {"seed": {"type": "integer"}}}
    check = normalize_check({"json_schema": schema})
    return bool(run_check(check, json.dumps(settings)).passed) and not run_check(check, "{}").passed
