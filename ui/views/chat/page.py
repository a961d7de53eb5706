"""The Chat page: recent chats, the conversation, the composer and the sampling panel.

Sending a turn and drawing its stream are :mod:`~ui.views.chat.turns`, a part of this page;
the conversation's messages are :class:`~ui.views.chat.view.ChatView`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.views.chat.attachments import Attachments
from ui.views.chat.banner import Banner
from ui.views.chat.docs_panel import DocsPanel
from ui.views.chat.sampling_panel import SamplingPanel
from ui.views.chat.tools_panel import ToolsPanel
from ui.views.chat.turns import Stream, TurnsPart, model_ref
from ui.views.chat.view import ChatView
from ui.views.chat.welcome import WelcomeView
from ui.widgets.passage_view import PassageView, open_passage
from ui.widgets.plain_label import Label
from ui.widgets.text_fit import ElidedLabel
from workbench import conversations as convs
from workbench.catalog import filter_catalog, load_catalog, machine_memory_bytes
from workbench.chat_runner import (
    ChatStartup,
    ConversationData,
    load_conversation,
    load_startup,
    reload_model,
    switch_branch,
)
from workbench.engine.settings import read_json_schema
from workbench.library import Model, add_model

log = logging.getLogger(__name__)

#: Below this page width the Parameters panel folds away (the Parameters button brings it
#: back); the chat list and the panel take a share of the width between their bounds.
PANEL_FOLD_PX = 1000
SIDE_PX = (170, 260)
PANEL_PX = (230, 300)


def share(width: int, fraction: float, bounds: tuple[int, int]) -> int:
    """``fraction`` of ``width``, kept within ``bounds`` (the side columns' widths)."""
    return max(bounds[0], min(bounds[1], int(width * fraction)))


class ChatPage(TurnsPart, QWidget):
    streaming_changed = Signal(bool)
    open_models_requested = Signal(str)
    #: (conversation id, its title): the chat list's menu, F2 and Delete; the window passes
    #: them to History, which owns renaming and deleting (with Undo)
    rename_requested = Signal(int, str)
    delete_requested = Signal(int, str)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.conversation_id: int | None = None
        self.models: list[Model] = []
        self.stream: Stream | None = None
        self._sid = 0
        self._startup_done = False
        self._pending_model: int | None = None
        self._build()
        services.events.changed.connect(self._data_changed)
        self.refresh()

    # --- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)

        side = QWidget(self)
        self.side = side
        side.setFixedWidth(SIDE_PX[0])
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(12, 12, 8, 12)
        self.new_button = QPushButton("New chat", side)
        self.new_button.setObjectName("Primary")
        self.new_button.setToolTip("New chat (Ctrl+N)")
        self.new_button.clicked.connect(lambda: self.new_chat())
        self.chat_list = QListWidget(side)
        self.chat_list.setObjectName("SideList")
        self.chat_list.setAccessibleName("Recent chats")
        self.chat_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.chat_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chat_list.itemActivated.connect(self._chat_chosen)
        self.chat_list.itemClicked.connect(self._chat_chosen)
        self.chat_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.chat_list.customContextMenuRequested.connect(self._chat_menu)
        for key, action in ((QKeySequence.StandardKey.Delete, "delete"),
                            (QKeySequence(Qt.Key.Key_F2), "rename")):
            shortcut = QShortcut(key, self.chat_list, context=Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(
                lambda a=action: self._request(a, self.chat_list.currentItem()))
        recent = Label("Recent chats", side)
        recent.setObjectName("Muted")
        side_layout.addWidget(self.new_button)
        side_layout.addSpacing(6)
        side_layout.addWidget(recent)
        side_layout.addWidget(self.chat_list, 1)
        center = QWidget(self)
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(8, 12, 12, 12)
        center_layout.setSpacing(8)
        header = QHBoxLayout()
        self.model_picker = QComboBox(center)
        self.model_picker.setAccessibleName("Model")
        self.model_picker.setToolTip("The model that writes the next reply")
        self.model_picker.setMinimumWidth(180)
        self.model_picker.setMaximumWidth(360)
        self.model_picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_picker.setPlaceholderText("No model yet")
        self.model_picker.currentIndexChanged.connect(self._model_chosen)
        self.title = ElidedLabel("New chat", center)
        self.title.setObjectName("SubHeading")
        self.panel_button = QToolButton(center)
        self.panel_button.setText("Parameters")
        self.panel_button.setObjectName("Toggle")
        self.panel_button.setCheckable(True)
        self.panel_button.setChecked(True)
        self.panel_button.setAccessibleName("Show parameters")
        self.panel_button.clicked.connect(self._panel_chosen)
        self._panel_wanted = True  # what the user last chose with the button
        header.addWidget(self.model_picker)
        header.addSpacing(12)
        header.addWidget(self.title, 1)
        header.addWidget(self.panel_button)
        self.banner = Banner(center)

        pane = QFrame(center)
        pane.setObjectName("ChatPane")
        pane_layout = QVBoxLayout(pane)
        pane_layout.setContentsMargins(1, 1, 1, 1)
        self.stack = QStackedWidget(pane)
        self.welcome = WelcomeView(self.stack)
        self.welcome.suggestion_chosen.connect(self._suggestion)
        self.welcome.add_file_requested.connect(self.add_model_file)
        self.welcome.open_models_requested.connect(self.open_models_requested)
        self.view = ChatView(self.stack)
        self.view.regenerate_requested.connect(self.regenerate)
        self.view.edit_submitted.connect(self.edit)
        self.view.branch_requested.connect(self.switch_branch)
        self.view.continue_requested.connect(self.continue_reply)
        self.view.citation_clicked.connect(self.open_citation)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.view)
        pane_layout.addWidget(self.stack)

        self._build_approvals(center)
        composer = QFrame(center)
        composer.setObjectName("Composer")
        composer_layout = QVBoxLayout(composer)
        composer_layout.setContentsMargins(10, 6, 8, 8)
        self.input = QPlainTextEdit(composer)
        self.input.setObjectName("ChatInput")
        self.input.setAccessibleName("Message")
        self.input.setPlaceholderText("Message the model…")
        self.input.setFixedHeight(64)
        buttons = QHBoxLayout()
        hint = Label("Ctrl+Enter to send · Esc to stop", composer)
        hint.setObjectName("Muted")
        self.stop_button = QPushButton("Stop", composer)
        self.stop_button.setAccessibleName("Stop generating")
        self.stop_button.setToolTip("Stop (Esc): keeps what was written")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.hide()
        self.send_button = QPushButton("Send", composer)
        self.send_button.setObjectName("Primary")
        self.send_button.setAccessibleName("Send message")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.clicked.connect(self.send)
        buttons.addWidget(hint, 1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.send_button)
        composer_layout.addWidget(self.input)
        composer_layout.addLayout(buttons)
        self.attachments = Attachments(self, composer, composer_layout, buttons)

        center_layout.addLayout(header)
        center_layout.addWidget(self.banner)
        center_layout.addWidget(pane, 1)
        center_layout.addWidget(self.approval_bar)
        center_layout.addWidget(composer)

        self.panel = SamplingPanel(self)
        self.panel_box = self.panel.scroll_area(self)  # its sections may be taller than the page
        self.panel_button.toggled.connect(self.panel_box.setVisible)
        self.tools_panel = ToolsPanel.install(self.services, self.panel)
        self.docs_panel = DocsPanel(self.services, self.panel)
        panel_layout = self.panel.layout()
        assert isinstance(panel_layout, QVBoxLayout)
        panel_layout.insertSpacing(panel_layout.count() - 1, 6)
        panel_layout.insertWidget(panel_layout.count() - 1, self.docs_panel)
        #: The passage view last opened from a citation (tests look at it).
        self.passage_view: PassageView | None = None
        self.panel.structured.file_chosen.connect(self._load_schema)

        root.addWidget(side)
        root.addWidget(center, 1)
        root.addWidget(self.panel_box)
        QWidget.setTabOrder(self.input, self.send_button)
        QWidget.setTabOrder(self.send_button, self.model_picker)
        QWidget.setTabOrder(self.model_picker, self.panel_button)
        QWidget.setTabOrder(self.panel_button, self.panel.system_prompt)
        QWidget.setTabOrder(self.panel.system_prompt, self.panel.preset)
        QWidget.setTabOrder(self.new_button, self.chat_list)

    def _load_schema(self, path: str) -> None:
        """Read and check a chosen schema file on a worker; a bad one is one line, and the
        panel goes back to free text."""
        def failed(message: str) -> None:
            self.panel.schema_failed()
            self.show_error(message)

        self.services.ops.run("disk", lambda _db: read_json_schema(path),
                              name="reading the schema file",
                              success=lambda text: self.panel.set_schema(path, text),
                              failure=failed)

    def _panel_chosen(self, checked: bool) -> None:
        self._panel_wanted = checked

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        """Side columns take a share of the width; Parameters folds away when narrow."""
        super().resizeEvent(event)
        width = self.width()
        self.side.setFixedWidth(share(width, 0.15, SIDE_PX))
        bar = self.panel_box.verticalScrollBar().sizeHint().width()  # room for it to scroll
        self.panel_box.setFixedWidth(share(width, 0.18, PANEL_PX) + bar)
        if self.models and self._panel_wanted:
            self.panel_button.setChecked(width >= PANEL_FOLD_PX)

    # --- loading -----------------------------------------------------------------------------

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        """The model picker follows the library, the chat list the chats (this page's own
        changes included: a new chat appears in the list)."""
        if "library" in changes:
            self.refresh()
        elif "chats" in changes:
            self.refresh_conversations()


    def refresh(self) -> None:
        """Reload the library and the chat list (at start, and when the library changes)."""
        self.services.ops.run("db", load_startup, name="load chat",
                              success=self._startup_loaded, failure=self.show_error)
        self.refresh_conversations()

    def open_citation(self, citation: dict) -> None:
        """A cited passage in a small view, with the text around it and "Open file"."""
        open_passage(self.services, citation, self,
                     lambda view: setattr(self, "passage_view", view), self.show_error)

    def refresh_conversations(self) -> None:
        self.services.ops.run("db", convs.list_conversations, 200, name="list chats",
                              success=self._conversations_loaded, failure=self.show_error)

    def _startup_loaded(self, startup: ChatStartup) -> None:
        current = self.model_picker.currentData()
        if self._pending_model is not None:
            current, self._pending_model = self._pending_model, None
        self.models = startup.models
        self.model_picker.blockSignals(True)
        self.model_picker.clear()
        for model in self.models:
            label = f"{model.name} · base model" if model.kind_label else model.name
            self.model_picker.addItem(label, model_ref(model))
            if model.kind_label:  # it continues text and echoes prompts: say so where chosen
                self.model_picker.setItemData(self.model_picker.count() - 1,
                                              model.kind_label, Qt.ItemDataRole.ToolTipRole)
        index = self.model_picker.findData(current)
        self.model_picker.setCurrentIndex(index if index >= 0 else 0)
        self.model_picker.blockSignals(False)
        if not self._startup_done:
            self.panel.set_preset(startup.preset)
            self._startup_done = True
        self._model_chosen()
        self.model_picker.setEnabled(bool(self.models))
        self.panel_button.setChecked(bool(self.models) and self._panel_wanted
                                     and self.width() >= PANEL_FOLD_PX)
        if not self.models:
            self._show_first_run()
        elif self.conversation_id is None and not self.view.messages:
            self.welcome.show_ready(self.model_picker.currentText())
            self.stack.setCurrentWidget(self.welcome)
        self._update_buttons()

    def _show_first_run(self) -> None:
        self.stack.setCurrentWidget(self.welcome)

        def fitting(_db: Database) -> tuple[list, int]:
            memory = machine_memory_bytes()
            return filter_catalog(load_catalog(), max_memory=memory), memory

        self.welcome.show_first_run(None, machine_memory_bytes())
        self.services.ops.run("db", fitting, name="catalog",
                              success=lambda r: self.welcome.show_first_run(*r),
                              failure=self.show_error)

    def _conversations_loaded(self, rows: list[dict]) -> None:
        self.chat_list.blockSignals(True)
        self.chat_list.clear()
        for row in rows:
            item = QListWidgetItem(row["title"] or "Untitled chat")
            item.setData(Qt.ItemDataRole.UserRole, row["id"])
            item.setToolTip(f"{row['title']}\n{row['model_name'] or 'no model'} · "
                            f"{row['message_count']} messages · {row['updated_at'][:16]}")
            self.chat_list.addItem(item)
            if row["id"] == self.conversation_id:
                item.setSelected(True)
        self.chat_list.blockSignals(False)
        if self.conversation_id is not None and self.conversation_id not in {
                r["id"] for r in rows} and not self.is_streaming:
            self.new_chat()  # the chat on show was deleted (from History)

    def chat_menu_for(self, item: QListWidgetItem) -> QMenu:
        """The chat list's right-click menu for one chat (built apart so tests can use it)."""
        menu = QMenu(self.chat_list)
        menu.addAction("Open", lambda: self._chat_chosen(item))
        menu.addAction("Rename…", lambda: self._request("rename", item))
        menu.addSeparator()
        menu.addAction("Delete", lambda: self._request("delete", item))
        return menu

    def _chat_menu(self, position: QPoint) -> None:
        item = self.chat_list.itemAt(position)
        if item is not None:
            self.chat_menu_for(item).exec(self.chat_list.viewport().mapToGlobal(position))

    def _request(self, action: str, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        conversation_id = item.data(Qt.ItemDataRole.UserRole)
        if action == "rename":
            self.rename_requested.emit(conversation_id, item.text())
        elif self.is_streaming and conversation_id == self.conversation_id:
            self.show_error("Stop the reply before deleting this chat.")
        else:
            self.delete_requested.emit(conversation_id, item.text())

    def _chat_chosen(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(Qt.ItemDataRole.UserRole)
        if conversation_id != self.conversation_id:
            self.open_conversation(conversation_id)

    def _model_chosen(self) -> None:
        model = self.current_model
        if model is not None:
            sampling = {k: v for k, v in model.settings.items()
                        if k in ("temperature", "top_p", "top_k", "max_tokens", "seed")}
            if sampling:
                self.panel.set_values({**self.panel.overrides(), **sampling}, preset="custom")
            self.input.setPlaceholderText(f"Message {model.name}…")
            if self.stack.currentWidget() is self.welcome and self.conversation_id is None:
                self.welcome.show_ready(model.name)

    @property
    def current_model(self) -> Model | None:
        model_id = self.model_picker.currentData()
        return next((m for m in self.models if model_ref(m) == model_id), None)

    @property
    def is_streaming(self) -> bool:
        return self.stream is not None

    # --- conversations -----------------------------------------------------------------------

    def new_chat(self, model_id: int | None = None) -> None:
        self._detach_stream()
        self.conversation_id = None
        self.view.clear()
        self.title.setText("New chat")
        self.chat_list.clearSelection()
        self.banner.hide()
        if model_id is not None:
            index = self.model_picker.findData(model_id)
            if index >= 0:
                self.model_picker.setCurrentIndex(index)
            else:  # new to the library: pick it once the library has reloaded
                self._pending_model = model_id
                self.refresh()
        if self.models:
            self.welcome.show_ready(self.model_picker.currentText())
            self.stack.setCurrentWidget(self.welcome)
        else:
            self._show_first_run()
        self.panel.system_prompt.clear()
        self.tools_panel.set_conversation(None)
        self.docs_panel.set_conversation(None, [])
        self._update_buttons()
        self.input.setFocus()

    def open_conversation(self, conversation_id: int, message_id: int | None = None) -> None:
        """Show a conversation (with ``message_id``: the branch through that message)."""
        self._detach_stream()
        self.conversation_id = conversation_id
        self.banner.hide()
        self.services.ops.run(
            "db", load_conversation, conversation_id, message_id,
            name="open chat", success=self._conversation_loaded, failure=self.show_error)

    def switch_branch(self, message_id: int) -> None:
        if self.conversation_id is None or self.is_streaming:
            return
        conversation_id = self.conversation_id
        self.services.ops.run(
            "db", switch_branch, conversation_id, message_id,
            name="switch branch", success=self._conversation_loaded, failure=self.show_error)

    def _conversation_loaded(self, data: ConversationData) -> None:
        if data.conversation["id"] != self.conversation_id:
            return  # the user opened another chat meanwhile
        conversation = data.conversation
        self.title.setText(conversation["title"] or "Untitled chat")
        self.panel.system_prompt.setPlainText(conversation["system_prompt"] or "")
        if self.tools_panel.conversation_id != conversation["id"]:
            self.tools_panel.set_conversation(conversation["id"])
        self.docs_panel.set_conversation(conversation["id"], data.docs)
        index = self.model_picker.findData(conversation["model_id"])
        if index >= 0 and not self.is_streaming:
            self.model_picker.setCurrentIndex(index)
        shown = [w.message_id for w in self.view.messages]
        if shown == [m.id for m in data.messages]:
            for widget, message in zip(self.view.messages, data.messages, strict=True):
                if self.stream is None or message.id != self.stream.reply_id:  # else ahead
                    self.view.refresh_stored(widget, message, data.siblings.get(message.id, []))
        else:
            self.view.clear()
            for message in data.messages:
                self.view.add_stored(message, data.siblings.get(message.id, []))
        self.view.only_last_continues()
        self.stack.setCurrentWidget(self.view if data.messages else self.welcome)
        self._reattach_stream()
        for row in range(self.chat_list.count()):
            item = self.chat_list.item(row)
            item.setSelected(item.data(Qt.ItemDataRole.UserRole) == self.conversation_id)
        self._update_buttons()

    # --- errors and files ------------------------------------------------------------------

    def show_error(self, message: str, action: str = "",
                   on_action: Callable[[], None] | None = None) -> None:
        self.banner.show_message(message, action, on_action)
        self.services.events.error.emit(message)

    def reload_model(self, model_id: int) -> None:
        """Load the model again in a fresh engine process (after it stopped working)."""
        model = next((m for m in self.models if m.id == model_id), None)
        name = model.name if model is not None else ""
        self.services.events.model_loading.emit(name)
        self.services.ops.run(
            "engine", reload_model, self.services.engine, model_id, self.panel.overrides(),
            name="reloading the model",
            success=self.services.events.model_loaded.emit, failure=self.show_error)

    def add_model_file(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model", "",
                                                  "GGUF models (*.gguf);;All files (*)")
            if not path:
                return
        self.services.events.status_message.emit("Adding the model (checking the file)…", 0)
        self.services.ops.run(
            "disk", add_model, path, name="adding a model",
            changes={"library"}, success=lambda model: self.services.events.status_message.emit(
                f"Added {model.name}.", 5000), failure=self.show_error)
