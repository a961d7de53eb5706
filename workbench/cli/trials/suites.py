"""``suite``: prompt suites, imported from a file or built prompt by prompt, and exported."""

from __future__ import annotations

from typing import Any

import click

from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.cli.trials.common import write_out
from workbench.engine.tools import tool_names
from workbench.errors import InvalidInputError
from workbench.trials.suites import (
    SuitePrompt,
    add_prompt,
    create_suite,
    export_suite,
    get_suite,
    import_suite,
    list_suites,
    set_suite_docs,
)
from workbench.workspace import Workspace


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
    """Import FILE: JSONL ({"prompt", "system", "reference", "checks", "docs", "sources"} a
    line, and optionally a first line {"suite": {"docs": "COLLECTION"}}), CSV (a prompt
    column) or text (one prompt a line)."""
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
@click.option("--tools", metavar="JSON|FILE", help="Tools the prompt offers (OpenAI's "
              "format: a JSON list, or a file holding one).")
@click.option("--tool-results", metavar="JSON|FILE", help='Canned tool results, e.g. '
              '\'{"get_weather": {"temp": 21}}\' (a list: one per call).')
@click.option("--docs", "docs", multiple=True, metavar="COLLECTION",
              help="Answer this prompt from a collection; repeat for more.")
@click.option("--source", "sources", multiple=True, metavar="FILE[#page=N]",
              help="A source that answers it (handbook.pdf#page=12); repeat for more.")
@click.option("--image", "image_files", multiple=True, metavar="PATH",
              help="A picture sent with the prompt (kept by sha256); repeat for more.")
@pass_workspace
def suite_add(workspace: Workspace, suite_ref: str, prompt: str, system: str | None,
              reference: str | None, checks: tuple[str, ...], tools: str | None,
              tool_results: str | None, docs: tuple[str, ...],
              sources: tuple[str, ...], image_files: tuple[str, ...]) -> None:
    import json

    target = get_suite(workspace.db, suite_ref)
    try:
        parsed = [json.loads(c) for c in checks]
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"--check: not JSON ({error.msg})") from None
    add_prompt(workspace.db, target.id, SuitePrompt(
        prompt, system, reference, parsed, tools=_json_option(tools, "--tools"),
        tool_results=_json_option(tool_results, "--tool-results"), docs=list(docs),
        sources=list(sources), images=list(image_files)))
    click.echo(f"Added to '{target.name}' ({len(target.prompts) + 1} prompts).")


@suite.command(name="docs")
@click.argument("suite_ref")
@click.argument("collections", nargs=-1)
@pass_workspace
def suite_docs(workspace: Workspace, suite_ref: str, collections: tuple[str, ...]) -> None:
    """Answer the suite's prompts from COLLECTIONS (none: plain prompts again). A prompt's
    own docs, and a contender's --set docs=NAME, come first."""
    changed = set_suite_docs(workspace.db, suite_ref, list(collections))
    click.echo(f"Suite '{changed.name}': " + (f"answered from {', '.join(changed.docs)}."
                                              if changed.docs else "plain prompts."))


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
    click.echo(f"Suite {found.id} '{found.name}' ({len(found.prompts)} prompts)"
               + (f", answered from {', '.join(found.docs)}" if found.docs else ""))
    for number, p in enumerate(found.prompts, 1):
        checks = ", ".join(c["type"] for c in p.checks)
        tools = f"  tools: {', '.join(tool_names(p.tools))}" if p.tools else ""
        click.echo(f"{number:>4}. {p.prompt[:70]!r}" + (f"  [{checks}]" if checks else "")
                   + tools)
        if p.images:
            click.echo(f"      images: {len(p.images)}")
        if p.docs or p.sources:
            click.echo("      " + "; ".join(
                part for part in (f"docs: {', '.join(p.docs)}" if p.docs else "",
                                  f"sources: {', '.join(p.sources)}" if p.sources else "")
                if part))


@suite.command(name="export")
@click.argument("suite_ref")
@click.option("-o", "--output", type=click.Path(dir_okay=False))
@pass_workspace
def suite_export(workspace: Workspace, suite_ref: str, output: str | None) -> None:
    """Write the suite as JSONL (re-importable)."""
    write_out(export_suite(workspace.db, suite_ref), output)


def _json_option(value: str | None, option: str) -> Any:
    """A JSON option's value, given inline or as a file's path; one line when it is neither."""
    import json
    from pathlib import Path

    from workbench.text_files import read_text_file

    if value is None:
        return None
    if not value.lstrip().startswith(("[", "{")) and Path(value).is_file():
        value = read_text_file(Path(value), value)
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidInputError(f"{option}: not JSON, nor a file holding JSON") from None
