"""Reports: a trial or a comparison as one self-contained HTML file, or as Markdown.

The HTML carries its style inline and its charts as inline SVG; it has no script, no link,
no image source and no URL, so it opens offline and leaks nothing when shared. Each cell's
reproducibility record (model sha256 and source, every setting, seed, template, versions) is
in the file.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from sqlite_utils import Database

from workbench.trials.plain import (
    contender_in_words,
    echoes_in_words,
    failure_reasons,
    plain_verdict,
)
from workbench.trials.recommend import Bar, Recommendation, recommend
from workbench.trials.results import trial_summary
from workbench.trials.sources import retrieval_words
from workbench.trials.svg import trial_charts
from workbench.trials.tool_checks import describe_call
from workbench.trials.votes import comparison_view
from workbench.units import human_ms, human_size, human_spread, human_tps, reply_metrics

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
vertical-align:top;text-align:left}th{background:#f3f4f6}pre{white-space:pre-wrap;margin:0;
font:12px/1.35 ui-monospace,monospace}.pass{color:#15803d}.fail{color:#b91c1c}
.charts{display:flex;flex-wrap:wrap;gap:1em}details{margin:.3em 0}.muted{color:#666}"""


def _css(passed: Any) -> str:
    return "muted" if passed is None else ("pass" if passed else "fail")


def _pass(passed: Any) -> str:
    return "–" if passed is None else ("pass" if passed else "fail")


def _count(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.1f}"


def contender_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row per contender, shared by the HTML and Markdown reports. Pass rates count
    prompts (a prompt scores the share of its repeats that pass), with the 95% interval."""
    rows = []
    for c in summary["contenders"]:
        n = c.get("prompts_checked", c["checked"])
        rate = (f"{c['pass_rate']:.0%} ({_count(c.get('prompts_passed', c['passed']))}/{n} "
                f"prompts, 95% {c['pass_low']:.0%}–{c['pass_high']:.0%})" if n else "–")
        votes = (f"{c['vote_share']:.0%} of {c['votes']}" if c["votes"] else "no votes")
        label = contender_in_words(c) + (f" [{c['kind']}]" if c.get("kind") else "")
        if c.get("self_judged"):
            label += " [self-judged]"
        if c.get("judged"):
            rate += f"; judge {judge_mean(c)} over {c['judged']}"
        if c.get("judge_errors"):
            rate += f"; {c['judge_errors']} not graded (judge error)"
        if c.get("echoes"):
            rate += f"; {echoes_in_words(c['echoes'])}"
        if c.get("tool_calls") is not None:
            rate += f"; {tool_calls_in_words(c)}"
        rows.append([label, human_size(c["file_size"]), rate, votes,
                     human_spread(c["gen_tps"], human_tps), human_spread(c["ttft_ms"], human_ms),
                     human_spread(c["cold"]["load_ms"], human_ms),
                     human_spread(c["cold"]["ttft_ms"], human_ms), human_size(c["peak_rss"])])
    return rows


def tool_calls_in_words(c: dict[str, Any]) -> str:
    """A contender's tool calls over the prompts that offer tools: "4 of 5 tool calls valid"."""
    made = c["tool_calls"]
    if not made:
        return "no tool calls"
    return f"{c['valid_calls']} of {made} tool call{'s' if made != 1 else ''} valid"


def call_lines(cell: dict[str, Any]) -> list[str]:
    """A cell's tool calls, one line each, and the loop's end when its bound stopped it."""
    record = cell.get("tool_calls")
    if not record:
        return []
    lines = [f"call {c.get('step', 1)}: {describe_call(c)}" for c in record.get("calls", [])]
    if not lines:
        lines = ["no tool call"]
    if record.get("steps", 1) > 1:
        lines.append(f"{record['steps']} steps to the answer")
    if record.get("stopped"):
        lines.append(str(record["stopped"]))
    return lines


def judge_mean(c: dict[str, Any]) -> str:
    """A contender's mean judge grade: "3.4/5" on one scale, else a share of the scale."""
    if c.get("judge_mean") is not None:
        return f"{c['judge_mean']:.1f}/{c['judge_scale']}"
    return f"{c['judge_share']:.0%} of the scale" if c.get("judge_share") is not None else "–"


