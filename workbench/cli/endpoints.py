"""``endpoint add|list|rm`` (remote OpenAI-compatible servers, used as ``-m endpoint:NAME/MODEL``)
and ``privacy`` (every address Workbench may contact)."""

from __future__ import annotations

import click

from workbench import endpoints
from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.cli.server import read_key_file
from workbench.keychain import keyring_available
from workbench.settings import is_offline
from workbench.workspace import Workspace


@cli.group()
def endpoint() -> None:
    """Servers you run elsewhere (Workbench's serve, llama-server, vLLM, Ollama), used like
    models: -m endpoint:NAME/MODEL in compare, trials, the judge and chat."""


@endpoint.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--key-env", metavar="VAR",
              help="An environment variable holding its key, read each time it is used.")
@click.option("--key-file", type=click.Path(dir_okay=False),
              help="A file whose first line is its key; the key goes to the OS keyring.")
@click.option("--ask-key", is_flag=True,
              help="Ask for its key (not shown as you type); it goes to the OS keyring.")
@pass_workspace
def endpoint_add(workspace: Workspace, name: str, url: str, key_env: str | None,
                 key_file: str | None, ask_key: bool) -> None:
    """Add the OpenAI-compatible server at URL (its API's base, such as
    http://127.0.0.1:8080/v1) as NAME, and list the models it serves."""
    if key_file and ask_key:
        raise click.UsageError("give --key-file or --ask-key, not both")
    key = read_key_file(key_file) if key_file else None
    if ask_key:
        key = click.prompt("Key", hide_input=True)
    added, note = endpoints.add_endpoint(workspace.db, name, url, key_env=key_env, key=key)
    click.echo(f"Added endpoint {added.name} ({added.shown}, key: {added.key_text}); {note}.")


@endpoint.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def endpoint_list(workspace: Workspace, as_json: bool) -> None:
    """The endpoints added, their models and where each key is kept (never the key)."""
    rows = [e.to_dict() for e in endpoints.list_endpoints(workspace.db)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No endpoints. Add one: endpoint add NAME URL")
        return
    for row in rows:
        models = ", ".join(row["models"]) or "no models listed"
        click.echo(f"{row['name']}  {row['shown']}  {row['url']}  key: {row['key']}  "
                   f"models: {models}")
    if not keyring_available():
        click.echo("(no OS keyring on this computer: give keys with --key-env VAR)")


@endpoint.command("rm")
@click.argument("name")
@pass_workspace
def endpoint_rm(workspace: Workspace, name: str) -> None:
    """Forget an endpoint (and its key in the OS keyring). Results made with it stay."""
    gone = endpoints.remove_endpoint(workspace.db, name)
    click.echo(f"Removed endpoint {gone.name} ({gone.shown}).")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def privacy(workspace: Workspace, as_json: bool) -> None:
    """Every address Workbench may contact, and when. Nothing else leaves this computer."""
    rows = endpoints.contacts(workspace.db)
    if as_json:
        echo_json({"offline": is_offline(workspace.db), "contacts": rows})
        return
    if is_offline(workspace.db):
        click.echo("Offline: only addresses on this computer are contacted.")
    for row in rows:
        click.echo(f"{row['address']}  {row['when']}")
