"""History: every chat, full-text search across all of them (hits highlighted), and rename,
delete (with Undo), export as Markdown or JSON. All database work runs on the "db" worker."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QTextDocument
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.services import Services
from ui.tasks import Job
from ui.widgets.plain_label import Label
from workbench import conversations as convs
from workbench.errors import WorkbenchError
from workbench.export import export_conversation

SEARCH_DELAY_MS = 200
#: Each row's two lines: the title (plain text) and the detail line (HTML: highlighted hits).
TITLE_ROLE = Qt.ItemDataRole.UserRole + 1
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 2
ROW_PADDING = 6


class TwoLineDelegate(QStyledItemDelegate):
    """Paints a row as a bold title and one detail line, about 48 px high. Rows are drawn
    only when seen (no widget per row), so a long history opens at once."""

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802 (Qt's name)
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        line = option.fontMetrics.height()
        return QSize(200, 2 * line + 2 * ROW_PADDING + 4)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        item = QStyleOptionViewItem(option)
        self.initStyleOption(item, index)
        item.text = ""
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, item, painter, widget)
        colors = theme.current()
        rect = option.rect.adjusted(10, ROW_PADDING, -10, -ROW_PADDING)
        painter.save()
        painter.setClipRect(option.rect)
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QColor(colors.text))
        title = QFontMetrics(bold).elidedText(str(index.data(TITLE_ROLE) or ""),
                                              Qt.TextElideMode.ElideRight, rect.width())
        line = QFontMetrics(bold).height()
        painter.drawText(QRect(rect.x(), rect.y(), rect.width(), line),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), title)
        document = QTextDocument()
        document.setDefaultFont(option.font)
        document.setDocumentMargin(0)
        document.setDefaultStyleSheet(f"body {{ color: {colors.muted}; }}")
        document.setHtml(f"<body style='white-space:pre'>{index.data(DETAIL_ROLE) or ''}"
                         "</body>")
        painter.translate(rect.x(), rect.y() + line + 2)
        painter.setClipRect(QRect(0, 0, rect.width(), rect.height() - line))
        document.drawContents(painter)
        painter.restore()


def highlight_snippet(snippet: str, background: str) -> str:
    """Turn search_messages' ``[match]`` marks into bold, highlighted HTML (escaped)."""
    parts = re.split(r"(\[[^\[\]]*\])", snippet)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("[") and part.endswith("]"):
            out.append(f"<b style='background:{background}'>{html.escape(part[1:-1])}</b>")
        else:
            out.append(html.escape(part))
    return "".join(out).replace("\n", " ")


def export_to_file(db: Any, conversation_id: int, fmt: str, path: str | Path) -> Path:
    """Write one conversation as Markdown (md) or JSON (json); returns the path written."""
    text = export_conversation(db, conversation_id, fmt)
    target = Path(path)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise WorkbenchError(f"{target}: cannot write ({error.strerror or error})") from None
    return target