def check_mark(result: dict[str, Any]) -> str:
    """✓, ✗, or … for a check that decided nothing (a judge not run yet, or failed)."""
    return "…" if result["passed"] is None else ("✓" if result["passed"] else "✗")


def judge_lines(summary: dict[str, Any]) -> list[str]:
    """The judge agreement lines, and a note on grades still to come or self-judged."""
    lines = [j["text"] for j in summary.get("judges", [])]
    if summary.get("judge_pending"):
        lines.append(f"{summary['judge_pending']} judge grades still to do "
                     "(resume the trial to grade them).")
    selfs = [c["label"] for c in summary["contenders"] if c.get("self_judged")]
    if selfs:
        lines.append("Self-judged (the judge is this contender's own model): "
                     + ", ".join(selfs) + ".")
    if lines:
        lines.append(f"Judging prompt sha256 {summary['judge_prompt_sha256']}.")
    return lines


def retrieval_lines(summary: dict[str, Any]) -> list[str]:
    """Per contender over documents, recall@k and MRR over the prompts that name sources
    (with 95% Wilson intervals), beside its pass rate: a failure with high recall is the
    model's, one with low recall the retrieval's."""
    lines = []
    for c in summary["contenders"]:
        words = retrieval_words(c.get("retrieval"))
        if words:
            rate = (f"; pass rate {c['pass_rate']:.0%}" if c.get("pass_rate") is not None
                    else "")
            lines.append(f"{contender_in_words(c)}: {words}{rate}.")
    if lines:
        lines.append("Recall@k: the share of a prompt's sources among the k passages "
                     "retrieved; MRR: 1 / the rank of the first passage that is one. Low "
                     "recall with failing checks: the retrieval missed; high recall with "
                     "failing checks: the model did.")
    return lines


#: How a reply that starts by repeating its prompt is flagged (``checks.is_echo``).
ECHO_NOTE = "echo: the reply starts by repeating the prompt"

HEADERS = ["Contender", "File", "Pass rate", "Votes won/tied (this trial)", "Speed (warm)",
           "TTFT (warm)", "Load (cold)", "TTFT (cold)", "Peak memory"]


