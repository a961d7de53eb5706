"""``compare``, ``vote``, ``votes``, ``leaderboard``, ``comparison``, ``suite`` and ``trial``:
side-by-side comparisons, prompt suites and trials, headless.

``--set KEY=VALUE`` after a ``--model`` applies to that contender only; before any
``--model`` it applies to all of them. So ``-m smol --set temperature=0 -m smol --set
temperature=1`` is one model as two contenders.
"""

from __future__ import annotations

import shutil
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from workbench.cli import cli
from workbench.cli.common import echo_json, human_size, pass_workspace
from workbench.engine import Engine
from workbench.errors import InvalidInputError
from workbench.settings import get_setting
from workbench.trials import report, store
from workbench.trials.compare import LETTERS, CompareRun
from workbench.trials.contenders import Contender, contenders_from
from workbench.trials.recommend import Bar, Recommendation, recommend
from workbench.trials.recommend import make_bar as bar_from
from workbench.trials.results import group_by_model, leaderboard, trial_summary
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.suites import (
    SuitePrompt,
    add_prompt,
    create_suite,
    export_suite,
    get_suite,
    import_suite,
    list_suites,
)
from workbench.trials.votes import cast_vote, compare_trial_cells, comparison_view
from workbench.workspace import Workspace

COLUMN_MIN = 38


