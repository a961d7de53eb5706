"""``history``: saved conversations: list, show, search, export."""

from __future__ import annotations

import click

from workbench import conversations as convs
from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.export import export_conversation, write_export
from workbench.units import reply_metrics
from workbench.workspace import Workspace


@cli.group()
def history() -> None:
    """Saved conversations."""


@history.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=50, show_default=True)
@pass_workspace
def history_list(workspace: Workspace, as_json: bool, limit: int) -> None:
    """List conversations, newest first."""
    rows = convs.list_conversations(workspace.db, limit)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No conversations yet.")
    for row in rows:
        click.echo(f"{row['id']:>4}  {row['updated_at'][:16].replace('T', ' ')}  "
                   f"{(row['model_name'] or '-')[:24]:24} {row['message_count']:>3} msgs  "
                   f"{row['title']}")


@history.command("show")
@click.argument("conversation_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def history_show(workspace: Workspace, conversation_id: int, as_json: bool) -> None:
    """Show a conversation (the branch on show), with each reply's metrics."""
    conversation = convs.get_conversation(workspace.db, conversation_id)
    messages = convs.branch(workspace.db, conversation_id)
    if as_json:
        echo_json({"conversation": conversation, "messages": [m.to_dict() for m in messages]})
        return
    click.echo(f"# {conversation['title']}  (conversation {conversation_id})")
    if conversation["system_prompt"]:
        click.echo(f"\n[system] {conversation['system_prompt']}")
    for message in messages:
        click.echo(f"\n[{message.role}] {message.content}")
        if message.role == "assistant":
            finish = message.finish_reason or message.status
            click.echo(f"  ({reply_metrics(message.metrics, finish)})")
            if message.note:
                click.echo(f"  note: {message.note}")
            for citation in message.settings.get("citations", []):
                click.echo(f"  [{citation['number']}] {citation['where']} "
                           f"({citation['collection']}, passage {citation['chunk_id']})")
            if message.settings.get("docs_note"):
                click.echo(f"  note: {message.settings['docs_note']}")


@history.command("search")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=50, show_default=True)
@pass_workspace
def history_search(workspace: Workspace, query: str, as_json: bool, limit: int) -> None:
    """Full-text search across all messages."""
    hits = convs.search_messages(workspace.db, query, limit)
    if as_json:
        echo_json(hits)
        return
    if not hits:
        click.echo(f"No messages match '{query}'.")
    for hit in hits:
        click.echo(f"{hit['conversation_id']:>4}  {hit['title'][:30]:30} [{hit['role']}] "
                   f"{hit['snippet']}")


@history.command("export")
@click.argument("conversation_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write.")
@pass_workspace
def history_export(workspace: Workspace, conversation_id: int, fmt: str,
                   output: str | None) -> None:
    """Export a conversation as Markdown or JSON."""
    text = export_conversation(workspace.db, conversation_id, fmt)
    if output:
        click.echo(f"Wrote {write_export(output, text)}")
    else:
        click.echo(text)
