"""Remote endpoints in the window: each model an endpoint serves is offered by Compare's and
the Trials page's contender pickers and the judge picker as ``NAME/MODEL (remote: HOST)``,
and pressing Compare streams its answer beside the local model's (a loopback stand-in)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.core.endpoint_stub import stub_server
from tests.ui.test_compare_page import SETTINGS, open_page
from workbench import endpoints

REF = "endpoint:stub/stub-model"


@pytest.fixture
def stub(services, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The stand-in added as endpoint ``stub``; its host as *remote: HOST* shows it."""
    monkeypatch.setenv("WB_STUB_KEY", "stub-Key-123456")
    with stub_server() as base:
        endpoints.add_endpoint(services.workspace.db, "stub", f"{base}/ok/v1",
                               key_env="WB_STUB_KEY")
        yield base.removeprefix("http://")


def test_compare_offers_the_endpoint_as_remote_host_and_runs_it(qtbot, services, stub):
    page = open_page(qtbot, services)
    combo, edit, _remove = page.picker.rows[1]
    index = combo.findData(REF)
    assert index >= 0 and combo.itemText(index) == f"stub/stub-model (remote: {stub})"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    for _combo, settings, _ in page.picker.rows:
        settings.setText(SETTINGS)
    page.prompt.setPlainText("Say hello")
    page.blind.setChecked(False)
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.is_running, timeout=120_000)
    qtbot.waitUntil(lambda: "saved" in page.status.text(), timeout=10_000)
    texts = [c.text for c in page.columns]
    assert "Hello world" in texts, texts
    writer = next(c.writer.text() for c in page.columns if c.text == "Hello world")
    assert f"(remote: {stub})" in writer


def test_the_trials_page_offers_it_as_contender_and_judge(qtbot, services, stub):
    from ui.views.trials.page import TrialsPage

    page = TrialsPage(services)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: bool(page.picker.models), timeout=10_000)
    combo = page.picker.rows[0][0]
    assert combo.itemText(combo.findData(REF)) == f"stub/stub-model (remote: {stub})"
    judge = page.check_editor.judge_model
    assert judge.itemText(judge.findData(REF)) == f"stub/stub-model (remote: {stub})"


def test_the_privacy_page_lists_each_address_it_may_contact(qtbot, services, stub,
                                                           screenshot_dir):
    from PySide6.QtWidgets import QApplication

    from ui.views.settings_dialog import PRIVACY_GROUP, SettingsDialog

    endpoints.add_endpoint(services.workspace.db, "far", "http://192.0.2.1:8080/v1")
    dialog = SettingsDialog(services)
    qtbot.addWidget(dialog)
    dialog.resize(1280, 800)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.loaded, timeout=10_000)
    row = dialog.groups.findItems(PRIVACY_GROUP, Qt.MatchFlag.MatchExactly)[0]
    rect = dialog.groups.visualItemRect(row)
    qtbot.mouseClick(dialog.groups.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QApplication.processEvents()
    assert dialog.contacts.isVisible()
    lines = dialog.contacts.text().splitlines()
    assert lines[0].startswith("https://huggingface.co: only when you search or download")
    assert any(line.startswith(f"http://{stub}/ok/v1: endpoint stub (remote: {stub})")
               for line in lines)
    assert any(line.startswith("http://192.0.2.1:8080/v1: endpoint far") and
               "never while offline" in line for line in lines)
    area = dialog.pages.currentWidget()
    area.verticalScrollBar().setValue(area.verticalScrollBar().maximum())
    qtbot.wait(50)
    assert dialog.grab().save(str(screenshot_dir / "settings-privacy-contacts-1280x800.png"))
    dialog.reject()
