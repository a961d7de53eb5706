"""Settings, grouped (Models, Performance, Network and privacy, Appearance), in plain words.

The form is built from the typed definitions in :mod:`workbench.settings`: each setting's
label, help (shown under its field and as its tooltip), range and choices come from there, so
the window, the CLI and the engine cannot disagree about what a setting allows. Values are
read, checked and written on the "db" worker; a refused value is shown under the form with the
setting's label, and its group is brought to the front.

The Hub token is never shown: the field is a password field that stays empty, and its
placeholder shows the masked value; leaving it empty keeps the stored token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.widgets.plain_label import Label
from workbench.endpoints import contacts
from workbench.engine import gpu_offload_supported
from workbench.settings import (
    DEFINITIONS,
    GROUPS,
    SETTINGS,
    ChoiceSetting,
    FlagSetting,
    FolderSetting,
    GpuLayersSetting,
    IntegerSetting,
    NameListSetting,
    Setting,
    TokenSetting,
    UrlSetting,
    all_settings,
    mask,
    set_setting,
)

#: The group whose page lists every address Workbench may contact.
PRIVACY_GROUP = "Network and privacy"


def load_values(db: Database, root: Path) -> dict[str, Any]:
    values = all_settings(db)
    values["_models_dir_default"] = str(root / "models")
    values["_contacts"] = contacts(db)  # the privacy list: every address it may contact
    return values


def save_values(db: Database, changes: dict[str, Any]) -> None:
    """Check and store every change in one transaction: one refused value stores nothing."""
    with db.atomic():
        for key, value in changes.items():
            set_setting(db, key, value)


class Editor:
    """One setting's field: the widget the form shows, and its value as the setting's type."""

    def __init__(self, setting: Setting, widget: QWidget, field: QWidget | None = None) -> None:
        self.setting = setting
        self.widget = widget  # what the form lays out (may hold a button beside the field)
        self.field = field or widget  # what takes the value and the focus

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError


class LineEditor(Editor):
    field: QLineEdit

    def value(self) -> Any:
        return self.field.text().strip() or None

    def set_value(self, value: Any) -> None:
        self.field.setText("" if value is None else str(value))
        self.field.setCursorPosition(0)


class NumberEditor(Editor):
    """A spin box; a setting that may be automatic shows "Automatic" one below its minimum."""

    field: QSpinBox

    def value(self) -> Any:
        number = self.field.value()
        if self.setting.automatic and number == self.field.minimum():
            return None
        return number

    def set_value(self, value: Any) -> None:
        self.field.setValue(self.field.minimum() if value is None else int(value))


class ChoiceEditor(Editor):
    field: QComboBox

    def value(self) -> Any:
        return self.field.currentData()

    def set_value(self, value: Any) -> None:
        self.field.setCurrentIndex(max(0, self.field.findData(value)))


class FlagEditor(Editor):
    field: QCheckBox

    def value(self) -> Any:
        return self.field.isChecked()

    def set_value(self, value: Any) -> None:
        self.field.setChecked(bool(value))


class GpuLayersEditor(Editor):
    """auto, all, 0, or a number typed in."""

    field: QComboBox
    CHOICES = (("auto", "Automatic"), ("all", "Whole model"), ("0", "Processor only"))

    def value(self) -> Any:
        text = self.field.currentText().strip()
        for value, label in self.CHOICES:
            if text == label:
                return int(value) if value.isdigit() else value
        return text or "auto"

    def set_value(self, value: Any) -> None:
        for choice, label in self.CHOICES:
            if str(value) == choice:
                self.field.setCurrentText(label)
                return
        self.field.setCurrentText(str(value))


class TokenEditor(Editor):
    """Typed text replaces the token; "Forget" removes it; empty keeps what is stored."""

    field: QLineEdit
    KEEP = object()

    def __init__(self, setting: Setting, widget: QWidget, field: QLineEdit,
                 forget: QCheckBox) -> None:
        super().__init__(setting, widget, field)
        self.forget = forget

    def value(self) -> Any:
        if self.forget.isChecked():
            return None
        return self.field.text().strip() or self.KEEP

    def set_value(self, value: Any) -> None:
        self.field.clear()
        self.field.setPlaceholderText(f"Saved: {mask(value)}" if value else "Not set")


class SettingsDialog(QDialog):
    saved = Signal(dict)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setWindowTitle("Settings")
        self.setMinimumWidth(720)
        self.setMinimumHeight(600)
        self.values: dict[str, Any] = {}
        self.editors: dict[str, Editor] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        body = QHBoxLayout()
        body.setSpacing(16)
        self.groups = QListWidget(self)
        self.groups.setObjectName("SideList")
        self.groups.setAccessibleName("Settings groups")
        self.groups.addItems(list(GROUPS))
        self.groups.setFixedWidth(self.groups.sizeHintForColumn(0) + 40)
        self.pages = QStackedWidget(self)
        self.group_of: dict[str, int] = {}
        for index, group in enumerate(GROUPS):
            self.pages.addWidget(self._scrolled(self._page(index, group)))
        self.groups.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.groups.setCurrentRow(0)
        body.addWidget(self.groups)
        body.addWidget(self.pages, 1)

        self.error = Label(self)
        self.error.setObjectName("ErrorText")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setObjectName("Primary")
        self.save_button.setEnabled(False)
        layout.addLayout(body, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.loaded = False
        services.ops.run("db", load_values, services.workspace.root, name="load settings",
                         success=self._fill, failure=self._show_error)

    # building ---------------------------------------------------------------------------

    def _scrolled(self, page: QWidget) -> QScrollArea:
        """A group scrolls when its settings are taller than the dialog: squeezed into the
        height instead, each help text was cut mid-line."""
        area = QScrollArea(self)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setWidgetResizable(True)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setWidget(page)
        return area

    def _page(self, index: int, group: str) -> QWidget:
        """One group: each setting as its label, its field, and its help in plain words."""
        page = QWidget(self)
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        heading = Label(group, page)
        heading.setObjectName("SubHeading")
        column.addWidget(heading)
        column.addSpacing(6)
        if group == GROUPS[0]:
            self._data_folder_block(page, column)
        for setting in DEFINITIONS:
            if setting.group != group:
                continue
            editor = self._editor(setting, page)
            self.editors[setting.key] = editor
            self.group_of[setting.key] = index
            tip = setting.help
            if isinstance(setting, GpuLayersSetting) and not gpu_offload_supported():
                tip += (" This copy of Workbench has no graphics card support: the processor "
                        "runs models.")
            editor.field.setToolTip(tip)
            editor.field.setAccessibleName(setting.label)
            editor.field.setAccessibleDescription(tip)
            self._block(page, column, setting.label, editor, tip)
        if group == PRIVACY_GROUP:
            title = Label("Addresses Workbench may contact", page)
            title.setObjectName("Role")
            column.addWidget(title)
            self.contacts = Label("", page)
            self.contacts.setWordWrap(True)
            self.contacts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.contacts.setAccessibleName("Addresses Workbench may contact")
            column.addWidget(self.contacts)
        if group == PRIVACY_GROUP:
            from ui.views.workers_panel import WorkersPanel

            self.workers_panel = WorkersPanel(self.services, page)
            self._block(page, column, "Workers", None,
                        "Other computers running 'llm-workbench worker' that a model can be "
                        "split across (a model's Workers setting chooses them). llama.cpp's "
                        "RPC has no password and no encryption: use workers only on a private "
                        "network, or through an SSH tunnel.", self.workers_panel)
        column.addStretch(1)
        return page

    def _block(self, page: QWidget, column: QVBoxLayout, label: str, editor: Editor | None,
               tip: str, widget: QWidget | None = None) -> None:
        shown = widget if widget is not None else editor.widget if editor else None
        assert shown is not None
        if not isinstance(editor, FlagEditor):  # a check box carries its own label
            title = Label(label, page)
            title.setObjectName("Role")
            title.setBuddy(editor.field if editor else shown)
            column.addWidget(title)
        if isinstance(shown, (QSpinBox, QComboBox)):
            shown.setMaximumWidth(300)
        column.addWidget(shown)
        column.addWidget(self._description(tip, page))
        column.addSpacing(8)

    def _description(self, text: str, parent: QWidget) -> QLabel:
        label = Label(text, parent)
        label.setObjectName("Muted")
        label.setWordWrap(True)
        return label

    def _data_folder_block(self, page: QWidget, column: QVBoxLayout) -> None:
        root = str(self.services.workspace.root)
        self.data_dir = QLineEdit(root, page)
        self.data_dir.setReadOnly(True)
        self.data_dir.setCursorPosition(0)
        self.data_dir.setToolTip(root)
        self.data_dir.setAccessibleName("Data folder")
        open_data = QPushButton("Open folder", page)
        open_data.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(root)))
        self._block(page, column, "Data folder", None,
                    "Your chats, trials, settings and downloaded models are kept here, on this "
                    "computer only.", self._row(page, self.data_dir, open_data))

    def _row(self, parent: QWidget, *widgets: QWidget) -> QWidget:
        holder = QWidget(parent)
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        for index, widget in enumerate(widgets):
            row.addWidget(widget, 1 if index == 0 else 0)
        return holder

    def _editor(self, setting: Setting, page: QWidget) -> Editor:
        if isinstance(setting, FolderSetting):
            line = QLineEdit(page)
            choose = QPushButton("Choose…", page)
            choose.clicked.connect(lambda: self._choose_folder(line, setting.label))
            return LineEditor(setting, self._row(page, line, choose), line)
        if isinstance(setting, IntegerSetting):
            spin = QSpinBox(page)
            low = setting.minimum - 1 if setting.automatic else setting.minimum
            spin.setRange(low, setting.maximum)
            if setting.automatic:
                spin.setSpecialValueText("Automatic")
            spin.setSuffix(setting.unit)
            spin.setSingleStep(1024 if setting.maximum > 100_000 else 1)
            spin.setGroupSeparatorShown(True)
            return NumberEditor(setting, spin)
        if isinstance(setting, ChoiceSetting):
            combo = QComboBox(page)
            for value, label in setting.choices:
                combo.addItem(label, value)
            return ChoiceEditor(setting, combo)
        if isinstance(setting, FlagSetting):
            return FlagEditor(setting, QCheckBox(setting.label, page))
        if isinstance(setting, GpuLayersSetting):
            combo = QComboBox(page)
            combo.setEditable(True)
            combo.addItems([label for _, label in GpuLayersEditor.CHOICES])
            return GpuLayersEditor(setting, combo)
        if isinstance(setting, TokenSetting):
            line = QLineEdit(page)
            line.setEchoMode(QLineEdit.EchoMode.Password)
            forget = QCheckBox("Forget", page)
            forget.setAccessibleName(f"Forget the {setting.label}")
            return TokenEditor(setting, self._row(page, line, forget), line, forget)
        if isinstance(setting, UrlSetting):
            line = QLineEdit(page)
            line.setPlaceholderText("https://huggingface.co")
            return LineEditor(setting, line)
        if isinstance(setting, NameListSetting):
            line = QLineEdit(page)
            line.setPlaceholderText("http://localhost:3000" if setting.kind == "origin"
                                    else "mybox.local")
            return LineEditor(setting, line)
        raise TypeError(f"no field for setting {setting.key}")  # a new kind needs one here

    def _choose_folder(self, line: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, line.text() or "")
        if folder:
            line.setText(folder)

    # values -----------------------------------------------------------------------------

    def editor(self, key: str) -> Editor:
        return self.editors[key]

    def show_group(self, group: str) -> None:
        self.groups.setCurrentRow(GROUPS.index(group))

    def _fill(self, values: dict[str, Any]) -> None:
        self.values = values
        models_dir = self.editors["models_dir"].field
        assert isinstance(models_dir, QLineEdit)
        models_dir.setPlaceholderText(values["_models_dir_default"])
        for key, editor in self.editors.items():
            editor.set_value(values[key])
        self.contacts.setText("\n".join(f"{c['address']}: {c['when']}"
                                         for c in values["_contacts"]))
        self.save_button.setEnabled(True)
        self.loaded = True

    def changes(self) -> dict[str, Any]:
        """What the form says, as settings keys and values (the token only when typed)."""
        changes = {key: editor.value() for key, editor in self.editors.items()}
        return {k: v for k, v in changes.items() if v is not TokenEditor.KEEP}

    def save(self) -> None:
        changes = self.changes()
        self.save_button.setEnabled(False)
        self.error.hide()
        self.services.ops.run("db", save_values, changes, name="save settings",
                              changes={"settings"},
                              success=lambda _: self._saved(changes),
                              failure=self._show_error)

    def _saved(self, changes: dict[str, Any]) -> None:
        self.saved.emit(changes)
        self.accept()

    def _show_error(self, message: str) -> None:
        """The core's one line; a refused setting is named by its label, and shown."""
        for key, setting in SETTINGS.items():
            prefix = f"setting '{key}': "
            if message.startswith(prefix):
                message = f"{setting.label}: {message[len(prefix):]}"
                self.groups.setCurrentRow(self.group_of[key])
                self.editors[key].field.setFocus()
                break
        self.error.setText(message)
        self.error.show()
        self.save_button.setEnabled(self.loaded)

