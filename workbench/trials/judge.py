"""Judge checks: a local model grades each reply against a rubric, and how far to trust it.

A judge check, ``{"judge": {"rubric": "...", "model": "ID or name", "min_score": 4,
"scale": 5}}``, is graded after the contenders' cells, in one pass per trial, so the judge
model loads once per trial and each contender's model once. The judge reads one fixed
judging prompt (:data:`JUDGE_PROMPT`; its sha256 is stored with every grade), the task, the
reference answer when the prompt has one, the reply and the rubric; it replies greedily
(temperature 0, a fixed seed, a fresh context) under a JSON schema enforced by llama.cpp's
grammar, ``{"score": 1..scale, "reason": "..."}``, so its answer always parses unless it
runs out of tokens. A grade that reaches ``min_score`` passes the check.

A judge that cannot grade (its model left the library, its file is gone, the engine crashed)
is that check's error for those cells: the check counts neither way and the trial goes on. A
judge that is also a contender is allowed; its grades of its own model's replies are marked
*self-judged*.

Judge agreement (:func:`judge_agreement`) sets the judge's grades beside the user's votes on
the same trial's replies (``trial compare`` + ``vote``): each pairwise game of a vote is an
item rated by two raters, the user and the judge, in three outcomes (the first contender's
reply better, the second's better, equal). The judge agrees when its outcome is the user's:
it scored the voted winner higher, or scored a tie (or "both bad") equally. A game the user
decided but the judge scored equally counts as a disagreement, and is also counted apart.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.engine import Engine, Reply
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.library import Model
from workbench.model_settings import Runnable, runnable
from workbench.trials import store
from workbench.trials.checks import overall
from workbench.trials.contenders import get_contender
from workbench.trials.grounded import GROUNDED_PROMPT_SHA256, grounded_messages
from workbench.trials.stats import cohen_kappa, wilson
from workbench.trials.suites import get_suite
from workbench.trials.votes import vote_games

JUDGE_SYSTEM = (
    "You are a careful, strict grader. You read a task given to an assistant, the "
    "assistant's reply and a rubric, and you grade how well the reply meets the rubric. "
    "Judge only the reply, not the task. Answer with JSON only: "
    '{"score": a whole number from 1 (worst) to the top of the scale (best), '
    '"reason": one short sentence}.')
JUDGE_TEMPLATE = (
    "Task:\n{prompt}\n\n{reference_block}Reply to grade:\n{reply}\n\nRubric:\n{rubric}\n\n"
    "Grade the reply from 1 to {scale}. {scale} means it fully meets the rubric, 1 that it "
    "does not meet it at all.")
REFERENCE_BLOCK = "Reference answer (a correct answer to compare with):\n{reference}\n\n"
#: The fixed judging prompt, as hashed: every part the judge reads besides the cell's text.
JUDGE_PROMPT = "\n\n".join((JUDGE_SYSTEM, JUDGE_TEMPLATE, REFERENCE_BLOCK))
JUDGE_PROMPT_SHA256 = hashlib.sha256(JUDGE_PROMPT.encode()).hexdigest()
#: Greedy, so the seed changes nothing; it is fixed and recorded all the same.
JUDGE_SEED = 0
#: The reason's longest length; with the score and the braces the answer fits in
#: :data:`JUDGE_MAX_TOKENS` even at one token a character.
REASON_MAX_CHARS = 300
JUDGE_MAX_TOKENS = 400
#: The judge replies greedily with a fixed seed and room for its answer.
JUDGE_OVERRIDES = {"temperature": 0.0, "seed": JUDGE_SEED, "max_tokens": JUDGE_MAX_TOKENS}
#: Each of the task, the reference and the reply is cut to this many characters for the judge
#: (the cut is marked), so a long reply cannot make the judging prompt unbounded.
MAX_QUOTED_CHARS = 4000
#: Below this many compared pairs, agreement is "not enough evidence".
MIN_AGREEMENT_PAIRS = 10
OUTCOMES = ("first", "second", "equal")


def judge_schema(scale: int) -> str:
    """The JSON schema of the judge's answer (canonical JSON text, as the engine takes it)."""
    schema = {"type": "object", "additionalProperties": False, "required": ["score", "reason"],
              "properties": {"score": {"type": "integer", "enum": list(range(1, scale + 1))},
                             "reason": {"type": "string", "minLength": 1,
                                        "maxLength": REASON_MAX_CHARS}}}
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def _quote(text: str) -> str:
    text = text.strip()
    if len(text) <= MAX_QUOTED_CHARS:
        return text
    return text[:MAX_QUOTED_CHARS] + f"\n[... cut: {len(text) - MAX_QUOTED_CHARS:,} more " \
                                      "characters]"


