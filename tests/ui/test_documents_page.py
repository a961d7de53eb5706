"""The Documents page and chat with collections in the window (issue 22, items 4 and 7),
pressed as a user presses them: folders dropped on the page (a real QDropEvent), the add
dialog's own buttons, indexing in the background with its line in the status bar, a search
and its passage view, Pause and Resume, removing a path and a collection; then a chat with
a collection attached in the side panel, whose reply shows its Sources, and a citation
that opens its passage. Screenshots of both at two sizes, light and dark.

Real llama.cpp with the test model; the reply's wording is never checked, only what it
was given and what the window shows of it."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import make_window, quick_sampling, wait_reply
from ui import theme
from workbench.documents.attached import attached_collections

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from docs_files import PDF_FACTS, make_pdf  # noqa: E402

SIZES = ((1280, 800), (1920, 1080))
QUESTION = "What is the refund period for damaged parcels?"


def make_folder(root: Path, extra: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    make_pdf(root / "handbook.pdf")
    (root / "notes.md").write_text("# Canteen\n\nThe canteen serves soup on Fridays.\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    for number in range(extra):
        (root / f"memo-{number:03}.txt").write_text(f"Memo {number}: nothing of note.\n" * 40)
    return root


def drop(widget, paths: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """Drop files on ``widget`` as a file manager does: the drag enters (and must be
    accepted, or Qt delivers no drop), then a QDropEvent with their URLs."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    with warnings.catch_warnings():  # PySide6 marks Qt's only constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(widget.rect().center(), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(widget.rect().center()), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    assert event.isAccepted()


def click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled() and button.isVisible(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def idle(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not window.services.tasks.running, timeout=60_000)
    qtbot.wait(50)


def add_by_drop(qtbot, window, folder: Path, name: str):  # type: ignore[no-untyped-def]
    page = window.page_widgets["Documents"]
    window.show_page("Documents")
    drop(page, [folder])
    dialog = page.add_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.path_list() == [str(folder)]
    assert dialog.name.text() == folder.name  # the folder names it
    dialog.name.setText(name)
    dialog.exclude.setText("*.tmp")
    click(qtbot, dialog.ok_button)
    return page


def test_add_by_drop_index_search_open_pause_resume_and_remove(qtbot, services, tmp_path,
                                                               monkeypatch) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    folder = make_folder(tmp_path / "papers", extra=60)
    window = make_window(qtbot, services)
    page = add_by_drop(qtbot, window, folder, "papers")
    # The job shows in the status bar with how far it is, while it runs.
    qtbot.waitUntil(lambda: "Indexing papers" in window.jobs_label.text(), timeout=20_000)
    click(qtbot, page.pause_button)
    idle(qtbot, window)
    row = page.current_row()
    assert row is not None and row.status.startswith("paused at "), row.status
    assert page.reindex_button.text() == "Resume"
    done_before = row.files
    assert 0 < done_before < 63

    click(qtbot, page.reindex_button)  # Resume: the files done are not read again
    idle(qtbot, window)
    row = page.current_row()
    assert row is not None and row.status == "ready, 1 not indexed", row.status
    assert row.files == 63 and row.chunks >= 63
    assert page.reindex_button.text() == "Reindex"
    assert page.collections_model.cell(0, "Name") == "papers"

    # Its files, with the reason for the one skipped.
    page.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: page.files_model.rowCount() == 63)
    skipped = [r for r in page.files_model.rows() if r["status"] == "skipped"]
    assert [r["shown"] for r in skipped] == ["papers/logo.png"]
    assert "unsupported format (.png)" in skipped[0]["reason"]

    page.tabs.setCurrentIndex(0)
    qtbot.keyClicks(page.search_box, "refund period damaged parcels")
    click(qtbot, page.search_button)
    qtbot.waitUntil(lambda: page.results_model.rowCount() > 0)
    assert page.results_model.cell(0, "File") == "handbook.pdf"
    assert page.results_model.cell(0, "Page or section") == "page 2"
    assert page.results_model.cell(0, "Method") == "keyword"
    assert float(page.results_model.cell(0, "Score")) > 0
    click(qtbot, page.open_button)
    qtbot.waitUntil(lambda: page.passage_view is not None and page.passage_view.isVisible())
    view = page.passage_view
    assert PDF_FACTS[2] in view.text.toPlainText() and "page 2" in view.where.text()
    click(qtbot, view.open_button)
    assert opened and opened[-1].toLocalFile() == str(folder / "handbook.pdf")
    view.close()

    # Remove a path: the folder's memos go, the rest stays.
    memos = folder / "memos"
    memos.mkdir()
    (memos / "a.txt").write_text("A memo about parcels.\n")
    page.add_paths([str(memos)])
    idle(qtbot, window)
    assert page.paths.count() == 2
    page.paths.item(1).setSelected(True)
    click(qtbot, page.remove_path_button)
    idle(qtbot, window)
    assert page.paths.count() == 1 and page.current_row().files == 63  # type: ignore[union-attr]

    monkeypatch.setattr("ui.views.documents.removing.ask_remove", lambda _parent, _name: True)
    click(qtbot, page.remove_button)
    idle(qtbot, window)
    assert page.collections_model.rowCount() == 0 and page.empty.isVisibleTo(page)
    assert folder.joinpath("handbook.pdf").exists()  # the files stay
    window.close()


