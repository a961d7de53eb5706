"""The chat as a user meets it, through the real keys and buttons: Ctrl+Enter sends an edited
message (not the composer), the edit box is as tall as its text, editing the first question
re-titles the chat, a reply still being written offers no Copy or Regenerate, a streaming code
fence never shows its language as code, and a long code line scrolls inside its block."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import quick_sampling, send_and_wait, wait_reply
from ui import theme
from ui.widgets.markdown_view import MarkdownView
from ui.widgets.message_widget import MessageWidget
from workbench import conversations as convs


def test_ctrl_enter_sends_the_edited_message_and_retitles_the_chat(qtbot, main_window):
    window = main_window
    messages = send_and_wait(qtbot, window, "What is 2+2?", 8)
    db = window.services.workspace.db
    conversation = window.chat.conversation_id
    assert convs.get_conversation(db, conversation)["title"] == "What is 2+2?"
    window.chat.input.setPlainText("draft in the composer")  # must stay unsent
    user = messages[0]
    old_id = user.message_id
    qtbot.mouseClick(user.edit_button, Qt.MouseButton.LeftButton)
    assert user.editing
    editor = user.editor
    line = editor.fontMetrics().lineSpacing()
    assert editor.height() < 3 * line, "one line of text, one line of box"
    editor.selectAll()
    qtbot.keyClicks(editor, "What is 3+3?")
    qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.is_streaming, "Ctrl+Enter in the edit box sends the edit"
    wait_reply(qtbot, window)
    first = window.chat.view.messages[0]
    assert first.text == "What is 3+3?" and first.message_id != old_id
    assert window.chat.input.toPlainText() == "draft in the composer"
    assert convs.get_conversation(db, conversation)["title"] == "What is 3+3?"
    assert window.chat.title.full_text() == "What is 3+3?"


def test_the_edit_box_grows_with_its_text(qtbot, themed):
    widget = MessageWidget("user", "short", message_id=1)
    qtbot.addWidget(widget)
    widget.resize(700, 400)
    widget.show()
    qtbot.mouseClick(widget.edit_button, Qt.MouseButton.LeftButton)
    one = widget.editor.height()
    qtbot.keyClick(widget.editor, Qt.Key.Key_End)
    for _ in range(4):
        qtbot.keyClick(widget.editor, Qt.Key.Key_Return)
        qtbot.keyClicks(widget.editor, "more")
    assert widget.editor.height() >= one + 3 * widget.editor.fontMetrics().lineSpacing()
    sent: list[tuple[int, str]] = []
    widget.edit_submitted.connect(lambda mid, text: sent.append((mid, text)))
    qtbot.keyClick(widget.editor, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier)
    assert sent == [(1, "short\nmore\nmore\nmore\nmore")]


def test_a_reply_being_written_offers_no_copy_or_regenerate(qtbot, main_window):
    window = main_window
    quick_sampling(window, 120)
    window.chat.input.setPlainText("Write a long story about a lighthouse keeper.")
    qtbot.mouseClick(window.chat.send_button, Qt.MouseButton.LeftButton)
    assert window.chat.is_streaming
    reply = window.chat.view.messages[-1]
    assert not reply.copy_button.isVisibleTo(window)
    assert not reply.regenerate_button.isVisibleTo(window)
    qtbot.waitUntil(lambda: len(reply.text) > 20 or not window.chat.is_streaming,
                    timeout=60_000)
    if window.chat.is_streaming:
        assert not reply.copy_button.isVisibleTo(window)
    wait_reply(qtbot, window)
    reply = window.chat.view.messages[-1]
    assert reply.copy_button.isVisibleTo(window)
    assert reply.regenerate_button.isVisibleTo(window)


def test_a_streaming_fence_never_shows_its_language_as_code(qtbot, themed):
    """However the fence line arrives in pieces, the header never says "code" with the
    language as the block's first line; once the line is complete it says "python"."""
    for pieces in (["Here:\n\n", "```", "py", "thon", "\n", "def f():\n", "    return 1\n"],
                   ["Here:\n\n```", "python\ndef f():\n", "    return 1\n"],
                   ["Here:\n\n``", "`py", "thon", "\n", "def f():\n", "    return 1\n"]):
        widget = MessageWidget("assistant", title="m")
        qtbot.addWidget(widget)
        widget.resize(600, 400)
        widget.show()
        for piece in pieces[:2]:  # the first two pieces render (as a timed render would) ...
            widget.view.render_interval = 0.0
            widget.stream(piece)
        widget.view.render_interval = 1e9  # ... then only forced renders, appends between
        for piece in pieces[2:]:
            widget.stream(piece)
            for block in widget.view.code_blocks:
                assert not block.code.lstrip().startswith(("py", "thon")), (pieces, block.code)
                assert block.language.text() in ("", "python"), block.language.text()
        block = widget.view.code_blocks[-1]
        assert block.language.text() == "python"
        assert block.code.startswith("def f():")


def test_a_long_code_line_scrolls_inside_its_block(qtbot, themed):
    view = MarkdownView()
    qtbot.addWidget(view)
    view.resize(420, 300)
    long_line = "total = " + " + ".join(f"value_{n}" for n in range(60))
    view.set_markdown(f"Code:\n\n```python\n{long_line}\nprint(total)\n```\n")
    view.show()
    qtbot.waitExposed(view)
    block = view.code_blocks[0]
    bar = block.body.horizontalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    assert bar.isVisible(), "the reader sees that the line goes on"
    assert block.width() <= view.width()
    # the block is tall enough for both lines and the bar: nothing hidden under it
    lines = 2 * block.body.fontMetrics().lineSpacing()
    assert block.body.height() >= lines + bar.height()


def test_code_colours_follow_a_switch_of_look(qtbot, themed):
    view = MarkdownView()
    qtbot.addWidget(view)
    view.set_markdown("```python\ndef f():\n    return 'x'\n```")
    light = view.code_blocks[0].body.toHtml()
    theme.apply_theme(QApplication.instance(), "dark")
    try:
        assert view.code_blocks[0].body.toHtml() != light
    finally:
        theme.apply_theme(QApplication.instance(), "light")
