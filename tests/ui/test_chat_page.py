"""The chat page on the real model: send, stream, stop, regenerate, edit, branches, errors."""

from __future__ import annotations

import shutil

from PySide6.QtCore import Qt

from tests.ui.conftest import quick_sampling, send_and_wait, wait_reply
from workbench import conversations as convs
from workbench.library import add_model


def saved_branch(window):  # type: ignore[no-untyped-def]
    db = window.services.workspace.db
    return convs.branch(db, window.chat.conversation_id)


def test_send_streams_and_saves_reply_with_metrics(qtbot, main_window):
    window = main_window
    quick_sampling(window, 32)
    window.chat.input.setPlainText("Name three colours.")
    seen_lengths: list[int] = []
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.is_streaming
    while window.chat.is_streaming:
        widget = window.chat.view.messages[-1]
        seen_lengths.append(len(widget.text))
        qtbot.wait(20)
    wait_reply(qtbot, window)
    assert len(set(seen_lengths)) > 2, "the reply should appear piece by piece"
    user, reply = saved_branch(window)
    assert user.content == "Name three colours."
    assert reply.status == "done" and reply.content
    assert reply.metrics["completion_tokens"] > 0 and reply.metrics["gen_tps"] > 0
    shown = window.chat.view.messages[-1]
    assert shown.text == reply.content
    assert "tok/s" in shown.metrics.text() and "first token" in shown.metrics.text()
    assert "peak" in shown.metrics.text() and "finish:" in shown.metrics.text()
    assert window.chat.chat_list.count() == 1


def test_stop_keeps_what_was_generated(qtbot, main_window):
    window = main_window
    quick_sampling(window, 400)
    window.chat.input.setPlainText("Write a long story about a dragon and a knight.")
    window.chat.send()
    qtbot.waitUntil(lambda: len(window.chat.view.messages[-1].text) > 40, timeout=60_000)
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Escape)
    wait_reply(qtbot, window)
    reply = saved_branch(window)[-1]
    assert reply.status == "stopped" and reply.finish_reason == "stopped"
    assert len(reply.content) > 40
    assert reply.metrics["completion_tokens"] < 400
    assert window.chat.view.messages[-1].text == reply.content
    assert "finish: stopped" in window.chat.view.messages[-1].metrics.text()


def test_regenerate_adds_a_branch_and_switcher_moves_between_them(qtbot, main_window):
    window = main_window
    messages = send_and_wait(qtbot, window, "Say hello.", 16)
    first_reply = messages[-1].message_id
    window.chat.panel.seed.setValue(99)
    window.chat.panel.temperature.setValue(1.0)
    messages[-1].regenerate_button.click()
    assert window.chat.is_streaming
    wait_reply(qtbot, window)
    reply = window.chat.view.messages[-1]
    assert reply.message_id != first_reply
    assert reply.branches.isVisible() and reply.branches.label.text() == "2/2"
    reply.branches.previous.click()
    qtbot.waitUntil(lambda: window.chat.view.messages[-1].message_id == first_reply)
    assert window.chat.view.messages[-1].branches.label.text() == "1/2"


def test_edit_and_resend_keeps_the_old_branch(qtbot, main_window):
    window = main_window
    messages = send_and_wait(qtbot, window, "What is 2+2?", 16)
    old_user = messages[0].message_id
    user_widget = messages[0]
    user_widget.edit_button.click()
    assert user_widget.editing
    user_widget.editor.setPlainText("What is 3+3?")
    user_widget.submit_edit()
    wait_reply(qtbot, window)
    user = window.chat.view.messages[0]
    assert user.text == "What is 3+3?" and user.message_id != old_user
    assert user.branches.label.text() == "2/2"
    db = window.services.workspace.db
    assert convs.siblings(db, user.message_id) == [old_user, user.message_id]
    user.branches.previous.click()
    qtbot.waitUntil(lambda: window.chat.view.messages[0].text == "What is 2+2?")


def test_copy_message_and_code_block(qtbot, main_window):
    window = main_window
    messages = send_and_wait(qtbot, window, "Hi", 8)
    messages[-1].copy_button.click()
    clipboard = window.chat.window().screen()  # noqa: F841 (keeps the screen alive)
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == messages[-1].text
    messages[-1].set_content("Here:\n\n```python\nprint('hi')\n```\n")
    block = messages[-1].view.code_blocks[0]
    block.copy_button.click()
    assert QGuiApplication.clipboard().text() == "print('hi')"