class ContenderCommand(click.Command):
    """Remembers the order of ``--model`` and ``--set`` so each ``--set`` finds its model."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        pairs: list[tuple[str, list[str]]] = []
        shared: list[str] = []
        items = iter(args)
        for arg in items:
            name, eq, inline = arg.partition("=")
            if name in ("--model", "-m", "--set"):
                value = inline if eq else next(items, "")
                if name == "--set":
                    (pairs[-1][1] if pairs else shared).append(value)
                else:
                    pairs.append((value, []))
            elif arg == "--":
                break
        ctx.meta["contenders"] = [(model, shared + own) for model, own in pairs]
        return super().parse_args(ctx, args)


def contender_options(func: Any) -> Any:
    func = click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
                        help="A setting for the --model before it (or all, if first): "
                             "temperature, n_ctx, seed, template, gpu_layers, max_tokens, "
                             "system_prompt, json_schema=FILE|any...")(func)
    return click.option("--model", "-m", "models", multiple=True, required=True,
                        help="A contender's model (id or name prefix); repeat it.")(func)


def build_contenders(workspace: Workspace, extra: dict[str, Any]) -> list[Contender]:
    return contenders_from(workspace.db, click.get_current_context().meta.get(
        "contenders", []), extra)


def _on_interrupt(run: Any) -> Any:
    """Ctrl+C stops the run (keeping what is done) instead of killing the process."""
    return signal.signal(signal.SIGINT, lambda *_: run.stop())


# compare and votes -------------------------------------------------------------------------

@cli.command(cls=ContenderCommand)
@click.argument("prompt")
@contender_options
@click.option("--system", "system_prompt", help="System prompt for every contender.")
@click.option("--seed", type=int, help="Seed for contenders that do not set one.")
@click.option("--max-tokens", type=int, help="Reply length limit for every contender.")
@click.option("--blind", is_flag=True, help="Hide names (shown as A, B...) and shuffle the "
              "columns until you vote with 'vote'.")
@click.option("--together", is_flag=True, help="Run all at once (each model loaded "
              "separately); refused when the memory estimate says they do not fit.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored comparison as JSON.")
@pass_workspace
def compare(workspace: Workspace, prompt: str, models: tuple[str, ...],
            set_items: tuple[str, ...], system_prompt: str | None, seed: int | None,
            max_tokens: int | None, blind: bool, together: bool, as_json: bool) -> None:
    """Ask 2 to 4 contenders the same PROMPT; replies and metrics are stored."""
    del models, set_items  # read in order by ContenderCommand
    extra = {k: v for k, v in {"seed": seed, "max_tokens": max_tokens}.items() if v is not None}
    contenders = build_contenders(workspace, extra)
    run = CompareRun(workspace.db, Engine(), contenders, prompt, system=system_prompt,
                     blind=blind, together=together)
    width = shutil.get_terminal_size((80, 24)).columns
    columns = (sys.stdout.isatty() and not as_json
               and width >= COLUMN_MIN * len(contenders) + 3 * (len(contenders) - 1))
    names = [f"Model {LETTERS[i]}" if blind else c.label for i, c in enumerate(run.columns)]
    previous = _on_interrupt(run)
    try:
        for event in run:
            if as_json:
                continue
            if columns:
                if event.kind in ("done", "error"):
                    click.echo(f"{names[event.slot]} finished.", err=True)
                continue
            if together:  # columns stream at once: each is printed whole when it ends
                if event.kind in ("done", "error"):
                    click.secho(f"\n── {LETTERS[event.slot]}: {names[event.slot]} ──", bold=True)
                    if event.kind == "done":
                        click.echo(event.text)
                        if event.stats:
                            click.echo(f"[{event.stats.summary()}]", err=True)
                    else:
                        click.echo(f"Error: {event.error}", err=True)
                continue
            if event.kind == "start":
                click.secho(f"\n── {LETTERS[event.slot]}: {names[event.slot]} ──", bold=True)
            elif event.kind == "chunk":
                click.echo(event.text, nl=False)
            elif event.kind == "done" and event.stats:
                click.echo("")
                click.echo(f"[{event.stats.summary()}]", err=True)
            elif event.kind == "error":
                click.echo(f"\nError: {event.error}", err=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    view = comparison_view(workspace.db, run.comparison_id)
    if as_json:
        echo_json(view)
        return
    if columns:
        _print_columns(view, width)
    click.echo(f"\nComparison {view['id']} stored. Vote: llm-workbench vote {view['id']} "
               f"{'|'.join([*LETTERS[:len(contenders)].lower(), 'tie', 'bad'])}")


def _print_columns(view: dict[str, Any], width: int) -> None:
    n = len(view["columns"])
    col = (width - 3 * (n - 1)) // n
    wrapped = []
    for c in view["columns"]:
        lines = [f"{c['letter']}: {c['label']}"[:col], "─" * col]
        for paragraph in c["content"].splitlines() or [""]:
            lines += textwrap.wrap(paragraph, col) or [""]
        m = c["metrics"]
        lines += ["", f"TTFT {m['ttft_ms'] or 0:.0f} ms, {m['gen_tps'] or 0:.1f} tok/s"[:col],
                  f"{m['completion_tokens'] or 0} tokens, peak {human_size(m['peak_rss'])}"[:col]]
        wrapped.append(lines)
    for i in range(max(len(w) for w in wrapped)):
        click.echo(" │ ".join((w[i] if i < len(w) else "").ljust(col) for w in wrapped).rstrip())


@cli.command()
@click.argument("comparison_id", type=int)
@click.argument("choice")
@pass_workspace
def vote(workspace: Workspace, comparison_id: int, choice: str) -> None:
    """Vote on a stored comparison: a, b (c, d) for the best, tie, bad, or a ranking c>a>b.

    Blind comparisons are revealed once the vote is stored."""
    view = cast_vote(workspace.db, comparison_id, choice)
    click.echo(f"Vote stored for comparison {comparison_id}.")
    for column in view["columns"]:
        click.echo(f"  {column['letter']}: {column['label']}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def votes(workspace: Workspace, as_json: bool) -> None:
    """List every vote cast."""
    rows = store.list_votes(workspace.db)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No votes yet. Compare with 'compare', then 'vote'.")
    for row in rows:
        outcome = row["outcome"]
        if outcome == "win":
            letter = LETTERS[row["display_order"].index(row["winner_id"])]
            outcome = f"{letter} better"
        click.echo(f"{row['id']:>4}  comparison {row['comparison_id']:<4} {outcome:<10} "
                   f"{row['prompt'][:50]!r}")


@cli.command(name="leaderboard")
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def leaderboard_command(workspace: Workspace, as_json: bool) -> None:
    """Models ranked by votes (Bradley-Terry, 95% bootstrap interval) and pass rates, across
    every trial and comparison; settings variants of one model as its sub-rows."""
    board = group_by_model(leaderboard(workspace.db))
    if as_json:
        echo_json(board)
        return
    if not board["models"]:
        click.echo("No votes or checked results yet.")
        return
    click.echo(board["scope"])
    click.echo(f"{'rating':>7} {'95% interval':>13} {'votes':>5} {'won':>4} {'tied':>4} "
               f"{'pass (prompts)':>16}  model / settings")
    for group in board["models"]:
        click.echo(f"{'':>7} {'':>13} {group['votes']:>5} {'':>4} {'':>4} {'':>16}  "
                   f"{group['model']} ({human_size(group['file_size'])})")
        for r in group["variants"]:
            rating = f"{r['rating']:.0f}" if r["rating"] is not None else "–"
            interval = f"{r['low']:.0f}–{r['high']:.0f}" if r["low"] is not None else "–"
            passed = (f"{r['pass_rate']:.0%} of {r['prompts_checked']}"
                      if r["prompts_checked"] else "–")
            click.echo(f"{rating:>7} {interval:>13} {r['votes']:>5} {r['won']:>4} "
                       f"{r['tied']:>4} {passed:>16}    └ {r['variant']}")


@cli.group()
def comparison() -> None:
    """Stored comparisons: list, show, report."""


@comparison.command(name="list")
@pass_workspace
def comparison_list(workspace: Workspace) -> None:
    for row in store.list_comparisons(workspace.db):
        click.echo(f"{row['id']:>4}  {row['created_at'][:16]}  {len(row['display_order'])} "
                   f"contenders  {'voted' if row['votes'] else 'open':<5}  {row['prompt'][:50]!r}")


@comparison.command(name="show")
@click.argument("comparison_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def comparison_show(workspace: Workspace, comparison_id: int, as_json: bool) -> None:
    if as_json:
        echo_json(comparison_view(workspace.db, comparison_id))
    else:
        click.echo(report.comparison_markdown(workspace.db, comparison_id))


@comparison.command(name="report")
@click.argument("comparison_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html")
@click.option("-o", "--output", type=click.Path(dir_okay=False))
@pass_workspace
def comparison_report(workspace: Workspace, comparison_id: int, fmt: str,
                      output: str | None) -> None:
    """Export a comparison as one self-contained HTML file or Markdown."""
    text = (report.comparison_html if fmt == "html" else report.comparison_markdown)(
        workspace.db, comparison_id)
    _write(text, output)


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise InvalidInputError(f"{output}: cannot write ({error.strerror})") from None
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


# suites ------------------------------------------------------------------------------------

@cli.group()
def suite() -> None:
    """Prompt suites: import (JSONL, CSV, text), create, add, list, show, export."""


@suite.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="Suite name (default: the file name).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "txt"]),
              help="Default: from the file's extension.")
@pass_workspace
def suite_import(workspace: Workspace, file: str, name: str | None, fmt: str | None) -> None:
    """Import FILE: JSONL ({"prompt", "system", "reference", "checks"} a line), CSV (a
    prompt column) or text (one prompt a line)."""
    created = import_suite(workspace.db, file, name, fmt)
    click.echo(f"Suite {created.id} '{created.name}': {len(created.prompts)} prompts.")


@suite.command(name="create")
@click.argument("name")
@pass_workspace
def suite_create(workspace: Workspace, name: str) -> None:
    created = create_suite(workspace.db, name)
    click.echo(f"Suite {created.id} '{created.name}' created; add prompts with 'suite add'.")


@suite.command(name="add")
@click.argument("suite_ref")
@click.argument("prompt")
@click.option("--system")
@click.option("--reference")
@click.option("--check", "checks", multiple=True, metavar="JSON",
              help='A check, e.g. \'{"contains": "Paris"}\'; repeat for more.')
@pass_workspace
def suite_add(workspace: Workspace, suite_ref: str, prompt: str, system: str | None,
              reference: str | None, checks: tuple[str, ...]) -> None:
    import json

    target = get_suite(workspace.db, suite_ref)
    try:
        parsed = [json.loads(c) for c in checks]
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"--check: not JSON ({error.msg})") from None
    add_prompt(workspace.db, target.id, SuitePrompt(prompt, system, reference, parsed))
    click.echo(f"Added to '{target.name}' ({len(target.prompts) + 1} prompts).")


@suite.command(name="list")
@pass_workspace
def suite_list(workspace: Workspace) -> None:
    rows = list_suites(workspace.db)
    if not rows:
        click.echo("No suites yet. Import one with 'suite import FILE'.")
    for row in rows:
        click.echo(f"{row['id']:>4}  {row['name']:<30} {row['prompts']:>4} prompts")


@suite.command(name="show")
@click.argument("suite_ref")
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def suite_show(workspace: Workspace, suite_ref: str, as_json: bool) -> None:
    found = get_suite(workspace.db, suite_ref)
    if as_json:
        echo_json(found.to_dict())
        return
    click.echo(f"Suite {found.id} '{found.name}' ({len(found.prompts)} prompts)")
    for number, p in enumerate(found.prompts, 1):
        checks = ", ".join(c["type"] for c in p.checks)
        click.echo(f"{number:>4}. {p.prompt[:70]!r}" + (f"  [{checks}]" if checks else ""))


@suite.command(name="export")
@click.argument("suite_ref")
@click.option("-o", "--output", type=click.Path(dir_okay=False))
@pass_workspace
def suite_export(workspace: Workspace, suite_ref: str, output: str | None) -> None:
    """Write the suite as JSONL (re-importable)."""
    _write(export_suite(workspace.db, suite_ref), output)


# trials ------------------------------------------------------------------------------------

class BarValue(click.ParamType):
    """A number, or ``none``/``off`` for a part of the bar that is not required."""

    name = "NUMBER|none"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        if str(value).strip().lower() in ("none", "off", "no"):
            return 0.0
        try:
            return float(str(value).rstrip("%"))
        except ValueError:
            self.fail(f"{value!r}: expected a number or 'none'", param, ctx)


def bar_options(func: Any) -> Any:
    for name, help_text in (
            ("--min-pass-rate", "Bar: pass rate, 0-1 or a percentage (default: the "
             "min_pass_rate setting, 80%); 0 or none: not required."),
            ("--min-vote-share", "Bar: share of votes won or tied, 0-1 or a percentage."),
            ("--min-tps", "Bar: generation tokens/s (median of at least 3 warm runs).")):
        func = click.option(name, type=BarValue(), help=help_text)(func)
    return func


def make_bar(workspace: Workspace, min_pass_rate: float | None, min_vote_share: float | None,
             min_tps: float | None) -> Bar:
    """The bar asked for; without --min-pass-rate, the pass rate of the settings (80%)."""
    if min_pass_rate is None:
        default = get_setting(workspace.db, "min_pass_rate")
        min_pass_rate = float(default) if default else None
    return bar_from(min_pass_rate, min_vote_share, min_tps)


@cli.group()
def trial() -> None:
    """Trials: a suite over contenders: run, list, show, report, rerun, resume."""


def _drive(workspace: Workspace, trial_id: int) -> None:
    """Run or resume a trial with a progress line; Ctrl+C cancels and keeps finished cells."""
    run = TrialRun(workspace.db, Engine(), trial_id)
    previous = _on_interrupt(run)
    try:
        for progress in run:
            eta = f", ETA {progress.eta_s:.0f} s" if progress.eta_s is not None else ""
            where = (progress.message if progress.message.startswith("judging")
                     else f"{progress.done}/{progress.total} cells{eta}")
            click.echo(f"\r[trial {trial_id}] {where}   ", nl=False, err=True)
    finally:
        signal.signal(signal.SIGINT, previous)
        click.echo("", err=True)
    if run.stopped:
        click.echo(f"Trial {trial_id} cancelled; finished cells are kept. "
                   f"Resume with: llm-workbench trial resume {trial_id}", err=True)


@trial.command(name="run", cls=ContenderCommand)
@click.argument("suite_ref", metavar="SUITE")
@contender_options
@click.option("--seed", type=int, help="Seed for every contender without one "
              "(default: random, recorded).")
@click.option("--repeats", type=int, default=1, show_default=True,
              help="Run each cell this many times, for speed median and spread.")
@click.option("--max-tokens", type=int, help="Reply length limit for every contender.")
@click.option("--name", default="", help="A name for the trial.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False),
              help="Write a report when done (.html or .md).")
@bar_options
@pass_workspace
def trial_run(workspace: Workspace, suite_ref: str, models: tuple[str, ...],
              set_items: tuple[str, ...], seed: int | None, repeats: int,
              max_tokens: int | None, name: str, report_file: str | None,
              **bar: float | None) -> None:
    """Run SUITE (a suite's id or name, or a .jsonl/.csv/.txt file to import) over the
    contenders given by --model."""
    del models, set_items
    db = workspace.db
    if Path(suite_ref).is_file():
        suite_ref = str(import_suite(db, suite_ref).id)
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    trial_id = create_trial(db, suite_ref, build_contenders(workspace, extra), seed=seed,
                            repeats=repeats, name=name)
    click.echo(f"Trial {trial_id} started.", err=True)
    _drive(workspace, trial_id)
    _print_summary(workspace, trial_id, make_bar(workspace, **bar))
    if report_file:
        _write_report(workspace, trial_id, report_file, make_bar(workspace, **bar))


def _write_report(workspace: Workspace, trial_id: int, path: str, bar: Bar,
                  fmt: str | None = None) -> None:
    fmt = fmt or ("md" if path.lower().endswith((".md", ".markdown")) else "html")
    make = report.trial_markdown if fmt == "md" else report.trial_html
    _write(make(workspace.db, trial_id, bar), path)


@trial.command(name="resume")
@click.argument("trial_id", type=int)
@bar_options
@pass_workspace
def trial_resume(workspace: Workspace, trial_id: int, **bar: float | None) -> None:
    """Continue a cancelled trial, skipping the cells already finished."""
    _drive(workspace, trial_id)
    _print_summary(workspace, trial_id, make_bar(workspace, **bar))


@trial.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def trial_list(workspace: Workspace, as_json: bool) -> None:
    rows = store.list_trials(workspace.db)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No trials yet. Run one with 'trial run SUITE -m A -m B'.")
    for row in rows:
        total = row["prompts"] * len(row["contender_ids"]) * row["repeats"]
        click.echo(f"{row['id']:>4}  {row['created_at'][:16]}  {row['status']:<9} "
                   f"{row['cells_done']:>4}/{total:<4} {row['suite_name']}"
                   + (f" (rerun of {row['rerun_of']})" if row["rerun_of"] else ""))


def _print_summary(workspace: Workspace, trial_id: int, bar: Bar) -> None:
    summary = trial_summary(workspace.db, trial_id)
    click.echo(report._md_table(report.HEADERS, report.contender_rows(summary)))
    verdict: Recommendation = recommend(summary["contenders"], bar)
    click.echo("")
    for line in report.recommendation_lines(verdict):
        click.echo(line)
    for line in report.judge_lines(summary):
        click.echo(line)
    click.echo(f"\n{summary['scope']}")


@trial.command(name="show")
@click.argument("trial_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@bar_options
@pass_workspace
def trial_show(workspace: Workspace, trial_id: int, as_json: bool, **bar: float | None) -> None:
    """The trial's contenders, figures, recommendation (and with --json, every cell)."""
    if as_json:
        summary = trial_summary(workspace.db, trial_id)
        verdict = recommend(summary["contenders"], make_bar(workspace, **bar))
        summary["recommendation"] = verdict.to_dict()
        echo_json(summary)
        return
    click.echo(report.trial_markdown(workspace.db, trial_id, make_bar(workspace, **bar)))


@trial.command(name="compare")
@click.argument("trial_id", type=int)
@click.argument("prompt_number", type=int)
@click.option("--named", is_flag=True, help="Show the names (default: blind, shuffled).")
@pass_workspace
def trial_compare(workspace: Workspace, trial_id: int, prompt_number: int,
                  named: bool) -> None:
    """Put the trial's replies to prompt PROMPT_NUMBER (from 1) side by side for a vote;
    the vote counts for this trial's "votes won or tied"."""
    comparison_id = compare_trial_cells(workspace.db, trial_id, prompt_number,
                                        blind=not named)
    view = comparison_view(workspace.db, comparison_id)
    click.echo(report.comparison_markdown(workspace.db, comparison_id))
    letters = "|".join([*LETTERS[:len(view["columns"])].lower(), "tie", "bad"])
    click.echo(f"Comparison {comparison_id} (trial {trial_id}). Vote: llm-workbench vote "
               f"{comparison_id} {letters}")


@trial.command(name="report")
@click.argument("trial_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False))
@bar_options
@pass_workspace
def trial_report(workspace: Workspace, trial_id: int, fmt: str, output: str | None,
                 **bar: float | None) -> None:
    """Export a trial as one self-contained HTML file (no network references) or Markdown."""
    make = report.trial_markdown if fmt == "md" else report.trial_html
    _write(make(workspace.db, trial_id, make_bar(workspace, **bar)), output)


@trial.command(name="rerun")
@click.argument("trial_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def trial_rerun(workspace: Workspace, trial_id: int, as_json: bool) -> None:
    """Repeat a trial with the same suite, contenders, settings and seed; show what changed."""
    from workbench.trials.rerun import diff_trials, rerun_trial

    new_id = rerun_trial(workspace.db, trial_id)
    click.echo(f"Trial {new_id} (rerun of {trial_id}) started.", err=True)
    _drive(workspace, new_id)
    changes = diff_trials(workspace.db, trial_id, new_id)
    if as_json:
        echo_json(changes)
        return
    click.echo(changes["summary"])
    for line in changes["lines"]:
        click.echo(f"  {line}")
