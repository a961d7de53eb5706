"""The Trials page's check editor: what a good answer must do, picked from a list, no JSON.

A type picker (contains, does not contain, matches a pattern, valid JSON, matches a schema
file, exact, at most N tokens, within N ms, does not repeat the prompt, graded by a judge model,
calls a tool, calls no tool, tool calls are valid; over documents, cites an expected source and
grounded in the passages, judged by a model) with the fields each type needs (a judge: its
rubric, the model picked from the library, the pass score and the scale; a tool call: the tool,
from the prompt's tools, and the arguments expected: :mod:`.tool_check_fields`). The editor
produces the very JSON objects the README's checks table documents (``{"contains":
"Paris"}``, ``{"type": "json"}``, ``{"max_latency_ms": 2000}``...), and the core
(:func:`workbench.trials.checks.normalize_check`) validates each when it is added, so a bad
pattern or schema is refused at once with the core's own one-line reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.views.trials.tool_check_fields import (
    TOOL_CHECK_TYPES,
    ToolCallFields,
    describe_tool_check,
)
from ui.widgets.plain_label import Label
from workbench.engine.tools import tool_names
from workbench.errors import WorkbenchError
from workbench.trials.checks import ALIASES, CHECK_TYPES, JUDGE_SCALES, normalize_check
from workbench.trials.tool_prompts import tool_fields
from workbench.units import human_ms

#: A schema file bigger than this is refused (it is read on the GUI thread when chosen).
MAX_SCHEMA_BYTES = 1_000_000


@dataclass(frozen=True)
class CheckKind:
    """One entry of the type picker: the core's type and the field it needs."""

    type: str
    label: str
    field: str  # "text", "number", "schema", "judge", "grounded", "tool" or "none"
    hint: str
    example: str = ""  # the text field's placeholder
    unit: str = ""
    case: bool = False  # offers "ignore case"
    default: int = 0  # the number field's first value


KINDS = (
    CheckKind("contains", "Contains the text", "text", "Passes when the reply contains this "
              "text", example="e.g. Paris", case=True),
    CheckKind("not_contains", "Does not contain", "text", "Passes when the reply does not "
              "contain this text", example="e.g. As an AI", case=True),
    CheckKind("regex", "Matches a pattern (regex)", "text", "A regular expression found "
              "anywhere in the reply", example="e.g. \\b\\d{4}\\b", case=True),
    CheckKind("json", "Is valid JSON", "none", "The reply (or a ```json block in it) parses "
              "as JSON"),
    CheckKind("json_schema", "Matches a JSON schema file", "schema", "The reply's JSON "
              "matches the schema in a .json file"),
    CheckKind("exact", "Equals exactly", "text", "The whole reply, trimmed; leave empty to "
              "use the prompt's reference answer", example="empty: the reference answer",
              case=True),
    CheckKind("max_tokens", "At most N tokens", "number", "The reply is at most this many "
              "tokens long", unit=" tokens", default=64),
    CheckKind("max_latency_ms", "Answers within", "number", "The whole reply took at most this "
              "long", unit=" ms", default=2000),
    CheckKind("no_echo", "Does not repeat the prompt", "none", "Fails a reply that only "
              "echoes the prompt back"),
    CheckKind("judge", "Graded by a judge model", "judge", "A model from your library grades "
              "the reply against this rubric, after the run; it passes at the score you set",
              example="Rubric, e.g. polite, and names Paris"),
    CheckKind("tool_call", "Calls the tool", "tool", "The model calls this tool (with these "
              "argument values, if given); for a prompt that offers tools"),
    CheckKind("no_tool_call", "Calls no tool", "none", "The model answers without calling "
              "any tool"),
    CheckKind("valid_arguments", "Tool calls are valid", "none", "Every call the model makes "
              "parses, names an offered tool and has arguments its schema accepts"),
    CheckKind("cites", "Cites an expected source", "text", "Over documents: the reply cites "
              "([1]) a passage from one of these sources; leave empty to use the prompt's "
              "sources", example="empty: the prompt's sources, or handbook.pdf#page=12"),
    CheckKind("grounded", "Grounded in the passages (judge)", "grounded", "Over documents: a "
              "model from your library checks that every claim of the reply is supported by "
              "the passages it was given; it passes at the score you set"),
)
BY_TYPE = {kind.type: kind for kind in KINDS}
#: The kinds with no value, written ``{"TYPE": true}`` as the README shows them.
FLAGS = ("no_echo", "no_tool_call", "valid_arguments")


