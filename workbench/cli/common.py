"""What every command module shares: the workspace, JSON output, the terminal guard, and
opening the window."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from workbench.demo import ensure_demo_model
from workbench.recovery import repair_after_kill
from workbench.safe_text import guard_terminal
from workbench.units import human_count, human_size  # noqa: F401  (re-exported)
from workbench.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def pass_workspace(func: F) -> F:
    """Give the command a :class:`Workspace` for ``--data-dir``, with the bundled demo model
    in its library (when the demo extra is installed), so every command can name it, and
    with what a killed process left streaming or running marked interrupted."""

    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        root = (ctx.find_root().obj or {}).get("data_dir")
        workspace = Workspace(root)
        ensure_demo_model(workspace.db)
        repair_after_kill(workspace.db)
        try:
            return ctx.invoke(func, workspace, *args, **kwargs)
        finally:
            workspace.close()

    return wrapper  # type: ignore[return-value]


def install_terminal_guard() -> None:
    """Escape control characters in everything the CLI prints to a terminal.

    Model names, licences, file names and Hub fields come from files and servers; wrapping
    the two streams once covers every command (and the one-line errors) rather than field by
    field. Output to a pipe or a file is left exactly as it is."""
    sys.stdout = guard_terminal(sys.stdout)
    sys.stderr = guard_terminal(sys.stderr)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


WINDOW_ENTRY_POINT = "llm_workbench.window"


def open_window(ctx: click.Context, data_dir: str | None) -> None:
    """Open the desktop window, found through an entry point so the core never imports Qt.

    Without the window installed (a headless install), say so and show the help instead.
    """
    from importlib.metadata import entry_points

    found = list(entry_points(group=WINDOW_ENTRY_POINT))
    try:
        run_app = found[0].load() if found else None
    except ImportError as error:
        run_app = None
        reason = str(error)
    else:
        reason = "the window is not installed"
    if run_app is None:
        click.echo(ctx.get_help())
        click.echo(f"\n(The window cannot open: {reason}.)", err=True)
        return
    sys.exit(run_app(data_dir))
