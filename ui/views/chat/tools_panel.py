"""The chat side panel's "Tools" section: the user's MCP servers, their tools, and which of
them this chat offers to the model.

A self-contained widget (other sections of the panel come and go without touching it). A
server is added here (a program to run, or an address), imported from an ``mcpServers``
JSON file (Claude Desktop, LM Studio, Cursor), or removed. Its tools are listed on the "mcp"
worker, never on the GUI thread, when the user opens it or switches it on (starting a server
only when asked: nothing runs at the window's start); a server that fails shows its one line.
Under them, the tools allowed "always" (:class:`ui.views.chat.tool_approvals.ApprovalsList`).
The servers switched on are remembered per conversation
(:mod:`workbench.mcp.per_chat`); a new chat's choice is saved once its first message made
the conversation. The page reads :meth:`ToolsPanel.chosen` and :meth:`tool_choice` for each
send.
"""

from __future__ import annotations

import shlex
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.views.chat.tool_approvals import ApprovalsList
from ui.widgets.plain_label import Label
from workbench.errors import InvalidInputError
from workbench.mcp.per_chat import ServerTools, chat_servers, server_tools, set_chat_servers
from workbench.mcp.servers import (
    ImportResult,
    McpServer,
    add_server,
    import_config,
    list_servers,
    remove_server,
)

#: The tree is never taller than this many rows (it scrolls beyond).
VISIBLE_ROWS = 6
#: tool_choice for the first step: the model decides, or it must call one of the tools.
CHOICES = (("auto", "Model decides"), ("required", "Must call a tool"))
NAME_ROLE = Qt.ItemDataRole.UserRole


def _add(db: Database, name: str, kind: str, where: str) -> McpServer:
    """The dialog's fields as ``mcp add`` takes them (on the db worker)."""
    if kind == "stdio":
        try:
            words = shlex.split(where)
        except ValueError as error:
            raise InvalidInputError(f"MCP server '{name}': the command: {error}") from None
        return add_server(db, name.strip(), command=words)
    return add_server(db, name.strip(), url=where.strip())


