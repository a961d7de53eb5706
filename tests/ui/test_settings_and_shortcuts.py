"""Settings persist (token stored, never shown) and the window's shortcuts work."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit

from ui import theme
from workbench.settings import get_setting, public_settings


def test_settings_persist_and_token_is_masked(qtbot, main_window):
    window = main_window
    dialog = window.open_settings()
    qtbot.waitUntil(lambda: dialog.loaded)
    assert dialog.data_dir.isReadOnly()
    assert dialog.data_dir.text() == str(window.services.workspace.root)
    assert dialog.token.echoMode() == QLineEdit.EchoMode.Password
    dialog.threads.setValue(3)
    dialog.context.setValue(8192)
    dialog.gpu_layers.setCurrentText("0")
    dialog.offline.setChecked(True)
    dialog.endpoint.setText("http://127.0.0.1:9")
    dialog.token.setText("hf_secret_token_123")
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.isVisible())
    db = window.services.workspace.db
    assert get_setting(db, "threads") == 3 and get_setting(db, "context_length") == 8192
    assert get_setting(db, "offline") is True and get_setting(db, "gpu_layers") == "0"
    assert get_setting(db, "hub_token") == "hf_secret_token_123"
    assert get_setting(db, "theme") == "dark"
    assert theme.current() is theme.DARK
    assert "secret" not in str(public_settings(db))
    again = window.open_settings()
    qtbot.waitUntil(lambda: again.loaded)
    assert again.token.text() == "" and "secret" not in again.token.placeholderText()
    assert again.threads.value() == 3 and again.offline.isChecked()
    again.reject()
    theme.apply_theme(QApplication.instance(), "light")


def test_bad_gpu_layers_is_an_inline_error(qtbot, main_window):
    dialog = main_window.open_settings()
    qtbot.waitUntil(lambda: dialog.loaded)
    dialog.gpu_layers.setCurrentText("lots")
    dialog.save()
    qtbot.waitUntil(lambda: dialog.error.isVisible())
    assert "GPU layers" in dialog.error.text() and dialog.isVisible()
    dialog.reject()


def test_shortcuts(qtbot, main_window):
    window = main_window
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(window.chat.input, Qt.Key.Key_F, ctrl)
    assert window.pages.currentWidget() is window.history
    assert window.history.search.hasFocus()
    qtbot.keyClick(window.history.search, Qt.Key.Key_N, ctrl)
    assert window.pages.currentWidget() is window.chat
    assert window.chat.input.hasFocus()
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Comma, ctrl)
    assert window.settings_dialog is not None and window.settings_dialog.isVisible()
    window.settings_dialog.reject()
    window.chat.input.setFocus()
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Q, ctrl)
    assert not window.isVisible()


def test_every_main_control_has_an_accessible_name(main_window):
    chat = main_window.chat
    for widget in (chat.input, chat.send_button, chat.stop_button, chat.model_picker,
                   chat.chat_list, main_window.nav, main_window.history.search,
                   main_window.settings_button, chat.panel.temperature, chat.panel.seed):
        assert widget.accessibleName(), widget


def test_other_pages_never_break_the_window(main_window):
    from ui.main_window import NAV

    assert [main_window.nav.item(i).text() for i in range(main_window.nav.count())] == list(NAV)
    for name in NAV:
        main_window.show_page(name)
        assert main_window.pages.currentWidget() is main_window.page_widgets[name]
