"""The chat's side panel: system prompt and sampling, with every value visible and editable.

A preset (precise, balanced, creative) fills the fields; changing a field makes the preset
"custom". What the fields show is exactly what the next reply uses. "Structured output" is
apart from the preset: Off, any JSON, or a JSON schema file (read and checked by the page on
a worker, then held here as the schema's text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QPlainTextEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.plain_label import Label
from ui.widgets.structured_output import ANY, FILE, OFF, StructuredOutputCombo
from workbench.engine import PRESETS, SamplingSettings
from workbench.engine.settings import ANY_JSON

CUSTOM = "custom"


class SamplingPanel(QFrame):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Panel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(8)

        heading = Label("System prompt", self)
        heading.setObjectName("SubHeading")
        self.system_prompt = QPlainTextEdit(self)
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setPlaceholderText("Optional: how the model should behave")
        self.system_prompt.setFixedHeight(96)
        layout.addWidget(heading)
        layout.addWidget(self.system_prompt)

        sampling = Label("Sampling", self)
        sampling.setObjectName("SubHeading")
        layout.addSpacing(6)
        layout.addWidget(sampling)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        self.preset = QComboBox(self)
        self.preset.setAccessibleName("Sampling preset")
        for name in PRESETS:
            self.preset.addItem(name.capitalize(), name)
        self.preset.addItem("Custom", CUSTOM)
        self.temperature = self._double(0.0, 2.0, 0.05, "Temperature")
        self.top_p = self._double(0.0, 1.0, 0.01, "Top p")
        self.top_k = self._int(0, 1000, "Top k")
        self.max_tokens = self._int(1, 32768, "Max tokens")
        self.seed = self._int(-1, 2**31 - 1, "Seed")
        self.seed.setSpecialValueText("Random")
        form.addRow("Preset", self.preset)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top p", self.top_p)
        form.addRow("Top k", self.top_k)
        form.addRow("Max tokens", self.max_tokens)
        form.addRow("Seed", self.seed)
        layout.addLayout(form)
        hint = Label("Lower temperature: more focused answers. A fixed seed repeats a reply.",
                      self)
        hint.setObjectName("Muted")
        hint.setWordWrap(True)
        layout.addWidget(hint)

        structured = Label("Structured output", self)
        structured.setObjectName("SubHeading")
        layout.addSpacing(6)
        layout.addWidget(structured)
        self.structured = StructuredOutputCombo(self)
        layout.addWidget(self.structured)
        self.structured_hint = Label(self)
        self.structured_hint.setObjectName("Muted")
        self.structured_hint.setWordWrap(True)
        layout.addWidget(self.structured_hint)
        layout.addStretch(1)
        #: The chosen schema file's canonical text, once the page has read and checked it.
        self.schema_text: str | None = None
        self.structured.choice_changed.connect(self._structured_changed)
        self.structured.file_chosen.connect(self._file_chosen)
        self._structured_changed()

        self._filling = False
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        for box in (self.temperature, self.top_p, self.top_k, self.max_tokens, self.seed):
            box.valueChanged.connect(self._edited)
        self.set_preset("balanced")

    def scroll_area(self, parent: QWidget) -> QScrollArea:
        """The panel in a scroll area of its own: with the Documents and Tools sections it
        is taller than a 1280x800 window, and a section must scroll, never be squeezed."""
        area = QScrollArea(parent)
        area.setObjectName("PanelScroll")
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setWidget(self)
        return area

    def _double(self, low: float, high: float, step: float, name: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox(self)
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setAccessibleName(name)
        return box

    def _int(self, low: int, high: int, name: str) -> QSpinBox:
        box = QSpinBox(self)
        box.setRange(low, high)
        box.setAccessibleName(name)
        return box

    def set_preset(self, name: str) -> None:
        index = self.preset.findData(name if name in PRESETS else "balanced")
        self.preset.setCurrentIndex(index)
        self._preset_chosen()

    def _preset_chosen(self) -> None:
        name = self.preset.currentData()
        if name in PRESETS:
            self.set_values(PRESETS[name].to_dict(), preset=name)

    def set_values(self, values: dict[str, Any], preset: str | None = None) -> None:
        """Fill the fields (from a preset, or a model's own defaults on top of them)."""
        defaults = SamplingSettings().to_dict()
        merged = {**defaults, **{k: v for k, v in values.items() if v is not None}}
        self._filling = True
        try:
            self.temperature.setValue(float(merged["temperature"]))
            self.top_p.setValue(float(merged["top_p"]))
            self.top_k.setValue(int(merged["top_k"]))
            self.max_tokens.setValue(int(merged["max_tokens"] or 512))
            self.seed.setValue(-1 if values.get("seed") is None else int(values["seed"]))
            if preset is not None:
                self.preset.setCurrentIndex(self.preset.findData(preset))
        finally:
            self._filling = False
        self.changed.emit()

    def _edited(self) -> None:
        if self._filling:
            return
        name = self.preset.currentData()
        if name in PRESETS and self._values_differ(PRESETS[name]):
            self._filling = True
            self.preset.setCurrentIndex(self.preset.findData(CUSTOM))
            self._filling = False
        self.changed.emit()

    def _values_differ(self, preset: SamplingSettings) -> bool:
        return (abs(self.temperature.value() - preset.temperature) > 1e-9
                or abs(self.top_p.value() - preset.top_p) > 1e-9
                or self.top_k.value() != preset.top_k
                or self.max_tokens.value() != (preset.max_tokens or 512)
                or self.seed.value() != -1)

    def overrides(self) -> dict[str, Any]:
        """The sampling the next reply uses; the preset's other values (min_p, repeat
        penalty) come with it."""
        name = self.preset.currentData()
        base = PRESETS.get(name, PRESETS["balanced"]) if name != CUSTOM else None
        values: dict[str, Any] = base.to_dict() if base else {}
        values.pop("template", None)
        values.update(
            temperature=round(self.temperature.value(), 4),
            top_p=round(self.top_p.value(), 4),
            top_k=self.top_k.value(),
            max_tokens=self.max_tokens.value(),
            seed=None if self.seed.value() < 0 else self.seed.value(),
            json_schema=self.json_schema(),
        )
        return values

    def _file_chosen(self, _path: str) -> None:
        self.schema_text = None  # until the page has read this one
        self._structured_changed()

    def set_schema(self, path: str, text: str) -> None:
        """The page read ``path`` and llama.cpp accepts it: replies follow ``text`` now."""
        if self.structured.path == path:
            self.schema_text = text
        self._structured_changed()

    def schema_failed(self) -> None:
        """The chosen file could not be used (the page shows why): back to Off."""
        self.schema_text = None
        self.structured.set_mode(OFF)

    def _structured_changed(self) -> None:
        mode = self.structured.mode()
        if mode == ANY:
            text = "Replies are valid JSON."
        elif mode == FILE and self.schema_text is None:
            text = "Reading the schema…"
        elif mode == FILE:
            text = f"Replies follow {Path(self.structured.path or '').name}."
        else:
            text = "Replies are free text."
        self.structured_hint.setText(text)
        self.changed.emit()

    def json_schema(self) -> str | None:
        """What the next reply is constrained to: None (free text), any JSON, or the schema."""
        mode = self.structured.mode()
        if mode == ANY:
            return ANY_JSON
        return self.schema_text if mode == FILE else None

    def system_text(self) -> str:
        return self.system_prompt.toPlainText().strip()