def judge_messages(prompt: str, reply: str, rubric: str, scale: int,
                   reference: str | None = None) -> list[dict[str, str]]:
    """The judging conversation for one reply: the fixed prompt filled in."""
    block = REFERENCE_BLOCK.format(reference=_quote(reference)) if reference else ""
    user = JUDGE_TEMPLATE.format(prompt=_quote(prompt), reference_block=block,
                                 reply=_quote(reply) or "(empty reply)", rubric=rubric,
                                 scale=scale)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def resolve_judge(db: Database, ref: str) -> Runnable:
    """The judge ready to run (:func:`judge_settings`), or one line saying why it cannot
    judge: no such model, several match, its file is missing."""
    try:
        ready = runnable(db, ref, JUDGE_OVERRIDES)
    except WorkbenchError as error:
        raise InvalidInputError(f"judge {error}") from None
    return judge_settings(ready)


def judge_settings(ready: Runnable) -> Runnable:
    """The judge's settings: its library defaults for loading (threads, context), greedy
    sampling with a fixed seed and room for its answer (:data:`JUDGE_OVERRIDES`, with which
    ``ready`` was made); the schema is set per check."""
    return replace(ready, sampling=replace(ready.sampling, top_k=1, repeat_penalty=1.0,
                                           template=None))


def pending(db: Database, trial_id: int) -> list[tuple[dict[str, Any], int, dict[str, Any]]]:
    """(cell, check index, judge spec) of every cell's judge check not yet graded (nor
    failed): what the judging pass does, and what a resume picks up. A ``grounded`` check
    is graded the same way (its spec marked ``"kind": "grounded"``) when its cell was
    answered from documents (otherwise it failed when the cell ran)."""
    graded = {(j["prompt_id"], j["contender_id"], j["repeat"], j["check_index"])
              for j in store.trial_judgements(db, trial_id)}
    work = []
    for cell in store.trial_cells(db, trial_id):
        for index, result in enumerate(cell["check_results"] or []):
            check = result.get("check") or {}
            key = (cell["prompt_id"], cell["contender_id"], cell["repeat"], index)
            if check.get("type") == "judge" and key not in graded:
                work.append((cell, index, check["value"]))
            elif check.get("type") == "grounded" and key not in graded and \
                    cell.get("grounding"):
                work.append((cell, index, {**check["value"], "kind": "grounded"}))
    return work


def judge_trial(db: Database, engine: Engine, trial_id: int, stop: threading.Event,
                on_reply: Callable[[Reply | None], None]) -> Iterator[tuple[int, int]]:
    """Grade every pending judge check of a trial, judge model by judge model (each loads
    once); yields (graded, total) after each grade and stops between (or, through
    ``on_reply``, inside) replies when ``stop`` is set. A stopped grade is not saved."""
    work = pending(db, trial_id)
    suite = get_suite(db, store.get_trial_row(db, trial_id)["suite_id"])
    prompts = {p.id: p for p in suite.prompts}
    by_judge: dict[str, list[tuple[dict[str, Any], int, dict[str, Any]]]] = defaultdict(list)
    for item in work:
        by_judge[item[2]["model"]].append(item)
    done = 0
    for ref, items in by_judge.items():
        try:
            judge: Runnable | None = resolve_judge(db, ref)
            failure = ""
        except WorkbenchError as error:
            judge, failure = None, str(error)
        for cell, index, spec in items:
            if stop.is_set():
                return
            if cell["status"] != "done":  # the reply itself failed: nothing to grade
                _save(db, cell, index, spec, {"error": "the reply failed; nothing to grade"})
            elif judge is None:
                _save(db, cell, index, spec, {"error": failure})
            else:
                values = _grade(db, engine, judge, cell, spec, prompts, stop, on_reply)
                if values is None:  # stopped inside the reply
                    return
                _save(db, cell, index, spec, values)
            done += 1
            yield done, len(work)


