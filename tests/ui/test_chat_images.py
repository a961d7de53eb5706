"""Pictures in the chat window, through the real buttons and events: Attach image (the file
dialog answered), a drop of image files on the message box, a paste from the clipboard, a
chip's remove button; the sent message shows thumbnails, kept by sha256, also when the chat is
opened again; an edit keeps the pictures; the Models list marks vision. With the crafted
projector paired with the test model (real llama.cpp). Screenshots light and dark at
1280x800 and 1920x1080 (the ``screenshot_dir`` fixture)."""

from __future__ import annotations

import warnings

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from tests.ui.conftest import make_window, quick_sampling, wait_reply
from ui import theme
from ui.widgets.image_strip import ImageStrip
from workbench.library import list_models
from workbench.vision_models import pair

SIZES = ((1280, 800), (1920, 1080))


@pytest.fixture
def seeing_window(qtbot, services, mmproj):
    db = services.workspace.db
    model = list_models(db)[0]
    pair(db, model.id, model.path, mmproj)
    window = make_window(qtbot, services)
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    quick_sampling(window, 4)
    yield window
    if window.chat.is_streaming:
        window.chat.stop()
        wait_reply(qtbot, window)
    window.close()


@pytest.fixture
def photos(tmp_path):
    paths = []
    for name, color in (("red.png", (220, 30, 30)), ("sky.jpg", (60, 140, 230))):
        Image.new("RGB", (160, 100), color).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    return paths


def _drop(widget, paths: list[str]) -> None:
    """Drag files over ``widget`` (it must accept them) and drop them, as Qt delivers it."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    with warnings.catch_warnings():  # PySide marks the QPoint constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_attach_drop_paste_and_send_shows_thumbnails_kept_by_hash(qtbot, seeing_window,
                                                                  photos, monkeypatch):
    chat = seeing_window.chat
    tray = chat.attachments
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        staticmethod(lambda *a, **k: ([photos[0]], "")))
    qtbot.mouseClick(tray.button, Qt.MouseButton.LeftButton)
    assert tray.paths == [photos[0]] and tray.tray.isVisibleTo(seeing_window)
    _drop(chat.input.viewport(), [photos[1]])
    assert tray.paths == photos
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkGreen)
    QGuiApplication.clipboard().setImage(image)
    chat.input.setFocus()
    qtbot.keyClick(chat.input, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(tray.paths) == 3 and tray.paths[2].endswith("pasted-1.png")
    assert chat.input.toPlainText() == ""  # the picture went to the tray, not the text
    chips = [w for w in tray.tray.children() if hasattr(w, "clicked")]
    qtbot.mouseClick(chips[-1], Qt.MouseButton.LeftButton)  # remove the pasted one
    assert tray.paths == photos
    chat.input.setPlainText("What colours are these?")
    qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
    assert tray.paths == [] and not tray.tray.isVisibleTo(seeing_window)
    wait_reply(qtbot, seeing_window)
    user, reply = chat.view.messages[-2:]
    assert user.body.findChild(ImageStrip) is not None
    assert "image tokens" in reply.metrics.text()
    db = seeing_window.services.workspace.db
    kept = list(db.query("select images.path from message_images join images using "
                         "(sha256) where message_id = ? order by position", [user.message_id]))
    assert len(kept) == 2
    # Opened again: the thumbnails come from the kept files.
    conversation = chat.conversation_id
    chat.new_chat()
    chat.open_conversation(conversation)
    qtbot.waitUntil(lambda: len(chat.view.messages) == 2, timeout=10_000)
    strip = chat.view.messages[0].body.findChild(ImageStrip)
    assert strip is not None and strip.paths == [row["path"] for row in kept]
    # An edit keeps the pictures.
    first = chat.view.messages[0]
    qtbot.mouseClick(first.edit_button, Qt.MouseButton.LeftButton)
    first.editor.selectAll()
    qtbot.keyClicks(first.editor, "Which is brighter?")
    qtbot.keyClick(first.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_reply(qtbot, seeing_window)
    edited = chat.view.messages[0]
    assert edited.message_id != user.message_id
    assert db.execute("select count(*) from message_images where message_id = ?",
                      [edited.message_id]).fetchone()[0] == 2
    assert "image tokens" in chat.view.messages[1].metrics.text()


def test_the_models_list_marks_vision(qtbot, seeing_window):
    from ui.tablemodels.library import LibraryTableModel

    table = LibraryTableModel()
    table.set_rows(list_models(seeing_window.services.workspace.db))
    kinds = [table.data(table.index(row, 1)) for row in range(table.rowCount())]
    assert kinds == ["chat · vision"], kinds


@pytest.mark.parametrize("look", ["light", "dark"])
def test_image_chat_screenshots(qtbot, seeing_window, photos, screenshot_dir, look):
    theme.apply_theme(QApplication.instance(), look)
    chat = seeing_window.chat
    quick_sampling(seeing_window, 24)
    chat.attachments.add(photos)
    chat.input.setPlainText("What is in these pictures?")
    qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
    wait_reply(qtbot, seeing_window)
    chat.attachments.add(photos[:1])
    chat.input.setPlainText("And this one?")
    for width, height in SIZES:
        seeing_window.resize(width, height)
        qtbot.wait(150)
        assert seeing_window.grab().save(
            str(screenshot_dir / f"chat-images-{look}-{width}x{height}.png"))
    chat.attachments.take()
    theme.apply_theme(QApplication.instance(), "light")
