"""Screenshots of every page and tab, light and dark, at 1280x800 and 1920x1080, written with
QWidget.grab() to the screenshot folder (see the ``screenshot_dir`` fixture): the chat while a
reply streams, History searching, Settings, the first run, and every page and tab of the
window (``screens``). Each screen is also checked for cut text (tests/ui/layout_fit.py)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import make_window, quick_sampling, wait_reply
from tests.ui.layout_fit import problems, screens
from ui import theme
from workbench import conversations as convs

SIZES = ((1280, 800), (1920, 1080))
PROMPT = ("Show me a Python function that checks whether a number is prime, "
          "then explain it in a short list.")


def grab(qtbot, widget, path) -> None:  # type: ignore[no-untyped-def]
    qtbot.wait(120)  # let layouts settle
    assert widget.grab().save(str(path))


@pytest.mark.parametrize("look", ["light", "dark"])
def test_screenshots(qtbot, services, screenshot_dir, look):
    theme.apply_theme(QApplication.instance(), look)
    db = services.workspace.db
    older = convs.create_conversation(db, model_id=None)
    user = convs.add_message(db, older, "user", "Which bread should I bake this weekend?",
                             parent_id=None)
    convs.add_message(db, older, "assistant", "A simple sourdough loaf is a good start.",
                      parent_id=user)
    window = make_window(qtbot, services)
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    quick_sampling(window, 220)
    window.chat.input.setPlainText(PROMPT)
    window.chat.send()
    # Hold the moment: the shots show the reply mid-stream (unless this CPU's greedy reply is
    # a short one, which ends on its own first).
    qtbot.waitUntil(lambda: len(window.chat.view.messages[-1].text) > 260
                    or not window.chat.is_streaming, timeout=60_000)
    window.chat.stop()
    for width, height in SIZES:
        window.resize(width, height)
        grab(qtbot, window, screenshot_dir / f"chat-streaming-{look}-{width}x{height}.png")
    wait_reply(qtbot, window)
    window.chat.input.setPlainText("Now write it in Rust.")
    window.search_history()
    window.history.search.setText("bread")
    window.history.run_search()
    qtbot.waitUntil(lambda: window.history.results.count() >= 1)
    for width, height in SIZES:
        window.resize(width, height)
        grab(qtbot, window, screenshot_dir / f"history-search-{look}-{width}x{height}.png")
    dialog = window.open_settings()
    qtbot.waitUntil(lambda: dialog.loaded)
    grab(qtbot, dialog, screenshot_dir / f"settings-{look}.png")
    dialog.reject()
    cut: list[str] = []
    for width, height in SIZES:
        window.resize(width, height)
        for screen in screens(qtbot, window):
            grab(qtbot, window, screenshot_dir / f"page-{screen}-{look}-{width}x{height}.png")
            cut += [f"{screen} {width}x{height}: {p}" for p in problems(window)]
    window.close()
    theme.apply_theme(QApplication.instance(), "light")
    assert not cut, "\n".join(cut)


@pytest.mark.parametrize("look", ["light", "dark"])
def test_first_run_screenshots(qtbot, bare_services, screenshot_dir, look):
    theme.apply_theme(QApplication.instance(), look)
    window = make_window(qtbot, bare_services)
    qtbot.waitUntil(lambda: not window.services.tasks.running, timeout=10_000)
    for width, height in SIZES:
        window.resize(width, height)
        grab(qtbot, window, screenshot_dir / f"first-run-{look}-{width}x{height}.png")
    window.close()
    theme.apply_theme(QApplication.instance(), "light")