def _grade(db: Database, engine: Engine, judge: Runnable, cell: dict[str, Any],
           spec: dict[str, Any], prompts: dict[int | None, Any], stop: threading.Event,
           on_reply: Callable[[Reply | None], None]) -> dict[str, Any] | None:
    prompt = prompts.get(cell["prompt_id"])
    scale = int(spec["scale"])
    model, load = judge.model, judge.load
    sampling = replace(judge.sampling, json_schema=judge_schema(scale))
    if spec.get("kind") == "grounded":
        messages = grounded_messages(prompt.prompt if prompt else "", cell["content"] or "",
                                     cell["grounding"], scale, _quote)
    else:
        messages = judge_messages(prompt.prompt if prompt else "", cell["content"] or "",
                                  spec["rubric"], scale, prompt.reference if prompt else None)
    contender = get_contender(db, cell["contender_id"])
    values: dict[str, Any] = {
        "scale": scale, "min_score": int(spec["min_score"]), "judge_model": model.name,
        "judge_sha256": model.sha256, "prompt_sha256": GROUNDED_PROMPT_SHA256
        if spec.get("kind") == "grounded" else JUDGE_PROMPT_SHA256,
        "self_judged": int(_same_file(model, contender.model_sha256, contender.model_path)),
    }
    try:
        reply = engine.reply(model.path, messages, load=load, sampling=sampling, fresh=True)
    except WorkbenchError as error:
        return {**values, "error": f"judge {model.name}: {error}"}
    on_reply(reply)
    try:
        if stop.is_set():
            return None
        for _piece in reply:
            pass
    except WorkbenchError as error:
        return {**values, "error": f"judge {model.name}: {error}",
                "judge_settings": reply.stats.settings}
    finally:
        on_reply(None)
    if reply.stopped:
        return None
    values["judge_settings"] = reply.stats.settings
    try:
        answer = json.loads(reply.text)
        score, reason = answer["score"], str(answer["reason"]).strip()
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= scale:
            raise ValueError(score)
    except (ValueError, KeyError, TypeError):
        return {**values, "error": f"judge {model.name}: its answer did not parse "
                                   f"({reply.text[:80]!r}, {reply.stats.finish_reason})"}
    return {**values, "score": score, "reason": reason[:REASON_MAX_CHARS],
            "passed": int(score >= int(spec["min_score"]))}


def _same_file(model: Model, sha256: str, path: str) -> bool:
    """Whether the judge is the contender's own model file (by hash; by path without one)."""
    if model.sha256 and sha256:
        return model.sha256 == sha256
    return bool(path) and Path(model.path).resolve() == Path(path).resolve()


def _save(db: Database, cell: dict[str, Any], index: int, spec: dict[str, Any],
          values: dict[str, Any]) -> None:
    """Store a grade and fold it into the cell's check results and verdict."""
    values = {"scale": int(spec["scale"]), "min_score": int(spec["min_score"]),
              "prompt_sha256": JUDGE_PROMPT_SHA256, **values}
    results = [dict(r) for r in cell["check_results"]]
    check = results[index]["check"]
    if values.get("score") is None:
        results[index] = {"check": check, "passed": None,
                          "detail": f"not graded: {values.get('error') or 'no answer'}"[:300]}
    else:
        tag = " (self-judged)" if values.get("self_judged") else ""
        results[index] = {
            "check": check, "passed": bool(values["passed"]),
            "detail": f"{values['score']}/{values['scale']} by {values['judge_model']}{tag}"
                      f" (pass at {values['min_score']}): {values['reason']}"[:400],
            "score": values["score"], "scale": values["scale"], "reason": values["reason"],
            "judge_model": values["judge_model"], "self_judged": bool(values["self_judged"]),
        }
    # a failed reply stays failed (see TrialRun._run_cell); else the checks decide
    passed = False if cell["status"] != "done" else overall([r["passed"] for r in results])
    store.save_judgement(db, cell, index, values, results, passed)
    cell["check_results"] = results