class AddServerDialog(QDialog):
    """Name, kind and command or address; checked by the core when OK is pressed (a bad
    entry is one line here, and the dialog stays open with what was typed)."""

    submitted = Signal(str, str, str)  # name, "stdio" or "http", command line or address

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add an MCP server")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit(self)
        self.name.setAccessibleName("Server name")
        self.name.setPlaceholderText("weather")
        self.kind = QComboBox(self)
        self.kind.setAccessibleName("Server kind")
        self.kind.addItem("A program on this computer (stdio)", "stdio")
        self.kind.addItem("An address (Streamable HTTP)", "http")
        self.where = QLineEdit(self)
        self.where.setAccessibleName("Command or address")
        form.addRow("Name", self.name)
        form.addRow("Kind", self.kind)
        form.addRow("Command", self.where)
        self._where_label = form.labelForField(self.where)
        self.hint = Label(self)
        self.hint.setObjectName("Muted")
        self.hint.setWordWrap(True)
        self.error = Label(self)
        self.error.setObjectName("ErrorText")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Add")
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def _kind_changed(self) -> None:
        stdio = self.kind.currentData() == "stdio"
        label = self._where_label
        if isinstance(label, Label) or hasattr(label, "setText"):
            label.setText("Command" if stdio else "Address")  # type: ignore[union-attr]
        self.where.setPlaceholderText("python weather_server.py" if stdio
                                      else "http://127.0.0.1:8000/mcp")
        self.hint.setText(
            "Workbench runs this program as you when a chat uses it, and stops it after."
            if stdio else "Offline mode allows only addresses on this computer.")

    def _submit(self) -> None:
        self.error.hide()
        self.ok_button.setEnabled(False)
        self.submitted.emit(self.name.text(), self.kind.currentData(), self.where.text())

    def failed(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.ok_button.setEnabled(True)


class ToolsPanel(QFrame):
    """The servers as a tree (a server's check box: on for this chat; its children: tools)."""

    #: The servers switched on changed (their names).
    changed = Signal(list)

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        #: The conversation on show (None: a new chat, whose choice its first send saves).
        self.conversation_id: int | None = None
        self.servers: list[McpServer] = []
        #: Each server's tools once listed (None: being listed).
        self.listed: dict[str, ServerTools | None] = {}
        self.add_dialog: AddServerDialog | None = None
        self._chosen: list[str] = []
        self._filling = False
        self.setObjectName("ToolsPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        heading = Label("Tools", self)
        heading.setObjectName("SubHeading")
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("ToolsTree")
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setAccessibleName("MCP servers and their tools")
        self.tree.setToolTip("Check a server to offer its tools in this chat; open it to "
                             "see them")
        self.tree.setIndentation(14)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        self.add_button = QPushButton("Add…", self)
        self.add_button.setToolTip("Add an MCP server: a program to run, or an address")
        self.import_button = QPushButton("Import…", self)
        self.import_button.setToolTip("Add the servers of an mcpServers JSON file (Claude "
                                      "Desktop, LM Studio, Cursor)")
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Remove the selected server")
        for button in (self.add_button, self.import_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        choice_row = QHBoxLayout()
        self.choice_label = choice_label = Label("Calls", self)
        self.choice = QComboBox(self)
        self.choice.setAccessibleName("Tool calls")
        self.choice.setToolTip("Whether the model's first step must call a tool; after "
                               "the results it answers freely")
        for value, text in CHOICES:
            self.choice.addItem(text, value)
        choice_row.addWidget(choice_label)
        choice_row.addWidget(self.choice, 1)
        self.hint = Label(self)
        self.hint.setObjectName("Muted")
        self.hint.setWordWrap(True)
        layout.addWidget(heading)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        layout.addLayout(choice_row)
        layout.addWidget(self.hint)
        #: The tools allowed "always", with Remove.
        self.approvals = ApprovalsList(services, self)
        layout.addWidget(self.approvals)
        self.tree.itemChanged.connect(self._item_changed)
        self.tree.itemExpanded.connect(self._item_expanded)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.add_button.clicked.connect(self.open_add_dialog)
        self.import_button.clicked.connect(self.import_file)
        self.remove_button.clicked.connect(self.remove_selected)
        self._show([])
        self.refresh()

    @classmethod
    def install(cls, services: Any, panel: QWidget) -> ToolsPanel:
        """Made and placed at the end of the chat's side panel (above its stretch)."""
        made = cls(services, panel)
        layout = panel.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertSpacing(layout.count() - 1, 6)
        layout.insertWidget(layout.count() - 1, made)
        return made

    # --- what the page asks -------------------------------------------------------------

    def chosen(self) -> list[str]:
        """The servers whose tools the next reply may call."""
        return list(self._chosen)

    def tool_choice(self) -> str:
        return str(self.choice.currentData())

    def set_conversation(self, conversation_id: int | None) -> None:
        """The conversation on show: its servers are read (a new chat starts with none)."""
        self.conversation_id = conversation_id
        if conversation_id is None:
            self.set_chosen([])
            return
        self.services.ops.run("db", chat_servers, conversation_id, name="chat's MCP servers",
                              key="chat servers", initiator=self,
                              success=lambda names: self._conversation_servers(
                                  conversation_id, names))

    def conversation_started(self, conversation_id: int) -> None:
        """A new chat's first message made its conversation: remember its servers."""
        self.conversation_id = conversation_id
        if self._chosen:
            self._save()

    def _conversation_servers(self, conversation_id: int, names: list[str]) -> None:
        if conversation_id == self.conversation_id:
            self.set_chosen(names)

    def set_chosen(self, names: list[str]) -> None:
        """Check exactly ``names``; says nothing through ``changed``."""
        self._chosen = [n for n in names if any(s.name == n for s in self.servers)]
        self._fill_checks()
        self._say()

    def item(self, name: str) -> QTreeWidgetItem | None:
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item.data(0, NAME_ROLE) == name:
                return item
        return None

    def tool_names(self, name: str) -> list[str]:
        """The tools shown under server ``name`` (tests read them)."""
        listed = self.listed.get(name)
        return [tool.name for tool in listed.tools] if listed else []

    # --- servers ------------------------------------------------------------------------

    def refresh(self) -> None:
        self.services.ops.run("db", list_servers, name="list MCP servers", key="servers",
                              initiator=self, success=self._show)

    def _show(self, servers: list[McpServer]) -> None:
        self.servers = servers
        names = [server.name for server in servers]
        self.listed = {n: v for n, v in self.listed.items() if n in names}
        self._chosen = [n for n in self._chosen if n in names]
        selected = self.tree.currentItem().data(0, NAME_ROLE) if self.tree.currentItem() \
            else None
        self._filling = True
        self.tree.clear()
        for server in servers:
            item = QTreeWidgetItem(self.tree)
            item.setData(0, NAME_ROLE, server.name)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable
                          | Qt.ItemFlag.ItemIsSelectable)
            kind = "program" if server.transport == "stdio" else "address"
            item.setToolTip(0, f"{server.name} ({kind}): {server.where}")
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self._fill_server(item)
            if server.name == selected:
                self.tree.setCurrentItem(item)
        self._filling = False
        self._fill_checks()
        rows = max(1, min(len(servers) + 1, VISIBLE_ROWS))
        self.tree.setFixedHeight(rows * (self.tree.fontMetrics().height() + 8) + 8)
        self.tree.setVisible(bool(servers))
        self._update_buttons()
        self._say()

    def _fill_server(self, item: QTreeWidgetItem) -> None:
        """The server's line and its children: its tools, "listing…", or why it failed."""
        name = item.data(0, NAME_ROLE)
        listed = self.listed.get(name, "unlisted")
        was = self._filling
        self._filling = True
        item.takeChildren()
        if listed == "unlisted":
            item.setText(0, name)
        elif listed is None:
            item.setText(0, f"{name} · listing…")
            QTreeWidgetItem(item, ["Starting it to list its tools…"])
        else:
            assert isinstance(listed, ServerTools)
            if listed.error:
                item.setText(0, f"{name} · failed")
                child = QTreeWidgetItem(item, [listed.error])
                child.setToolTip(0, listed.error)
                child.setForeground(0, self.palette().brush(self.foregroundRole()))
                child.setData(0, Qt.ItemDataRole.AccessibleDescriptionRole, "error")
            else:
                count = len(listed.tools)
                item.setText(0, f"{name} · {count:,} tool{'s' if count != 1 else ''}")
                for tool in listed.tools:
                    child = QTreeWidgetItem(item, [tool.name])
                    first = tool.description.splitlines()[0] if tool.description else ""
                    child.setToolTip(0, f"{tool.name}: {first}" if first else tool.name)
                if not listed.tools:
                    QTreeWidgetItem(item, ["No tools offered"])
            for line in listed.notes:
                QTreeWidgetItem(item, [line]).setToolTip(0, line)
        self._filling = was

    def _fill_checks(self) -> None:
        self._filling = True
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            item.setCheckState(0, Qt.CheckState.Checked if item.data(0, NAME_ROLE)
                               in self._chosen else Qt.CheckState.Unchecked)
        self._filling = False

    def list_tools(self, name: str) -> None:
        """Start the server on the "mcp" worker and list its tools (its one line if not)."""
        if name in self.listed and self.listed[name] is None:
            return  # being listed
        self.listed[name] = None
        self._refill(name)
        self.services.ops.run("mcp", server_tools, name, name=f"listing the tools of {name}",
                              initiator=self, success=self._tools_listed,
                              failure=lambda message: self._tools_listed(
                                  ServerTools(name, error=message)))

    def _tools_listed(self, listed: ServerTools) -> None:
        if listed.name in self.listed:
            self.listed[listed.name] = listed
            self._refill(listed.name)

    def _refill(self, name: str) -> None:
        item = self.item(name)
        if item is not None:
            self._fill_server(item)

    def _item_expanded(self, item: QTreeWidgetItem) -> None:
        name = item.data(0, NAME_ROLE)
        listed = self.listed.get(name, "unlisted")
        if name and (listed == "unlisted" or (isinstance(listed, ServerTools)
                                               and listed.error)):
            self.list_tools(name)

    def _item_changed(self, item: QTreeWidgetItem, _column: int) -> None:
        if self._filling or item.parent() is not None:
            return
        name = item.data(0, NAME_ROLE)
        on = item.checkState(0) == Qt.CheckState.Checked
        if on and name not in self._chosen:
            self._chosen.append(name)
            if name not in self.listed:
                self.list_tools(name)
        elif not on and name in self._chosen:
            self._chosen.remove(name)
        order = [s.name for s in self.servers]
        self._chosen.sort(key=order.index)
        self._say()
        if self.conversation_id is not None:
            self._save()
        self.changed.emit(self.chosen())

    def _save(self) -> None:
        assert self.conversation_id is not None
        self.services.ops.run("db", set_chat_servers, self.conversation_id, self.chosen(),
                              name="switch MCP servers for this chat")

    # --- adding, importing, removing ----------------------------------------------------

    def open_add_dialog(self) -> None:
        """The dialog stays open until the core has added the server (its check runs on
        the db worker while the dialog's loop runs) or the user cancels."""
        dialog = AddServerDialog(self)
        dialog.submitted.connect(self._add_submitted)
        self.add_dialog = dialog
        try:
            dialog.exec()
        finally:
            self.add_dialog = None
            dialog.deleteLater()

    def _add_submitted(self, name: str, kind: str, where: str) -> None:
        dialog = self.add_dialog

        def added(server: McpServer) -> None:
            if dialog is not None:
                dialog.accept()
            self._chosen.append(server.name)  # added from this chat: on in it
            self.services.events.status_message.emit(f"Added MCP server {server.name}.", 5000)
            self.refresh()
            self.list_tools(server.name)
            if self.conversation_id is not None:
                self._save()
            self.changed.emit(self.chosen())

        self.services.ops.run("db", _add, name, kind, where, name="add an MCP server",
                              initiator=self, success=added,
                              failure=dialog.failed if dialog is not None else None)

    def import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import MCP servers", "", "MCP settings (*.json);;All files (*)")
        if not path:
            return

        def imported(result: ImportResult) -> None:
            added = len(result.added)
            line = f"Imported {added:,} MCP server{'s' if added != 1 else ''}"
            if result.skipped:
                line += f"; skipped {len(result.skipped):,}: {result.skipped[0]}"
            self.services.events.status_message.emit(line, 8000)
            self.import_note = line
            self.refresh()

        self.services.ops.run("db", import_config, path, name="import MCP servers",
                              initiator=self, success=imported)

    def remove_selected(self) -> None:
        item = self.tree.currentItem()
        while item is not None and item.parent() is not None:
            item = item.parent()
        if item is None:
            return
        name = item.data(0, NAME_ROLE)
        answer = QMessageBox.question(
            self, "Remove MCP server",
            f"Remove the MCP server {name}? Chats that used it no longer offer its tools.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.services.ops.run("db", remove_server, name, name="remove an MCP server",
                              initiator=self, success=lambda _s: (
                                  self.refresh(), self.approvals.refresh()))

    def _update_buttons(self) -> None:
        """Remove and Calls show once there is a server to remove or call."""
        self.remove_button.setEnabled(self.tree.currentItem() is not None)
        for widget in (self.remove_button, self.choice_label, self.choice):
            widget.setVisible(bool(self.servers))

    def _say(self) -> None:
        if not self.servers:
            self.hint.setText("No MCP servers yet: add a program or an address whose tools "
                              "the model may call.")
        elif self._chosen:
            self.hint.setText("The model may call the checked servers' tools; each call "
                              "waits for your approval, unless you allowed its tool "
                              "always.")
        else:
            self.hint.setText("Check a server to offer its tools in this chat.")
