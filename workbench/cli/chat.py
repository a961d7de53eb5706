"""``chat``: one turn with a model, streamed to stdout.

The prompt is an argument, ``-`` for standard input, or ``--prompt-file``: a long prompt (a
document to summarise) does not fit on a command line, whose length the system limits.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from workbench.chat_runner import ChatRunner, Crashed, Finished, Loading, Started, TurnRequest
from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.cli.mcp import approver, show_call, show_result
from workbench.engine import Engine
from workbench.engine.settings import ANY_JSON, json_cut_note, read_json_schema
from workbench.engine.templates import family_names
from workbench.errors import EngineCrashed, InvalidInputError, WorkbenchError
from workbench.mcp.toolbox import McpNotice, ToolCallShown, ToolResultShown
from workbench.text_files import decode, read_limited, read_text_file
from workbench.workspace import Workspace


def _checked_argument(text: str, what: str) -> str:
    """A command-line argument with bytes that are not UTF-8 arrives with surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        decode(text.encode("utf-8", "surrogateescape"), what)  # names the first bad byte
        raise InvalidInputError(f"{what}: not valid UTF-8 text") from None
    return text


def read_prompt(prompt: str | None, prompt_file: str | None) -> str:
    """The prompt from the argument, from stdin (``-``) or from a file; one line on error."""
    if prompt is not None and prompt_file is not None:
        raise InvalidInputError("prompt: give it as an argument, '-' (stdin) or --prompt-file, "
                                "not two of them")
    if prompt_file is not None:
        text = read_text_file(prompt_file, f"prompt file {prompt_file}")
    elif prompt == "-":
        text = decode(read_limited(sys.stdin.buffer, "prompt from stdin"), "prompt from stdin")
    elif prompt is not None:
        text = _checked_argument(prompt, "prompt")
    else:
        raise InvalidInputError("prompt: missing (an argument, '-' for stdin, or "
                                "--prompt-file FILE)")
    if not text.strip():
        raise InvalidInputError("prompt: empty")
    return text


@cli.command()
@click.argument("model")
@click.argument("prompt", required=False)
@click.option("--prompt-file", type=click.Path(dir_okay=False),
              help="Read the prompt from this file (UTF-8 text).")
@click.option("--system", "system_prompt", help="System prompt.")
@click.option("--temperature", type=float)
@click.option("--top-p", type=float)
@click.option("--seed", type=int, help="Sampling seed, for a reply that can be repeated.")
@click.option("--max-tokens", type=int)
@click.option("--ctx", "n_ctx", type=int, help="Context length in tokens.")
@click.option("--gpu-layers", help="Layers to offload to the GPU: a number, all or auto.")
@click.option("--threads", "n_threads", type=int)
@click.option("--workers", "workers", metavar="all|ADDR,...",
              help="Split the model across this computer and these workers (see 'workers "
                   "add'); none: this computer only.")
@click.option("--template", type=click.Choice(["auto", "gguf", *family_names()]),
              help="Chat template: the file's own (auto) or a family's.")
@click.option("--json-schema", "schema_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Constrain the reply to this JSON schema (llama.cpp's grammar).")
@click.option("--json", "any_json", is_flag=True, help="Constrain the reply to JSON (any).")
@click.option("--continue", "conversation", type=int, metavar="CONVERSATION",
              help="Continue this conversation (its id from 'history list').")
@click.option("--docs", "docs", multiple=True, metavar="COLLECTION",
              help="Answer from this collection's passages, cited by number; repeatable.")
@click.option("--k", "k", type=click.IntRange(1, 50), default=5, show_default=True,
              help="How many passages to retrieve for --docs.")
@click.option("--image", "images", multiple=True, type=click.Path(dir_okay=False),
              metavar="PATH", help="Show the model this picture (PNG, JPEG, WebP, GIF); "
                                   "repeatable. The model needs a vision projector.")
@click.option("--mcp", "mcp", multiple=True, metavar="SERVER",
              help="Offer this MCP server's tools (see 'mcp add'); repeatable. Each call "
                   "waits for your approval.")
@click.option("--yes", is_flag=True, help="Allow every tool call of the --mcp servers.")
@click.option("--tool-choice", "tool_choice", metavar="auto|required|none|TOOL",
              help="With --mcp: whether the first step must call a tool (required), may "
                   "(auto, the default), or must call TOOL.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="json: print one JSON object (the reply, its metrics and citations) "
                   "instead of streaming the text.")
