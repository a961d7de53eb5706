"""Settings > Network and privacy > Workers: the computers a model can be split across.

Small and local: the list, an address field with Add, Remove for the selected worker, and each
worker's state line (device count, free and total memory, round-trip time, measured bandwidth,
RPC protocol; llama.cpp's RPC protocol carries no device name).
When the panel opens, each worker shows its last recorded check at once, with when it was
made ("checked 3 min ago", kept in ``workers.last_check``), and is checked again in the
background on the "hub" worker (network calls that answer); Check does it again. Adding,
removing and checking are the core's :mod:`workbench.workers`; this only shows them, in a
:class:`ui.widgets.list_panel.ListPanel` like the Remote endpoints panel.
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
        #: Each worker's last recorded check (None: never checked), as the list shows it.
        self.recorded: dict[str, core.WorkerCheck | None] = {}
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
        self.services.ops.run("db", core.recorded_checks, name="list workers",
                              success=lambda found: self._show(found, check),
                              failure=self.failed)

    def _show(self, recorded: dict[str, core.WorkerCheck | None], check: bool) -> None:
        """Each worker's last recorded check at once (a new one follows when ``check``)."""
        self.recorded = recorded
        again = " · checking again…" if check else ""
        self.show_entries(((f"{last.shown()}{again}" if last is not None else
                            f"{address}: {'checking…' if check else 'not checked yet'}",
                            address, "") for address, last in recorded.items()),
                          "No workers. Run 'llm-workbench worker' on another computer, "
                          "then add its address here.")
        if check and recorded:
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
        """Every worker, in the background; each line replaced by its new state."""
        self.services.ops.run("hub", lambda db: core.check_all(db), name="check workers",
                              key="check", initiator=self, success=self._checked,
                              changes=("workers",),  # fit verdicts count the new figures
                              failure=self.failed)

    def _checked(self, checks: list[core.WorkerCheck]) -> None:
        lines = {check.address: self._line(check) for check in checks}
        for index in range(self.list.count()):
            item = self.list.item(index)
            address = item.data(Qt.ItemDataRole.UserRole)
            if address in lines:
                item.setText(lines[address])

    def _line(self, check: core.WorkerCheck) -> str:
        last = self.recorded.get(check.address)
        if check.checked_at is None and last is not None:  # not contacted (offline mode)
            return f"{last.shown()} · not checked again: offline mode is on"
        self.recorded[check.address] = check
        return check.shown()
