"""The check editor's fields for a tool check: the tool (picked from the prompt's tools, or
typed), the argument values expected (JSON, optional), or a JSON Schema they must match.

They make the objects the README's tool checks show (``{"tool_call": {"name":
"get_weather", "arguments": {"city": "Paris"}}}``); the core
(:func:`workbench.trials.checks.normalize_check`, then the prompt's own tools) refuses what
is wrong in its one line.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError

#: The tool checks, as the type picker offers them.
TOOL_CHECK_TYPES = ("tool_call", "no_tool_call", "valid_arguments")


class ToolCallFields(QWidget):
    """The tool's name and the arguments expected of its call."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = QComboBox()
        self.name.setEditable(True)
        self.name.setAccessibleName("Tool")
        self.name.setToolTip("The tool the model must call (the prompt's tools are listed)")
        self.name.setMinimumContentsLength(10)
        self.name.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        line = self.name.lineEdit()
        if line is not None:
            line.setPlaceholderText("tool, e.g. get_weather")
        self.arguments = QLineEdit()
        self.arguments.setAccessibleName("Expected arguments")
        self.arguments.setPlaceholderText('arguments, e.g. {"city": "Paris"} (optional)')
        self.arguments.setToolTip("The argument values the call must have, as a JSON object; "
                                  "arguments left out are free")
        self.as_schema = QCheckBox("as a schema")
        self.as_schema.setToolTip("The arguments must match this JSON Schema instead of "
                                  "having these exact values")
        top = QHBoxLayout()  # the arguments get a line of their own: JSON needs the width
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.name, 1)
        top.addWidget(self.as_schema)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.arguments)

    def set_tools(self, names: list[str]) -> None:
        typed = self.name.currentText()
        self.name.clear()
        self.name.addItems(names)
        self.name.setCurrentText(typed if typed in names or not names else names[0])

    def value(self) -> dict[str, Any]:
        """The expected call, or one line (:class:`WorkbenchError`) saying what is missing."""
        name = self.name.currentText().strip()
        if not name:
            raise WorkbenchError("“Calls the tool” needs the tool's name.")
        value: dict[str, Any] = {"name": name}
        text = self.arguments.text().strip()
        if text:
            try:
                arguments = json.loads(text)
            except ValueError as error:
                raise WorkbenchError(f"The arguments are not JSON ({error}).") from None
            value["arguments_schema" if self.as_schema.isChecked() else "arguments"] = arguments
        return value

    def clear(self) -> None:
        self.arguments.clear()
        self.as_schema.setChecked(False)


def describe_tool_check(kind: str, value: Any) -> str:
    """A tool check in words, as the check list shows it."""
    if kind == "no_tool_call":
        return "Calls no tool"
    if kind == "valid_arguments":
        return "Every tool call has valid arguments"
    expected = value if isinstance(value, list) else [value]
    return "Calls " + " and ".join(_call_words(e) for e in expected)


def _call_words(expected: Any) -> str:
    if isinstance(expected, str):
        return expected
    if not isinstance(expected, dict):
        return json.dumps(expected)
    words = str(expected.get("name"))
    arguments = expected.get("arguments")
    if arguments:
        words += " with " + ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}"
                                      for k, v in arguments.items())
    if expected.get("arguments_schema") is not None:
        words += " (arguments matching a schema)"
    return words