def supported(kind: CheckKind) -> bool:
    """Whether the core knows this check (the no-echo check arrives with its own core change)."""
    return kind.type in CHECK_TYPES


def check_json(kind: CheckKind, value: Any = None, ignore_case: bool = False) -> dict[str, Any]:
    """The documented JSON object for one check (the README's checks table)."""
    if kind.field == "none":
        check: dict[str, Any] = ({kind.type: True} if kind.type in FLAGS
                                 else {"type": kind.type})
    elif kind.type in ("judge", "grounded"):
        check = {kind.type: value}
    elif kind.type == "cites":
        check = {"cites": [s.strip() for s in str(value or "").split(",") if s.strip()]
                 or True}
    elif kind.type == "exact" and not value:
        check = {"type": "exact"}  # the reference answer
    else:
        check = {kind.type: value}
    if ignore_case and kind.case:
        check["ignore_case"] = True
    return check


def parts(check: dict[str, Any]) -> tuple[str, Any, bool]:
    """(type, value, ignore case) of a check in its stored or its short form."""
    if "type" in check:
        kind, value = str(check["type"]), check.get("value")
    else:
        keys = [k for k in check if k != "ignore_case"]
        kind, value = (keys[0], check[keys[0]]) if keys else ("", None)
    kind = ALIASES.get(kind.lower(), kind.lower())
    return kind, value, bool(check.get("ignore_case"))


def describe(check: dict[str, Any]) -> str:
    """A check in words, as the list shows it."""
    kind, value, fold = parts(check)
    case = " (any case)" if fold else ""
    if kind == "contains":
        return f"Contains “{value}”{case}"
    if kind == "not_contains":
        return f"Does not contain “{value}”{case}"
    if kind == "regex":
        return f"Matches /{value}/{case}"
    if kind == "json":
        return "Is valid JSON"
    if kind == "json_schema":
        title = value.get("title") if isinstance(value, dict) else None
        return f"Matches the JSON schema{f' “{title}”' if title else ''}"
    if kind == "exact":
        return f"Equals “{value}”{case}" if value not in (None, True) else (
            "Equals the reference answer" + case)
    if kind == "max_tokens":
        return f"At most {value} tokens"
    if kind == "max_latency_ms":
        return f"Answers within {human_ms(float(value))}"
    if kind == "no_echo":
        return "Does not repeat the prompt"
    if kind in TOOL_CHECK_TYPES:
        return describe_tool_check(kind, value)
    if kind == "judge" and isinstance(value, dict):
        return (f"Judged by {value.get('model')}: “{value.get('rubric')}” (passes at "
                f"{value.get('min_score', 4)}/{value.get('scale', 5)})")
    if kind == "cites":
        named = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        return "Cites " + (", ".join(named) if named else "one of the prompt's sources")
    if kind == "grounded":
        spec = value if isinstance(value, dict) else {"model": value}
        return (f"Grounded in the passages, judged by {spec.get('model')} (passes at "
                f"{spec.get('min_score', 4)}/{spec.get('scale', 5)})")
    return json.dumps(check)


