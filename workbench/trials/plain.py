"""A trial's verdict in plain words, for someone who is not a statistician.

:func:`plain_verdict` says in two or three sentences who did best, how each contender did
("4 of 4 prompts passed"), why a contender failed (the report's own words: "base model (not
tuned for chat)", "4 echoes of the prompt"), and what would settle the question ("To be sure
SmolLM2 reaches 80%, it needs to pass 12 more prompts"). Every number comes from the
:class:`~workbench.trials.recommend.Recommendation` it is given, whose parts are judged by
the confidence sequence of :mod:`.sequential` (valid however often it is read, held to Holm's
levels across contenders): where the evidence is thin the sentence says so and never claims
more, and "it needs to pass 12 more prompts" comes from the same rule.
The window's Recommendation tab, the CLI's trial summary and the reports
all open with this sentence, so the three say the same thing.

:func:`settings_in_words` writes a contender's settings as words ("greedy, up to 256
tokens") for the same three front ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.trials.recommend import FAILS, UNSURE, Part, Recommendation, Verdict
from workbench.units import human_size

_SAMPLING = SamplingSettings()
_LOAD = LoadSettings()


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.1f}"


def settings_in_words(settings: Mapping[str, Any]) -> str:
    """``{"temperature": 0, "max_tokens": 256}`` as "greedy, up to 256 tokens".

    Says how the reply is sampled and how long it may be, then only the settings that differ
    from the defaults (a context length, a seed, a system prompt, a JSON schema)."""
    words: list[str] = []
    temperature = settings.get("temperature")
    greedy = temperature is not None and float(temperature) == 0
    if greedy:
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
    if settings.get("json_schema"):
        words.append("JSON output" if settings["json_schema"].strip() == "{}"
                     else "JSON following a schema")
    words += documents_in_words(settings)
    return ", ".join(words) or "default settings"


def documents_in_words(settings: Mapping[str, Any]) -> list[str]:
    """A contender's documents: "from handbook-bge", "8 passages"."""
    words = []
    if settings.get("docs"):
        words.append("from " + ", ".join(settings["docs"]))
    if settings.get("k"):
        words.append(f"{settings['k']} passage{'s' * (settings['k'] != 1)}")
    return words


def contender_in_words(row: Mapping[str, Any]) -> str:
    """A contender as "model (settings in words)"; its stored label when the row has no
    model name and settings (a quant-compare row, a hand-made one)."""
    model, settings = row.get("model"), row.get("settings")
    if not model or settings is None:
        return str(row["label"])
    return f"{model} ({settings_in_words(settings)})"


def echoes_in_words(count: int) -> str:
    """"4 echoes of the prompt": replies that start by repeating their prompt."""
    return f"{count} echo{'es' if count != 1 else ''} of the prompt"


def failure_reasons(row: Mapping[str, Any]) -> list[str]:
    """Why a contender may have failed, as the report says it: "base model (not tuned for
    chat)", "4 echoes of the prompt"."""
    reasons = [str(row["kind"])] if row.get("kind") else []
    if row.get("echoes"):
        reasons.append(echoes_in_words(int(row["echoes"])))
    retrieval = row.get("retrieval")
    if retrieval and retrieval.get("prompts") and (retrieval.get("recall") or 0) < 1:
        reasons.append(f"retrieval found {retrieval['recall']:.0%} of the expected sources")
    return reasons


def _names(rows: list[dict[str, Any]]) -> list[str]:
    """Each row's short name: the model's, with its settings in words only where two
    contenders share the model."""
    models = [str(r.get("model") or r["label"]) for r in rows]
    return [contender_in_words(r) if models.count(m) > 1 else m
            for r, m in zip(rows, models, strict=True)]


def _passes(row: Mapping[str, Any]) -> tuple[float, int]:
    if "prompts_checked" in row:
        return float(row.get("prompts_passed") or 0), int(row.get("prompts_checked") or 0)
    checked = int(row.get("checked") or 0)
    return float(row.get("pass_rate") or 0) * checked, checked


def _record(row: Mapping[str, Any], *, full: bool) -> str:
    """ "4 of 4 prompts passed" (``full``) or "0 of 4", with the reasons a failure had."""
    passed, checked = _passes(row)
    if not checked:
        text = "no prompt checked yet"
    else:
        text = f"{_number(passed)} of {checked}" + (" prompts passed" if full else "")
    reasons = failure_reasons(row) if checked and passed < checked else []
    return f"{text}: {', '.join(reasons)}" if reasons else text


