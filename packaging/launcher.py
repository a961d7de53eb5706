"""Entry point of the frozen bundle (PyInstaller's script; see ``workbench.spec``).

An installed ``llm-workbench`` opens the window through the ``llm_workbench.window`` entry
point (``workbench/cli/common.py``), but a frozen bundle has no entry points. So this launcher
decides itself: no command (nothing, or only ``--data-dir``) opens the window with
``ui.app.run_app``; anything else (``--self-check``, ``--help``, a subcommand) goes to the CLI.

``WORKBENCH_SCREENSHOT=PATH`` is a hidden switch for the packaging checks: once the main window
is shown, grab it into PATH, print one JSON line with the time from process start to the
window shown (``startup_s``) and quit. It lives here, beside ``run_app``, so that ``ui/``
needs no test hook.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence

SCREENSHOT_ENV = "WORKBENCH_SCREENSHOT"


def window_request(argv: Sequence[str]) -> tuple[bool, str | None]:
    """Whether ``argv`` asks for the window, and the ``--data-dir`` it names (if any).

    macOS may add a ``-psn_...`` process serial number when started from the Finder; it is
    not an argument and is ignored.
    """
    args = [arg for arg in argv if not arg.startswith("-psn_")]
    if not args:
        return True, None
    if len(args) == 2 and args[0] == "--data-dir":
        return True, args[1]
    if len(args) == 1 and args[0].startswith("--data-dir="):
        return True, args[0].split("=", 1)[1]
    return False, None


def _process_start() -> float:
    """When this process started (epoch seconds): the start of the cold-start measurement."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # pragma: no cover - psutil is a dependency; never fail the app for it
        return time.time()


def install_screenshot(path: str) -> None:
    """Once the main window is shown, grab it into ``path``, print one JSON line and quit.

    ``run_app`` reuses an existing QApplication, so the application is made here first with
    ``ui.app.make_application`` and a timer is queued on it; the timer first fires when
    ``run_app`` enters the event loop, right after showing the window.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

    from ui.app import make_application

    started = _process_start()
    app = make_application()
    deadline = time.monotonic() + 60

    def main_window() -> QWidget | None:
        shown = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.isWindow()]
        candidates = [w for w in shown if isinstance(w, QMainWindow)] or shown
        return max(candidates, key=lambda w: w.width() * w.height()) if candidates else None

    def poll() -> None:
        window = main_window()
        if window is None:
            if time.monotonic() < deadline:
                QTimer.singleShot(20, poll)
                return
            print(json.dumps({"screenshot": None, "error": "no window shown"}), flush=True)
            app.exit(3)
            return
        shown_at = time.time()
        app.processEvents()
        saved = window.grab().save(path)
        print(json.dumps({
            "screenshot": path if saved else None,
            "window": window.windowTitle(),
            "size": [window.width(), window.height()],
            "platform": app.platformName(),
            "startup_s": round(shown_at - started, 2),
        }), flush=True)
        app.exit(0 if saved else 4)

    QTimer.singleShot(0, poll)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    wants_window, data_dir = window_request(args)
    if not wants_window:
        from workbench.cli import cli

        cli.main(args=args, prog_name="llm-workbench")  # exits itself
        return 0
    if os.environ.get(SCREENSHOT_ENV):
        install_screenshot(os.environ[SCREENSHOT_ENV])
    from ui.app import run_app

    return int(run_app(data_dir) or 0)


if __name__ == "__main__":
    # The engine process (workbench/engine/process.py) is started with multiprocessing's
    # 'spawn': in a frozen bundle it re-runs this executable, which must hand over here.
    import multiprocessing

    multiprocessing.freeze_support()
    # A windowed Windows exe has no stdout/stderr (None): keep print() and logging harmless.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115
    sys.exit(main())
