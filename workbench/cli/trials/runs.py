"""``trial``: run a suite over contenders, resume, list, show, compare, report and rerun,
with the bar a recommendation is measured against."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click

from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.cli.trials.common import (
    ContenderCommand,
    build_contenders,
    contender_options,
    on_interrupt,
    write_out,
)
from workbench.engine import Engine
from workbench.engine.batched import MAX_WIDTH
from workbench.settings import get_setting
from workbench.trials import report, store
from workbench.trials.compare import LETTERS
from workbench.trials.plain import plain_verdict
from workbench.trials.recommend import Bar, Recommendation, recommend
from workbench.trials.recommend import make_bar as bar_from
from workbench.trials.results import trial_summary
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.suites import import_suite
from workbench.trials.votes import compare_trial_cells, comparison_view
from workbench.units import human_eta
from workbench.workspace import Workspace


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


def together_option(func: Any) -> Any:
    return click.option(
        "--together/--one-at-a-time", default=None,
        help="Run two contenders at once, each in its own engine process with half the "
        "cores (default: when both fit in memory and there are two cores or more)."
    )(func)


def _drive(workspace: Workspace, trial_id: int, bar: Bar | None = None,
           stop_early: bool = True, together: bool | None = None,
           batch: int | None = None) -> None:
    """Run or resume a trial with a progress line; Ctrl+C cancels and keeps finished cells.
    With a pass-rate bar a contender stops once its verdict is settled (``stop_early``);
    ``batch`` cells are decoded together (None: the automatic width)."""
    run = TrialRun.under(workspace.db, Engine(), trial_id, bar, stop_early, together=together,
                         batch=batch)
    previous = on_interrupt(run)
    try:
        for progress in run:
            eta = f", ETA {human_eta(progress.eta_s)}" if progress.eta_s is not None else ""
            where = (progress.message if progress.message.startswith("judging")
                     else f"{progress.done}/{progress.total} cells{eta}")
            if " stopped after " in progress.message or " side by side" in progress.message \
                    or "batch width" in progress.message:
                click.echo(f"\n[trial {trial_id}] {progress.message}", err=True)
                continue
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
@click.option("--stop-early/--no-stop-early", default=True, show_default=True,
              help="Stop a contender once its pass rate is settled against the bar (valid "
              "however often it is checked); --no-stop-early runs every cell.")
@together_option
@click.option("--batch", type=click.IntRange(1, MAX_WIDTH), default=None,
              help="Decode this many of a contender's cells together (1: one at a time; "
              "default: as many as free memory and the machine suit). Replies are recorded "
              "with their batch layout; the same width reproduces them.")
@bar_options
@pass_workspace
def trial_run(workspace: Workspace, suite_ref: str, models: tuple[str, ...],
              set_items: tuple[str, ...], seed: int | None, repeats: int,
              max_tokens: int | None, name: str, report_file: str | None,
              stop_early: bool, together: bool | None, batch: int | None,
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
    _drive(workspace, trial_id, make_bar(workspace, **bar), stop_early, together, batch)
    _print_summary(workspace, trial_id, make_bar(workspace, **bar))
    if report_file:
        _write_report(workspace, trial_id, report_file, make_bar(workspace, **bar))


def _write_report(workspace: Workspace, trial_id: int, path: str, bar: Bar,
                  fmt: str | None = None) -> None:
    fmt = fmt or ("md" if path.lower().endswith((".md", ".markdown")) else "html")
    make = report.trial_markdown if fmt == "md" else report.trial_html
    write_out(make(workspace.db, trial_id, bar), path)


@trial.command(name="resume")
@click.argument("trial_id", type=int)
@click.option("--stop-early/--no-stop-early", default=True, show_default=True,
              help="--no-stop-early also runs the prompts of contenders stopped early.")
@together_option
@click.option("--batch", type=click.IntRange(1, MAX_WIDTH), default=None,
              help="Decode this many of a contender's cells together (1: one at a time; "
              "default: as many as free memory and the machine suit). Replies are recorded "
              "with their batch layout; the same width reproduces them.")
@bar_options
@pass_workspace
def trial_resume(workspace: Workspace, trial_id: int, stop_early: bool,
                 together: bool | None, batch: int | None, **bar: float | None) -> None:
    """Continue a cancelled trial, skipping the cells already finished; with
    --no-stop-early, run the rest of a contender that stopped early."""
    _drive(workspace, trial_id, make_bar(workspace, **bar), stop_early, together, batch)
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
    for line in [*report.judge_lines(summary), *report.retrieval_lines(summary)]:
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
        summary["recommendation"] = {**verdict.to_dict(), "plain": plain_verdict(verdict)}
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
    write_out(make(workspace.db, trial_id, make_bar(workspace, **bar)), output)


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
