"""Settings persist (token stored, never shown) and the window's shortcuts work."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit

from ui import theme
from workbench.settings import GROUPS, SETTINGS, get_setting, public_settings


def test_settings_persist_and_token_is_masked(qtbot, main_window):
    window = main_window
    dialog = window.open_settings()
    qtbot.waitUntil(lambda: dialog.loaded)
    assert dialog.data_dir.isReadOnly()
    assert dialog.data_dir.text() == str(window.services.workspace.root)
    token = dialog.editor("hub_token").field
    assert token.echoMode() == QLineEdit.EchoMode.Password
    dialog.editor("threads").field.setValue(3)
    dialog.editor("context_length").field.setValue(8192)
    dialog.editor("gpu_layers").field.setCurrentText("Processor only")
    dialog.editor("offline").field.setChecked(True)
    dialog.editor("hub_endpoint").field.setText("http://127.0.0.1:9")
    dialog.editor("min_pass_rate").field.setValue(70)
    dialog.editor("server_allowed_origins").field.setText("http://LocalHost:3000/")
    token.setText("hf_secret_token_123")
    theme_box = dialog.editor("theme").field
    theme_box.setCurrentIndex(theme_box.findData("dark"))
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.isVisible())
    db = window.services.workspace.db
    assert get_setting(db, "threads") == 3 and get_setting(db, "context_length") == 8192
    assert get_setting(db, "offline") is True and get_setting(db, "gpu_layers") == 0
    assert get_setting(db, "hub_token") == "hf_secret_token_123"
    assert get_setting(db, "theme") == "dark" and get_setting(db, "min_pass_rate") == 70
    assert get_setting(db, "server_allowed_origins") == "http://localhost:3000"
    assert theme.current() is theme.DARK
    assert "secret" not in str(public_settings(db))
    again = window.open_settings()
    qtbot.waitUntil(lambda: again.loaded)
    token = again.editor("hub_token").field
    assert token.text() == "" and "secret" not in token.placeholderText()
    assert again.editor("threads").field.value() == 3
    assert again.editor("offline").field.isChecked()
    assert again.editor("threads").value() == 3
    again.editor("threads").field.setValue(0)  # one below the range: "Automatic"
    assert again.editor("threads").field.text() == "Automatic"
    assert again.editor("threads").value() is None
    again.reject()
    theme.apply_theme(QApplication.instance(), "light")


def test_the_form_is_built_from_the_definitions_in_groups(qtbot, main_window):
    dialog = main_window.open_settings()
    qtbot.waitUntil(lambda: dialog.loaded)
    assert [dialog.groups.item(i).text() for i in range(dialog.groups.count())] == list(GROUPS)
    assert set(dialog.editors) == set(SETTINGS)
    for key, setting in SETTINGS.items():
        field = dialog.editor(key).field
        assert field.accessibleName() == setting.label
        assert field.toolTip().startswith(setting.help)
        assert dialog.pages.widget(GROUPS.index(setting.group)).isAncestorOf(field)
    spin = dialog.editor("context_length").field
    limits = SETTINGS["context_length"]
    assert (spin.minimum(), spin.maximum()) == (limits.minimum, limits.maximum)
    dialog.reject()


def test_a_refused_value_is_named_by_its_label_and_its_group_shown(qtbot, main_window):
    dialog = main_window.open_settings()
    qtbot.waitUntil(lambda: dialog.loaded)
    dialog.editor("gpu_layers").field.setCurrentText("lots")
    dialog.editor("hub_endpoint").field.setText("ftp://mirror")
    dialog.show_group("Appearance")
    dialog.save()
    qtbot.waitUntil(lambda: dialog.error.isVisible())
    text = dialog.error.text()
    assert text.startswith(SETTINGS["gpu_layers"].label + ": ") and "allowed" in text
    assert dialog.pages.currentIndex() == GROUPS.index("Performance") and dialog.isVisible()
    db = main_window.services.workspace.db
    assert get_setting(db, "hub_endpoint") is None  # nothing of the refused form was stored
    dialog.reject()


@pytest.mark.parametrize("look", ["light", "dark"])
def test_settings_screenshots(qtbot, main_window, screenshot_dir, look):
    """Each group of the dialog, light and dark, as it opens over a 1280x800 and a 1920x1080
    window; the dialog must fit the smaller screen."""
    theme.apply_theme(QApplication.instance(), look)
    for width, height in ((1280, 800), (1920, 1080)):
        main_window.resize(width, height)
        dialog = main_window.open_settings()
        qtbot.waitUntil(lambda dialog=dialog: dialog.loaded)
        qtbot.wait(100)
        assert dialog.height() <= 760 and dialog.width() <= width
        for group in GROUPS:
            dialog.show_group(group)
            qtbot.wait(60)
            name = group.lower().replace(" ", "-")
            assert dialog.grab().save(str(
                screenshot_dir / f"settings-{name}-{look}-{width}x{height}.png"))
            # every help text has the height its wrapped lines need (a crowded group scrolls
            # instead of squeezing them: they were cut mid-line)
            page = dialog.pages.currentWidget()
            squeezed = [label.text()[:40] for label in page.findChildren(QLabel)
                        if label.isVisible() and label.wordWrap()
                        and label.height() < label.heightForWidth(label.width())]
            assert not squeezed, f"{group}: {squeezed}"
        dialog.reject()
    theme.apply_theme(QApplication.instance(), "light")


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