@pass_workspace
def chat(workspace: Workspace, model: str, prompt: str | None, prompt_file: str | None,
         system_prompt: str | None, conversation: int | None, schema_file: str | None,
         any_json: bool, docs: tuple[str, ...], k: int, images: tuple[str, ...],
         mcp: tuple[str, ...], yes: bool,
         fmt: str, **options: Any) -> None:
    """Ask MODEL (an id or a name prefix) and stream the reply; metrics go to stderr.

    PROMPT is the text, or - to read it from standard input (or use --prompt-file).
    With --docs, the reply cites the collection's passages ([1], [2]) and lists them.
    With --mcp, the model may call the server's tools: each call is shown and waits for
    your approval (--yes allows all; without a terminal, calls are denied)."""
    prompt = read_prompt(prompt, prompt_file)
    if system_prompt is not None:
        system_prompt = _checked_argument(system_prompt, "--system")
    if schema_file is not None and any_json:
        raise InvalidInputError("--json-schema and --json: give one of them (a schema file, "
                                "or any JSON)")
    if schema_file is not None:
        options["json_schema"] = read_json_schema(schema_file, f"--json-schema {schema_file}")
    elif any_json:
        options["json_schema"] = ANY_JSON
    if options.get("tool_choice") is not None and not mcp:
        raise InvalidInputError("--tool-choice: needs --mcp SERVER (tools to choose from)")
    overrides = {key: value for key, value in options.items() if value is not None}
    runner = ChatRunner(workspace.db, Engine(), TurnRequest(
        "send", model, prompt=prompt, conversation_id=conversation,
        system_prompt=system_prompt, overrides=overrides, docs=list(docs), k=k,
        mcp=list(mcp), approve=approver(yes), images=list(images)))
    as_json = fmt == "json"
    # Ctrl+C stops the reply and keeps what was generated, like Stop in the window; the
    # command then exits 130, as an interrupted command does in a shell script.
    interrupted: list[bool] = []

    def on_interrupt(*_: Any) -> None:
        interrupted.append(True)
        runner.stop()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    started: Started | None = None
    noted = False
    try:
        for event in runner:
            if isinstance(event, str):
                if as_json:
                    continue
                sys.stdout.write(event)
                sys.stdout.flush()
            elif isinstance(event, Loading | Started):
                if event.kind_label and not noted:  # said before the wait for the load
                    noted = True
                    click.echo(f"note: {event.model_name} is a {event.kind_label}: it "
                               "continues text rather than answering, and may repeat the "
                               "prompt", err=True)
                if isinstance(event, Started):
                    started = event
            elif isinstance(event, McpNotice):
                click.echo(f"note: {event.line}", err=True)
            elif isinstance(event, ToolCallShown):
                show_call(event)
            elif isinstance(event, ToolResultShown):
                show_result(event)
            elif isinstance(event, Crashed):
                raise EngineCrashed(event.message)
            elif isinstance(event, Finished):
                assert started is not None
                if as_json:
                    _echo_result(started, event)
                else:
                    sys.stdout.write("\n")
                    _echo_sources(event.citations)
                if event.docs_note:
                    click.echo(f"note: {event.docs_note}", err=True)
                if event.stats.settings.get("tool_loop_note"):
                    click.echo(f"note: {event.stats.settings['tool_loop_note']}", err=True)
                click.echo(f"[conversation {started.conversation_id}] "
                           f"{event.stats.summary()}", err=True)
                note = json_cut_note(event.stats.finish_reason,
                                     event.stats.settings.get("json_schema"), event.text)
                if note:
                    click.echo(f"note: {note} (raise --max-tokens for the whole of it)",
                               err=True)
    except WorkbenchError:  # the model stopped working: end the text's line before the error
        if started is not None and not as_json:
            sys.stdout.write("\n")
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        sys.exit(130)


def _echo_sources(citations: list[dict[str, Any]]) -> None:
    """The passages the reply could cite, by the numbers it cites them with."""
    if citations:
        click.echo("Sources:")
    for citation in citations:
        click.echo(f"[{citation['number']}] {citation['where']}")


def _echo_result(started: Started, finished: Finished) -> None:
    echo_json({
        "conversation_id": started.conversation_id,
        "message_id": started.reply_message_id,
        "model": started.model_name,
        "text": finished.text,
        "status": finished.status,
        "finish_reason": finished.stats.finish_reason,
        "metrics": finished.stats.measurements(),
        "citations": finished.citations,
        "note": finished.docs_note,
        "tool_calls": finished.stats.settings.get("tool_calls", []),
    })
