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

#: The most bytes of a key file read (a key is a line of text).
MAX_KEY_FILE = 4096


def read_key_file(path: str) -> str:
    """The key in ``path``: its first line, stripped; an unreadable or empty file is one
    line naming it."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_KEY_FILE + 1)
    except OSError as error:
        raise click.ClickException(f"--api-key-file {path}: cannot read it "
                                   f"({error.strerror or error})") from None
    lines = data.decode("utf-8", "replace").strip().splitlines()
    if len(data) > MAX_KEY_FILE or not lines or not lines[0].strip():
        raise click.ClickException(f"--api-key-file {path}: must hold the key on its first "
                                   "line (and be under 4 KiB)")
    return lines[0].strip()


@cli.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. Anything but this computer needs a key.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--api-key-file", type=click.Path(dir_okay=False),
              help="A file whose first line is the key clients must send "
                   "(Authorization: Bearer KEY). Or set WORKBENCH_API_KEY.")
@click.option("--api-key", envvar=["WORKBENCH_API_KEY", "LLM_WORKBENCH_API_KEY"],
              help="The key itself; other users of this computer can read a command line, "
                   "so prefer --api-key-file or WORKBENCH_API_KEY.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another name clients may reach the server by (besides 127.0.0.1, "
                   "localhost and --host); repeat for more.")
@click.option("--allow-origin", "allow_origins", multiple=True, metavar="ORIGIN",
              help="A web app (such as http://localhost:3000) allowed to use the server from "
                   "a browser; repeat for more. Other web pages are refused.")
@click.option("--workers", "workers", metavar="all|ADDR,...",
              help="Split every model across this computer and these workers (see 'workers "
                   "add'); by default each model's own 'workers' setting.")
@pass_workspace
def serve(workspace: Workspace, host: str, port: int,
          api_key_file: str | None, api_key: str | None, allow_hosts: tuple[str, ...],
          allow_origins: tuple[str, ...], workers: str | None) -> None:
    """Serve your models to other apps through an OpenAI-compatible API.

    Apps name a model by library id, name prefix or alias (see 'alias set'). One model is
    in memory at a time; it is unloaded after the server_idle_unload_minutes setting.
    Web pages are refused unless allowed (--allow-origin); see "Security of the local
    server" in the README."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    if api_key_file is not None:
        if ctx.get_parameter_source("api_key") == ParameterSource.COMMANDLINE:
            raise click.UsageError("give --api-key-file or --api-key, not both")
        api_key = read_key_file(api_key_file)
    elif api_key is not None and \
            ctx.get_parameter_source("api_key") == ParameterSource.COMMANDLINE:
        click.echo("Warning: --api-key on the command line can be read by other users of "
                   "this computer; use --api-key-file FILE or WORKBENCH_API_KEY.", err=True)

    def ready(url: str) -> None:
        click.echo(f"Serving on {url} (Ctrl+C to stop)"
                   + ("; clients must send the API key" if api_key else ""), err=True)

    from workbench.workers import resolve_workers

    chosen = None if workers is None else resolve_workers(workspace.db, workers)
    serve_forever(workspace, host=host, port=port, api_key=api_key, ready=ready,
                  allow_hosts=list(allow_hosts), allow_origins=list(allow_origins),
                  workers=chosen)


@cli.group()
def alias() -> None:
    """Task names ("summarize", "code") for the server, each pointing at a model."""


@alias.command("set")
@click.argument("name")
@click.argument("model")
@click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
              help="A setting it is served with (temperature=0.2, n_ctx=8192, "
                   "system_prompt=...); repeat for more.")
@click.option("--docs", "docs", multiple=True, metavar="COLLECTION",
              help="Answer from this document collection, with citations in the response; "
                   "repeat for more.")
@click.option("--k", "k", type=int, help="Passages retrieved for each question (default 5).")
@pass_workspace
def alias_set(workspace: Workspace, name: str, model: str, set_items: tuple[str, ...],
              docs: tuple[str, ...], k: int | None) -> None:
    """Point NAME at MODEL (an id or a name prefix), creating or repointing it. With
    --docs, a chat completion to NAME is answered from the collection and its message
    carries the citations (see "Ask your documents" in the README)."""
    settings = parse_set_options(set_items)
    if docs:
        settings["docs"] = list(docs)
    if k is not None:
        settings["k"] = k
    made = set_alias(workspace.db, name, model, settings)
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
