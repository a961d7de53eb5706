"""The ``llm-workbench`` command: every core feature, headless.

Each group of commands lives in its own module and registers itself on :data:`cli` (the root
group, in :mod:`workbench.cli.group`); importing this package registers them all. A
:class:`~workbench.errors.WorkbenchError` becomes one line on stderr and exit status 1; no
traceback reaches the user.
"""

from __future__ import annotations

# Importing a command module registers its commands on the group. A module that fails to
# import fails the command loudly (a missing command would otherwise read as a typo).
from workbench.cli import (  # noqa: F401
    catalog,
    chat,
    docs,
    endpoints,
    history,
    hub,
    mcp,
    models,
    quant,
    server,
    settings,
    trials,
    workers,
)
from workbench.cli.group import WorkbenchGroup, cli

__all__ = ["WorkbenchGroup", "cli", "main"]


def main() -> None:
    cli(prog_name="llm-workbench")
