"""Rerunning a trial exactly, and saying what changed.

The rerun reuses the stored contenders (whose settings and seed were fixed when the first run
was made), so any difference comes from the machine, the versions or the model file, and the
diff names those too: a changed llama-cpp-python version explains a changed reply.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from workbench.trials import store
from workbench.trials.contenders import get_contender
from workbench.trials.runner import create_trial


def rerun_trial(db: Database, trial_id: int) -> int:
    old = store.get_trial_row(db, trial_id)
    contenders = [get_contender(db, i) for i in old["contender_ids"]]
    return create_trial(db, old["suite_id"], contenders, seed=old["seed"],
                        repeats=old["repeats"], name=old["name"] or "",
                        rerun_of=int(old["id"]))


def diff_trials(db: Database, old_id: int, new_id: int) -> dict[str, Any]:
    """Cell by cell: reply text, check verdict, and median speed change."""
    def cells(trial_id: int) -> dict[tuple[int, int], dict[str, Any]]:
        return {(c["prompt_id"], c["contender_id"]): c for c in store.trial_cells(db, trial_id)
                if c["repeat"] == 0}

    before, after = cells(old_id), cells(new_id)
    lines = []
    changed_text = changed_verdict = 0
    speed_ratios = []
    for key, new in sorted(after.items()):
        old = before.get(key)
        if old is None:
            continue
        label = f"prompt {key[0]}, contender {get_contender(db, key[1]).label}"
        if old["content"] != new["content"]:
            changed_text += 1
            lines.append(f"{label}: reply changed")
        if old["passed"] != new["passed"]:
            changed_verdict += 1
            lines.append(f"{label}: checks {_verdict(old['passed'])} → {_verdict(new['passed'])}")
        if old["gen_tps"] and new["gen_tps"]:
            speed_ratios.append(new["gen_tps"] / old["gen_tps"])
    versions = set()
    for key in after:
        if key in before:
            for name in ("workbench", "llama_cpp_python"):
                a = (before[key]["settings"] or {}).get(name)
                b = (after[key]["settings"] or {}).get(name)
                if a != b:
                    versions.add(f"{name} {a} → {b}")
    lines = sorted(versions) + lines
    speed = (f"; generation speed {sorted(speed_ratios)[len(speed_ratios) // 2]:.2f}× the "
             "first run (median)" if speed_ratios else "")
    summary = (f"Rerun {new_id} of trial {old_id}: {len(after)} cells, {changed_text} replies "
               f"changed, {changed_verdict} check verdicts changed{speed}.")
    return {"old": old_id, "new": new_id, "changed_replies": changed_text,
            "changed_verdicts": changed_verdict, "summary": summary, "lines": lines}


def _verdict(passed: Any) -> str:
    return "–" if passed is None else ("pass" if passed else "fail")
