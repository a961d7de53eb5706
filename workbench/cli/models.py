"""``models``: the local library."""

from __future__ import annotations

import click

from workbench import library
from workbench.cli.common import echo_json, human_count, human_size, pass_workspace
from workbench.cli.group import cli
from workbench.drafts import suggest_draft
from workbench.workspace import Workspace


@cli.group()
def models() -> None:
    """Add, list, show and remove local GGUF models."""


@models.command("add")
@click.argument("path", type=click.Path())
@click.option("--name", help="Name to show instead of the one in the file.")
@pass_workspace
def models_add(workspace: Workspace, path: str, name: str | None) -> None:
    """Add a .gguf file by path (it is not copied)."""
    model = library.add_model(workspace.db, path, name=name)
    click.echo(f"Added {model.id}: {model.name} ({model.quantization}, "
               f"{human_size(model.file_size)})")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def models_list(workspace: Workspace, as_json: bool) -> None:
    """List the models in the library."""
    rows = library.list_models(workspace.db)
    if as_json:
        echo_json([m.to_dict() for m in rows])
        return
    if not rows:
        click.echo("No models yet. Add one with: llm-workbench models add FILE.gguf")
        return
    click.echo(f"{'ID':>3}  {'NAME':32} {'ARCH':10} {'PARAMS':>7} {'QUANT':8} {'SIZE':>9} "
               f"{'CTX':>7}  NOTE")
    for m in rows:
        click.echo(f"{m.id:>3}  {m.name[:32]:32} {m.architecture[:10]:10} "
                   f"{human_count(m.parameters):>7} {m.quantization[:8]:8} "
                   f"{human_size(m.file_size):>9} {m.context_length or '-':>7}  "
                   f"{m.kind_label or ''}".rstrip())


@models.command("show")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def models_show(workspace: Workspace, model: str, as_json: bool) -> None:
    """Show one model: header facts, file, and where it came from."""
    found = library.get_model(workspace.db, model)
    draft = suggest_draft(workspace.db, found)
    if as_json:
        echo_json({**found.to_dict(), "draft_suggestion": draft.name if draft else None})
        return
    facts = [
        ("Name", found.name), ("ID", found.id), ("File", found.path),
        ("Architecture", found.architecture), ("Parameters", human_count(found.parameters)),
        ("Quantization", found.quantization), ("Size", human_size(found.file_size)),
        ("Context length", found.context_length or "-"),
        ("Chat template", "in the file" if found.has_chat_template else "none (guessed)"),
        ("Kind", found.kind_label or "tuned for chat"),
        ("License", found.license or "-"), ("SHA-256", found.sha256),
        ("Source", found.source), ("Added", found.added_at),
    ]
    for key, value in facts:
        click.echo(f"{key + ':':16} {value}")
    if draft is not None:
        click.echo(f"{'Draft:':16} {draft.name} would fit (a smaller file with the same "
                   f"vocabulary: --set draft={draft.name} for speculative decoding)")
    if found.settings:
        click.echo("Settings:")
        for key, value in found.settings.items():
            click.echo(f"  {key}: {value}")
    if found.provenance:
        click.echo("Provenance:")
        for key, value in found.provenance.items():
            click.echo(f"  {key}: {value}")


@models.command("rm")
@click.argument("model")
@click.option("--delete-file", is_flag=True, help="Also delete the .gguf file from disk.")
@pass_workspace
def models_rm(workspace: Workspace, model: str, delete_file: bool) -> None:
    """Remove a model from the library (the file stays unless --delete-file)."""
    removed = library.remove_model(workspace.db, model, delete_file=delete_file)
    suffix = " and deleted its file" if delete_file else " (the file was kept)"
    click.echo(f"Removed {removed.id}: {removed.name}{suffix}")
