"""First run: no model says what to do and offers the recommended models that fit; with the
demo model, a new user can chat at once."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QPushButton

from tests.ui.conftest import make_window, wait_reply
from ui.views.chat.welcome import NO_MODEL_TEXT
from workbench.catalog import filter_catalog, load_catalog, machine_memory_bytes


def test_no_model_explains_and_recommends(qtbot, bare_services):
    window = make_window(qtbot, bare_services)
    fitting = filter_catalog(load_catalog(), max_memory=machine_memory_bytes())
    expected = fitting[0].name if fitting else "None of the recommended"

    def shown() -> str:
        return " ".join(label.text() for label in window.chat.welcome.findChildren(QLabel))

    qtbot.waitUntil(lambda: expected in shown(), timeout=10_000)
    assert NO_MODEL_TEXT in shown()
    assert window.chat.stack.currentWidget() is window.chat.welcome
    assert not window.chat.send_button.isEnabled()
    window.close()


def test_demo_model_is_ready_in_one_click(qtbot, main_window):
    window = main_window
    welcome = window.chat.welcome
    assert window.chat.stack.currentWidget() is welcome
    assert "Chat with" in welcome.heading.text()
    window.chat.panel.max_tokens.setValue(12)
    window.chat.panel.temperature.setValue(0)
    suggestion = next(b for b in welcome.findChildren(QPushButton)
                      if b.objectName() == "Suggestion")
    suggestion.click()
    assert window.chat.is_streaming
    wait_reply(qtbot, window)
    assert window.chat.view.messages[-1].text


def test_never_says_none_fits_before_the_catalog_is_read(qtbot):
    from ui.views.chat.welcome import WelcomeView

    view = WelcomeView()
    qtbot.addWidget(view)

    def shown() -> str:
        return " ".join(label.text() for label in view.findChildren(QLabel)
                        if label.isVisibleTo(view))

    view.show_first_run(None, 8 << 30)
    assert "Finding the models that fit" in shown() and "None of" not in shown()
    view.show_first_run([], 8 << 30)
    assert "None of the recommended models fits" in shown()
