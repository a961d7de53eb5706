"""Settings: folders, threads, GPU offload, context, offline mode, the Hub, the theme.

Values are read and written through :mod:`workbench.settings` on the "db" worker. The Hub
token is never shown: the field is a password field that stays empty, and its placeholder
shows the masked value; leaving it empty keeps the stored token.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.services import Services
from workbench.engine import PRESETS, gpu_offload_supported, parse_gpu_layers
from workbench.settings import all_settings, mask, set_setting

THEMES = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))


def load_values(services: Services) -> dict[str, Any]:
    values = all_settings(services.db())
    values["_models_dir_default"] = str(services.workspace.root / "models")
    return values


def save_values(services: Services, changes: dict[str, Any]) -> None:
    db = services.db()
    if "gpu_layers" in changes:
        parse_gpu_layers(changes["gpu_layers"])  # a readable error before anything is saved
    with db.atomic():
        for key, value in changes.items():
            set_setting(db, key, value)


class SettingsDialog(QDialog):
    saved = Signal(dict)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.values: dict[str, Any] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 14)
        form = QFormLayout()
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(10)

        self.data_dir = QLineEdit(str(services.workspace.root), self)
        self.data_dir.setReadOnly(True)
        self.data_dir.setCursorPosition(0)
        self.data_dir.setToolTip(str(services.workspace.root))
        self.data_dir.setAccessibleName("Data folder")
        open_data = QPushButton("Open folder", self)
        open_data.clicked.connect(lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(services.workspace.root))))
        form.addRow("Data folder", self._row(self.data_dir, open_data))

        self.models_dir = QLineEdit(self)
        self.models_dir.setAccessibleName("Models folder")
        choose = QPushButton("Choose…", self)
        choose.clicked.connect(self._choose_models_dir)
        form.addRow("Models folder", self._row(self.models_dir, choose))

        self.threads = QSpinBox(self)
        self.threads.setRange(0, max(64, (os.cpu_count() or 4) * 2))
        self.threads.setSpecialValueText("Automatic")
        self.threads.setAccessibleName("Threads")
        form.addRow("Threads", self.threads)

        self.gpu_layers = QComboBox(self)
        self.gpu_layers.setEditable(True)
        self.gpu_layers.addItems(["auto", "all", "0"])
        self.gpu_layers.setAccessibleName("Default GPU offload")
        gpu_note = ("" if gpu_offload_supported()
                    else "This build has no GPU backend: the CPU runs models.")
        self.gpu_layers.setToolTip("Layers on the GPU: auto, all, or a number. " + gpu_note)
        form.addRow("GPU offload", self.gpu_layers)

        self.context = QSpinBox(self)
        self.context.setRange(512, 262144)
        self.context.setSingleStep(1024)
        self.context.setSuffix(" tokens")
        self.context.setAccessibleName("Default context length")
        form.addRow("Context length", self.context)

        self.preset = QComboBox(self)
        for name in PRESETS:
            self.preset.addItem(name.capitalize(), name)
        self.preset.setAccessibleName("Default sampling preset")
        form.addRow("Default preset", self.preset)

        self.offline = QCheckBox("Never connect to the network", self)
        self.offline.setAccessibleName("Offline mode")
        form.addRow("Offline mode", self.offline)

        self.endpoint = QLineEdit(self)
        self.endpoint.setPlaceholderText("https://huggingface.co")
        self.endpoint.setAccessibleName("Hub endpoint")
        form.addRow("Hub endpoint", self.endpoint)

        self.token = QLineEdit(self)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setAccessibleName("Hub token")
        self.clear_token = QCheckBox("Forget", self)
        form.addRow("Hub token", self._row(self.token, self.clear_token))
        token_note = QLabel("Stored only on this computer, in the data folder.", self)
        token_note.setObjectName("Muted")
        form.addRow("", token_note)

        self.theme = QComboBox(self)
        for value, label in THEMES:
            self.theme.addItem(label, value)
        self.theme.setAccessibleName("Theme")
        form.addRow("Theme", self.theme)

        self.error = QLabel(self)
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
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.loaded = False
        services.ops.run("db", lambda: load_values(services), name="load settings",
                         success=self._fill, failure=self._show_error)

    def _row(self, *widgets: QWidget) -> QWidget:
        holder = QWidget(self)
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        for index, widget in enumerate(widgets):
            row.addWidget(widget, 1 if index == 0 else 0)
        return holder

    def _choose_models_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Models folder",
                                                  self.models_dir.text() or "")
        if folder:
            self.models_dir.setText(folder)

    def _fill(self, values: dict[str, Any]) -> None:
        self.values = values
        self.models_dir.setPlaceholderText(values["_models_dir_default"])
        self.models_dir.setText(values["models_dir"] or "")
        self.threads.setValue(int(values["threads"] or 0))
        self.gpu_layers.setCurrentText(str(values["gpu_layers"]))
        self.context.setValue(int(values["context_length"]))
        self.preset.setCurrentIndex(max(0, self.preset.findData(values["sampling_preset"])))
        self.offline.setChecked(bool(values["offline"]))
        self.endpoint.setText(values["hub_endpoint"] or "")
        token = values["hub_token"]
        self.token.setPlaceholderText(f"Saved: {mask(token)}" if token else "Not set")
        self.theme.setCurrentIndex(max(0, self.theme.findData(values["theme"])))
        self.save_button.setEnabled(True)
        self.loaded = True

    def changes(self) -> dict[str, Any]:
        """What the form says, as settings keys and values (the token only when typed)."""
        changes: dict[str, Any] = {
            "models_dir": self.models_dir.text().strip() or None,
            "threads": self.threads.value() or None,
            "gpu_layers": self.gpu_layers.currentText().strip() or "auto",
            "context_length": self.context.value(),
            "sampling_preset": self.preset.currentData(),
            "offline": self.offline.isChecked(),
            "hub_endpoint": self.endpoint.text().strip() or None,
            "theme": self.theme.currentData(),
        }
        if self.clear_token.isChecked():
            changes["hub_token"] = None
        elif self.token.text().strip():
            changes["hub_token"] = self.token.text().strip()
        return changes

    def save(self) -> None:
        changes = self.changes()
        self.save_button.setEnabled(False)
        self.services.ops.run("db", lambda: save_values(self.services, changes),
                              name="save settings",
                              success=lambda _: self._saved(changes),
                              failure=self._show_error)

    def _saved(self, changes: dict[str, Any]) -> None:
        self.saved.emit(changes)
        self.services.events.settings_changed.emit()
        self.accept()

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.save_button.setEnabled(self.loaded)
