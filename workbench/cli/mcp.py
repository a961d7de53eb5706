"""``mcp``: the MCP servers whose tools a chat may offer (``chat --mcp NAME``), the tools
allowed "always" (``mcp approvals``), and the approval prompt the CLI chat asks before each
call."""

from __future__ import annotations

import sys

import click

from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.mcp import servers as store
from workbench.mcp.toolbox import (
    Approver,
    Decision,
    ToolCallShown,
    ToolResultShown,
    arguments_line,
    describe,
)
from workbench.units import human_size
from workbench.workspace import Workspace


@cli.group()
def mcp() -> None:
    """MCP servers (Model Context Protocol): programs or local addresses whose tools a chat
    may call with --mcp NAME, each call approved by you.

    Nothing is started until a chat or 'mcp tools' names the server."""


@mcp.command("add", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--url", help="A Streamable HTTP endpoint (e.g. http://127.0.0.1:8000/mcp).")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE",
              help="An environment variable for a stdio server; repeatable.")
@click.option("--timeout", "timeout_s", type=float, metavar="SECONDS",
              help=f"The wait for its handshake and for each call "
                   f"[default: {store.DEFAULT_TIMEOUT_S:.0f}].")
@click.option("--replace", is_flag=True, help="Change a server already added.")
@pass_workspace
def add(workspace: Workspace, name: str, command: tuple[str, ...], url: str | None,
        env: tuple[str, ...], timeout_s: float | None, replace: bool) -> None:
    """Add NAME: a program (mcp add NAME -- COMMAND [ARG...]) or an address (--url URL)."""
    values: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}': must be KEY=VALUE", param_hint="--env")
        values[key] = value
    server = store.add_server(workspace.db, name, command=list(command) if command else None,
                              url=url, env=values or None, timeout_s=timeout_s,
                              replace=replace)
    click.echo(f"Added MCP server {server.name} ({server.transport}: {server.where}).")


@mcp.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list.")
@pass_workspace
def list_(workspace: Workspace, as_json: bool) -> None:
    """The servers added (nothing is started)."""
    servers = store.list_servers(workspace.db)
    if as_json:
        echo_json([s.to_dict() for s in servers])
        return
    if not servers:
        click.echo("No MCP servers yet: 'mcp add NAME -- COMMAND' or 'mcp import FILE'.")
    for server in servers:
        click.echo(f"{server.name}  {server.transport}  {server.where}")


@mcp.command("rm")
@click.argument("name")
@pass_workspace
def rm(workspace: Workspace, name: str) -> None:
    """Remove NAME (its program is not touched)."""
    store.remove_server(workspace.db, name)
    click.echo(f"Removed MCP server {name}.")


@mcp.command("tools")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON list.")
@pass_workspace
def tools(workspace: Workspace, name: str, as_json: bool) -> None:
    """Start NAME, list its tools, and stop it."""
    server = store.get_server(workspace.db, name)
    store.require_reachable(workspace.db, server)
    from workbench.mcp.connection import McpConnection  # the SDK, only when it is needed

    with McpConnection(server, lambda line: click.echo(f"note: {line}", err=True)) as live:
        listed = live.tools
    if as_json:
        echo_json(describe(listed))
        return
    for tool in listed:
        click.echo(f"{tool.name}  {tool.description.splitlines()[0] if tool.description else ''}")
    if not listed:
        click.echo(f"MCP server {name} offers no tools.")


@mcp.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--replace", is_flag=True, help="Change servers already added by these names.")
@pass_workspace
def import_(workspace: Workspace, file: str, replace: bool) -> None:
    """Add the servers of an mcpServers JSON file (Claude Desktop, LM Studio, Cursor)."""
    result = store.import_config(workspace.db, file, replace=replace)
    for server in result.added:
        click.echo(f"Added MCP server {server.name} ({server.transport}: {server.where}).")
    for line in result.skipped:
        click.echo(f"skipped: {line}", err=True)
    click.echo(f"{len(result.added)} added, {len(result.skipped)} skipped.", err=True)


@mcp.group("approvals")
def approvals() -> None:
    """The tools allowed "always" (in a chat here or in the window): they run without asking
    until removed, or until their server describes them differently."""


@approvals.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list.")
@pass_workspace
def approvals_list(workspace: Workspace, as_json: bool) -> None:
    """Each tool allowed always: its server, its name and when."""
    from workbench.mcp.approvals import list_approvals

    found = list_approvals(workspace.db)
    if as_json:
        echo_json([a.to_dict() for a in found])
        return
    if not found:
        click.echo("No tools allowed always: each call asks first.")
    for approval in found:
        click.echo(f"{approval.server}  {approval.tool}  allowed always since "
                   f"{approval.approved_at.replace('T', ' ')}")


@approvals.command("rm")
@click.argument("server")
@click.argument("tool")
@pass_workspace
def approvals_rm(workspace: Workspace, server: str, tool: str) -> None:
    """Take back "always" for TOOL of SERVER: its next call asks again."""
    from workbench.mcp.approvals import remove_approval

    remove_approval(workspace.db, server, tool)
    click.echo(f"{server} {tool}: no longer allowed always; its next call asks first.")


# --- what the chat shows ------------------------------------------------------------------

NO_TTY_LINE = ("denied: no terminal to ask for approval; add --yes to allow the tools of "
               "the --mcp servers")


def approver(yes: bool) -> Approver:
    """The CLI's answer to each call: --yes allows; on a terminal, ask; else deny, once
    said in one line."""
    said: list[bool] = []

    def approve(call: ToolCallShown) -> Decision:
        if call.changed:
            click.echo("  it changed since you allowed it always (description or input "
                       "schema): asking again", err=True)
        if yes:
            click.echo("  allowed (--yes)", err=True)
            return "once"
        if not sys.stdin.isatty():
            if not said:
                said.append(True)
                click.echo(f"  {NO_TTY_LINE}", err=True)
            else:
                click.echo("  denied", err=True)
            return "deny"
        answer = click.prompt("  Allow? [o]nce, [a]lways for this tool (kept: 'mcp "
                              "approvals rm' takes it back), [d]eny",
                              type=click.Choice(["o", "a", "d"]), default="d",
                              show_choices=False, err=True)
        return {"o": "once", "a": "always"}.get(answer, "deny")  # type: ignore[return-value]

    return approve


def show_call(call: ToolCallShown) -> None:
    click.echo(f"→ {call.server}.{call.tool} {arguments_line(call.arguments)}", err=True)


def show_result(result: ToolResultShown) -> None:
    if result.decision == "deny":
        return
    if result.decision == "auto":
        click.echo(f"  allowed always (to be asked again: mcp approvals rm {result.server} "
                   f"{result.tool})", err=True)
    lines = result.folded()
    more = len(result.text.splitlines()) - len(lines)
    size = human_size(result.size or len(result.text.encode("utf-8")))
    label = "error" if result.is_error else "result"
    click.echo(f"  {label} ({size}{f', {more:,} more lines' if more > 0 else ''}):", err=True)
    for line in lines:
        click.echo(f"  │ {line[:160]}", err=True)
