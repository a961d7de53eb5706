"""Settings > Network and privacy > Workers: the computers a model can be split across.

Small and local: the list, an address field with Add, Remove for the selected worker, and each
worker's state line (device count, free and total memory, round-trip time, measured bandwidth,
RPC protocol; llama.cpp's RPC protocol carries no device name),
checked in the background on the "hub" worker (network calls that answer) when the panel opens
and on Check. Adding, removing and checking are the core's :mod:`workbench.workers`; this only
shows them, in a :class:`ui.widgets.list_panel.ListPanel` like the Remote endpoints panel.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ui.services import Services
from ui.widgets.list_panel import ListPanel
from ui.widgets.plain_label import Label
from workbench import workers as core
from workbench.engine import rpc


class WorkersPanel(ListPanel):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(services, "Workers", (70, 130), parent)
        self.missing = Label("" if rpc.available() else rpc.missing_line(), self)
        self.missing.setObjectName("ErrorText")
        self.missing.setWordWrap(True)
        self.missing.setVisible(not rpc.available())
        self.column.insertWidget(0, self.missing)
        row = QHBoxLayout()
        self.address = QLineEdit(self)
        self.address.setPlaceholderText("HOST:PORT")
        self.address.setAccessibleName("Worker address")
        self.add_button = QPushButton("Add", self)
        self.remove_button = QPushButton("Remove", self)
        self.check_button = QPushButton("Check", self)
        for widget in (self.address, self.add_button, self.remove_button, self.check_button):
            row.addWidget(widget, 1 if widget is self.address else 0)
        self.add_row(row)
        self.add_button.clicked.connect(self.add)
        self.address.returnPressed.connect(self.add)
        self.remove_button.clicked.connect(self.remove)
        self.check_button.clicked.connect(self.check)
        self.refresh()

    def refresh(self, *, check: bool = True) -> None:
        self.services.ops.run("db", core.list_workers, name="list workers",
                              success=lambda found: self._show(found, check),
                              failure=self.failed)

    def _show(self, addresses: list[str], check: bool) -> None:
        state = "checking..." if check else "not checked"
        self.show_entries(((f"{address}: {state}", address, "") for address in addresses),
                          "No workers. Run 'llm-workbench worker' on another computer, "
                          "then add its address here.")
        if check and addresses:
            self.check()

    def add(self) -> None:
        text = self.address.text().strip()
        if not text:
            return
        self.note.hide()
        self.services.ops.run("db", core.add_worker, text, name="add a worker",
                              success=lambda _: (self.address.clear(), self.refresh()),
                              failure=self.failed)

    def remove(self) -> None:
        address = self.selected()
        if not address:
            return
        self.note.hide()
        self.services.ops.run("db", core.remove_worker, address, name="remove a worker",
                              success=lambda _: self.refresh(check=False),
                              failure=self.failed)

    def check(self) -> None:
        """Every worker, in the background; each line replaced by its state."""
        self.services.ops.run("hub", lambda db: core.check_all(db), name="check workers",
                              key="check", initiator=self, success=self._checked,
                              changes=("workers",),  # fit verdicts count the new figures
                              failure=self.failed)

    def _checked(self, checks: list[core.WorkerCheck]) -> None:
        lines = {check.address: check.line for check in checks}
        for index in range(self.list.count()):
            item = self.list.item(index)
            address = item.data(Qt.ItemDataRole.UserRole)
            if address in lines:
                item.setText(lines[address])
