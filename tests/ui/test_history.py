"""History: search across chats with highlighted hits, open a hit, rename, delete and undo,
export as Markdown and JSON."""

from __future__ import annotations

import json

from ui.views.history_page import DETAIL_ROLE, highlight_snippet
from workbench import conversations as convs


def seed_chats(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    first = convs.create_conversation(db, model_id=None)
    user = convs.add_message(db, first, "user", "How do I bake sourdough bread?", parent_id=None)
    convs.add_message(db, first, "assistant", "Feed the starter, then bake bread hot.",
                      parent_id=user)
    second = convs.create_conversation(db, model_id=None)
    convs.add_message(db, second, "user", "Tell me about rivers.", parent_id=None)
    return first, second


def test_highlight_snippet_marks_matches_and_escapes():
    html = highlight_snippet("a <b> [bread] and [Bread]", "#ff0")
    assert html.count("<b style='background:#ff0'>") == 2
    assert "&lt;b&gt;" in html


def test_search_highlights_and_opens_the_hit(qtbot, main_window):
    window = main_window
    first, _ = seed_chats(window.services.workspace.db)
    window.search_history()
    assert window.pages.currentWidget() is window.history
    assert window.history.search.hasFocus()
    qtbot.keyClicks(window.history.search, "bread")
    qtbot.waitUntil(lambda: window.history.results.count() == 2)
    detail = window.history.results.item(0).data(DETAIL_ROLE)
    assert "<b style=" in detail and "bread" in detail.lower()
    assert "2 matches" in window.history.summary.text()
    window.history.open_selected()
    assert window.pages.currentWidget() is window.chat
    qtbot.waitUntil(lambda: window.chat.conversation_id == first
                    and len(window.chat.view.messages) == 2)
    assert window.chat.view.messages[0].text == "How do I bake sourdough bread?"


def test_rename_delete_undo(qtbot, main_window):
    window = main_window
    db = window.services.workspace.db
    first, second = seed_chats(db)
    history = window.history
    window.show_page("History")
    history.refresh()
    qtbot.waitUntil(lambda: history.results.count() == 2)
    history.results.setCurrentRow(0)
    chosen = history.selected()
    history.rename_selected("Renamed chat")
    qtbot.waitUntil(lambda: convs.get_conversation(db, chosen[0])["title"] == "Renamed chat")
    qtbot.waitUntil(lambda: history.results.count() == 2 and history.selected() is not None)
    history.results.setCurrentRow(0)
    target = history.selected()[0]
    history.delete_selected()
    qtbot.waitUntil(lambda: history.undo_bar.isVisible() and history.results.count() == 1)
    assert "Deleted" in history.undo_label.text()
    history.undo_button.click()
    qtbot.waitUntil(lambda: history.results.count() == 2)
    assert len(convs.branch(db, target)) >= 1
    assert {first, second} == {r["id"] for r in convs.list_conversations(db)}


def test_export_markdown_and_json(qtbot, main_window, tmp_path):
    window = main_window
    seed_chats(window.services.workspace.db)
    history = window.history
    history.search.setText("sourdough")
    history.run_search()
    qtbot.waitUntil(lambda: history.results.count() == 1)
    md, js = tmp_path / "chat.md", tmp_path / "chat.json"
    history.export_selected("md", str(md))
    history.export_selected("json", str(js))
    qtbot.waitUntil(lambda: md.exists() and js.exists())
    qtbot.waitUntil(lambda: not window.services.tasks.running)
    assert "sourdough" in md.read_text() and md.read_text().startswith("# ")
    data = json.loads(js.read_text())
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    history.export_selected("md", str(tmp_path / "missing-folder" / "x.md"))
    qtbot.waitUntil(lambda: "cannot write" in history.summary.text())


def test_chat_list_menu_renames_and_deletes_with_undo(qtbot, main_window, monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QInputDialog

    window = main_window
    db = window.services.workspace.db
    first, second = seed_chats(db)
    chat = window.chat
    chat.refresh_conversations()
    qtbot.waitUntil(lambda: chat.chat_list.count() == 2)
    item = next(chat.chat_list.item(i) for i in range(2)
                if chat.chat_list.item(i).data(Qt.ItemDataRole.UserRole) == first)
    menu = chat.chat_menu_for(item)
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert list(actions) == ["Open", "Rename…", "Delete"]
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Bread notes", True))
    actions["Rename…"].trigger()
    qtbot.waitUntil(lambda: convs.get_conversation(db, first)["title"] == "Bread notes")
    qtbot.waitUntil(lambda: any(chat.chat_list.item(i).text() == "Bread notes"
                                for i in range(chat.chat_list.count())))
    item = next(chat.chat_list.item(i) for i in range(chat.chat_list.count())
                if chat.chat_list.item(i).data(Qt.ItemDataRole.UserRole) == second)
    chat.chat_list.setCurrentItem(item)
    chat.chat_list.setFocus()
    qtbot.keyClick(chat.chat_list, Qt.Key.Key_Delete)  # the Delete key does what the menu does
    qtbot.waitUntil(lambda: chat.chat_list.count() == 1)
    assert [r["id"] for r in convs.list_conversations(db)] == [first]
    assert "Undo is in History" in window.statusBar().currentMessage()
    window.history.undo_button.click()
    qtbot.waitUntil(lambda: chat.chat_list.count() == 2)


def test_history_rows_are_compact(qapp):
    """Two lines in about 48 px (they were about 110): a screen shows 12+ chats, not 5."""
    from PySide6.QtCore import QModelIndex
    from PySide6.QtWidgets import QListWidget, QStyleOptionViewItem

    from ui.views.history_page import TwoLineDelegate

    view = QListWidget()
    option = QStyleOptionViewItem()
    option.initFrom(view)
    height = TwoLineDelegate(view).sizeHint(option, QModelIndex()).height()
    assert 2 * view.fontMetrics().height() <= height <= 56
