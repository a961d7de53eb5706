"""Tools in the window: the chat panel's Tools section adds a real stdio MCP server (made
with the ``mcp`` SDK, run as a subprocess), lists its tools on a worker, and switches it on
for the chat; the real model (a GGUF with a Qwen 2.5 tool template, "Must call a tool")
calls it; the approval bar asks, a click allows or denies; the call and its folded result
are in the transcript, and again when the chat is reopened. Stop unblocks a call that
waits; a server that fails is its one line; import and remove. Screenshots of the chat with
the Tools section and a call, light and dark, 1280x800 and 1920x1080."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from tests.ui.conftest import REPLY_TIMEOUT_MS, make_window, quick_sampling, wait_reply
from tests.ui.layout_fit import problems
from ui import theme
from ui.views.chat.tools_panel import AddServerDialog
from workbench import conversations as convs
from workbench.library import add_model
from workbench.mcp.servers import add_server
from workbench.mcp.toolbox import DENIED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from mcp_servers import write_server  # noqa: E402
from tool_model import tool_model  # noqa: E402

SIZES = ((1280, 800), (1920, 1080))
QUESTION = "What is the weather in Paris?"


@pytest.fixture(scope="module")
def tools_model(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tool_model(model_path, tmp_path_factory.getbasetemp() / "ui-tool-variants")


@pytest.fixture
def window(qtbot, services, tools_model):  # type: ignore[no-untyped-def]
    """The window with the tool-template model chosen in the chat."""
    model = add_model(services.workspace.db, tools_model)
    window = make_window(qtbot, services)
    chat = window.chat
    qtbot.waitUntil(lambda: chat.model_picker.findData(model.id) >= 0, timeout=10_000)
    chat.model_picker.setCurrentIndex(chat.model_picker.findData(model.id))
    yield window
    if chat.is_streaming:
        chat.stop()
        qtbot.waitUntil(lambda: not chat.is_streaming, timeout=REPLY_TIMEOUT_MS)
    window.close()


def click(qtbot, widget) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def answer_add_dialog(qtbot, monkeypatch, name: str, where: str,  # type: ignore[no-untyped-def]
                      seen: list) -> None:
    """The Add dialog's ``exec`` answered as a user does: fields typed, Add pressed; it
    returns once the dialog closed (added) or shows its error line (kept open, then
    cancelled here)."""
    def answer(dialog: AddServerDialog) -> int:
        dialog.show()
        qtbot.waitExposed(dialog)
        dialog.name.setText(name)
        assert dialog.kind.currentData() == "stdio"
        dialog.where.setText(where)
        click(qtbot, dialog.ok_button)
        qtbot.waitUntil(lambda: not dialog.isVisible() or dialog.error.isVisible(),
                        timeout=10_000)
        seen.append((dialog.isVisible(), dialog.error.text(), dialog.where.text()))
        if dialog.isVisible():
            dialog.reject()
        return dialog.result()

    monkeypatch.setattr(AddServerDialog, "exec", answer)


def add_weather_by_dialog(qtbot, monkeypatch, window, folder: Path  # type: ignore[no-untyped-def]
                          ) -> None:
    """Add… → name, program, command → Add; the server is on for this chat and its tools
    are listed (on the "mcp" worker)."""
    panel = window.chat.tools_panel
    seen: list = []
    answer_add_dialog(qtbot, monkeypatch, "weather", shlex.join(write_server(folder)), seen)
    click(qtbot, panel.add_button)
    assert seen == [(False, "", seen[0][2])]  # added: closed, no error line
    qtbot.waitUntil(lambda: panel.item("weather") is not None, timeout=10_000)
    qtbot.waitUntil(lambda: panel.tool_names("weather") == ["get_weather"], timeout=60_000)
    item = panel.item("weather")
    assert item.checkState(0) == Qt.CheckState.Checked and panel.chosen() == ["weather"]
    assert item.text(0) == "weather · 1 tool"
    item.setExpanded(True)
    assert item.child(0).text(0) == "get_weather"


def must_call(window) -> None:  # type: ignore[no-untyped-def]
    choice = window.chat.tools_panel.choice
    choice.setCurrentIndex(choice.findData("required"))


def ask(qtbot, window, text: str = QUESTION) -> None:  # type: ignore[no-untyped-def]
    quick_sampling(window, 64)
    window.chat.input.setPlainText(text)
    click(qtbot, window.chat.send_button)
    assert window.chat.is_streaming
    qtbot.waitUntil(lambda: window.chat.approval_bar.isVisible(), timeout=REPLY_TIMEOUT_MS)


def stored_reply(services):  # type: ignore[no-untyped-def]
    db = services.workspace.db
    conversation = convs.list_conversations(db, 1)[0]
    return conversation["id"], convs.branch(db, conversation["id"])[-1]


def grab_all(qtbot, window, folder: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    app = QApplication.instance()
    for look in ("light", "dark"):
        theme.apply_theme(app, look)
        for width, height in SIZES:
            window.resize(width, height)
            qtbot.wait(150)
            assert window.grab().save(str(folder / f"{name}-{look}-{width}x{height}.png"))
            assert problems(window.chat) == [], (look, width)  # nothing cut
    theme.apply_theme(app, "light")
    window.resize(1280, 800)


def test_allow_once_runs_the_call_and_shows_it_folded_also_when_reopened(
        qtbot, window, services, tmp_path, screenshot_dir, monkeypatch) -> None:
    chat = window.chat
    add_weather_by_dialog(qtbot, monkeypatch, window, tmp_path / "servers")
    must_call(window)
    ask(qtbot, window)

    bar = chat.approval_bar
    assert "get_weather" in bar.text.text() and "weather" in bar.text.text()
    assert '"city"' in bar.arguments.text()
    reply = chat.view.messages[-1]
    qtbot.waitUntil(lambda: len(reply.tool_calls.cards) == 1, timeout=5_000)
    card = reply.tool_calls.cards[0]
    assert card.heading.text() == "→ weather · get_weather"
    assert card.state.text() == "waiting for your approval"
    grab_all(qtbot, window, screenshot_dir, "chat-tool-approval")

    click(qtbot, bar.allow_once)
    wait_reply(qtbot, window)
    assert not bar.isVisible()
    reply = chat.view.messages[-1]
    (card,) = reply.tool_calls.cards
    assert card.state.text() == "allowed once"
    assert card.fold.isVisible() and not card.result.isVisible()  # folded
    assert card.fold.text().startswith("▸ Result (4 lines, ") and "sunny, 21" in card.fold.text()
    click(qtbot, card.fold)
    assert card.result.isVisible() and "humidity: 40%" in card.result.toPlainText()
    grab_all(qtbot, window, screenshot_dir, "chat-tool-result")
    click(qtbot, card.fold)
    assert not card.result.isVisible()

    conversation_id, stored = stored_reply(services)
    (call,) = stored.settings["tool_calls"][:1]
    assert call["server"] == "weather" and call["tool"] == "get_weather"
    assert call["decision"] == "once" and "sunny, 21" in call["result"]

    # A new chat starts with no server on; reopening this one shows its call and its server.
    chat.new_chat()
    assert chat.tools_panel.chosen() == []
    assert chat.tools_panel.item("weather").checkState(0) == Qt.CheckState.Unchecked
    row = next(r for r in range(chat.chat_list.count())
               if chat.chat_list.item(r).data(Qt.ItemDataRole.UserRole) == conversation_id)
    rect = chat.chat_list.visualItemRect(chat.chat_list.item(row))
    qtbot.mouseClick(chat.chat_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: len(chat.view.messages) == 2, timeout=10_000)
    qtbot.waitUntil(lambda: chat.tools_panel.chosen() == ["weather"], timeout=10_000)
    (card,) = chat.view.messages[-1].tool_calls.cards
    assert card.state.text() == "allowed once" and "sunny, 21" in card.fold.text()


def test_deny_runs_nothing_and_the_model_reads_why(qtbot, window, services, tmp_path,
                                                   monkeypatch) -> None:
    chat = window.chat
    add_weather_by_dialog(qtbot, monkeypatch, window, tmp_path / "servers")
    must_call(window)
    ask(qtbot, window)
    click(qtbot, chat.approval_bar.deny)
    wait_reply(qtbot, window)
    card = chat.view.messages[-1].tool_calls.cards[0]
    assert card.state.text() == "denied: nothing ran"
    assert not card.fold.isVisible()
    _, stored = stored_reply(services)
    first = stored.settings["tool_calls"][0]
    assert first["decision"] == "deny" and DENIED in first["result"]


def test_always_for_this_tool_is_kept_listed_under_tools_and_removed_there(
        qtbot, window, services, tmp_path, monkeypatch, screenshot_dir) -> None:
    """Always: later calls run without asking, in this chat and in another one (the answer
    is kept in the database, so a restart keeps it too: tests/core/test_mcp_approvals.py);
    the Tools section lists the tool under "Always allowed"; Remove there makes the next
    call ask again."""
    from workbench.mcp.approvals import list_approvals

    chat = window.chat
    db = services.workspace.db
    allowed = chat.tools_panel.approvals
    assert not allowed.isVisible()  # nothing allowed always yet
    add_weather_by_dialog(qtbot, monkeypatch, window, tmp_path / "servers")
    must_call(window)
    asked: list[object] = []
    chat.approvals.asked.connect(asked.append)
    ask(qtbot, window)
    click(qtbot, chat.approval_bar.always)
    wait_reply(qtbot, window)
    assert len(asked) == 1
    assert [(a.server, a.tool) for a in list_approvals(db)] == [("weather", "get_weather")]
    qtbot.waitUntil(lambda: allowed.pairs() == [("weather", "get_weather")], timeout=5_000)
    assert allowed.isVisible() and allowed.list.item(0).text() == "get_weather · weather"
    chat.input.setPlainText("And in Rome?")
    click(qtbot, chat.send_button)
    wait_reply(qtbot, window)
    assert len(asked) == 1 and not chat.approval_bar.isVisible()  # not asked again
    _, stored = stored_reply(services)
    assert stored.settings["tool_calls"][0]["decision"] == "auto"  # allowed before
    assert chat.view.messages[-1].tool_calls.cards[0].state.text() == \
        "allowed always (you allowed this tool before)"
    chat.new_chat()  # another chat: still allowed (kept, not per chat)
    chat.tools_panel.item("weather").setCheckState(0, Qt.CheckState.Checked)
    must_call(window)
    quick_sampling(window, 64)
    chat.input.setPlainText(QUESTION)
    click(qtbot, chat.send_button)
    wait_reply(qtbot, window)
    assert len(asked) == 1
    assert chat.view.messages[-1].tool_calls.cards[0].state.text().startswith("allowed always")
    app = QApplication.instance()
    for look in ("light", "dark"):  # the side panel scrolled to its "Always allowed" list
        theme.apply_theme(app, look)
        for width, height in SIZES:
            window.resize(width, height)
            qtbot.wait(150)
            chat.panel_box.ensureWidgetVisible(allowed)
            qtbot.wait(50)
            assert window.grab().save(str(
                screenshot_dir / f"chat-tools-always-allowed-{look}-{width}x{height}.png"))
            assert problems(window.chat) == [], (look, width)  # nothing cut
    theme.apply_theme(app, "light")
    window.resize(1280, 800)
    # taken back with the real buttons: the next call asks again
    assert not allowed.remove_button.isEnabled()  # nothing selected yet
    rect = allowed.list.visualItemRect(allowed.list.item(0))
    qtbot.mouseClick(allowed.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert allowed.remove_button.isEnabled()
    click(qtbot, allowed.remove_button)
    qtbot.waitUntil(lambda: list_approvals(db) == [] and allowed.pairs() == [],
                    timeout=5_000)
    assert not allowed.isVisible()
    chat.input.setPlainText("And in Oslo?")
    click(qtbot, chat.send_button)
    qtbot.waitUntil(lambda: chat.approval_bar.isVisible(), timeout=REPLY_TIMEOUT_MS)
    assert len(asked) == 2
    click(qtbot, chat.approval_bar.deny)
    wait_reply(qtbot, window)


def test_stop_while_a_call_waits_denies_it_and_ends_the_reply(
        qtbot, window, services, tmp_path) -> None:
    chat = window.chat
    add_server(services.workspace.db, "weather", command=write_server(tmp_path / "servers"))
    chat.tools_panel.refresh()
    qtbot.waitUntil(lambda: chat.tools_panel.item("weather") is not None, timeout=10_000)
    chat.tools_panel.item("weather").setCheckState(0, Qt.CheckState.Checked)  # the box
    must_call(window)
    ask(qtbot, window)
    click(qtbot, chat.stop_button)
    qtbot.waitUntil(lambda: not chat.is_streaming, timeout=20_000)  # the worker let go
    assert not chat.approval_bar.isVisible()
    wait_reply(qtbot, window)
    _, stored = stored_reply(services)
    assert stored.status == "stopped"
    assert all(c["decision"] == "deny" for c in stored.settings.get("tool_calls", []))


def test_a_server_that_fails_shows_its_one_line(qtbot, window, services, tmp_path) -> None:
    chat = window.chat
    add_server(services.workspace.db, "broken", command=write_server(tmp_path, "exit"))
    panel = chat.tools_panel
    panel.refresh()
    qtbot.waitUntil(lambda: panel.item("broken") is not None, timeout=10_000)
    item = panel.item("broken")
    rect = panel.tree.visualItemRect(item)
    # the branch arrow left of the item opens it, which lists its tools
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() - 7, rect.center().y()))
    qtbot.waitUntil(lambda: item.text(0) == "broken · failed", timeout=30_000)
    line = item.child(0).text(0)
    assert line.startswith("MCP server 'broken': exited with code 3")
    assert "cannot open the database" in line


def test_import_and_remove(qtbot, window, services, tmp_path, monkeypatch) -> None:
    chat = window.chat
    panel = chat.tools_panel
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(json.dumps({"mcpServers": {
        "notes": {"command": "python", "args": ["notes.py"]},
        "far": {"url": "ftp://example.com"}}}))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(config), ""))
    click(qtbot, panel.import_button)
    qtbot.waitUntil(lambda: panel.item("notes") is not None, timeout=10_000)
    assert panel.item("far") is None
    assert panel.import_note.startswith("Imported 1 MCP server; skipped 1: MCP server 'far'")
    panel.tree.setCurrentItem(panel.item("notes"))
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    click(qtbot, panel.remove_button)
    qtbot.waitUntil(lambda: panel.item("notes") is None, timeout=10_000)
    assert not panel.servers
    assert panel.hint.text().startswith("No MCP servers yet")


def test_a_bad_entry_in_the_add_dialog_is_one_line_and_keeps_what_was_typed(
        qtbot, window, monkeypatch) -> None:
    panel = window.chat.tools_panel
    seen: list = []
    answer_add_dialog(qtbot, monkeypatch, "bad name!", "python server.py", seen)
    click(qtbot, panel.add_button)
    ((still_open, error, typed),) = seen
    assert still_open and typed == "python server.py"
    assert error.startswith("MCP server name 'bad name!': 1 to 64 letters")
    assert panel.servers == [] and panel.add_dialog is None


def test_the_bar_says_when_a_tool_allowed_always_changed(qtbot) -> None:
    """A tool allowed always whose server now describes it differently is asked about again
    (the core drops the approval: tests/core/test_mcp_approvals.py); the bar says why."""
    from ui.views.chat.approval import ApprovalBar, Question
    from workbench.mcp.toolbox import ToolCallShown

    bar = ApprovalBar()
    qtbot.addWidget(bar)
    plain = Question(ToolCallShown("weather", "get_weather", {"city": "Paris"}))
    changed = Question(ToolCallShown("weather", "get_weather", {"city": "Oslo"}, changed=True))
    bar.ask(plain)
    assert "changed since" not in bar.text.text()
    click(qtbot, bar.allow_once)
    bar.ask(changed)
    assert "It changed since you allowed it always" in bar.text.text()
    click(qtbot, bar.always)
    assert plain.decision == "once" and changed.decision == "always"
    assert not bar.isVisible()
