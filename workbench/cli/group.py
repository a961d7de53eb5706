"""The ``llm-workbench`` command's root group and the error handling every command shares.

It is a module of its own, not the package's ``__init__``, so that each command module imports
the group from here while the package imports the command modules to register them: with the
group in ``__init__`` that was an import circle (``workbench.cli`` -> ``cli.chat`` ->
``workbench.cli``), checked by tests/core/test_layers.py.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

import click

from workbench import __version__
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
@click.option("--verbose", "-v", is_flag=True, help="Show the log on stderr, llama.cpp's own "
              "lines included (hidden by default: errors say their reason in one line).")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, self_check: str | None,
        verbose: bool) -> None:
    """Workbench: find, run and compare local GGUF language models, privately.

    With no command, opens the window.
    """
    ctx.obj = {"data_dir": data_dir, "verbose": verbose}
    from workbench.cli.common import configure_logging, install_terminal_guard

    install_terminal_guard()
    configure_logging(verbose)
    if self_check:
        from workbench.selfcheck import run_self_check

        run_self_check(self_check)
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        from workbench.cli.common import open_window

        open_window(ctx, data_dir)
