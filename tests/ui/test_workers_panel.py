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
    _shoot(qtbot, main_window, dialog, panel, screenshot_dir, "settings-workers")
    panel.address.setText(address.replace("127.0.0.1", "localhost"))
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.note.isVisible())
    assert "already added" in panel.note.text() and "\n" not in panel.note.text()
    panel.list.setCurrentRow(0)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: list_workers(db) == [])
    dialog.reject()


def test_a_models_workers_setting(qtbot, services, screenshot_dir):
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
    # how to split: proportions must name this computer and each worker; 'workers' puts
    # every layer on them
    dialog.split.setText("1,2,3")
    with pytest.raises(InvalidInputError, match="3 proportions for this computer and 1 worker"):
        save_settings(db, model, dialog.values())
    dialog.split.setText("often")
    with pytest.raises(InvalidInputError, match="must be auto, workers or proportions"):
        save_settings(db, model, dialog.values())
    assert "split" not in get_model(db, model.id).settings
    dialog.split.setText("Workers")
    save_settings(db, model, dialog.values())
    assert get_model(db, model.id).settings["split"] == "workers"
    assert runnable(db, model.id).load.split == "workers"
    reopened = ModelSettingsDialog(get_model(db, model.id))
    qtbot.addWidget(reopened)
    assert reopened.split.text() == "workers"
    reopened.show()
    for look in ("light", "dark"):
        theme.apply_theme(QApplication.instance(), look)
        qtbot.wait(50)
        assert reopened.grab().save(str(screenshot_dir / f"model-settings-split-{look}.png"))
    theme.apply_theme(QApplication.instance(), "light")


def test_a_running_worker_shows_its_bandwidth(qtbot, main_window, tmp_path, screenshot_dir):
    """A real ``llm-workbench worker`` on loopback: the panel's line, checked in the
    background, gives its memory, round trip and the measured bandwidth."""
    import json
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import pytest

    from workbench.engine import rpc

    if not rpc.available():
        pytest.skip(rpc.missing_line())
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    worker = subprocess.Popen([sys.executable, "-m", "workbench", "--data-dir",
                               str(tmp_path / "w"), "worker", "--port", str(port),
                               "--threads", "1"], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while rpc.reachable(f"127.0.0.1:{port}", timeout=1) is not None:
            assert worker.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        dialog = main_window.open_settings()
        qtbot.waitUntil(lambda: dialog.loaded)
        dialog.show_group("Network and privacy")
        panel = dialog.workers_panel
        panel.address.setText(f"127.0.0.1:{port}")
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.list.count() == 1
                        and "bandwidth" in panel.list.item(0).text(), timeout=30000)
        line = panel.list.item(0).text()
        assert ": ready, 1 device, " in line and " up, " in line and " down" in line, line
        _shoot(qtbot, main_window, dialog, panel, screenshot_dir, "settings-workers-bandwidth")
        dialog.reject()
        # opened again (as after a restart: the check is read from the database), three
        # minutes later: the last check shows at once with its age while a new one runs
        db = main_window.services.workspace.db
        (stored,) = db.execute("SELECT last_check FROM workers").fetchone()
        found = json.loads(stored)
        made = time.mktime(time.strptime(found["checked_at"], "%Y-%m-%dT%H:%M:%S"))
        found["checked_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(made - 185))
        db.execute("UPDATE workers SET last_check = ?", [json.dumps(found)])
        dialog = main_window.open_settings()
        qtbot.waitUntil(lambda: dialog.loaded)
        dialog.show_group("Network and privacy")
        panel = dialog.workers_panel
        qtbot.waitUntil(lambda: panel.list.count() == 1
                        and "bandwidth" in panel.list.item(0).text(), timeout=5000)
        first = panel.list.item(0).text()
        assert "(checked 3 min ago) · checking again…" in first, first
        assert ": ready, 1 device, " in first and "checking..." not in first
        area = dialog.pages.currentWidget()
        area.ensureWidgetVisible(panel)
        for look in ("light", "dark"):  # grabbed at once: the new check may come quickly
            theme.apply_theme(QApplication.instance(), look)
            assert dialog.grab().save(str(
                screenshot_dir / f"settings-workers-last-check-{look}.png"))
        theme.apply_theme(QApplication.instance(), "light")
        # the background check replaces it; Check (the real button) does it again
        qtbot.waitUntil(lambda: "(checked just now)" in panel.list.item(0).text()
                        and "checking" not in panel.list.item(0).text(), timeout=30000)
        worker.terminate()  # the worker went away: Check says so
        worker.wait(10)
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "connection refused" in panel.list.item(0).text()
                        and panel.list.item(0).text().endswith("(checked just now)"),
                        timeout=30000)
        dialog.reject()
    finally:
        worker.terminate()
        worker.wait(10)


def _shoot(qtbot, main_window, dialog, panel, screenshot_dir, stem: str) -> None:
    """The Settings dialog scrolled to the Workers panel, light and dark, at both sizes."""
    area = dialog.pages.currentWidget()
    for look in ("light", "dark"):
        theme.apply_theme(QApplication.instance(), look)
        for width, height in ((1280, 800), (1920, 1080)):
            main_window.resize(width, height)
            qtbot.wait(50)
            area.ensureWidgetVisible(panel)
            qtbot.wait(50)
            assert dialog.grab().save(str(screenshot_dir / f"{stem}-{look}-{width}x{height}.png"))
    theme.apply_theme(QApplication.instance(), "light")