def test_switching_chats_while_streaming_never_mixes_replies(qtbot, main_window):
    window = main_window
    send_and_wait(qtbot, window, "First chat.", 8)
    first_id = window.chat.conversation_id
    first_reply = window.chat.view.messages[-1].text
    window.chat.new_chat()
    quick_sampling(window, 300)
    window.chat.input.setPlainText("Tell me a long story.")
    window.chat.send()
    qtbot.waitUntil(lambda: len(window.chat.view.messages[-1].text) > 10, timeout=60_000)
    streaming_conversation = window.chat.stream.conversation_id
    assert streaming_conversation != first_id
    qtbot.keyClick(window.chat.input, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.conversation_id is None and not window.chat.view.messages
    qtbot.wait(300)
    assert not window.chat.view.messages, "the other chat's reply must not appear here"
    window.chat.open_conversation(first_id)
    qtbot.waitUntil(lambda: len(window.chat.view.messages) == 2)
    qtbot.wait(300)
    assert [m.text for m in window.chat.view.messages] == ["First chat.", first_reply]
    # back to the chat that is streaming: the live reply is drawn there again
    window.chat.open_conversation(streaming_conversation)
    qtbot.waitUntil(lambda: window.chat.stream is None or window.chat.stream.widget is not None)
    if window.chat.stream is not None:
        before = len(window.chat.view.messages[-1].text)
        qtbot.waitUntil(lambda: window.chat.stream is None
                        or len(window.chat.view.messages[-1].text) > before, timeout=30_000)
        window.chat.stop()
    wait_reply(qtbot, window)
    db = window.services.workspace.db
    streamed = convs.branch(db, streaming_conversation)
    assert streamed[0].content == "Tell me a long story." and streamed[1].content
    assert window.chat.view.messages[-1].text == streamed[1].content


def test_missing_model_file_is_a_readable_message(qtbot, main_window, model_path, tmp_path):
    window = main_window
    copy = tmp_path / "Vanishing.gguf"
    shutil.copy(model_path, copy)
    with copy.open("ab") as stream:  # other contents: not the demo model the library has
        stream.write(b"\0" * 16)
    model = add_model(window.services.workspace.db, copy)
    copy.unlink()
    window.services.events.changed.emit(frozenset({"library"}), None)
    qtbot.waitUntil(lambda: window.chat.model_picker.findData(model.id) >= 0)
    window.chat.model_picker.setCurrentIndex(window.chat.model_picker.findData(model.id))
    window.chat.input.setPlainText("Hello?")
    window.chat.send()
    wait_reply(qtbot, window)
    assert window.chat.banner.isVisible()
    text = window.chat.banner.label.text()
    assert "Vanishing" in text and "missing" in text and "Traceback" not in text
    assert "missing" in window.statusBar().currentMessage()


def test_sampling_presets_fill_visible_values(main_window):
    panel = main_window.chat.panel
    panel.set_preset("precise")
    assert abs(panel.temperature.value() - 0.1) < 1e-9 and panel.top_k.value() == 20
    panel.set_preset("creative")
    assert panel.temperature.value() == 1.0 and panel.top_k.value() == 100
    panel.temperature.setValue(0.3)
    assert panel.preset.currentData() == "custom"
    assert panel.overrides()["temperature"] == 0.3


def test_the_title_shows_while_the_first_reply_streams(qtbot, main_window):
    window = main_window
    quick_sampling(window, 200)
    prompt = "Write a long story about a lighthouse keeper and a storm."
    window.chat.input.setPlainText(prompt)
    window.chat.send()
    qtbot.waitUntil(lambda: window.chat.conversation_id is not None, timeout=60_000)
    assert window.chat.is_streaming
    assert window.chat.title.full_text() == convs.title_from(prompt)
    window.chat.stop()
    wait_reply(qtbot, window)
    assert window.chat.title.full_text() == convs.get_conversation(
        window.services.workspace.db, window.chat.conversation_id)["title"]


def test_continue_after_the_token_limit(qtbot, main_window):
    from ui.views.chat.turns import CONTINUE_PROMPT

    window = main_window
    messages = send_and_wait(qtbot, window, "Write a long story about a dragon.", max_tokens=8)
    reply = saved_branch(window)[-1]
    assert reply.finish_reason == "length"
    assert messages[-1].continue_button.isVisibleTo(messages[-1])
    messages[-1].continue_button.click()
    assert window.chat.is_streaming
    wait_reply(qtbot, window)
    branch = saved_branch(window)
    assert [m.role for m in branch] == ["user", "assistant", "user", "assistant"]
    assert branch[2].content == CONTINUE_PROMPT
    qtbot.waitUntil(lambda: len(window.chat.view.messages) == 4)
    earlier = window.chat.view.messages[1]
    assert not earlier.continue_button.isVisibleTo(earlier)  # only the last reply offers it
