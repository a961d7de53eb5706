"""The ``llm-workbench`` command: every core feature, headless.

Each group of commands lives in its own module and registers itself on :data:`cli`. A
:class:`~workbench.errors.WorkbenchError` becomes one line on stderr and exit status 1; no
traceback reaches the user.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

import click

from workbench import __version__
from workbench.cli.common import pass_workspace  # noqa: F401  (re-exported for command modules)
from workbench.errors import WorkbenchError


class WorkbenchGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WorkbenchError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(1)
        except sqlite3.Error as error:
            # Last resort: the store turns the machine's failures (full, read-only, locked,
            # damaged) into StoreErrors above; anything else from SQLite is still one line.
            click.echo(f"Error: database: {error}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


@click.group(cls=WorkbenchGroup, invoke_without_command=True)
@click.version_option(__version__, prog_name="llm-workbench")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="LLM_WORKBENCH_HOME",
    help="Folder for the database, downloaded models and settings.",
)
@click.option("--self-check", "self_check", type=click.Path(), help="Load MODEL.gguf, "
              "generate a few tokens, print one JSON line and exit (checks an install).")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, self_check: str | None) -> None:
    """Workbench: find, run and compare local GGUF language models, privately.

    With no command, opens the window.
    """
    ctx.obj = {"data_dir": data_dir}
    from workbench.cli.common import install_terminal_guard

    install_terminal_guard()
    if self_check:
        from workbench.selfcheck import run_self_check

        run_self_check(self_check)
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        from workbench.cli.common import open_window

        open_window(ctx, data_dir)


def _register() -> None:
    from workbench.cli import chat, history, models  # noqa: F401

    for optional in ("hub", "trials", "catalog", "settings", "quant", "server"):
        try:
            __import__(f"workbench.cli.{optional}")
        except ModuleNotFoundError as error:
            if error.name != f"workbench.cli.{optional}":
                raise


_register()


def main() -> None:
    cli(prog_name="llm-workbench")
