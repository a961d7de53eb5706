"""Settings > Network and privacy > Remote endpoints: OpenAI-compatible servers the user runs.

Small and local, like the Workers panel beside it (both a
:class:`ui.widgets.list_panel.ListPanel`): the list (name, address as *remote: HOST*,
the models it serves, where its key is), a name, a base URL and where the key comes from (none,
an environment variable read at each use, or the OS keyring where this computer has one), with
Add and Remove. Adding lists the server's models over the network, so it runs on the "hub"
worker; it is :func:`workbench.endpoints.add_endpoint`, and says the same line the CLI does.
The key is handed to the core and never kept by this panel.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.widgets.list_panel import ListPanel
from workbench import endpoints as core
from workbench.keychain import keyring_available

NO_KEY, ENV_KEY, KEYRING_KEY = "none", "env", "keyring"


def add_job(db: Database, name: str, url: str, source: str, key: str) -> str:
    """On the hub worker: add it (listing its models), and the line to show."""
    endpoint, note = core.add_endpoint(
        db, name, url, key_env=key if source == ENV_KEY else None,
        key=key if source == KEYRING_KEY else None)
    return f"Added {endpoint.name} ({endpoint.shown}): {note}."


def item_text(endpoint: core.Endpoint) -> str:
    models = (", ".join(endpoint.models[:3]) + (f" and {len(endpoint.models) - 3} more"
                                                 if len(endpoint.models) > 3 else "")
              if endpoint.models else "no models listed")
    return f"{endpoint.name} ({endpoint.shown}): {models}; key: {endpoint.key_text}"


class EndpointsPanel(ListPanel):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(services, "Remote endpoints", (60, 120), parent)
        grid = QGridLayout()
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("name, e.g. box")
        self.name.setAccessibleName("Endpoint name")
        self.url = QLineEdit(self)
        self.url.setPlaceholderText("http://192.168.1.20:8080/v1")
        self.url.setAccessibleName("Endpoint base URL")
        self.key_source = QComboBox(self)
        self.key_source.setAccessibleName("Where its key is")
        self.key_source.addItem("No key", NO_KEY)
        self.key_source.addItem("Key in an environment variable", ENV_KEY)
        self.key_source.addItem("Key in the OS keyring", KEYRING_KEY)
        if not keyring_available():  # said, not hidden: the way that works is named
            model: Any = self.key_source.model()
            model.item(2).setEnabled(False)
            self.key_source.setItemData(2, "This computer has no OS keyring: use an "
                                        "environment variable", Qt.ItemDataRole.ToolTipRole)
        self.key = QLineEdit(self)
        self.key.setAccessibleName("Key or variable name")
        self.key.setEnabled(False)
        grid.addWidget(self.name, 0, 0)
        grid.addWidget(self.url, 0, 1)
        grid.addWidget(self.key_source, 1, 0)
        grid.addWidget(self.key, 1, 1)
        grid.setColumnStretch(1, 1)
        self.add_row(grid)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add endpoint", self)
        self.remove_button = QPushButton("Remove", self)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        self.add_row(row)
        self.key_source.currentIndexChanged.connect(self._source_chosen)
        self.add_button.clicked.connect(self.add)
        self.remove_button.clicked.connect(self.remove)
        self.refresh()

    def _source_chosen(self, _index: int) -> None:
        source = self.key_source.currentData()
        self.key.setEnabled(source != NO_KEY)
        self.key.clear()
        self.key.setEchoMode(QLineEdit.EchoMode.Password if source == KEYRING_KEY
                             else QLineEdit.EchoMode.Normal)
        self.key.setPlaceholderText({ENV_KEY: "variable name, e.g. BOX_KEY",
                                     KEYRING_KEY: "the key (kept in the OS keyring)"}
                                    .get(source, ""))

    def refresh(self) -> None:
        self.services.ops.run("db", core.list_endpoints, name="list endpoints",
                              success=self._show, failure=self.failed)

    def _show(self, found: list[core.Endpoint]) -> None:
        self.show_entries(((item_text(endpoint), endpoint.name, endpoint.url)
                           for endpoint in found),
                          "No endpoints. Add a server that speaks OpenAI's API (Workbench's "
                          "serve, llama-server, vLLM, Ollama) by its base URL.")

    def add(self) -> None:
        name, url = self.name.text().strip(), self.url.text().strip()
        if not name or not url:
            self.say("Give the endpoint a name and its API's base URL.", error=True)
            return
        source = str(self.key_source.currentData())
        key = self.key.text().strip() if source != NO_KEY else ""
        if source != NO_KEY and not key:
            self.say("Give the environment variable's name." if source == ENV_KEY else
                     "Type the key, or choose No key.", error=True)
            return
        self.add_button.setEnabled(False)
        self.say(f"Adding {name}: listing its models…")

        def added(line: str) -> None:
            for field in (self.name, self.url, self.key):
                field.clear()
            self.key_source.setCurrentIndex(0)
            self.say(line)
            self.refresh()

        self.services.ops.run("hub", add_job, name, url, source, key, name="add an endpoint",
                              initiator=self, changes=("library",), success=added,
                              failure=self.failed,
                              finished=lambda: self.add_button.setEnabled(True))

    def remove(self) -> None:
        name = self.selected()
        if not name:
            return
        self.services.ops.run("db", core.remove_endpoint, name, name="remove an endpoint",
                              initiator=self, changes=("library",),
                              success=lambda gone: (self.say(f"Removed {gone.name}."),
                                                    self.refresh()),
                              failure=self.failed)