def read_schema(path: str | Path) -> dict[str, Any]:
    """A JSON schema from a small file, or one line saying why not."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_SCHEMA_BYTES:
            raise WorkbenchError(f"{file.name}: too big for a schema (over 1 MB)")
        schema = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise WorkbenchError(f"{file.name}: cannot read it ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WorkbenchError(f"{file.name}: not JSON ({error})") from None
    if not isinstance(schema, dict):
        raise WorkbenchError(f"{file.name}: a schema is a JSON object")
    return schema


class CheckEditor(QWidget):
    """The checks of one prompt: a list in words, and a row to add one."""

    changed = Signal()
    #: A reason was shown under the fields (the page scrolls it into view).
    error_shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reference = ""  # the prompt's reference answer ("Equals" with no text uses it)
        self._schema: dict[str, Any] | None = None
        self.list = QListWidget()
        self.list.setAccessibleName("Checks")
        # three rows; more scroll (the editor must fit a 1024x640 window)
        self.list.setMaximumHeight(self.list.fontMetrics().lineSpacing() * 3 + 12)
        self.list.setWordWrap(True)
        self.list.setToolTip("What a good answer must do. Select one and press Remove to drop "
                             "it.")
        self.kind = QComboBox()
        self.kind.setAccessibleName("Check type")
        self.kind.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.kind.setMinimumContentsLength(14)
        model = self.kind.model()
        for index, kind in enumerate(KINDS):
            self.kind.addItem(kind.label, kind.type)
            self.kind.setItemData(index, kind.hint, Qt.ItemDataRole.ToolTipRole)
            if not supported(kind) and isinstance(model, QStandardItemModel):
                item = model.item(index)
                item.setEnabled(False)
                item.setToolTip("Not available in this version of Workbench")
        self.text = QLineEdit()
        self.text.setAccessibleName("Check text")
        self.number = QSpinBox()
        self.number.setAccessibleName("Check number")
        self.number.setRange(1, 10_000_000)
        self.schema_button = QPushButton("Choose file…")
        self.schema_button.clicked.connect(self.choose_schema)
        self.schema_name = Label("")
        self.schema_name.setTextFormat(Qt.TextFormat.PlainText)
        self.judge_model = QComboBox()
        self.judge_model.setAccessibleName("Judge model")
        self.judge_model.setToolTip("The model that grades the replies (from your library)")
        self.judge_model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.judge_model.setMinimumContentsLength(10)
        self.min_score = QSpinBox()
        self.min_score.setAccessibleName("Pass score")
        self.min_score.setPrefix("pass at ")
        self.min_score.setRange(1, 5)
        self.min_score.setValue(4)
        self.min_score.setToolTip("The lowest grade that passes")
        self.scale = QSpinBox()
        self.scale.setAccessibleName("Scale")
        self.scale.setPrefix("of ")
        self.scale.setRange(JUDGE_SCALES.start, JUDGE_SCALES.stop - 1)
        self.scale.setValue(5)
        self.scale.setToolTip("Grades run from 1 to this")
        self.scale.valueChanged.connect(self.min_score.setMaximum)
        self.tools: str | None = None  # the prompt's tools (JSON text), for the tool checks
        self.tool_fields = ToolCallFields()
        self.ignore_case = QCheckBox("Ignore case")
        self.add_button = QPushButton("Add check")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected check")
        self.add_button.clicked.connect(self.add_current)
        self.remove_button.clicked.connect(self.remove_selected)
        self.text.returnPressed.connect(self.add_current)
        self.error = Label("")
        self.error.setObjectName("ErrorText")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.hide()

        kind_row = QHBoxLayout()
        kind_row.setContentsMargins(0, 0, 0, 0)
        kind_row.addWidget(self.kind, 1)
        kind_row.addWidget(self.ignore_case)
        kind_row.addWidget(self.remove_button)
        value_row = QHBoxLayout()
        value_row.setContentsMargins(0, 0, 0, 0)
        value_row.addWidget(self.text, 1)
        value_row.addWidget(self.number, 1)
        value_row.addWidget(self.schema_button)
        value_row.addWidget(self.schema_name, 1)
        value_row.addWidget(self.tool_fields, 1)
        value_row.addWidget(self.add_button)
        self.judge_row = QWidget()
        judge_row = QHBoxLayout(self.judge_row)
        judge_row.setContentsMargins(0, 0, 0, 0)
        judge_row.addWidget(self.judge_model, 1)
        judge_row.addWidget(self.min_score)
        judge_row.addWidget(self.scale)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.list)
        layout.addLayout(kind_row)
        layout.addLayout(value_row)
        layout.addWidget(self.error)  # under the field it is about
        layout.addWidget(self.judge_row)
        self.kind.currentIndexChanged.connect(lambda _i: self._kind_chosen())
        self.list.currentItemChanged.connect(lambda *_a: self._update_buttons())
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._kind_chosen()
        self._update_buttons()

    # -- reading and writing ----------------------------------------------------------------
    def checks(self) -> list[dict[str, Any]]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.list.count())]

    def set_checks(self, checks: list[dict[str, Any]] | None) -> None:
        self.list.clear()
        for check in checks or []:
            self._append(check)
        self._show_error("")
        self._update_buttons()

    def set_models(self, models: list[tuple[int | str, str]]) -> None:
        """The judge picker's models, (id, name) from the library. A check names its judge by
        name when that name is unique (readable, and survives an export), else by id; an
        endpoint's model by its ``endpoint:NAME/MODEL``."""
        chosen = self.judge_model.currentData()
        counts: dict[str, int] = {}
        for _id, name in models:
            counts[name] = counts.get(name, 0) + 1
        self.judge_model.clear()
        for model_id, name in models:
            ref = model_id if isinstance(model_id, str) else \
                name if counts[name] == 1 else str(model_id)
            self.judge_model.addItem(name if counts[name] == 1 else f"{name} (id {model_id})",
                                     ref)
        index = self.judge_model.findData(chosen)
        if index >= 0:
            self.judge_model.setCurrentIndex(index)

    def set_tools(self, tools: str | None) -> None:
        """The tools of the prompt being edited (JSON text; None: it offers none)."""
        self.tools = tools
        self.tool_fields.set_tools(tool_names(tools))

    def current_kind(self) -> CheckKind:
        return BY_TYPE[self.kind.currentData()]

    def choose(self, check_type: str) -> None:
        """Pick a type in the picker (tests and shortcuts)."""
        self.kind.setCurrentIndex(self.kind.findData(check_type))

    # -- editing ----------------------------------------------------------------------------
    def _kind_chosen(self) -> None:
        kind = self.current_kind()
        self.text.setVisible(kind.field in ("text", "judge"))
        self.judge_row.setVisible(kind.field in ("judge", "grounded"))
        self.number.setVisible(kind.field == "number")
        self.schema_button.setVisible(kind.field == "schema")
        self.schema_name.setVisible(kind.field == "schema")
        self.tool_fields.setVisible(kind.field == "tool")
        self.ignore_case.setVisible(kind.case)
        self.text.setPlaceholderText(kind.example)
        self.text.setToolTip(kind.hint)
        self.number.setSuffix(kind.unit)
        if kind.field == "number":
            self.number.setValue(kind.default)
        self.kind.setToolTip(kind.hint)
        self._show_error("")

    def choose_schema(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a JSON schema", "",
                                              "JSON schema (*.json);;All files (*)")
        if path:
            self.load_schema(path)

    def load_schema(self, path: str | Path) -> bool:
        try:
            self._schema = read_schema(path)
        except WorkbenchError as error:
            self._schema = None
            self.schema_name.setText("")
            self._show_error(str(error))
            return False
        self.schema_name.setText(Path(path).name)
        self.schema_name.setToolTip(str(path))
        self._show_error("")
        return True

    def current_check(self) -> dict[str, Any] | None:
        """The row's check as JSON, or None (with the reason shown) when it is incomplete."""
        kind = self.current_kind()
        value: Any = None
        if kind.field == "text":
            value = self.text.text().strip()
            if not value and kind.type not in ("exact", "cites"):
                self._show_error(f"“{kind.label}” needs a text.")
                return None
        elif kind.field == "number":
            value = self.number.value()
        elif kind.field == "judge":
            rubric = self.text.text().strip()
            if not rubric:
                self._show_error("A judge needs a rubric: what a good reply does.")
                return None
            if self.judge_model.currentData() is None:
                self._show_error("Add a model to the library to judge with.")
                return None
            value = {"rubric": rubric, "model": self.judge_model.currentData(),
                     "min_score": self.min_score.value(), "scale": self.scale.value()}
        elif kind.field == "tool":
            try:
                value = self.tool_fields.value()
            except WorkbenchError as error:
                self._show_error(str(error))
                return None
        elif kind.field == "grounded":
            if self.judge_model.currentData() is None:
                self._show_error("Add a model to the library to judge with.")
                return None
            value = {"model": self.judge_model.currentData(),
                     "min_score": self.min_score.value(), "scale": self.scale.value()}
        elif kind.field == "schema":
            if self._schema is None:
                self._show_error("Choose a schema file first.")
                return None
            value = self._schema
        return check_json(kind, value, self.ignore_case.isChecked())

    def add_current(self) -> bool:
        check = self.current_check()
        if check is None:
            return False
        try:  # the core's own rules, at once (a broken pattern or schema is refused here)
            stored = normalize_check(dict(check), self.reference or "reference")
            if stored["type"] in TOOL_CHECK_TYPES:  # and the prompt's tools, as the core has them
                tool_fields({"tools": self.tools}, [stored], "this prompt")
        except WorkbenchError as error:
            self._show_error(str(error))
            return False
        self._append(check)
        self.text.clear()
        self.tool_fields.clear()
        self._show_error("")
        self.changed.emit()
        return True

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)
            self._update_buttons()
            self.changed.emit()

    def _append(self, check: dict[str, Any]) -> None:
        item = QListWidgetItem(describe(check))
        item.setData(Qt.ItemDataRole.UserRole, check)
        item.setToolTip(json.dumps(check, ensure_ascii=False)[:500])
        self.list.addItem(item)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.list.currentRow() >= 0)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        if message:
            self.error_shown.emit()
