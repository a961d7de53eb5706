"""Discover with a vision model's repository (the stand-in serves crafted projectors beside the
test model): the projector a download brings along is marked, and the verdicts count it.
Screenshots light and dark at 1280x800 and 1920x1080 go to the screenshot folder."""

from __future__ import annotations

import pytest
from hub_standin import MODEL_FILE, VISION_REPO
from models_page_fixtures import WAIT_MS, hub_services, models_page  # noqa: F401

pytest_plugins = ["hub_fixtures"]
from PySide6.QtWidgets import QApplication  # noqa: E402

from ui import theme  # noqa: E402


@pytest.mark.parametrize("look", ["light", "dark"])
def test_vision_repository_in_discover(qtbot, page, hub, screenshot_dir, look):  # noqa: F811
    theme.apply_theme(QApplication.instance(), look)
    tab = page.hub
    page.tabs.setCurrentWidget(tab)
    tab.query.setText("Vision")
    tab.search()
    qtbot.waitUntil(lambda: tab.results_model.rowCount() > 0, timeout=WAIT_MS)
    row = next(r for r in range(tab.results_model.rowCount())
               if tab.results_model.cell(r, "Repository") == VISION_REPO)
    tab.results.selectRow(tab.results.model().mapFromSource(
        tab.results_model.index(row, 0)).row())
    qtbot.waitUntil(lambda: bool(tab.files_model.verdicts), timeout=WAIT_MS)
    files = {f.name: r for r, f in enumerate(tab.files_model.rows())}
    fit = tab.files_model.cell(files["mmproj-SmolLM2-135M-F16.gguf"], "Fit on this machine")
    assert "comes with the models" in fit
    assert "loaded beside" in tab.files_model.cell(files["mmproj-SmolLM2-135M-F32.gguf"],
                                                   "Fit on this machine")
    assert "image tokens a picture" in tab.files_model.verdict_detail(
        tab.files_model.rows()[files[MODEL_FILE]])
    assert tab.download_button.text() == "Download Q4_1 + projector (99.8 MB)"
    for width, height in ((1280, 800), (1920, 1080)):
        page.resize(width, height)
        qtbot.wait(120)
        shot = screenshot_dir / f"discover-vision-{look}-{width}x{height}.png"
        assert page.grab().save(str(shot))
    theme.apply_theme(QApplication.instance(), "light")
