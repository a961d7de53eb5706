"""The window outlives llama.cpp: its engine process aborts mid-reply, the chat page says
"The model stopped working: ..." with a Reload action, the reply keeps its text, and after
Reload the next reply works (issue 10, item 1)."""

from __future__ import annotations

import os
import signal

from PySide6.QtCore import Qt

from tests.ui.conftest import quick_sampling, send_and_wait, wait_reply
from workbench import conversations as convs


def test_engine_abort_mid_reply_shows_the_reason_and_reload_works(qtbot, main_window):
    window = main_window
    chat = window.chat
    quick_sampling(window, 400)
    chat.input.setPlainText("Write a long story about a dragon and a knight.")
    chat.send()
    qtbot.waitUntil(lambda: len(chat.view.messages[-1].text) > 40, timeout=60_000)
    pid = window.services.engine.worker_pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGABRT)
    wait_reply(qtbot, window)

    banner = chat.banner
    assert banner.isVisible()
    assert banner.label.text().startswith("The model stopped working: killed by SIGABRT")
    assert banner.action.isVisible() and banner.action.text() == "Reload"
    db = window.services.workspace.db
    reply = convs.branch(db, chat.conversation_id)[-1]
    assert reply.status == "interrupted" and len(reply.content) > 40
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    shown = chat.view.messages[-1]
    assert shown.text == reply.content  # the text written before the crash stays on show
    assert shown.status.text().startswith("The model stopped working")

    qtbot.mouseClick(banner.action, Qt.MouseButton.LeftButton)
    assert not banner.isVisible()
    qtbot.waitUntil(lambda: window.services.engine.loaded is not None, timeout=60_000)
    assert window.services.engine.worker_pid not in (None, pid)
    send_and_wait(qtbot, window, "Say hello.", 16)
    assert convs.branch(db, chat.conversation_id)[-1].status == "done"
    assert not banner.isVisible()
