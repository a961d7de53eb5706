"""``serve`` (the local OpenAI-compatible server) and ``alias`` (task names for it)."""

from __future__ import annotations

from typing import Any

import click

from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.library import get_model
from workbench.server.aliases import list_aliases, remove_alias, set_alias
from workbench.server.serve import DEFAULT_HOST, DEFAULT_PORT, serve_forever
from workbench.trials.contenders import parse_set_options
from workbench.workspace import Workspace


@cli.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. Anything but this computer needs --api-key.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--api-key", envvar="LLM_WORKBENCH_API_KEY",
              help="Key clients must send (Authorization: Bearer KEY).")
@pass_workspace
def serve(workspace: Workspace, host: str, port: int, api_key: str | None) -> None:
    """Serve your models to other apps through an OpenAI-compatible API.

    Apps name a model by library id, name prefix or alias (see 'alias set'). One model is
    in memory at a time; it is unloaded after the server_idle_unload_minutes setting."""
    def ready(url: str) -> None:
        click.echo(f"Serving on {url} (Ctrl+C to stop)"
                   + ("; clients must send the API key" if api_key else ""), err=True)

    serve_forever(workspace, host=host, port=port, api_key=api_key, ready=ready)


@cli.group()
def alias() -> None:
    """Task names ("summarize", "code") for the server, each pointing at a model."""


@alias.command("set")
@click.argument("name")
@click.argument("model")
@click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
              help="A setting it is served with (temperature=0.2, n_ctx=8192, "
                   "system_prompt=...); repeat for more.")
@pass_workspace
def alias_set(workspace: Workspace, name: str, model: str, set_items: tuple[str, ...]) -> None:
    """Point NAME at MODEL (an id or a name prefix), creating or repointing it."""
    made = set_alias(workspace.db, name, model, parse_set_options(set_items))
    target = get_model(workspace.db, made.model_id)
    extra = ", ".join(f"{k}={v}" for k, v in sorted(made.settings.items()))
    click.echo(f"{made.name} -> {target.id}:{target.name}" + (f" ({extra})" if extra else ""))


@alias.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def alias_list(workspace: Workspace, as_json: bool) -> None:
    """The aliases, the model each points at, and its settings."""
    db = workspace.db
    rows: list[dict[str, Any]] = []
    for item in list_aliases(db):
        found = list(db.table("models").rows_where("id = ?", [item.model_id]))
        rows.append({"name": item.name, "model_id": item.model_id,
                     "model": found[0]["name"] if found else None,
                     "settings": item.settings, "updated_at": item.updated_at})
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No aliases. Make one with: llm-workbench alias set NAME MODEL")
        return
    for row in rows:
        model = f"{row['model_id']}:{row['model']}" if row["model"] else \
            f"{row['model_id']} (no longer in the library)"
        extra = ", ".join(f"{k}={v}" for k, v in sorted(row["settings"].items()))
        click.echo(f"{row['name']} -> {model}" + (f" ({extra})" if extra else ""))


@alias.command("rm")
@click.argument("name")
@pass_workspace
def alias_rm(workspace: Workspace, name: str) -> None:
    """Remove the alias NAME (the model stays)."""
    removed = remove_alias(workspace.db, name)
    click.echo(f"Removed {removed.name}.")
