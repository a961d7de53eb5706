"""Issue 24 in the window: Remote endpoints added and removed in Settings > Network and privacy
by pressing its buttons (a loopback stand-in) and chatted with from the Chat page's model list;
a model split across a real ``llm-workbench worker`` says where its parts sit under the reply,
a worker left out at load is one line in the chat, and the library's Fit column counts the
worker's last check. Screenshots at 1280x800 and 1920x1080, light and dark."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.core.endpoint_stub import stub_server
from tests.core.test_workers import WorkerProc, free_port, needs_rpc
from tests.ui.conftest import quick_sampling, wait_reply
from ui import theme
from workbench import endpoints, library
from workbench.workers import add_worker, check_worker

SIZES = ((1280, 800), (1920, 1080))


def shoot(qtbot, widget, window, folder: Path, name: str, before=None) -> None:  # type: ignore[no-untyped-def]
    for look in ("light", "dark"):
        theme.apply_theme(QApplication.instance(), look)
        for width, height in SIZES:
            window.resize(width, height)
            if widget is not window:
                widget.resize(width, height)
            qtbot.wait(80)
            if before is not None:
                before()
            qtbot.wait(40)
            assert widget.grab().save(str(folder / f"{name}-{look}-{width}x{height}.png"))
    theme.apply_theme(QApplication.instance(), "light")


def test_endpoints_added_in_settings_and_chatted_with(qtbot, main_window, monkeypatch,
                                                      screenshot_dir):
    monkeypatch.setenv("WB_STUB_KEY", "stub-Key-123456")
    db = main_window.services.workspace.db
    with stub_server() as base:
        host = base.removeprefix("http://")
        dialog = main_window.open_settings()
        qtbot.waitUntil(lambda: dialog.loaded)
        dialog.show_group("Network and privacy")
        panel = dialog.endpoints_panel
        # a name without a URL: one line, nothing added
        panel.name.setText("stub")
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
        assert "base URL" in panel.note.text() and not endpoints.list_endpoints(db)
        panel.url.setText(f"{base}/ok/v1")
        panel.key_source.setCurrentIndex(panel.key_source.findData("env"))
        assert panel.key.isEnabled()
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)  # no variable named
        assert "environment variable's name" in panel.note.text()
        panel.key.setText("WB_STUB_KEY")
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: [e.name for e in endpoints.list_endpoints(db)] == ["stub"],
                        timeout=20_000)
        qtbot.waitUntil(lambda: panel.list.item(0).text().startswith("stub (remote: "),
                        timeout=10_000)
        item = panel.list.item(0).text()
        assert item == (f"stub (remote: {host}): stub-model; key: environment variable "
                        "WB_STUB_KEY")
        assert "stub-Key" not in item and "Added stub" in panel.note.text()
        # the same name again: refused in one line
        panel.name.setText("stub")
        panel.url.setText(f"{base}/ok/v1")
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "already added" in panel.note.text(), timeout=10_000)
        panel.name.clear()
        panel.url.clear()
        area = dialog.pages.currentWidget()
        shoot(qtbot, dialog, main_window, screenshot_dir, "settings-endpoints",
              before=lambda: area.ensureWidgetVisible(panel))
        dialog.reject()

        # The chat's model list offers it as NAME/MODEL (remote: HOST); a reply streams in.
        chat = main_window.chat
        shown = f"stub/stub-model (remote: {host})"
        qtbot.waitUntil(lambda: chat.model_picker.findText(shown) >= 0, timeout=10_000)
        chat.model_picker.setCurrentIndex(chat.model_picker.findText(shown))
        quick_sampling(main_window, 16)
        chat.input.setPlainText("Say hello")
        qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
        wait_reply(qtbot, main_window)
        reply = chat.view.messages[-1]
        assert reply.text == "Hello world", reply.text
        assert "tok/s" in reply.metrics.text()

        # Remove, by its button: gone from the list and from the chat's models.
        dialog = main_window.open_settings()
        qtbot.waitUntil(lambda: dialog.loaded)
        dialog.show_group("Network and privacy")
        panel = dialog.endpoints_panel
        qtbot.waitUntil(lambda: panel.list.count() == 1
                        and panel.list.item(0).data(Qt.ItemDataRole.UserRole) == "stub")
        panel.list.setCurrentRow(0)
        qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not endpoints.list_endpoints(db), timeout=10_000)
        qtbot.waitUntil(lambda: chat.model_picker.findText(shown) < 0, timeout=10_000)
        dialog.reject()


@needs_rpc
def test_a_split_model_says_where_it_sits_and_who_was_left_out(
        qtbot, main_window, tmp_path: Path, screenshot_dir):
    db = main_window.services.workspace.db
    worker = WorkerProc(tmp_path)
    dead = f"127.0.0.1:{free_port()}"
    try:
        add_worker(db, worker.address)
        add_worker(db, dead)
        model = library.list_models(db)[0]
        library.update_settings(db, model.id, {"workers": f"{worker.address},{dead}",
                                               "n_ctx": 256})
        assert check_worker(worker.address, timeout=30).usable  # the last check counts
        # The library's Fit column: across this computer and the worker that answered.
        main_window.show_page("Models")
        tab = main_window.page_widgets["Models"].library
        tab.refresh()
        qtbot.waitUntil(lambda: "Fits across" in tab.table_model.cell(0, "Fit"),
                        timeout=20_000)
        assert "1 worker" in tab.table_model.cell(0, "Fit")
        main_window.show_page("Chat")
        chat = main_window.chat
        chat.refresh()
        qtbot.waitUntil(lambda: chat.current_model is not None
                        and chat.current_model.settings.get("workers"), timeout=10_000)
        quick_sampling(main_window, 12)
        chat.input.setPlainText("Name three colours.")
        qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
        wait_reply(qtbot, main_window)
        metrics = chat.view.messages[-1].metrics.text()
        assert "split: layers 0-" in metrics and f"on {worker.address}" in metrics, metrics
        # llama.cpp offloads the output layer with the last layers: it sits on the worker
        assert f"and the output layer on {worker.address}" in metrics, metrics
        assert chat.banner.isVisible()
        line = chat.banner.label.text()
        assert line.startswith(f"Worker {dead} left out: ") and "\n" not in line
        shoot(qtbot, main_window, main_window, screenshot_dir, "chat-split")
    finally:
        worker.stop()
        library.update_settings(db, library.list_models(db)[0].id, {})


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
