"""``compare``, ``vote``, ``votes``, ``leaderboard`` and ``comparison``: side-by-side
comparisons of 2 to 4 contenders, the votes on them and the ratings those votes give."""

from __future__ import annotations

import shutil
import signal
import sys
import textwrap
from typing import Any

import click

from workbench.cli.common import echo_json, human_size, pass_workspace
from workbench.cli.group import cli
from workbench.cli.trials.common import (
    ContenderCommand,
    build_contenders,
    contender_options,
    on_interrupt,
    write_out,
)
from workbench.engine import Engine
from workbench.trials import report, store
from workbench.trials.compare import LETTERS, CompareRun, sources_text
from workbench.trials.image_prompts import keep_prompt_images
from workbench.trials.results import group_by_model, leaderboard
from workbench.trials.votes import cast_vote, comparison_view
from workbench.units import reply_metrics
from workbench.workspace import Workspace

COLUMN_MIN = 38


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
@click.option("--image", "image_files", multiple=True, metavar="PATH",
              help="A picture sent with the prompt (every contender must see); repeatable.")
@pass_workspace
def compare(workspace: Workspace, prompt: str, models: tuple[str, ...],
            set_items: tuple[str, ...], system_prompt: str | None, seed: int | None,
            max_tokens: int | None, blind: bool, together: bool, as_json: bool,
            image_files: tuple[str, ...]) -> None:
    """Ask 2 to 4 contenders the same PROMPT; replies and metrics are stored."""
    del models, set_items  # read in order by ContenderCommand
    extra = {k: v for k, v in {"seed": seed, "max_tokens": max_tokens}.items() if v is not None}
    contenders = build_contenders(workspace, extra)
    images = keep_prompt_images(workspace.db, image_files, None, "--image")
    run = CompareRun(workspace.db, Engine(), contenders, prompt, system=system_prompt,
                     blind=blind, together=together, images=images)
    width = shutil.get_terminal_size((80, 24)).columns
    columns = (sys.stdout.isatty() and not as_json
               and width >= COLUMN_MIN * len(contenders) + 3 * (len(contenders) - 1))
    names = [f"Model {LETTERS[i]}" if blind else c.label for i, c in enumerate(run.columns)]
    previous = on_interrupt(run)
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
                        _echo_sources(event.grounding)
                        if event.stats:
                            click.echo(f"[{event.stats.summary()}]", err=True)
                    else:
                        click.echo(f"Error: {event.error}", err=True)
                continue
            if event.kind == "start":
                click.secho(f"\n── {LETTERS[event.slot]}: {names[event.slot]} ──", bold=True)
            elif event.kind == "chunk":
                click.echo(event.text, nl=False)
            elif event.kind == "done":
                click.echo("")
                _echo_sources(event.grounding)
                if event.stats:
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


def _echo_sources(grounding: dict[str, Any] | None) -> None:
    line = sources_text(grounding)
    if line:
        click.echo(line)


def _print_columns(view: dict[str, Any], width: int) -> None:
    n = len(view["columns"])
    col = (width - 3 * (n - 1)) // n
    wrapped = []
    for c in view["columns"]:
        lines = [f"{c['letter']}: {c['label']}"[:col], "─" * col]
        for paragraph in c["content"].splitlines() or [""]:
            lines += textwrap.wrap(paragraph, col) or [""]
        sources = sources_text(c.get("grounding"))
        if sources:
            lines += ["", *textwrap.wrap(sources, col)]
        lines += ["", *textwrap.wrap(reply_metrics(c["metrics"], short=True), col)]
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
    write_out(text, output)
