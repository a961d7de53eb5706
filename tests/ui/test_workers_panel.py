"""Settings > Network and privacy > Workers: add, a duplicate refused in one line, remove, and
each worker's state checked in the background (a port with nothing there: refused)."""

from __future__ import annotations

import socket

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ui import theme
from workbench.workers import list_workers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_workers_in_settings(qtbot, main_window, screenshot_dir):
    dialog = main_window.open_settings()
    qtbot.waitUntil(lambda: dialog.loaded)
    dialog.show_group("Network and privacy")
    panel = dialog.workers_panel
    address = f"127.0.0.1:{free_port()}"
    panel.address.setText(address)
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    db = main_window.services.workspace.db
    qtbot.waitUntil(lambda: list_workers(db) == [address])
    # checked in the background: nothing listens there, so one line says so
    qtbot.waitUntil(lambda: panel.list.count() == 1 and "refused" in panel.list.item(0).text()
                    or "RPC" in panel.list.item(0).text(), timeout=20000)
    area = dialog.pages.currentWidget()
    for look in ("light", "dark"):
        theme.apply_theme(QApplication.instance(), look)
        for width, height in ((1280, 800), (1920, 1080)):
            main_window.resize(width, height)
            qtbot.wait(50)
            area.ensureWidgetVisible(panel)
            qtbot.wait(50)
            assert dialog.grab().save(str(screenshot_dir /
                                          f"settings-workers-{look}-{width}x{height}.png"))
    theme.apply_theme(QApplication.instance(), "light")
    panel.address.setText(address.replace("127.0.0.1", "localhost"))
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.note.isVisible())
    assert "already added" in panel.note.text() and "\n" not in panel.note.text()
    panel.list.setCurrentRow(0)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: list_workers(db) == [])
    dialog.reject()


def test_a_models_workers_setting(qtbot, services):
    """The model's settings dialog has a Workers field; an address not added is refused in
    one line and nothing is saved; 'all' is saved and resolves to the added workers."""
    import pytest

    from ui.views.models.library import save_settings
    from ui.views.models.model_settings_dialog import ModelSettingsDialog
    from workbench.errors import InvalidInputError
    from workbench.library import get_model, list_models
    from workbench.model_settings import runnable
    from workbench.workers import add_worker

    db = services.workspace.db
    model = list_models(db)[0]
    dialog = ModelSettingsDialog(model)
    qtbot.addWidget(dialog)
    dialog.workers.setText("10.9.9.9:50052")
    with pytest.raises(InvalidInputError, match="not added"):
        save_settings(db, model, dialog.values())
    assert "workers" not in get_model(db, model.id).settings
    add_worker(db, "127.0.0.1:50111")
    dialog.workers.setText("all")
    save_settings(db, model, dialog.values())
    assert get_model(db, model.id).settings["workers"] == "all"
    assert runnable(db, model.id).load.workers == ("127.0.0.1:50111",)