class HistoryPage(QWidget):
    open_requested = Signal(int, object)  # conversation id, message id or None

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self._deleted: dict[str, Any] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        heading = Label("History", self)
        heading.setObjectName("Heading")
        self.search = QLineEdit(self)
        self.search.setAccessibleName("Search all chats")
        self.search.setPlaceholderText("Search all chats (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumHeight(34)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.run_search)
        self.search.textChanged.connect(lambda: self._timer.start())
        self.search.returnPressed.connect(self.run_search)
        self.summary = Label(self)
        self.summary.setObjectName("Muted")

        self.undo_bar = QFrame(self)
        self.undo_bar.setObjectName("InfoBanner")
        undo_row = QHBoxLayout(self.undo_bar)
        undo_row.setContentsMargins(12, 6, 6, 6)
        self.undo_label = Label(self.undo_bar)
        self.undo_button = QPushButton("Undo", self.undo_bar)
        self.undo_button.setAccessibleName("Undo delete")
        self.undo_button.clicked.connect(self.undo_delete)
        undo_row.addWidget(self.undo_label, 1)
        undo_row.addWidget(self.undo_button)
        self.undo_bar.hide()
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(15000)
        self._undo_timer.timeout.connect(self.undo_bar.hide)

        self.results = QListWidget(self)
        self.results.setObjectName("SideList")
        self.results.setAccessibleName("Chats and search results")
        self.results.setItemDelegate(TwoLineDelegate(self.results))
        self.results.setUniformItemSizes(True)
        self.results.itemActivated.connect(lambda _item: self.open_selected())
        self.results.itemDoubleClicked.connect(lambda _item: self.open_selected())
        self.results.currentItemChanged.connect(lambda *_: self._update_buttons())

        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open", self)
        self.open_button.setObjectName("Primary")
        self.open_button.clicked.connect(self.open_selected)
        self.rename_button = QPushButton("Rename…", self)
        # no argument: clicked(bool) would arrive as the title
        self.rename_button.clicked.connect(lambda: self.rename_selected())
        self.export_button = QPushButton("Export…", self)
        menu = QMenu(self.export_button)
        menu.addAction("Markdown (.md)…", lambda: self.export_selected("md"))
        menu.addAction("JSON (.json)…", lambda: self.export_selected("json"))
        self.export_button.setMenu(menu)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setObjectName("Danger")
        self.delete_button.clicked.connect(self.delete_selected)
        for button in (self.open_button, self.rename_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)

        layout.addWidget(heading)
        layout.addWidget(self.search)
        layout.addWidget(self.summary)
        layout.addWidget(self.undo_bar)
        layout.addWidget(self.results, 1)
        layout.addLayout(buttons)
        QWidget.setTabOrder(self.search, self.results)
        QWidget.setTabOrder(self.results, self.open_button)
        services.events.changed.connect(self._data_changed)
        self.refresh()

    # --- listing and searching ---------------------------------------------------------

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _data_changed(self, changes: frozenset[str], _initiator: object) -> None:
        """The list follows the chats, whichever page changed them (this one included)."""
        if "chats" in changes:
            self.refresh()

    def refresh(self) -> None:
        self.run_search()

    def run_search(self) -> None:
        self._timer.stop()
        query = self.search.text().strip()
        # One key for both: a newer listing or search supersedes an older one's late answer.
        if query:
            job = self.services.ops.run(
                "db", convs.search_messages, query, name="search",
                initiator=self, key="results",
                success=lambda rows: self._show_hits(query, rows), failure=self._error)
        else:
            job = self.services.ops.run(
                "db", convs.list_conversations, name="history",
                initiator=self, key="results",
                success=self._show_conversations, failure=self._error)
        self.last_job: Job = job

    def _add_row(self, heading: str, detail_html: str, conversation_id: int,
                 message_id: int | None, title: str) -> None:
        item = QListWidgetItem(self.results)
        item.setData(Qt.ItemDataRole.UserRole, (conversation_id, message_id, title))
        item.setData(TITLE_ROLE, heading)
        item.setData(DETAIL_ROLE, detail_html)
        item.setData(Qt.ItemDataRole.AccessibleTextRole, heading)
        item.setToolTip(heading)

    def _show_conversations(self, rows: list[dict[str, Any]]) -> None:
        self.results.clear()
        for row in rows:
            when = row["updated_at"][:16].replace("T", " ")
            detail = (f"{html.escape(row['model_name'] or 'no model')} · "
                      f"{row['message_count']} messages · {when}")
            self._add_row(row["title"] or "Untitled chat", detail, row["id"], None,
                          row["title"] or "")
        count = len(rows)
        self.summary.setText(f"{count} chat{'s' if count != 1 else ''}" if count else
                             "No chats yet: start one on the Chat page.")
        self._select_first()

    def _show_hits(self, query: str, rows: list[dict[str, Any]]) -> None:
        self.results.clear()
        colors = theme.current()
        for row in rows:
            who = "You" if row["role"] == "user" else "Reply"
            snippet = highlight_snippet(row["snippet"] or "", colors.highlight_bg)
            when = row["created_at"][:16].replace("T", " ")
            self._add_row(
                row["title"] or "Untitled chat",
                f"{who} · {when} · <span style='color:{colors.text}'>{snippet}</span>",
                row["conversation_id"], row["id"], row["title"] or "")
        count = len(rows)
        self.summary.setText(f"{count} match{'es' if count != 1 else ''} for “{query}”"
                             if count else f"Nothing found for “{query}”.")
        self._select_first()

    def _select_first(self) -> None:
        if self.results.count():
            self.results.setCurrentRow(0)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.results.currentItem() is not None
        for button in (self.open_button, self.rename_button, self.export_button,
                       self.delete_button):
            button.setEnabled(has)

    def selected(self) -> tuple[int, int | None, str] | None:
        item = self.results.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _error(self, message: str) -> None:
        self.summary.setText(message)
        self.services.events.error.emit(message)

    # --- actions -------------------------------------------------------------------------

    def open_selected(self) -> None:
        chosen = self.selected()
        if chosen:
            self.open_requested.emit(chosen[0], chosen[1])

    def rename_selected(self, title: str | None = None) -> Job | None:
        chosen = self.selected()
        return self.rename_conversation(chosen[0], chosen[2], title) if chosen else None

    def rename_conversation(self, conversation_id: int, old_title: str,
                            title: str | None = None) -> Job | None:
        """Rename a chat (asking for the name unless given); the chat list renames from here
        too, so there is one way to do it."""
        if title is None:
            title, ok = QInputDialog.getText(self.window(), "Rename chat", "New name:",
                                             QLineEdit.EchoMode.Normal, old_title)
            if not ok:
                return None
        new_title = title
        return self.services.ops.run(
            "db", convs.rename_conversation, conversation_id, new_title,
            name="rename", changes={"chats"}, failure=self._error)

    def delete_selected(self) -> Job | None:
        chosen = self.selected()
        return self.delete_conversation(chosen[0], chosen[2]) if chosen else None

    def delete_conversation(self, conversation_id: int, title: str) -> Job | None:
        """Delete at once and offer Undo (safer than a confirmation nobody reads)."""
        return self.services.ops.run(
            "db", convs.delete_conversation, conversation_id,
            name="delete", changes={"chats"},
            success=lambda saved: self._deleted_done(saved, title), failure=self._error)

    def _deleted_done(self, saved: dict[str, Any], title: str) -> None:
        self._deleted = saved
        self.undo_label.setText(f"Deleted “{title or 'Untitled chat'}”.")
        self.undo_bar.show()
        self._undo_timer.start()
        self.services.events.status_message.emit(f"Deleted “{title}”. Undo is in History.",
                                                 8000)

    def undo_delete(self) -> Job | None:
        saved = self._deleted
        if saved is None:
            return None
        self._deleted = None
        self.undo_bar.hide()
        return self.services.ops.run(
            "db", convs.restore_conversation, saved,
            name="restore", changes={"chats"}, failure=self._error)

    def export_selected(self, fmt: str, path: str | None = None) -> Job | None:
        chosen = self.selected()
        if not chosen:
            return None
        if path is None:
            suffix = "md" if fmt == "md" else "json"
            stem = re.sub(r"[^\w\- ]+", "", chosen[2]).strip() or "chat"
            path, _ = QFileDialog.getSaveFileName(
                self, "Export chat", f"{stem}.{suffix}",
                "Markdown (*.md)" if fmt == "md" else "JSON (*.json)")
            if not path:
                return None
        target = path
        return self.services.ops.run(
            "db", export_to_file, chosen[0], fmt, target,
            name="export", success=lambda p: self.services.events.status_message.emit(
                f"Exported to {p}", 6000), failure=self._error)