def _settle(name: str, part: Part) -> str:
    """What would settle a part still short of evidence, in words."""
    more = part.more_needed
    if part.name == "speed":
        return (f"to judge {name}'s speed, run it warm {more} more "
                f"time{'s' if more != 1 else ''}")
    goal = f"To be sure {name} reaches {part.need:.0%}"
    what = {"pass rate": ("pass", "prompts"), "votes won or tied": ("win or tie", "votes"),
            "top-1 agreement": ("agree on", "positions")}.get(part.name, ("pass", "prompts"))
    if more is None:
        return f"{goal} would take more {what[1]} than any suite has"
    return f"{goal}, it needs to {what[0]} {more} more {what[1]}"


def _short_of(name: str, part: Part) -> str:
    if part.name == "speed":
        return f"{name} is too slow for your bar"
    return f"{name} falls short of {part.need:.0%} {part.name}"


def _next_step(name: str, verdict: Verdict) -> str:
    """The leader's parts that are not settled yet, or failed, in one sentence."""
    steps = [_settle(name, p) for p in verdict.parts if p.outcome == UNSURE]
    fails = [_short_of(name, p) for p in verdict.parts if p.outcome == FAILS]
    sentence = "; ".join([*fails, *steps])
    return sentence[:1].upper() + sentence[1:] + "." if sentence else ""


def plain_verdict(rec: Recommendation) -> str:
    """The verdict in one to three plain sentences (see the module)."""
    rows = rec.rows
    if not rows:
        return "No contenders to judge yet."
    names = _names(rows)
    labels = [r["label"] for r in rows]
    if rec.choice is not None:
        leader = labels.index(rec.choice["label"])
    elif rec.closest is not None:
        leader = labels.index(rec.closest["label"])
    else:
        leader = labels.index(rec.ranked[0]) if rec.ranked else 0
    row, name = rows[leader], names[leader]
    if not any(_passes(r)[1] for r in rows) and (not rec.bar.is_set()
                                                  or rec.bar.min_pass_rate is not None):
        return ("No prompt has been checked yet: give the prompts checks (or a judge) and "
                "run the trial to see which contender passes them.")
    size = f" ({human_size(row.get('file_size'))})" if row.get("file_size") else ""
    record = _record(row, full=True)
    tied = [n for r, n in zip(rows, names, strict=True)
            if r is not row and _passes(r) == _passes(row) and _passes(r)[1]]
    if rec.choice is not None:
        first = (f"Recommended: {name}{size}, the smallest shown to meet your bar "
                 f"({rec.bar.describe()}): {record}.")
    elif tied:
        first = (f"No clear leader yet: {name} and {', '.join(tied)} did the same "
                 f"({record}).")
    elif rec.bar.is_set() and any(p.outcome == FAILS for p in rec.verdicts[leader].parts):
        first = (f"No contender meets your bar ({rec.bar.describe()}). Closest: "
                 f"{name}{size}: {record}.")
    else:
        first = f"Best so far: {name}{size}: {record}."
    others = [f"{n}: {_record(r, full=False)}."
              for r, n in zip(rows, names, strict=True)
              if r is not row and n not in tied]
    sentences = [first, *others]
    if rec.choice is not None:
        sentences += [_bigger(line, names[labels.index(line["label"])])
                      for line in rec.paired if line["label"] in labels]
    elif not rec.bar.is_set():
        sentences.append("Set a minimum pass rate to get a recommendation.")
    else:
        sentences.append(_next_step(name, rec.verdicts[leader]))
    return " ".join(s for s in sentences if s)


def _bigger(line: Mapping[str, Any], name: str) -> str:
    """A larger contender against the recommended one, in words (the exact McNemar test on
    the prompts both were checked on); nothing when it did worse: its record says so."""
    difference = line.get("difference", 0)
    if difference < 0:
        return ""
    if difference == 0:
        return f"{name} is bigger and did no better on these prompts."
    if line.get("significant"):
        return f"{name} is bigger and did measurably better on these prompts."
    return f"{name} is bigger but not measurably better on these prompts."
