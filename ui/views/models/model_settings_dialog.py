"""Per-model defaults: how this model loads (context, GPU layers, threads, template) and how
it samples unless a chat says otherwise.

The keys written are exactly the field names of :class:`~workbench.engine.LoadSettings` and
:class:`~workbench.engine.SamplingSettings`, because :func:`workbench.model_settings.
resolve_settings` reads them by those names. A field left at "Default" is not written at all, so
the global setting keeps governing it (and a later change of the global setting still applies).
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.views.models.widgets import muted
from workbench.engine import PRESETS, SamplingSettings
from workbench.engine.templates import family_names
from workbench.library import Model

LOAD_FIELDS = ("n_ctx", "gpu_layers", "n_threads", "template", "workers", "split")
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "max_tokens", "seed")
MANAGED_KEYS = frozenset(LOAD_FIELDS + SAMPLING_FIELDS)
"""The keys this dialog owns; any other per-model key is kept as it was."""

_GPU_CHOICES = (("Default", None), ("Auto", "auto"), ("All layers", "all"), ("Number", "n"))


def _spin(low: int, high: int, special: str | None = None, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    if special:
        box.setSpecialValueText(special)
    return box


def _double(low: float, high: float, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(2)
    return box


class ModelSettingsDialog(QDialog):
    """Edit one model's settings; :meth:`values` is what gets saved (None: use the default)."""

    def __init__(self, model: Model, app_settings: dict[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Settings for {model.name}")
        self.setMinimumWidth(460)
        app = app_settings or {}
        own = model.settings
        max_ctx = model.context_length or 131072

        default_ctx = min(int(app.get("context_length") or 4096), max_ctx)
        self.n_ctx = _spin(0, max_ctx, f"Default ({default_ctx:,})", step=1024)
        self.n_ctx.setToolTip(f"Tokens the model can see at once; this file allows up to "
                              f"{max_ctx:,}. More context needs more memory.")
        self.n_ctx.setValue(int(own.get("n_ctx") or 0))

        self.gpu_mode = QComboBox()
        for label, value in _GPU_CHOICES:
            self.gpu_mode.addItem(label, value)
        self.gpu_count = _spin(0, 999)
        self.gpu_count.setSuffix(" layers")
        gpu = own.get("gpu_layers")
        if isinstance(gpu, int) or (isinstance(gpu, str) and gpu.isdigit()):
            self.gpu_mode.setCurrentIndex(3)
            self.gpu_count.setValue(int(gpu))
        elif gpu in ("auto", "all"):
            self.gpu_mode.setCurrentIndex(1 if gpu == "auto" else 2)
        self.gpu_mode.currentIndexChanged.connect(self._gpu_mode_changed)
        self._gpu_mode_changed()
        gpu_row = QHBoxLayout()
        gpu_row.addWidget(self.gpu_mode, 1)
        gpu_row.addWidget(self.gpu_count)

        self.n_threads = _spin(0, max(os.cpu_count() or 1, 1) * 2, "Auto")
        self.n_threads.setValue(int(own.get("n_threads") or 0))

        self.template = QComboBox()
        self.template.addItem(f"Auto ({model.template_note})", None)
        if not model.has_chat_template:
            self.template.setToolTip("The file carries no chat template: Auto picks a family "
                                     "from the model's name and vocabulary. Choose one here "
                                     "if the replies look wrong.")
        for family in family_names():
            self.template.addItem(family, family)
        chosen = own.get("template")
        if chosen and chosen != "auto":
            index = self.template.findData(chosen)
            if index >= 0:
                self.template.setCurrentIndex(index)

        self.workers = QLineEdit(str(own.get("workers") or ""))
        self.workers.setPlaceholderText("none: this computer only")
        self.workers.setToolTip("Split the model across this computer and workers (Settings > "
                                "Workers): all, or addresses such as 192.168.1.20:50052, "
                                "separated by commas.")

        self.split = QLineEdit("" if own.get("split") in (None, "auto") else str(own["split"]))
        self.split.setPlaceholderText("auto: by free memory")
        self.split.setAccessibleName("Split")
        self.split.setToolTip("How the layers are split across this computer and the workers: "
                              "auto (by free memory, some here), workers (every layer on the "
                              "workers, as llama-server --rpc does), or proportions such as "
                              "1,2,2 (this computer first, then each worker in order).")

        load_box = QGroupBox("Loading")
        load_form = QFormLayout(load_box)
        load_form.addRow("Context length", self.n_ctx)
        load_form.addRow("GPU offload", gpu_row)
        load_form.addRow("CPU threads", self.n_threads)
        load_form.addRow("Chat template", self.template)
        load_form.addRow("Workers", self.workers)
        load_form.addRow("Split", self.split)

        preset = PRESETS.get(str(app.get("sampling_preset")), SamplingSettings())
        self.temperature = _double(0.0, 2.0, 0.05)
        self.top_p = _double(0.0, 1.0, 0.01)
        self.top_k = _spin(0, 1000)
        self.max_tokens = _spin(1, 131072, step=128)
        self.seed = _spin(-1, 2**31 - 1, "Random")
        self.temperature.setValue(float(own.get("temperature", preset.temperature)))
        self.top_p.setValue(float(own.get("top_p", preset.top_p)))
        self.top_k.setValue(int(own.get("top_k", preset.top_k)))
        self.max_tokens.setValue(int(own.get("max_tokens") or preset.max_tokens or 512))
        seed = own.get("seed")
        self.seed.setValue(-1 if seed is None else int(seed))

        self.sampling_box = QGroupBox("Own default sampling")
        self.sampling_box.setCheckable(True)
        self.sampling_box.setChecked(any(key in own for key in SAMPLING_FIELDS))
        sampling_form = QFormLayout(self.sampling_box)
        sampling_form.addRow("Temperature", self.temperature)
        sampling_form.addRow("Top p", self.top_p)
        sampling_form.addRow("Top k", self.top_k)
        sampling_form.addRow("Max tokens", self.max_tokens)
        sampling_form.addRow("Seed", self.seed)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.setText("Restore defaults")  # sentence case, like every other button
        restore.clicked.connect(self.restore_defaults)

        layout = QVBoxLayout(self)
        layout.addWidget(muted("Used whenever this model is loaded. “Default” follows the "
                               "global settings; a chat can still override sampling."))
        layout.addWidget(load_box)
        layout.addWidget(self.sampling_box)
        layout.addWidget(buttons)

    def _gpu_mode_changed(self) -> None:
        self.gpu_count.setEnabled(self.gpu_mode.currentData() == "n")

    def restore_defaults(self) -> None:
        self.n_ctx.setValue(0)
        self.gpu_mode.setCurrentIndex(0)
        self.n_threads.setValue(0)
        self.template.setCurrentIndex(0)
        self.workers.clear()
        self.split.clear()
        self.sampling_box.setChecked(False)

    def values(self) -> dict[str, Any]:
        """Every managed key; None means "not set for this model"."""
        mode = self.gpu_mode.currentData()
        values: dict[str, Any] = {
            "n_ctx": self.n_ctx.value() or None,
            "gpu_layers": self.gpu_count.value() if mode == "n" else mode,
            "n_threads": self.n_threads.value() or None,
            "template": self.template.currentData(),
            "workers": self.workers.text().strip() or None,
            "split": self.split.text().strip() or None,
        }
        sampling = self.sampling_box.isChecked()
        values.update({
            "temperature": round(self.temperature.value(), 2) if sampling else None,
            "top_p": round(self.top_p.value(), 2) if sampling else None,
            "top_k": self.top_k.value() if sampling else None,
            "max_tokens": self.max_tokens.value() if sampling else None,
            "seed": (self.seed.value() if self.seed.value() >= 0 else None) if sampling else None,
        })
        return values
