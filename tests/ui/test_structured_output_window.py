"""Structured output in the window: the chat's Parameters panel and each contender row hold
Off / Any JSON / a schema file; a reply then follows it (the real model), a bad file is one
line and leaves free text, and a contender keeps the schema itself. Screenshots of both, light
and dark, at 1280x800."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import make_window, quick_sampling, wait_reply
from ui import theme
from ui.widgets.structured_output import ANY, FILE, OFF, PICK, StructuredOutputCombo
from workbench import conversations as convs
from workbench.engine.settings import ANY_JSON, JSON_CUT_NOTE, check_json_schema

#: A name of at most 12 ASCII letters or spaces and an integer (at most 16 digits and a sign):
#: the reply is at most 56 bytes, and every token the grammar lets through is at least one
#: byte, so ROOMY tokens always let it close, on every CPU; CUT tokens never can (the
#: shortest Person is 20 bytes).
PERSON = {"title": "Person", "type": "object", "required": ["name", "age"],
          "properties": {"name": {"type": "string", "pattern": "^[A-Za-z ]{1,12}$"},
                         "age": {"type": "integer"}}}
ROOMY, CUT = 64, 2


@pytest.fixture
def person_file(tmp_path):
    path = tmp_path / "person.json"
    path.write_text(json.dumps(PERSON, indent=2))
    return path


def choose(combo: StructuredOutputCombo, mode: str) -> None:
    """What a click on an item does: select it, then Qt's ``activated``."""
    index = combo.findData(mode)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def last_reply(services):  # type: ignore[no-untyped-def]
    db = services.workspace.db
    conversation = convs.list_conversations(db, 1)[0]
    return convs.branch(db, conversation["id"])[-1]


def test_parameters_panel_constrains_the_reply(qtbot, services, person_file, tmp_path):
    window = make_window(qtbot, services)
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    panel = window.chat.panel
    assert panel.structured.mode() == OFF and panel.overrides()["json_schema"] is None
    assert panel.structured_hint.text() == "Replies are free text."

    choose(panel.structured, ANY)
    assert panel.overrides()["json_schema"] == ANY_JSON
    quick_sampling(window, 40)
    window.chat.input.setPlainText("Say hello.")
    window.chat.send()
    wait_reply(qtbot, window)
    reply = last_reply(services)
    assert reply.content.startswith("{")  # the grammar made it a JSON object...
    if reply.finish_reason == "stop":  # ...which has no bound: complete, or said to be cut
        assert isinstance(json.loads(reply.content), dict)
    else:
        assert JSON_CUT_NOTE in window.chat.view.messages[-1].metrics.text()
    assert reply.settings["json_schema"] == ANY_JSON

    panel.structured.picker = lambda _parent: str(person_file)
    choose(panel.structured, PICK)
    assert panel.structured.mode() == FILE and panel.structured.currentText() == "person.json"
    assert panel.structured.itemData(panel.structured.currentIndex(), 3) == str(person_file)
    qtbot.waitUntil(lambda: panel.schema_text is not None, timeout=10_000)
    assert panel.overrides()["json_schema"] == check_json_schema(PERSON)
    assert panel.structured_hint.text() == "Replies follow person.json."
    quick_sampling(window, ROOMY)
    window.chat.input.setPlainText("Describe a person.")
    window.chat.send()
    wait_reply(qtbot, window)
    data = json.loads(last_reply(services).content)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)
    assert JSON_CUT_NOTE not in window.chat.view.messages[-1].metrics.text()

    quick_sampling(window, CUT)  # the token limit cuts the JSON: the reply says so
    window.chat.input.setPlainText("Describe a person.")
    window.chat.send()
    wait_reply(qtbot, window)
    cut = last_reply(services)
    assert cut.finish_reason == "length" and cut.content.startswith("{")
    line = window.chat.view.messages[-1].metrics.text()
    assert line.endswith(f"finish: length ({JSON_CUT_NOTE})"), line

    cancelled = panel.structured.currentIndex()
    panel.structured.picker = lambda _parent: ""
    choose(panel.structured, PICK)
    assert panel.structured.currentIndex() == cancelled  # a cancelled picker changes nothing

    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "object", "properties": 3}')
    panel.structured.picker = lambda _parent: str(bad)
    choose(panel.structured, PICK)
    qtbot.waitUntil(lambda: panel.structured.mode() == OFF, timeout=10_000)
    message = window.chat.banner.label.text()
    assert message.startswith(f"schema file {bad}: ") and "\n" not in message
    assert panel.overrides()["json_schema"] is None
    window.close()


def test_contender_rows_take_a_schema_file(qtbot, services, person_file):
    from ui.views.compare.page import ComparePage
    from ui.views.contender_picker import build_contenders

    page = ComparePage(services)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    qtbot.waitUntil(lambda: bool(page.picker.models), timeout=10_000)
    first, second = page.picker.row_widgets
    assert first.structured.currentText() == "Free text"
    second.structured.picker = lambda _parent: str(person_file)
    choose(second.structured, PICK)
    assert second.structured.currentText() == "person.json"
    chosen = page.picker.chosen()
    assert chosen[0][1] == ["temperature=0", "max_tokens=256"]
    assert chosen[1][1][-1] == f"json_schema={person_file}"
    choose(first.structured, ANY)
    contenders = build_contenders(services.workspace.db, page.picker.chosen())
    assert contenders[0].settings["json_schema"] == ANY_JSON
    assert contenders[1].settings["json_schema"] == check_json_schema(PERSON)
    assert "json_schema=schema Person" in contenders[1].label


@pytest.mark.parametrize("look", ["light", "dark"])
def test_structured_output_screenshots(qtbot, services, screenshot_dir, person_file, look):
    theme.apply_theme(QApplication.instance(), look)
    window = make_window(qtbot, services, size=(1280, 800))
    qtbot.waitUntil(lambda: bool(window.chat.models), timeout=10_000)
    panel = window.chat.panel
    panel.structured.picker = lambda _parent: str(person_file)
    choose(panel.structured, PICK)
    qtbot.waitUntil(lambda: panel.schema_text is not None, timeout=10_000)
    assert panel.isVisible()
    qtbot.wait(120)
    assert window.grab().save(str(screenshot_dir / f"structured-chat-{look}-1280x800.png"))
    window.show_page("Compare")
    compare = window.page_widgets["Compare"]
    qtbot.waitUntil(lambda: bool(compare.picker.models), timeout=10_000)
    rows = compare.picker.row_widgets
    choose(rows[0].structured, ANY)
    rows[1].structured.picker = lambda _parent: str(person_file)
    choose(rows[1].structured, PICK)
    qtbot.wait(120)
    assert window.grab().save(str(screenshot_dir / f"structured-compare-{look}-1280x800.png"))
    window.close()
    theme.apply_theme(QApplication.instance(), "light")
