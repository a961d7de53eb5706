"""The main window: navigation on the left, one page at a time, a status bar that says what
the engine and the background jobs are doing, and the app-wide shortcuts.

Every page is registered one way, in :data:`PAGES`, by a plain import: a page that fails to
import fails the window at once, loudly, rather than showing a placeholder in its place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.services import Services
from ui.views.chat.page import ChatPage
from ui.views.compare.page import ComparePage
from ui.views.documents.page import DocumentsPage
from ui.views.history_page import HistoryPage
from ui.views.models.page import ModelsPage
from ui.views.server_switch import ServerSwitch
from ui.views.settings_dialog import SettingsDialog
from ui.views.trials.page import TrialsPage
from ui.widgets.plain_label import Label
from ui.widgets.text_fit import ElidedLabel

#: The pages, in navigation order: each is built as ``page(services, parent)``.
PAGES: tuple[tuple[str, Callable[[Services, QWidget], QWidget]], ...] = (
    ("Chat", ChatPage),
    ("Models", ModelsPage),
    ("Compare", ComparePage),
    ("Trials", TrialsPage),
    ("Documents", DocumentsPage),
    ("History", HistoryPage),
)
NAV = tuple(name for name, _page in PAGES)
#: The status bar's fixed slots (px): the background jobs, and the model in memory.
JOBS_WIDTH = 200
MODEL_WIDTH = 240


class MainWindow(QMainWindow):
    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.setWindowTitle("LLM Workbench")
        self.resize(1280, 800)
        self.setMinimumSize(960, 600)
        self.settings_dialog: SettingsDialog | None = None
        #: Set once unsaved edits were dealt with on closing (so a save that closes the
        #: window when written does not ask again).
        self._edits_settled = False

        central = QWidget(self)
        root = QHBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        nav = QWidget(central)
        nav.setObjectName("NavBar")
        nav.setFixedWidth(176)
        nav_layout = QVBoxLayout(nav)
        nav_layout.setContentsMargins(0, 0, 0, 12)
        title = Label("Workbench", nav)
        title.setObjectName("AppTitle")
        self.nav = QListWidget(nav)
        self.nav.setObjectName("NavList")
        self.nav.setAccessibleName("Pages")
        self.nav.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings_button = QPushButton("Settings", nav)
        self.settings_button.setAccessibleName("Settings")
        self.settings_button.setToolTip("Settings (Ctrl+,)")
        self.settings_button.clicked.connect(self.open_settings)
        nav_layout.addWidget(title)
        nav_layout.addWidget(self.nav, 1)
        settings_row = QHBoxLayout()
        settings_row.setContentsMargins(10, 0, 10, 0)
        settings_row.addWidget(self.settings_button)
        nav_layout.addLayout(settings_row)

        self.pages = QStackedWidget(central)
        self.page_widgets: dict[str, QWidget] = {
            name: page(services, self.pages) for name, page in PAGES}
        self.chat = cast(ChatPage, self.page_widgets["Chat"])
        self.history = cast(HistoryPage, self.page_widgets["History"])
        for name in NAV:
            self.pages.addWidget(self.page_widgets[name])
            item = QListWidgetItem(name, self.nav)
            item.setToolTip(f"{name} page")
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.nav.setCurrentRow(0)
        root.addWidget(nav)
        root.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self._build_status_bar()
        self._build_shortcuts()
        self.chat.open_models_requested.connect(self.show_models)
        self.history.open_requested.connect(self.open_conversation)
        self.chat.rename_requested.connect(self.history.rename_conversation)
        self.chat.delete_requested.connect(self.history.delete_conversation)
        events = services.events
        events.model_loading.connect(self._model_loading)
        events.model_loaded.connect(self._model_loaded)
        events.blinded.connect(lambda _on: self._show_model())
        events.status_message.connect(self.show_status)
        events.error.connect(lambda message: self.show_status(message, 10000))
        events.changed.connect(self._data_changed)
        services.tasks.jobs_changed.connect(self._jobs_changed)
        QWidget.setTabOrder(self.nav, self.chat.new_button)
        self.chat.input.setFocus()

    # --- status bar ---------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        """Fixed-width slots, each text elided (the whole text in its tooltip): a job, a
        request count or a model name changing never moves the other widgets."""
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        self.jobs_label = ElidedLabel("", bar)
        self.jobs_label.setFixedWidth(JOBS_WIDTH)
        self.jobs_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.jobs_label.setAccessibleName("Background jobs")
        model_box = QWidget(bar)
        model_box.setFixedWidth(MODEL_WIDTH)
        model_box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        model_row = QHBoxLayout(model_box)
        model_row.setContentsMargins(0, 0, 0, 0)
        model_row.setSpacing(6)
        self.loading_bar = QProgressBar(model_box)
        self.loading_bar.setRange(0, 0)
        self.loading_bar.setFixedWidth(48)
        self.loading_bar.setTextVisible(False)
        self.loading_bar.setAccessibleName("Loading model")
        self.loading_bar.hide()
        self.model_label = ElidedLabel("No model loaded", model_box)
        self.model_label.setAccessibleName("Loaded model")
        model_row.addWidget(self.loading_bar)
        model_row.addWidget(self.model_label, 1)
        self.server_switch = ServerSwitch(self.services, bar)
        bar.addPermanentWidget(self.jobs_label)
        bar.addPermanentWidget(self.server_switch)
        bar.addPermanentWidget(model_box)
        #: The model in memory as the events last said (shown unless a blind vote is open).
        self._model_name = ""
        self._loading = ""

    def _model_loading(self, name: str) -> None:
        self._loading = name
        self.loading_bar.show()
        self._show_model()

    def _model_loaded(self, name: str) -> None:
        self._loading = ""
        self._model_name = name
        self.loading_bar.hide()
        self._show_model()

    def _show_model(self) -> None:
        """One statement of what is in memory (the chat, Compare and the server share it);
        while a blind comparison waits for its vote, not even that."""
        if self.services.events.blind:
            text = "Loading a model…" if self._loading else "Model hidden until you vote"
            tip = ("A blind comparison is waiting for your vote: which model is in memory "
                   "is shown after it.")
        elif self._loading:
            text = tip = f"Loading {self._loading}…"
        else:
            text = f"● {self._model_name}" if self._model_name else "No model loaded"
            tip = (f"In memory: {self._model_name} (shared by the chat, Compare and the "
                   "server)" if self._model_name else "No model in memory")
        self.model_label.setText(text)
        self.model_label.setToolTip(tip)

    def _jobs_changed(self) -> None:
        background = [job for job in self.services.tasks.running
                      if job.resource in ("download", "hub", "disk")
                      or job.resource == "engine" and not self.chat.is_streaming]
        generating = self.chat.is_streaming
        parts = []
        if generating:
            parts.append("Generating…")
        if len(background) == 1:  # the job itself, short enough for its fixed slot
            name = background[0].name
            detail = f" ({background[0].detail})" if background[0].detail else ""
            parts.append(f"{name[:1].upper()}{name[1:]}{detail}…")
        elif background:  # the count first: the names may be cut (the tooltip has them)
            names = ", ".join(job.name for job in background[:2])
            parts.append(f"{len(background)} background jobs ({names})")
        self.jobs_label.setText("  ·  ".join(parts))

    def show_status(self, text: str, timeout_ms: int = 0) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    # --- shortcuts and navigation -------------------------------------------------------

    def _build_shortcuts(self) -> None:
        def add(keys: str | QKeySequence, handler, name: str) -> None:  # type: ignore[no-untyped-def]
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(handler)
            self.shortcuts[name] = shortcut

        self.shortcuts: dict[str, QShortcut] = {}
        add("Ctrl+Return", self._send, "send")
        add("Ctrl+Enter", self._send, "send (keypad)")
        add("Escape", self._escape, "stop")
        add("Ctrl+N", self.new_chat, "new chat")
        add("Ctrl+F", self.search_history, "search")
        add("Ctrl+,", self.open_settings, "settings")
        add("Ctrl+Q", self.close, "quit")

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(NAV.index(name))

    def _send(self) -> None:
        self.show_page("Chat")
        self.chat.send()

    def _escape(self) -> None:
        if self.chat.is_streaming:
            self.chat.stop()
            return
        for widget in self.chat.view.messages:
            if widget.editing:
                widget.cancel_edit()

    def new_chat(self) -> None:
        self.show_page("Chat")
        self.chat.new_chat()

    def search_history(self) -> None:
        self.show_page("History")
        self.history.focus_search()

    def open_conversation(self, conversation_id: int, message_id: int | None = None) -> None:
        self.show_page("Chat")
        self.chat.open_conversation(conversation_id, message_id)

    def show_chat_with_model(self, model_id: int) -> None:
        """Start a new chat with this library model (the Models page calls this)."""
        self.show_page("Chat")
        self.chat.new_chat(model_id)

    def show_models(self, catalog_id: str = "") -> None:
        self.show_page("Models")
        page = self.page_widgets["Models"]
        if catalog_id and hasattr(page, "show_catalog_entry"):
            page.show_catalog_entry(catalog_id)

    def open_settings(self) -> SettingsDialog:
        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            self.settings_dialog.raise_()
            return self.settings_dialog
        self.settings_dialog = SettingsDialog(self.services, self)
        self.settings_dialog.open()
        return self.settings_dialog

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        if "settings" in changes:
            self._settings_changed()

    def _settings_changed(self) -> None:
        dialog = self.settings_dialog
        if dialog is not None and "theme" in dialog.changes():
            app = QApplication.instance()
            if isinstance(app, QApplication):
                theme.apply_theme(app, dialog.changes()["theme"])
        self.show_status("Settings saved.", 4000)

    # --- closing ------------------------------------------------------------------------

    def _close_after_save(self) -> None:
        self._edits_settled = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        """Unsaved prompt edits are saved, dropped or kept first (the window stays on Cancel,
        and closes once a save is written); a reply in progress is stopped (saved as
        stopped) before the window goes."""
        trials = self.page_widgets["Trials"]
        if not self._edits_settled and isinstance(trials, TrialsPage) \
                and not trials.ready_to_close(self._close_after_save):
            event.ignore()
            return
        if self.chat.is_streaming:
            self.chat.stop()
        self.server_switch.shutdown()
        super().closeEvent(event)
