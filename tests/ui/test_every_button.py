"""Every enabled, visible button on every page and tab, pressed as a user presses it, on an
empty workspace and a populated one: no exception, and no "Unexpected error" in the window's
error channel or its status bar.

Modal dialogs are answered by patching the Qt call (a file dialog and an input dialog are
cancelled, a question is answered Cancel, a dialog's ``exec`` is rejected) and
``QDesktopServices.openUrl`` is recorded, so a press never blocks and never leaves the test.
A button with a menu is not clicked (its menu would block in ``exec``): its actions are
triggered instead. Between presses the test waits for the work a press started (a trial, a
comparison or a reply on the real SmolLM2 model, with few tokens) to finish.

The Hub is offline (``HF_HUB_OFFLINE``): a Hub button answers with its offline message, which
is an ordinary error, not an unexpected one.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialog,
    QFileDialog,
    QInputDialog,
    QMenu,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QToolButton,
    QWidget,
)

from tests.ui.conftest import make_window

#: Few tokens: a press that generates ends in a second or two on the test model.
QUICK = "temperature=0, max_tokens=8, n_ctx=2048, n_threads=2, gpu_layers=0"
#: The most presses on one page (a guard against a button that makes new buttons forever).
MAX_PRESSES = 120
#: Buttons never pressed, with why. Keep this short.
SKIPPED = {
    # The page list is the window's own navigation; every page is visited anyway.
}


@pytest.fixture
def dialogs(monkeypatch) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """Every modal dialog answered at once; what was asked is recorded."""
    asked: list[str] = []

    def record(kind: str, result):  # type: ignore[no-untyped-def]
        def answer(*args, **_kwargs):  # type: ignore[no-untyped-def]
            asked.append(f"{kind}: {[a for a in args if isinstance(a, str)][:2]}")
            return result
        return answer

    for name in ("getOpenFileName", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, name, record(name, ("", "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", record("getOpenFileNames", ([], "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", record("getExistingDirectory", ""))
    monkeypatch.setattr(QInputDialog, "getText", record("getText", ("", False)))
    monkeypatch.setattr(QInputDialog, "getMultiLineText", record("getMultiLineText", ("", False)))
    monkeypatch.setattr(QInputDialog, "getItem", record("getItem", ("", False)))
    monkeypatch.setattr(QInputDialog, "getInt", record("getInt", (0, False)))
    monkeypatch.setattr(QInputDialog, "getDouble", record("getDouble", (0.0, False)))
    cancel = QMessageBox.StandardButton.Cancel
    monkeypatch.setattr(QMessageBox, "question", record("question", cancel))
    for name in ("warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, name, record(name, QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "exec", record("QMessageBox.exec", int(cancel)))
    monkeypatch.setattr(QDialog, "exec", record("QDialog.exec", 0))
    monkeypatch.setattr(QMenu, "exec", record("QMenu.exec", None))
    monkeypatch.setattr(QDesktopServices, "openUrl", record("openUrl", True))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield asked


class Failures:
    """What must never happen while buttons are pressed."""

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        self.window = window
        self.found: list[str] = []
        self.pressing = ""
        window.services.events.error.connect(self._error)

    def _error(self, message: str) -> None:
        if "Unexpected error" in message:
            self.found.append(f"{self.pressing}: events.error {message!r}")

    def hook(self, kind, error, _tb) -> None:  # type: ignore[no-untyped-def]
        self.found.append(f"{self.pressing}: {kind.__name__}: {error}")

    def check_status_bar(self) -> None:
        message = self.window.statusBar().currentMessage()
        if "Unexpected error" in message:
            self.found.append(f"{self.pressing}: status bar {message!r}")


def settle(qtbot, window, timeout_ms: int = 120_000) -> None:  # type: ignore[no-untyped-def]
    """Wait for the work a press started (a model load, a run, a reply) to end."""
    qtbot.wait(30)
    with contextlib.suppress(Exception):  # a job that runs on (the server): go on
        qtbot.waitUntil(lambda: not window.services.tasks.running, timeout=timeout_ms)
    qtbot.wait(30)


def quick_settings(window) -> None:  # type: ignore[no-untyped-def]
    """Every contender row and the chat generate only a few tokens."""
    for name in ("Compare", "Trials"):
        page = window.page_widgets[name]
        for row in page.picker.row_widgets:
            row.edit.setText(QUICK)
    window.chat.panel.max_tokens.setValue(8)
    window.chat.panel.temperature.setValue(0.0)


def shown_buttons(root: QWidget) -> list[QAbstractButton]:
    """The root's visible, enabled buttons that sit in the window itself: a dialog a press
    opened (a model's Settings…) is closed by the test, its own buttons are not pressed."""
    return [b for b in root.findChildren(QAbstractButton)
            if isinstance(b, (QPushButton, QToolButton)) and b.isVisible() and b.isEnabled()
            and b.window() is root.window()]


def button_key(page: str, button: QAbstractButton) -> str:
    name = button.accessibleName() or button.toolTip()[:40] or button.objectName()
    return f"{page}/{type(button).__name__} {button.text()!r} {name!r}"


def press(qtbot, window, failures: Failures, key: str,  # type: ignore[no-untyped-def]
          button: QAbstractButton) -> None:
    failures.pressing = key
    menu = button.menu()
    if menu is not None:  # a click would block in the menu's exec: trigger its actions
        for action in menu.actions():
            if action.isEnabled() and not action.isSeparator():
                failures.pressing = f"{key} > {action.text()!r}"
                action.trigger()
                settle(qtbot, window)
                failures.check_status_bar()
        return
    if not button.isVisible() or not button.isEnabled():
        return  # an earlier press hid or disabled it
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    failures.check_status_bar()


def tab_states(page: QWidget) -> list[tuple[QTabWidget | None, int, str]]:
    """The page as it opens, then each tab of each tab widget on it (nested ones too)."""
    states: list[tuple[QTabWidget | None, int, str]] = [(None, 0, "first tab")]
    for tabs in page.findChildren(QTabWidget):
        states += [(tabs, index, tabs.tabText(index)) for index in range(tabs.count())
                   if tabs.isTabEnabled(index)]
    return states


def show_state(window, name: str, tabs: QTabWidget | None,  # type: ignore[no-untyped-def]
               index: int) -> None:
    """The page and tab again (a press may have opened another page: "Chat with this
    model", "Open")."""
    window.show_page(name)
    if tabs is not None:
        parents = []
        widget = tabs.parentWidget()
        while widget is not None and widget is not window:  # an outer tab shows this one
            parent_tabs = widget.parentWidget()
            if isinstance(parent_tabs, QWidget) and isinstance(parent_tabs.parentWidget(),
                                                               QTabWidget):
                parents.append((parent_tabs.parentWidget(), widget))
            widget = widget.parentWidget()
        for outer, page in parents:
            index_of = outer.indexOf(page)
            if index_of >= 0:
                outer.setCurrentIndex(index_of)
        tabs.setCurrentIndex(index)
    QApplication.processEvents()


def press_everything(qtbot, window, failures: Failures) -> list[str]:  # type: ignore[no-untyped-def]
    pressed: list[str] = []
    for name, page in window.page_widgets.items():
        window.show_page(name)
        settle(qtbot, window, 10_000)
        quick_settings(window)
        seen: set[str] = set()
        for tabs, index, tab in tab_states(page):
            while len(seen) < MAX_PRESSES:
                show_state(window, name, tabs, index)
                todo = [(button_key(f"{name}[{tab}]", b), b) for b in shown_buttons(page)]
                todo = [(k, b) for k, b in todo
                        if k.split("]", 1)[1] not in seen and k not in SKIPPED]
                if not todo:
                    break
                key, button = todo[0]
                seen.add(key.split("]", 1)[1])
                pressed.append(key)
                press(qtbot, window, failures, key, button)
                quick_settings(window)  # a new contender row generates few tokens too
    # the window's own buttons: Settings (its dialog opens; then closed) and the status bar's
    # (the server switch: on, and the copy menu's actions)
    nav = window.centralWidget().findChild(QWidget, "NavBar")
    for button in shown_buttons(nav) + shown_buttons(window.statusBar()):
        key = button_key("window", button)
        pressed.append(key)
        press(qtbot, window, failures, key, button)
    for dialog in window.findChildren(QDialog):
        dialog.reject()
    return pressed


def populate(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A workspace a user has used: a chat, a suite with checks, a finished trial."""
    from workbench import conversations as convs
    from workbench.library import list_models
    from workbench.trials.contenders import contenders_from
    from workbench.trials.runner import TrialRun, create_trial
    from workbench.trials.suites import SuitePrompt, create_suite

    db = services.workspace.db
    chat = convs.create_conversation(db, model_id=None)
    user = convs.add_message(db, chat, "user", "Capital of France?", parent_id=None)
    convs.add_message(db, chat, "assistant", "Paris.", parent_id=user)
    suite = create_suite(db, "capitals", [
        SuitePrompt("Capital of France?", reference="Paris", checks=[{"contains": "Paris"}]),
        SuitePrompt("Say hello.")])
    model = list_models(db)[0]
    contenders = contenders_from(db, [(model.id, QUICK.split(", "))])
    trial_id = create_trial(db, suite.id, contenders, seed=1, repeats=1)
    for _progress in TrialRun(db, services.engine, trial_id):
        pass


@pytest.mark.parametrize("state", ["empty", "populated"])
def test_every_button(qtbot, request, dialogs, monkeypatch, tmp_path, state) -> None:
    services = request.getfixturevalue("bare_services" if state == "empty" else "services")
    if state == "populated":
        populate(services, tmp_path)
    window = make_window(qtbot, services, size=(1280, 800))
    failures = Failures(window)
    monkeypatch.setattr(sys, "excepthook", failures.hook)
    settle(qtbot, window, 10_000)
    pressed = press_everything(qtbot, window, failures)
    # the chat, with a question typed: Send then runs a short reply
    window.show_page("Chat")
    window.chat.input.setPlainText("Say hi.")
    if window.chat.send_button.isEnabled():
        press(qtbot, window, failures, "Chat/Send (typed)", window.chat.send_button)
    for dialog in window.findChildren(QDialog):
        dialog.reject()
    window.close()
    settle(qtbot, window, 30_000)
    assert len(pressed) > 20, pressed
    assert not failures.found, "\n".join(failures.found)
    # Trials: every button of its own was pressed (its actions have no other way in)
    trials = [key for key in pressed if key.startswith("Trials")]
    for text in ("New…", "Import…", "Add check"):
        assert any(repr(text) in key for key in trials), (text, trials)
    if state == "populated":
        for text in ("Rename…", "Delete", "Add prompt", "Run", "Export report…"):
            assert any(repr(text) in key for key in trials), (text, trials)
