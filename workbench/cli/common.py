"""What every command module shares: the workspace, JSON output, the terminal guard, and
opening the window."""

from __future__ import annotations

import functools
import json
import logging
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


#: The logger llama.cpp's own lines arrive on (from the engine process): its load log, its
#: warnings about a model ("control-looking token ... probably a bug in the model"), and
#: what it says when a reply is stopped or the disk fills.
LLAMA_LOGGER = "workbench.llama"


class _Stderr(logging.Handler):
    """Log lines on the current ``sys.stderr`` (looked up at each line: it is replaced by
    the terminal guard, and by click's test runner)."""

    def __init__(self, level: int, verbose: bool) -> None:
        super().__init__(level)
        self.verbose = verbose
        if verbose:
            self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.verbose and (record.name == LLAMA_LOGGER
                                 or record.name.startswith(LLAMA_LOGGER + ".")):
            return False
        return super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a closed pipe: the line is lost, the command goes on
            self.handleError(record)


_verbose_handler: logging.Handler | None = None


def configure_logging(verbose: bool) -> None:
    """What the CLI's log shows on the terminal. By default what Python shows of a program
    that sets no logging (warnings and errors, as bare lines), less llama.cpp's lines: its
    reason for a failed load is in the command's one error line already, and the rest is
    for someone debugging. ``--verbose`` shows everything from INFO up, llama.cpp's load log
    included, each line with the logger's name. A program that set up logging itself (the
    tests) keeps its own handlers: this only replaces Python's last-resort one."""
    global _verbose_handler
    root = logging.getLogger()
    if _verbose_handler is not None:
        root.removeHandler(_verbose_handler)
        _verbose_handler = None
    if verbose:
        _verbose_handler = _Stderr(logging.INFO, verbose=True)
        root.addHandler(_verbose_handler)
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))
        for name in ("workbench", LLAMA_LOGGER):
            logging.getLogger(name).setLevel(logging.INFO)
    logging.lastResort = _Stderr(logging.WARNING, verbose=False)


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