@pytest.mark.parametrize("look", ["light", "dark"])
def test_chat_with_an_attached_collection_cites_and_opens_the_passage(
        qtbot, services, tmp_path, screenshot_dir, look) -> None:
    theme.apply_theme(QApplication.instance(), look)
    folder = make_folder(tmp_path / "handbook")
    window = make_window(qtbot, services)
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    page = add_by_drop(qtbot, window, folder, "handbook")
    idle(qtbot, window)
    page.search_box.setText("refund period")
    click(qtbot, page.search_button)
    qtbot.waitUntil(lambda: page.results_model.rowCount() > 0)
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.wait(120)
        assert window.grab().save(str(screenshot_dir / f"documents-{look}-{width}x{height}.png"))

    window.show_page("Chat")
    chat = window.chat
    panel = chat.docs_panel
    qtbot.waitUntil(lambda: panel.item("handbook") is not None)
    item = panel.item("handbook")
    rect = panel.list.visualItemRect(item)
    # The check box is at the item's left edge.
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + 10, rect.center().y()))
    assert panel.chosen() == ["handbook"]
    quick_sampling(window, 24)
    chat.input.setPlainText(QUESTION)
    click(qtbot, chat.send_button)
    wait_reply(qtbot, window)
    reply = chat.view.messages[-1]
    assert reply.sources.isVisible() and reply.sources.buttons
    first = reply.sources.buttons[0]
    assert first.text() == "[1] handbook.pdf, page 2"
    assert chat.conversation_id is not None
    assert attached_collections(services.workspace.db, chat.conversation_id) == ["handbook"]
    click(qtbot, first)
    qtbot.waitUntil(lambda: chat.passage_view is not None and chat.passage_view.isVisible())
    assert PDF_FACTS[2] in chat.passage_view.text.toPlainText()
    chat.passage_view.close()
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.wait(120)
        assert window.grab().save(
            str(screenshot_dir / f"chat-citations-{look}-{width}x{height}.png"))

    # Regenerate answers from the same collection: the new reply cites it too.
    click(qtbot, reply.regenerate_button)
    wait_reply(qtbot, window)
    again = chat.view.messages[-1]
    assert again.message_id != reply.message_id
    assert again.sources.buttons and again.sources.buttons[0].text().startswith("[1] handbook")

    # Another chat, then back: the collection stays attached to this one only.
    conversation = chat.conversation_id
    click(qtbot, chat.new_button)
    assert panel.chosen() == []
    chat.open_conversation(conversation)
    qtbot.waitUntil(lambda: panel.chosen() == ["handbook"])
    window.close()
    theme.apply_theme(QApplication.instance(), "light")


def test_a_stored_reply_shows_its_cut_note_and_its_marks_open_their_passages(
        qtbot, services, tmp_path) -> None:
    """Opened from History: the Sources, the note on what was cut, and "[1]" in the text a
    link that opens the passage (the test model rarely writes marks, so the reply is made)."""
    from workbench import conversations as convs
    from workbench.documents.collections import add_collection
    from workbench.documents.indexing import index
    from workbench.documents.search import keyword_search

    db = services.workspace.db
    folder = make_folder(tmp_path / "cut")
    add_collection(db, "cut", [str(folder)])
    list(index(db, "cut"))
    passage = keyword_search(db, "cut", "refund period damaged parcels", 1)[0]
    citation = {"number": 1, "collection": "cut", "path": passage.path, "page": passage.page,
                "section": None, "chunk_id": passage.chunk_id, "score": passage.score,
                "method": "keyword", "where": passage.where, "start": passage.start,
                "end": passage.end}
    note = "passages cut to fit the 1,024-token context: 1 of 4 kept"
    conversation = convs.create_conversation(db, model_id=None)
    user = convs.add_message(db, conversation, "user", QUESTION, parent_id=None)
    reply = convs.add_message(db, conversation, "assistant", "Forty-five days [1].",
                              parent_id=user)
    convs.update_message(db, reply, settings={"citations": [citation], "docs_note": note})
    window = make_window(qtbot, services)
    window.open_conversation(conversation)
    qtbot.waitUntil(lambda: len(window.chat.view.messages) == 2)
    widget = window.chat.view.messages[-1]
    assert widget.sources.note.isVisibleTo(widget) and widget.sources.note.text() == note
    browser = widget.view._widgets[0]
    assert "cite:1" in browser.toMarkdown()
    mark = browser.document().find("[1]")
    assert mark.charFormat().anchorHref() == "cite:1" or mark.charFormat().isAnchor()
    cursor = browser.textCursor()
    cursor.setPosition(mark.selectionStart() + 1)
    qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton,
                     pos=browser.cursorRect(cursor).center())
    chat = window.chat
    qtbot.waitUntil(lambda: chat.passage_view is not None and chat.passage_view.isVisible())
    assert PDF_FACTS[2] in chat.passage_view.text.toPlainText()
    assert chat.passage_view.windowTitle().startswith("[1] handbook.pdf")
    window.close()