def recommendation_lines(verdict: Recommendation) -> list[str]:
    """The recommendation as text lines: the verdict in plain words (:mod:`.plain`), the
    verdict with its statistics, each contender (its settings in words, why it may have
    failed) with its parts of the bar (meets / fails / not enough evidence, with the
    numbers) and the paired comparisons."""
    lines = [plain_verdict(verdict), verdict.reason]
    if verdict.bar.is_set():
        rows = verdict.rows or [{"label": v.label} for v in verdict.verdicts]
        for v, row in zip(verdict.verdicts, rows, strict=True):
            lines.append(f"- {'; '.join([contender_in_words(row), *failure_reasons(row)])}:")
            lines += [f"    {p.outcome}: {p.text}" for p in v.parts]
    lines += [f"Paired: {p['text']}" for p in verdict.paired]
    return lines


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _md(value: Any) -> str:
    """Text from a suite, a model or a reply in Markdown outside a code block: raw HTML in it
    is escaped, so a report cannot carry a script or a tracking image to whoever opens it."""
    return escape(str(value), quote=False)


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def clean(value: Any) -> str:
        return _md(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(clean(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _charts(summary: dict[str, Any]) -> str:
    return '<div class="charts">' + "".join(trial_charts(summary["contenders"])) + "</div>"


def _reproduce(contender: dict[str, Any], settings: dict[str, Any] | None) -> dict[str, Any]:
    record = settings or {}
    return {"model": contender["model_name"], "sha256": contender["model_sha256"],
            "source": contender["model_source"], "settings": contender["settings"],
            "seed": record.get("seed"), "template": record.get("template"),
            "workbench": record.get("workbench"),
            "llama_cpp_python": record.get("llama_cpp_python")}


def trial_html(db: Database, trial_id: int | str, bar: Bar | None = None) -> str:
    summary = trial_summary(db, trial_id)
    trial = summary["trial"]
    verdict = recommend(summary["contenders"], bar or Bar())
    labels = [c["label"] for c in summary["contenders"]]
    matrix_head = "".join(f"<th>{escape(label)}</th>" for label in labels)
    matrix_rows = []
    for row in summary["matrix"]:
        cells = []
        for c, cell in zip(summary["contenders"], row["cells"], strict=True):
            if cell is None:
                cells.append("<td class=muted>not run</td>")
                continue
            checks = "".join(
                f"<div class={_css(r['passed'])}>"
                f"{escape(r['check']['type'])}: {escape(r['detail'])}</div>"
                for r in cell["check_results"]) + _sources_html(cell.get("grounding"))
            if cell.get("echo"):
                checks += f"<div class=fail>{ECHO_NOTE}</div>"
            checks += "".join(f"<div class=muted>{escape(line)}</div>"
                              for line in call_lines(cell))
            record = json.dumps(_reproduce(c["contender"], cell["settings"]), indent=1,
                                default=str)
            cells.append(
                f"<td><pre>{escape(cell['content'])}</pre>{checks}"
                f"<div class=muted>{_pass(cell['passed'])} · "
                f"{escape(reply_metrics(cell, short=True))}</div>"
                f"<details><summary>reproduce</summary><pre>{escape(record)}</pre></details>"
                "</td>")
        reference = (f"<div class=muted>reference: {escape(row['reference'])}</div>"
                     if row["reference"] else "")
        matrix_rows.append(f"<tr><td><pre>{escape(row['prompt'])}</pre>{reference}</td>"
                           + "".join(cells) + "</tr>")
    title = f"Trial {trial['id']}: {summary['suite']['name']}"
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=muted>{summary['done']}/{summary['total']} cells"
            f" · status {escape(trial['status'])} · seed {trial['seed']} · repeats "
            f"{trial['repeats']} · created {escape(trial['created_at'])}</p>"
            f"<h2>Recommendation</h2>"
            + "".join(f"<p>{escape(line)}</p>" for line in recommendation_lines(verdict))
            + f"<p class=muted>{escape(summary['scope'])}</p>"
            + ("<h2>Judge agreement</h2>" + "".join(f"<p>{escape(line)}</p>"
                                                    for line in judge_lines(summary))
               if judge_lines(summary) else "")
            + ("<h2>Retrieval</h2>" + "".join(f"<p>{escape(line)}</p>"
                                              for line in retrieval_lines(summary))
               if retrieval_lines(summary) else "")
            + f"<h2>Contenders</h2>{_html_table(HEADERS, contender_rows(summary))}"
            f"{_charts(summary)}"
            f"<h2>Results</h2><table><tr><th>Prompt</th>{matrix_head}</tr>"
            + "".join(matrix_rows) + "</table></body></html>")


def cited_line(grounding: dict[str, Any] | None) -> str:
    """A grounded cell's passages in one line: each by its number and place, the cited
    ones marked, and what retrieval found of the sources."""
    if not grounding:
        return ""
    cited = set(grounding.get("cited") or [])
    given = ", ".join(f"[{p['number']}]{'*' if p['number'] in cited else ''} {p['where']}"
                      for p in grounding.get("passages") or []) or "no passage"
    line = f"Passages (* cited): {given}"
    if grounding.get("sources"):
        rank = grounding.get("first_rank")
        line += (f"; sources found {len(grounding.get('found') or [])} of "
                 f"{len(grounding['sources'])}"
                 + (f", first at rank {rank}" if rank else ", none retrieved"))
    return line + (f"; {grounding['note']}" if grounding.get("note") else "")


def _sources_html(grounding: dict[str, Any] | None) -> str:
    line = cited_line(grounding)
    return f"<div class=muted>{escape(line)}</div>" if line else ""


def trial_markdown(db: Database, trial_id: int | str, bar: Bar | None = None) -> str:
    summary = trial_summary(db, trial_id)
    trial = summary["trial"]
    verdict = recommend(summary["contenders"], bar or Bar())
    lines = [f"# Trial {trial['id']}: {_md(summary['suite']['name'])}", "",
             f"{summary['done']}/{summary['total']} cells · status {trial['status']} · "
             f"seed {trial['seed']} · repeats {trial['repeats']}", "",
             "## Recommendation", "", *(_md(x) for x in recommendation_lines(verdict)), "",
             f"_{summary['scope']}_", "",
             *(["## Judge agreement", "", *(_md(x) for x in judge_lines(summary)), ""]
               if judge_lines(summary) else []),
             *(["## Retrieval", "", *(f"- {_md(x)}" for x in retrieval_lines(summary)), ""]
               if retrieval_lines(summary) else []),
             "## Contenders", "",
             _md_table(HEADERS, contender_rows(summary)), "", "## Results", ""]
    for number, row in enumerate(summary["matrix"], 1):
        lines += [f"### {number}. {_md(row['prompt'])}", ""]
        if row["reference"]:
            lines += [f"Reference: {_md(row['reference'])}", ""]
        for c, cell in zip(summary["contenders"], row["cells"], strict=True):
            if cell is None:
                lines += [f"**{_md(c['label'])}**: not run", ""]
                continue
            checks = "; ".join(_md_check(r) for r in cell["check_results"])
            label = _md(c["label"])
            if cell.get("echo"):
                checks += ("; " if checks else "") + ECHO_NOTE
            lines += [f"**{label}** ({_pass(cell['passed'])}{'; ' + checks if checks else ''};"
                      f" {reply_metrics(cell, short=True)})", "",
                      *([_md(cited_line(cell.get("grounding"))), ""]
                        if cell.get("grounding") else []),
                      "```", cell["content"].replace("```", "'''"), "```", ""]
            lines += [*(f"- {_md(line)}" for line in call_lines(cell)),
                      *([""] if call_lines(cell) else [])]
    lines += ["## Reproducibility", ""]
    for c in summary["contenders"]:
        record = _reproduce(c["contender"], _first_settings(summary, c))
        code = json.dumps(record, default=str).replace("`", "'")  # stays one code span
        lines += [f"- **{_md(c['label'])}**: `{code}`"]
    return "\n".join(lines) + "\n"


def _md_check(result: dict[str, Any]) -> str:
    if result["check"]["type"] in ("judge", "grounded", "cites"):
        return _md(f"judge {check_mark(result)} {' '.join(result['detail'].split())}")
    return f"{result['check']['type']} {check_mark(result)}"


def _first_settings(summary: dict[str, Any], contender: dict[str, Any]) -> dict[str, Any]:
    index = summary["contenders"].index(contender)
    for row in summary["matrix"]:
        cell = row["cells"][index]
        if cell:
            return dict(cell["settings"] or {})
    return {}


def comparison_html(db: Database, comparison_id: int) -> str:
    view = comparison_view(db, comparison_id)
    head = "".join(f"<th>{escape(c['letter'])}: {escape(c['label'])}</th>"
                   for c in view["columns"])
    cells = "".join(f"<td><pre>{escape(c['content'])}</pre><div class=muted>"
                    f"{escape(_metrics_line(c['metrics']))}</div></td>" for c in view["columns"])
    vote = _vote_line(view)
    title = f"Comparison {view['id']}"
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
            f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
            f"<p><strong>Prompt</strong></p><pre>{escape(view['prompt'])}</pre>"
            f"<p>{escape(vote)}</p><table><tr>{head}</tr><tr>{cells}</tr></table>"
            "</body></html>")


def comparison_markdown(db: Database, comparison_id: int) -> str:
    view = comparison_view(db, comparison_id)
    lines = [f"# Comparison {view['id']}", "", "**Prompt:**", "", _md(view["prompt"]), "",
             _vote_line(view), ""]
    for column in view["columns"]:
        lines += [f"## {column['letter']}: {_md(column['label'])}", "",
                  _metrics_line(column["metrics"]), "", "```",
                  column["content"].replace("```", "'''"), "```", ""]
    return "\n".join(lines)


def _metrics_line(m: dict[str, Any]) -> str:
    return reply_metrics(m) or "–"


def _vote_line(view: dict[str, Any]) -> str:
    vote = view["vote"]
    if not vote:
        return "Not voted yet" + (" (blind: names hidden until a vote)." if view["hidden"]
                                  else ".")
    if vote["outcome"] == "win":
        return f"Vote: {vote.get('winner_letter')} better."
    return "Vote: tie." if vote["outcome"] == "tie" else "Vote: both bad."
