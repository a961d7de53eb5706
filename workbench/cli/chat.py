"""``chat``: one turn with a model, streamed to stdout."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from workbench import chat as chat_service
from workbench.cli import cli
from workbench.cli.common import pass_workspace
from workbench.engine import Engine
from workbench.engine.templates import family_names
from workbench.errors import WorkbenchError
from workbench.library import get_model
from workbench.model_settings import resolve_settings
from workbench.workspace import Workspace


@cli.command()
@click.argument("model")
@click.argument("prompt")
@click.option("--system", "system_prompt", help="System prompt.")
@click.option("--temperature", type=float)
@click.option("--top-p", type=float)
@click.option("--seed", type=int, help="Sampling seed, for a reply that can be repeated.")
@click.option("--max-tokens", type=int)
@click.option("--ctx", "n_ctx", type=int, help="Context length in tokens.")
@click.option("--gpu-layers", help="Layers to offload to the GPU: a number, all or auto.")
@click.option("--threads", "n_threads", type=int)
@click.option("--template", type=click.Choice(["auto", "gguf", *family_names()]),
              help="Chat template: the file's own (auto) or a family's.")
@click.option("--continue", "conversation", type=int, metavar="CONVERSATION",
              help="Continue this conversation (its id from 'history list').")
@pass_workspace
def chat(workspace: Workspace, model: str, prompt: str, system_prompt: str | None,
         conversation: int | None, **options: Any) -> None:
    """Ask MODEL (an id or a name prefix) and stream the reply; metrics go to stderr."""
    db = workspace.db
    found = get_model(db, model)
    load, sampling = resolve_settings(db, found, options)
    turn = chat_service.send(db, Engine(), found, prompt, conversation_id=conversation,
                             system_prompt=system_prompt, load=load, sampling=sampling)
    # Ctrl+C stops the reply and keeps what was generated, like Stop in the window.
    previous = signal.signal(signal.SIGINT, lambda *_: turn.stop())
    try:
        for piece in turn:
            sys.stdout.write(piece)
            sys.stdout.flush()
    except WorkbenchError:  # the model stopped working: end the text's line before the error
        sys.stdout.write("\n")
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    sys.stdout.write("\n")
    click.echo(f"[conversation {turn.conversation_id}] {turn.stats.summary()}", err=True)
