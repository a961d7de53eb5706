"""A collection's embedding model in the window, and k, pressed as a user presses them
(issue 22): the Add dialog's model chooser, the details' Change… (the passages embedded
again in the background, paused and resumed), the chat's "passages per question" spin box
carried to the turn, and a contender's collection and k choosers giving ``docs=``/``k=``.

Real llama.cpp with the SmolLM2 test model as the embedding model, as
tests/core/test_docs_dense.py uses it; replies' wording is never checked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import make_window, quick_sampling, wait_reply
from tests.ui.test_documents_page import QUESTION, SIZES, click, make_folder
from ui import theme
from ui.views.documents.embedding import KEYWORD_ONLY
from workbench.conversations import branch
from workbench.documents.collections import list_collections
from workbench.settings import set_setting
from workbench.trials.contenders import contenders_from

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))


def idle(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    """Embedding on a busy 2-core machine takes a while: wait longer than for indexing."""
    qtbot.waitUntil(lambda: not window.services.tasks.running, timeout=240_000)
    qtbot.wait(50)


def vectors(services, name: str) -> int:  # type: ignore[no-untyped-def]
    return next(r["vectors"] for r in list_collections(services.workspace.db)
                if r["name"] == name)


def add_with_model(qtbot, window, folder: Path, name: str, monkeypatch,  # type: ignore[no-untyped-def]
                   shots: Path | None = None, look: str = "light"):
    """Add collection…, Add folder…, the test model as embedding model, Add and index."""
    page = window.page_widgets["Documents"]
    window.show_page("Documents")
    qtbot.waitUntil(lambda: len(page.embed_choices) > 1)
    monkeypatch.setattr("ui.views.documents.add_dialog.ask_folder", lambda _parent: str(folder))
    click(qtbot, page.add_button)
    dialog = page.add_dialog
    assert dialog is not None and dialog.isVisible()
    click(qtbot, dialog.folder_button)
    dialog.name.setText(name)
    combo = dialog.embed_model
    assert combo.itemText(0) == KEYWORD_ONLY and combo.model_id() is None
    qtbot.keyClick(combo, Qt.Key.Key_Down)  # the first library model
    assert combo.model_id() is not None
    model = combo.currentText()
    if shots is not None:
        for width, height in SIZES:
            window.resize(width, height)
            qtbot.wait(120)
            assert dialog.grab().save(str(shots / f"docs-add-dialog-{look}-{width}x{height}.png"))
    click(qtbot, dialog.ok_button)
    return page, model


@pytest.fixture
def one_thread(services):  # type: ignore[no-untyped-def]
    set_setting(services.workspace.db, "threads", 1)
    return services


def test_add_with_a_model_then_change_it_pause_and_resume(qtbot, one_thread, tmp_path,
                                                          monkeypatch) -> None:
    services = one_thread
    folder = make_folder(tmp_path / "papers", extra=4)
    window = make_window(qtbot, services)
    page, model = add_with_model(qtbot, window, folder, "papers", monkeypatch)
    idle(qtbot, window)
    row = page.current_row()
    assert row is not None and row.embed_model == model and row.status.startswith("ready")
    assert vectors(services, "papers") == row.chunks > 0
    assert page.embed_line.label.text().startswith(f"Embedding model: {model}")

    # Change… to none: the vectors go, search is by keyword only.
    answers = [(True, None)]
    monkeypatch.setattr("ui.views.documents.page.ask_embed_model",
                        lambda *_args: answers.pop(0))
    click(qtbot, page.embed_line.change_button)
    idle(qtbot, window)
    assert vectors(services, "papers") == 0
    assert page.embed_line.label.text() == f"Embedding model: {KEYWORD_ONLY}"

    # Change… back to the model: embedded again in the background, with the job in the
    # status bar; Pause stops it part way and Resume finishes it.
    answers.append((True, row.embed_model_id))
    click(qtbot, page.embed_line.change_button)
    qtbot.waitUntil(lambda: "Embedding papers" in window.jobs_label.text(), timeout=30_000)
    qtbot.waitUntil(lambda: page.states.get("papers", "").startswith("embedding "),
                    timeout=30_000)
    assert not page.embed_line.change_button.isEnabled()  # one change at a time
    click(qtbot, page.pause_button)
    idle(qtbot, window)
    row = page.current_row()
    assert row is not None and row.status.startswith("paused at "), row.status
    part = vectors(services, "papers")
    assert 0 < part < row.chunks
    click(qtbot, page.reindex_button)  # Resume
    idle(qtbot, window)
    row = page.current_row()
    assert row is not None and row.status.startswith("ready"), row.status
    assert vectors(services, "papers") == row.chunks
    assert row.embed_model == model
    window.close()


def test_chat_k_and_contender_collection_choosers(qtbot, one_thread, tmp_path,
                                                  monkeypatch, screenshot_dir) -> None:
    services = one_thread
    db = services.workspace.db
    folder = make_folder(tmp_path / "handbook", extra=6)
    window = make_window(qtbot, services)
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    page = window.page_widgets["Documents"]
    window.show_page("Documents")
    monkeypatch.setattr("ui.views.documents.add_dialog.ask_folder", lambda _parent: str(folder))
    click(qtbot, page.add_button)
    click(qtbot, page.add_dialog.folder_button)  # type: ignore[union-attr]
    click(qtbot, page.add_dialog.ok_button)  # type: ignore[union-attr]
    idle(qtbot, window)

    window.show_page("Chat")
    chat = window.chat
    panel = chat.docs_panel
    qtbot.waitUntil(lambda: panel.item("handbook") is not None)
    assert panel.k_row.isVisibleTo(panel) and panel.k() == 5
    rect = panel.list.visualItemRect(panel.item("handbook"))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + 10, rect.center().y()))
    for _ in range(3):
        qtbot.keyClick(panel.k_spin, Qt.Key.Key_Down)
    assert panel.k() == 2
    quick_sampling(window, 8)
    chat.input.setPlainText(QUESTION + " Is there soup? Memo?")
    click(qtbot, chat.send_button)
    wait_reply(qtbot, window)
    reply = [m for m in branch(db, chat.conversation_id) if m.role == "assistant"][-1]
    cited = reply.settings["citations"]
    assert 1 <= len(cited) <= 2, cited  # k=2 reached the turn (5 would give more)

    # Compare: each contender chooses a collection and k; they become docs= and k=.
    window.show_page("Compare")
    picker = window.page_widgets["Compare"].picker
    row = picker.row_widgets[0]
    qtbot.waitUntil(lambda: row.docs.count() == 2)
    assert row.docs.isVisibleTo(picker) and not row.k.isEnabled()
    qtbot.keyClick(row.docs, Qt.Key.Key_Down)
    assert row.docs.currentText() == "handbook" and row.k.isEnabled()
    qtbot.keyClick(row.k, Qt.Key.Key_Up)
    chosen = picker.chosen()
    assert "docs=handbook" in chosen[0][1] and "k=6" in chosen[0][1]
    assert not any(item.startswith("docs=") for item in chosen[1][1])
    made = contenders_from(db, chosen)
    assert made[0].settings["docs"] == ["handbook"] and made[0].settings["k"] == 6
    assert "docs" not in made[1].settings
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.wait(120)
        assert window.grab().save(str(screenshot_dir / f"compare-docs-k-{width}x{height}.png"))
    window.close()


@pytest.mark.parametrize("look", ["light", "dark"])
def test_screenshots_of_the_add_dialog_and_the_details(qtbot, one_thread, tmp_path,
                                                       screenshot_dir, monkeypatch,
                                                       look) -> None:
    theme.apply_theme(QApplication.instance(), look)
    folder = make_folder(tmp_path / "handbook")
    window = make_window(qtbot, one_thread)
    page, model = add_with_model(qtbot, window, folder, "handbook", monkeypatch,
                                 screenshot_dir, look)
    idle(qtbot, window)
    assert page.embed_line.label.text().startswith(f"Embedding model: {model}")
    page.tabs.setCurrentIndex(1)
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.wait(120)
        assert window.grab().save(
            str(screenshot_dir / f"docs-details-{look}-{width}x{height}.png"))
    window.close()
    theme.apply_theme(QApplication.instance(), "light")
