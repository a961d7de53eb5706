"""What the comparison and trial commands share: contenders named by ``--model``/``--set``,
Ctrl+C that stops a run instead of the process, and writing a report to a file or stdout.

``--set KEY=VALUE`` after a ``--model`` applies to that contender only; before any
``--model`` it applies to all of them. So ``-m smol --set temperature=0 -m smol --set
temperature=1`` is one model as two contenders.
"""

from __future__ import annotations

import signal
from typing import Any

import click

from workbench.export import write_export
from workbench.trials.contenders import Contender, contenders_from
from workbench.workspace import Workspace


class ContenderCommand(click.Command):
    """Remembers the order of ``--model`` and ``--set`` so each ``--set`` finds its model."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        pairs: list[tuple[str, list[str]]] = []
        shared: list[str] = []
        items = iter(args)
        for arg in items:
            name, eq, inline = arg.partition("=")
            if name in ("--model", "-m", "--set"):
                value = inline if eq else next(items, "")
                if name == "--set":
                    (pairs[-1][1] if pairs else shared).append(value)
                else:
                    pairs.append((value, []))
            elif arg == "--":
                break
        ctx.meta["contenders"] = [(model, shared + own) for model, own in pairs]
        return super().parse_args(ctx, args)


def contender_options(func: Any) -> Any:
    func = click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
                        help="A setting for the --model before it (or all, if first): "
                             "temperature, n_ctx, seed, template, gpu_layers, max_tokens, "
                             "system_prompt, json_schema=FILE|any, docs=COLLECTION, "
                             "k=PASSAGES...")(func)
    return click.option("--model", "-m", "models", multiple=True, required=True,
                        help="A contender's model (id or name prefix); repeat it.")(func)


def build_contenders(workspace: Workspace, extra: dict[str, Any]) -> list[Contender]:
    return contenders_from(workspace.db, click.get_current_context().meta.get(
        "contenders", []), extra)


def on_interrupt(run: Any) -> Any:
    """Ctrl+C stops the run (keeping what is done) instead of killing the process."""
    return signal.signal(signal.SIGINT, lambda *_: run.stop())


def write_out(text: str, output: str | None) -> None:
    """Write ``text`` to the file ``output``, or to stdout without one."""
    if output:
        write_export(output, text)
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