# Agreement with the user's votes ---------------------------------------------------------------

def _outcome(first: float, second: float) -> str:
    return "first" if first > second else "second" if second > first else "equal"


def judge_agreement(db: Database, trial_id: int) -> list[dict[str, Any]]:
    """Per judge model, its grades set beside the user's votes on this trial's replies:
    pairs compared, agreed, disagreed (of which: the user decided and the judge scored
    equally), the agreement share with its 95% Wilson interval, and Cohen's kappa over the
    three outcomes. Grades of repeat 0 are used (votes are cast on repeat 0's replies);
    several judge checks of one judge on a prompt count by their mean share of the scale."""
    trial = store.get_trial_row(db, trial_id)
    suite = get_suite(db, trial["suite_id"])
    by_text: dict[str, list[int]] = defaultdict(list)
    for p in suite.prompts:
        if p.id is not None:
            by_text[p.prompt].append(p.id)
    grades: dict[str, dict[tuple[int, int], list[float]]] = defaultdict(lambda: defaultdict(
        list))
    names: dict[str, str] = {}
    for j in store.trial_judgements(db, int(trial["id"])):
        if j["score"] is None or j["repeat"] != 0:
            continue
        judge = j["judge_sha256"] or j["judge_model"]
        names[judge] = j["judge_model"]
        grades[judge][(j["prompt_id"], j["contender_id"])].append(j["score"] / j["scale"])
    votes = store.list_votes(db, trial_id=int(trial["id"]))
    rows = []
    for judge, scored in grades.items():
        mean = {key: sum(v) / len(v) for key, v in scored.items()}
        pairs: list[tuple[str, str]] = []
        for vote in votes:
            ids = by_text.get(vote["prompt"], [])
            for a, b, score in vote_games(vote):
                first, second = sorted((a, b))
                user = "equal" if score == 0.5 else ("first" if (a == first) == (score == 1)
                                                     else "second")
                found = next((i for i in ids if (i, first) in mean and (i, second) in mean),
                             None)
                if found is not None:
                    pairs.append((user, _outcome(mean[(found, first)], mean[(found, second)])))
        rows.append(agreement_figures(names[judge], judge, pairs))
    return rows


def agreement_figures(judge_model: str, judge_sha256: str,
                      pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Counts, share, Wilson interval, kappa and a line in words, from (user, judge)
    outcome pairs."""
    n = len(pairs)
    agree = sum(u == j for u, j in pairs)
    judge_tied = sum(u != "equal" and j == "equal" for u, j in pairs)
    low, high = wilson(agree, n)
    kappa = cohen_kappa(pairs)
    enough = n >= MIN_AGREEMENT_PAIRS
    if not n:
        text = (f"Judge {judge_model}: no votes on this trial's replies to compare with "
                "(vote with: trial compare ID N, then vote).")
    else:
        kappa_text = f"Cohen's kappa {kappa:.2f}" if kappa is not None else \
            "Cohen's kappa undefined (one outcome throughout)"
        text = (f"Judge {judge_model}: agreed with your votes on {agree} of {n} pairs "
                f"({agree / n:.0%}, 95% {low:.0%}–{high:.0%}), {kappa_text}; "
                f"{judge_tied} pair{'s' if judge_tied != 1 else ''} you decided it scored "
                "equally (counted as disagreement)")
        text += "." if enough else (f"; not enough evidence (under {MIN_AGREEMENT_PAIRS} "
                                    "pairs) to trust or distrust it.")
    return {"judge_model": judge_model, "judge_sha256": judge_sha256, "pairs": n,
            "agree": agree, "disagree": n - agree, "judge_tied": judge_tied,
            "agreement": agree / n if n else None, "agreement_low": low if n else None,
            "agreement_high": high if n else None, "kappa": kappa, "enough": enough,
            "text": text}


def cell_grades(judgements: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Grades by (prompt, contender, repeat), for the results matrix."""
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for j in judgements:
        out[(j["prompt_id"], j["contender_id"], j["repeat"])].append(
            {k: j[k] for k in ("check_index", "score", "scale", "min_score", "passed", "reason",
                               "judge_model", "judge_sha256", "prompt_sha256", "self_judged",
                               "error")})
    return out
