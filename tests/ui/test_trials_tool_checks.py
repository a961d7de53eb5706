"""The check editor's tool checks, used as a person uses them: the type picked, the tool
chosen from the prompt's tools, the expected arguments typed, Add pressed. The core's own
rules refuse what cannot work (a tool the prompt does not offer, a prompt without tools),
and a prompt's tools survive an edit in the window. The results table shows a cell's calls."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from test_trials_page import add_check, click, click_row, import_suite, shown_page

from workbench.engine.tools import check_tools
from workbench.trials.checks import normalize_check


def _tool(name: str) -> dict:
    return {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


WEATHER, TIME = _tool("get_weather"), _tool("get_time")
TOOLS = check_tools([WEATHER, TIME])


def _editor(qtbot):  # type: ignore[no-untyped-def]
    from ui.views.trials.checks import CheckEditor

    editor = CheckEditor()
    qtbot.addWidget(editor)
    editor.show()
    return editor


def test_the_three_tool_checks_are_made_with_buttons(qtbot) -> None:
    editor = _editor(qtbot)
    editor.set_tools(TOOLS)
    editor.choose("tool_call")
    assert editor.tool_fields.isVisible() and not editor.text.isVisible()
    fields = editor.tool_fields
    assert [fields.name.itemText(i) for i in range(fields.name.count())] == [
        "get_weather", "get_time"]
    fields.arguments.setText('{"city": "Paris"}')
    click(qtbot, editor.add_button)
    fields.name.setCurrentText("get_time")
    fields.arguments.setText('{"required": ["city"]}')
    fields.as_schema.setChecked(True)
    click(qtbot, editor.add_button)
    add_check(qtbot, editor, "no_tool_call")
    add_check(qtbot, editor, "valid_arguments")
    assert editor.checks() == [
        {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"tool_call": {"name": "get_time", "arguments_schema": {"required": ["city"]}}},
        {"no_tool_call": True}, {"valid_arguments": True}]
    assert [editor.list.item(i).text() for i in range(4)] == [
        "Calls get_weather with city = \"Paris\"",
        "Calls get_time (arguments matching a schema)",
        "Calls no tool", "Every tool call has valid arguments"]
    for check in editor.checks():
        normalize_check(check)  # the core takes each as it is
    click_row(qtbot, editor.list, 2)
    click(qtbot, editor.remove_button)
    assert len(editor.checks()) == 3


def test_the_core_refuses_what_cannot_work(qtbot) -> None:
    editor = _editor(qtbot)
    editor.set_tools(check_tools([WEATHER]))
    editor.choose("tool_call")
    editor.tool_fields.name.setCurrentText("get_time")
    click(qtbot, editor.add_button)
    assert editor.error.isVisible() and editor.checks() == []
    assert editor.error.text() == ("this prompt: checks: tool_call expects 'get_time', which "
                                   "'tools' does not offer (get_weather)")
    editor.tool_fields.name.setCurrentText("get_weather")
    editor.tool_fields.arguments.setText("{city")
    click(qtbot, editor.add_button)
    assert editor.error.text().startswith("The arguments are not JSON")
    editor.tool_fields.name.setCurrentText("")
    click(qtbot, editor.add_button)
    assert editor.error.text() == "“Calls the tool” needs the tool's name."
    editor.set_tools(None)  # a prompt that offers no tools
    add_check(qtbot, editor, "no_tool_call")
    assert editor.error.text() == "this prompt: checks: no_tool_call needs the prompt's 'tools'"
    assert editor.checks() == []


def test_a_tool_prompt_keeps_its_tools_when_edited(qtbot, services, monkeypatch, tmp_path,
                                                   screenshot_dir) -> None:
    from workbench.trials.suites import get_suite, list_suites

    suite = tmp_path / "tools.jsonl"
    suite.write_text(json.dumps({"prompt": "Weather in Paris?", "tools": [WEATHER],
                                 "tool_results": {"get_weather": {"temp": 21}}}) + "\n")
    page = shown_page(qtbot, services)
    import_suite(qtbot, monkeypatch, page, suite)
    click_row(qtbot, page.prompts, 0)
    editor = page.check_editor
    editor.choose("tool_call")
    assert editor.tool_fields.name.currentText() == "get_weather"
    editor.tool_fields.arguments.setText('{"city": "Paris"}')
    page.grab().save(str(screenshot_dir / "trials_tool_check.png"))
    editor.tool_fields.arguments.clear()
    click(qtbot, editor.add_button)
    click(qtbot, page.prompt_buttons["Save prompt"])
    qtbot.waitUntil(lambda: page.editor_note.text() == "Saved." and page.busy == 0,
                    timeout=10_000)
    db = services.workspace.db
    (stored,) = get_suite(db, list_suites(db)[0]["id"]).prompts
    assert stored.checks == [{"type": "tool_call", "value": {"name": "get_weather"}}]
    assert json.loads(stored.tools or "")[0]["function"]["name"] == "get_weather"
    assert stored.tool_results == {"get_weather": {"temp": 21}}


def test_the_results_table_shows_the_calls() -> None:
    from ui.views.trials.tables import MatrixModel

    call = {"step": 1, "name": "get_weather", "arguments": {"city": "Paris"}, "valid": True,
            "why": None, "result": '{"temp": 21}'}
    model = MatrixModel()
    model.set_summary({"contenders": [{"label": "a"}], "matrix": [{"prompt": "Weather?",
                       "cells": [{"content": "It is 21 degrees.", "passed": 1,
                                  "check_results": [], "tool_calls": {
                                      "calls": [call], "steps": 2, "stopped": None}}]}]})
    shown = model.data(model.index(0, 1))
    assert shown.startswith('✓ call 1: get_weather({"city": "Paris"}) -> {"temp": 21}')
    tip = model.data(model.index(0, 1), Qt.ItemDataRole.ToolTipRole)
    assert "2 steps to the answer" in tip and "It is 21 degrees." in tip
