"""``models``: the local library."""

from __future__ import annotations

from typing import Any

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
@click.option("--mmproj", type=click.Path(), metavar="FILE",
              help="Pair this vision projector (mmproj .gguf) with the model, so it sees "
                   "images. One beside the model is paired without this.")
@pass_workspace
def models_add(workspace: Workspace, path: str, name: str | None, mmproj: str | None) -> None:
    """Add a .gguf file by path (it is not copied)."""
    model = library.add_model(workspace.db, path, name=name, mmproj=mmproj)
    click.echo(f"Added {model.id}: {model.name} ({model.quantization}, "
               f"{human_size(model.file_size)})")
    if model.mmproj:
        click.echo(f"Vision: sees images through {model.mmproj}")


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
                   f"{', '.join(n for n in (m.kind_label, 'vision' if m.sees else None) if n)}"
                   .rstrip())


@models.command("show")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--workers", "workers", metavar="all|ADDR,...",
              help="Plan the split across these workers (default: the model's own setting).")
@pass_workspace
def models_show(workspace: Workspace, model: str, as_json: bool, workers: str | None) -> None:
    """Show one model: header facts, file, where it came from, and how it would be split
    across workers when it uses some."""
    found = library.get_model(workspace.db, model)
    split = _planned_split(workspace, found, workers)
    draft = suggest_draft(workspace.db, found)
    if as_json:
        echo_json({**found.to_dict(), **({"split": split} if split else {}),
                   "draft_suggestion": draft.name if draft else None})
        return
    facts = [
        ("Name", found.name), ("ID", found.id), ("File", found.path),
        ("Architecture", found.architecture), ("Parameters", human_count(found.parameters)),
        ("Quantization", found.quantization), ("Size", human_size(found.file_size)),
        ("Context length", found.context_length or "-"),
        ("Chat template", "in the file" if found.has_chat_template else "none (guessed)"),
        ("Kind", found.kind_label or "tuned for chat"),
        ("Vision", f"sees images ({found.mmproj})" if found.mmproj else "no (text only)"),
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
    if split:
        click.echo(f"Split:           {split['summary']}")
        for check in split["checks"]:
            if check["state"] not in ("ready",):
                click.echo(f"  {check['line']}")


def _planned_split(workspace: Workspace, found: library.Model, workers: str | None
                   ) -> dict[str, Any] | None:
    """The split a load would make now across the model's workers (``--workers`` first),
    each checked; None when it uses none."""
    from pathlib import Path

    from workbench.model_settings import check_file, resolve_settings
    from workbench.workers import planned_split

    overrides = {} if workers is None else {"workers": workers}
    load, _ = resolve_settings(workspace.db, found, overrides)
    if not load.workers or not Path(found.path).is_file():
        return None
    check_file(found)
    plan, checks = planned_split(found.path, load.n_ctx, load.workers, split=load.split,
                                 use_gpu=str(load.gpu_layers).strip() != "0")
    return {**plan.to_dict(), "choice": load.split,
            "checks": [c.to_dict() for c in checks]}


@models.command("rm")
@click.argument("model")
@click.option("--delete-file", is_flag=True, help="Also delete the .gguf file from disk.")
@pass_workspace
def models_rm(workspace: Workspace, model: str, delete_file: bool) -> None:
    """Remove a model from the library (the file stays unless --delete-file)."""
    removed = library.remove_model(workspace.db, model, delete_file=delete_file)
    suffix = " and deleted its file" if delete_file else " (the file was kept)"
    click.echo(f"Removed {removed.id}: {removed.name}{suffix}")
