"""The status bar's Server switch: the local OpenAI-compatible server on and off, its address,
a request count, and snippets to copy for other apps.

What is in memory is said once, by the window's loaded-model label (the server shares the
window's engine): the switch tells it when the server loads a model, rather than saying it
again beside it. Its widgets keep fixed widths, so a count going from 9 to 10 moves nothing.

The server uses the window's own engine, on the window's engine worker: a chat and the
server's requests take turns with one model in memory, as the CLI's server does.

Starting and stopping run as operations on the "disk" worker (binding a socket, opening the
database, and on stop waiting for a reply to end and the model to unload), never on the GUI
thread. The server's own threads never touch a widget: a timer on the GUI thread reads the
host's plain attributes (model name, request count) twice a second while it runs.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QMenu,
    QPushButton,
    QSizePolicy,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.widgets.text_fit import ElidedLabel
from workbench.server.serve import DEFAULT_HOST, RunningServer, start_server
from workbench.settings import get_setting

POLL_MS = 500
#: The address and request count's slot (px): wide enough for "http://127.0.0.1:8080/v1 ·
#: 999 requests"; longer text is elided, whole in the tooltip.
LABEL_WIDTH = 230


def python_snippet(url: str, model: str) -> str:
    return ("from openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{url}", api_key="unused")\n'
            "reply = client.chat.completions.create(\n"
            f'    model="{model}",\n'
            '    messages=[{"role": "user", "content": "Hello!"}],\n'
            ")\n"
            "print(reply.choices[0].message.content)\n")


def curl_snippet(url: str, model: str) -> str:
    return (f"curl {url}/chat/completions \\\n"
            '  -H "Content-Type: application/json" \\\n'
            f'  -d \'{{"model": "{model}", "messages": [{{"role": "user", '
            '"content": "Hello!"}]}\'\n')


class ServerSwitch(QWidget):
    """Lives in the status bar; :attr:`running` is the server while it is on."""

    def __init__(self, services: Services, parent: QWidget | None = None, *,
                 host: str = DEFAULT_HOST, port: int | None = None) -> None:
        super().__init__(parent)
        self.services = services
        #: None: the ``server_port`` setting, read when the server starts.
        self.host, self.port = host, port
        self.running: RunningServer | None = None
        self._pending = False
        self._last_model: str | None = None
        self.copied = ""  # the last snippet copied (tests read it)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.button = QPushButton("Server: off", self)
        self.button.setCheckable(True)
        self.button.setAccessibleName("Server")
        self.button.setToolTip("Serve your models to other apps (an OpenAI-compatible API "
                               "on this computer only)")
        self.button.clicked.connect(self._clicked)
        metrics = self.button.fontMetrics()
        self.button.setFixedWidth(max(metrics.horizontalAdvance(t) for t in (
            "Server: off", "Server: on", "Server: starting…", "Server: stopping…")) + 28)
        self.label = ElidedLabel("", self)
        self.label.setFixedWidth(LABEL_WIDTH)
        self.label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.label.setAccessibleName("Server status")
        self.copy_button = QPushButton("Copy example", self)
        self.copy_button.setAccessibleName("Copy a snippet for other apps")
        self.copy_button.setToolTip("Copy a Python or curl example that uses this server")
        menu = QMenu(self.copy_button)
        self.copy_python = QAction("Python (openai)", menu)
        self.copy_curl = QAction("curl", menu)
        self.copy_python.triggered.connect(lambda: self.copy("python"))
        self.copy_curl.triggered.connect(lambda: self.copy("curl"))
        menu.addAction(self.copy_python)
        menu.addAction(self.copy_curl)
        self.copy_button.setMenu(menu)
        layout.addWidget(self.button)
        layout.addWidget(self.label)
        layout.addWidget(self.copy_button)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.refresh)
        self._show()

    # --- on and off ---------------------------------------------------------------------

    def _clicked(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        if self.running is not None or self._pending:
            return
        self._pending = True
        self.button.setEnabled(False)
        self.button.setText("Server: starting…")
        services = self.services
        # The window's engine and its worker: chat and server share one model in memory.
        host, port = self.host, self.port
        engine_worker = services.tasks.executor("engine")

        def start(db: Database) -> RunningServer:  # on the disk worker: the setting is read there
            chosen = port if port is not None else get_setting(db, "server_port")
            return start_server(services.workspace, host=host, port=chosen,
                                engine=services.engine,
                                engine_worker=engine_worker)

        self.services.ops.run("disk", start,
                              name="starting the server",
                              success=self._started, failure=self._failed,
                              finished=self._done, initiator=self)

    def stop(self) -> None:
        running = self.running
        if running is None or self._pending:
            self._show()
            return
        self._pending = True
        self.running = None
        self.timer.stop()
        self.button.setEnabled(False)
        self.button.setText("Server: stopping…")
        self.services.ops.run("disk", lambda _db: running.stop(), name="stopping the server",
                              finished=self._done, initiator=self)

    def shutdown(self) -> None:
        """Stop at once (the window is closing): the server's threads end with it."""
        running, self.running = self.running, None
        self.timer.stop()
        if running is not None:
            running.stop(timeout=5)

    def _started(self, running: RunningServer) -> None:
        self.running = running
        self.timer.start()
        self.services.events.status_message.emit(f"Server on at {running.url}", 6000)

    def _failed(self, message: str) -> None:
        self.services.events.error.emit(f"Server: {message}")

    def _done(self) -> None:
        self._pending = False
        self.button.setEnabled(True)
        self._show()

    # --- what it shows ------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return self.running.model_host.requests if self.running is not None else 0

    def refresh(self) -> None:
        self._show()

    def _show(self) -> None:
        running = self.running
        on = running is not None
        self.button.setChecked(on)
        self.copy_button.setVisible(on)
        self.label.setVisible(on)
        if not self._pending:
            self.button.setText("Server: on" if on else "Server: off")
        if running is None:
            if self._last_model:  # stopping the server unloaded its model
                self._last_model = None
                self.services.events.model_loaded.emit("")
            return
        name = running.model_host.model_name
        if name != self._last_model:
            # The server shares the window's engine: the model it loaded is the window's
            # loaded model. None: it unloaded it (say so), or the chat or Compare loaded
            # another (which they say themselves).
            self._last_model = name
            if name or self.services.engine.loaded is None:
                self.services.events.model_loaded.emit(name or "")
        count = running.model_host.requests
        self.label.setText(f"{running.url}  ·  {count} request{'' if count == 1 else 's'}")

    def copy(self, kind: str) -> None:
        """Put a Python or curl snippet on the clipboard; the model it names (the first
        alias, else the first library model) is looked up on the "db" worker."""
        if self.running is None:
            return
        url = self.running.url
        services = self.services

        def first_model(db: Database) -> str:  # runs on the worker: no widget here
            from workbench.server.app import model_ids

            entries = model_ids(db)
            return str(entries[0]["id"]) if entries else "MODEL"

        def put(model: str) -> None:
            text = python_snippet(url, model) if kind == "python" else curl_snippet(url, model)
            QApplication.clipboard().setText(text)
            self.copied = text
            services.events.status_message.emit(f"Copied a {kind} example for {model}.", 4000)

        services.ops.run("db", first_model, name="reading the models", success=put,
                         initiator=self)
