"""Start the window: ``llm-workbench`` (through the ``llm_workbench.window`` entry point) and
``python -m ui`` both call :func:`run_app`.

At start: open the workspace, add the demo model if it is installed (so a new user can chat
offline in one click), mark what a killed process left streaming or running as interrupted
(:mod:`workbench.recovery`), and apply the
theme. At quit: stop the reply in progress (saved as stopped), cancel jobs, free the model.
An unexpected error anywhere becomes a one-line message in the window; the traceback goes to
the log file in the data folder.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from ui import theme
from ui.main_window import MainWindow
from ui.platform_libs import check_platform_libraries
from ui.services import Services
from workbench.demo import ensure_demo_model
from workbench.errors import WorkbenchError
from workbench.recovery import repair_after_kill
from workbench.settings import get_setting
from workbench.workspace import Workspace

log = logging.getLogger("ui")

APP_NAME = "LLM Workbench"


def make_application() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("llm-workbench")
    app.setDesktopFileName("llm-workbench")
    app.setWindowIcon(theme.app_icon())
    return app


def open_services(data_dir: str | None) -> Services:
    """The workspace and its services, ready for the window (raises WorkbenchError)."""
    workspace = Workspace(data_dir)
    db = workspace.db
    ensure_demo_model(db)
    repair_after_kill(db)
    return Services(workspace)


def follow_system_theme(app: QApplication, services: Services) -> None:
    """Re-apply the theme when the OS switches light/dark, if the user chose "system"."""

    def changed(_scheme: Qt.ColorScheme) -> None:
        chosen = get_setting(services.workspace.db, "theme")
        if chosen == "system":
            theme.apply_theme(app, chosen)

    QGuiApplication.styleHints().colorSchemeChanged.connect(changed)


def install_excepthook(window: MainWindow) -> None:
    """An unexpected error in a slot: a line in the status bar, the traceback in the log."""

    def hook(kind: type[BaseException], error: BaseException,
             tb: TracebackType | None) -> None:
        log.error("unexpected error\n%s", "".join(traceback.format_exception(kind, error, tb)))
        message = str(error) if isinstance(error, WorkbenchError) else (
            f"Unexpected error: {kind.__name__}: {error}")
        window.services.events.error.emit(message)

    sys.excepthook = hook


def setup_logging(services: Services) -> None:
    handler = logging.FileHandler(services.workspace.root / "workbench.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def run_app(data_dir: str | None = None) -> int:
    """Open the window on the workspace in ``data_dir`` (default: the usual data folder)."""
    if QApplication.instance() is None:
        # Qt aborts (SIGABRT, no hint) when its X11 plugin's libraries are missing: say
        # which packages to install, and stop, before it gets the chance.
        problem = check_platform_libraries()
        if problem:
            print(problem, file=sys.stderr)
            return 1
    app = make_application()
    try:
        services = open_services(data_dir)
    except WorkbenchError as error:
        QMessageBox.critical(None, APP_NAME, f"Workbench cannot open its data.\n\n{error}")
        return 1
    setup_logging(services)
    try:
        chosen = get_setting(services.workspace.db, "theme")
    except WorkbenchError:
        chosen = "system"
    theme.apply_theme(app, chosen)
    follow_system_theme(app, services)
    window = MainWindow(services)
    install_excepthook(window)
    window.show()
    try:
        return app.exec()
    finally:
        sys.excepthook = sys.__excepthook__
        services.shutdown()
        services.workspace.close()
