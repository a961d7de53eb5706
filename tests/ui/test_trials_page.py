"""The Trials page: checks picked without JSON, a guide while there is nothing to show, a
suite imported and run over two contenders with a progress bar that starts from nothing on
Run and an ETA that goes when done, a results table that fits the contenders, the picker
following the library, a report exported; the GUI thread stays free."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.trials.checks import normalize_check
from workbench.units import human_tps

SETTINGS = "temperature=0, max_tokens=8, n_ctx=2048, n_threads=2, gpu_layers=0"


def test_matrix_model_without_widgets() -> None:
    from PySide6.QtCore import Qt

    from ui.views.trials.tables import MatrixModel

    model = MatrixModel()
    model.set_summary({"contenders": [{"label": "a"}], "matrix": [{"prompt": "Hi there", "cells": [
        {"content": "Hello", "passed": 1, "gen_tps": 50.0, "ttft_ms": 30.0, "peak_rss": 2e8,
         "check_results": []}]}]})
    assert (model.rowCount(), model.columnCount()) == (1, 2)  # the prompt, then "a"
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Prompt"
    assert model.headerData(1, Qt.Orientation.Horizontal) == "1 · a"
    assert model.data(model.index(0, 0)) == "Hi there"
    assert model.data(model.index(0, 1)).startswith("✓ Hello")
    assert human_tps(50.0) in model.data(model.index(0, 1))


@pytest.mark.parametrize(("kind", "value", "ignore_case", "expected"), [
    ("contains", "Paris", False, {"contains": "Paris"}),
    ("contains", "paris", True, {"contains": "paris", "ignore_case": True}),
    ("not_contains", "sorry", False, {"not_contains": "sorry"}),
    ("regex", r"\b\d{4}\b", False, {"regex": r"\b\d{4}\b"}),
    ("json", None, False, {"type": "json"}),
    ("exact", "Paris", False, {"exact": "Paris"}),
    ("exact", "", False, {"type": "exact"}),
    ("max_tokens", 50, False, {"max_tokens": 50}),
    ("max_latency_ms", 2000, False, {"max_latency_ms": 2000}),
    ("no_echo", None, False, {"no_echo": True}),
])
def test_the_editor_makes_the_documented_json(qtbot, kind, value, ignore_case, expected):
    """Each type gives the object the README's checks table shows."""
    from ui.views.trials.checks import BY_TYPE, CheckEditor, supported

    editor = CheckEditor()
    qtbot.addWidget(editor)
    editor.reference = "Paris"
    editor.choose(kind)
    if isinstance(value, str):
        editor.text.setText(value)
    elif isinstance(value, int):
        editor.number.setValue(value)
    editor.ignore_case.setChecked(ignore_case)
    assert editor.current_check() == expected
    if not supported(BY_TYPE[kind]):
        pytest.skip(f"the core has no {kind} check yet")
    assert editor.add_current()
    assert editor.checks() == [expected]
    normalize_check(expected, "Paris")  # the core takes it as it is


def test_the_editor_refuses_with_the_core_reason_and_reads_schema_files(qtbot, tmp_path):
    from ui.views.trials.checks import CheckEditor

    editor = CheckEditor()
    qtbot.addWidget(editor)
    editor.choose("regex")
    editor.text.setText("([unclosed")
    assert not editor.add_current()
    assert editor.error.text().startswith("check regex") and editor.checks() == []
    editor.choose("contains")
    editor.text.clear()
    assert not editor.add_current()  # no text
    assert "needs a text" in editor.error.text()
    editor.choose("json_schema")
    assert not editor.add_current()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert not editor.load_schema(broken) and "not JSON" in editor.error.text()
    schema = {"title": "Answer", "type": "object", "required": ["city"]}
    good = tmp_path / "answer.schema.json"
    good.write_text(json.dumps(schema))
    assert editor.load_schema(good) and editor.add_current()
    assert editor.checks() == [{"json_schema": schema}]
    assert editor.list.item(0).text() == "Matches the JSON schema “Answer”"
    # Stored checks (the core's form) come back as the same words.
    editor.set_checks([{"type": "contains", "value": "Rome", "ignore_case": True},
                       {"type": "max_tokens", "value": 20}])
    assert [editor.list.item(i).text() for i in range(2)] == [
        "Contains “Rome” (any case)", "At most 20 tokens"]
    editor.list.setCurrentRow(0)
    editor.remove_selected()
    assert editor.checks() == [{"type": "max_tokens", "value": 20}]


def test_with_no_model_the_page_says_to_add_one(qtbot, bare_services) -> None:
    from ui.views.trials.page import TrialsPage

    page = TrialsPage(bare_services)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.busy == 0, timeout=10_000)
    assert "Add a model first" in page.guide.text()
    assert page.results_stack.currentWidget() is page.guide
    assert not page.run_button.isEnabled()


def test_the_page_guides_through_the_first_suite(qtbot, services) -> None:
    from ui.views.trials.page import TrialsPage

    page = TrialsPage(services)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.busy == 0, timeout=10_000)
    assert "Test models on your own prompts" in page.guide.text()
    assert not page.run_button.isEnabled()
    page.new_suite("drafts")
    qtbot.waitUntil(lambda: page.suites.count() == 1 and page.busy == 0, timeout=10_000)
    assert "no prompts yet" in page.guide.text()
    assert page.run_button.isEnabled()


def test_prompts_and_checks_are_edited_without_json(qtbot, services) -> None:
    from ui.views.trials.page import TrialsPage
    from workbench.trials.suites import get_suite, list_suites

    page = TrialsPage(services)
    qtbot.addWidget(page)
    page.new_suite("capitals")
    qtbot.waitUntil(lambda: page.suites.count() == 1 and page.busy == 0, timeout=10_000)
    page.prompt_text.setPlainText("Capital of France?")
    page.prompt_reference.setText("Paris")
    page.check_editor.choose("contains")
    page.check_editor.text.setText("Paris")
    assert page.check_editor.add_current()
    page.check_editor.choose("exact")  # empty: the reference answer
    assert page.check_editor.add_current()
    page.add_prompt()
    qtbot.waitUntil(lambda: page.prompts.count() == 1 and page.busy == 0, timeout=10_000)
    suite = get_suite(services.workspace.db, list_suites(services.workspace.db)[0]["id"])
    assert suite.prompts[0].checks == [{"type": "contains", "value": "Paris"},
                                       {"type": "exact", "value": "Paris"}]
    page.prompts.setCurrentRow(0)
    assert [page.check_editor.list.item(i).text() for i in range(2)] == [
        "Contains “Paris”", "Equals “Paris”"]


def test_import_run_results_and_export(qtbot, services, heartbeat, tmp_path,
                                       screenshot_dir: Path) -> None:
    from ui.views.trials.page import TrialsPage
    from ui.views.trials.tables import CONTENDER_COLUMN_MIN_PX, PROMPT_COLUMN_PX

    suite = tmp_path / "capitals.jsonl"
    suite.write_text('{"prompt": "Capital of France?", "checks": [{"contains": "Paris"}]}\n'
                     '{"prompt": "Capital of Italy?", "checks": [{"contains": "Rome"}]}\n')
    page = TrialsPage(services)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    qtbot.waitUntil(lambda: bool(page.picker.models), timeout=10_000)
    page.import_file(str(suite))
    qtbot.waitUntil(lambda: page.prompts.count() == 2, timeout=10_000)
    page.picker.add_row()
    page.picker.rows[0][1].setText(SETTINGS)
    page.picker.rows[1][1].setText(SETTINGS + ", system_prompt=Be brief.")
    with heartbeat:
        page.start()
        qtbot.waitUntil(lambda: not page.is_running, timeout=120_000)
        qtbot.waitUntil(lambda: page.matrix.rowCount() == 2 and page.busy == 0, timeout=10_000)
    assert heartbeat.max_gap_ms < 500
    assert page.progress.value() == page.progress.maximum() == 4
    assert page.eta.text() == ""  # no "ETA 0 s" left behind
    assert page.matrix.columnCount() == 3  # the prompt and two contenders
    assert page.results_stack.currentWidget() is page.table
    # 2 prompts cannot show an 80% pass rate at 95%: each contender's part says so, in numbers
    assert page.min_pass.value() == 80  # the shared default bar (the min_pass_rate setting)
    assert "not enough evidence" in {outcome for _, outcome, _ in page.recommendation.parts}
    assert page.recommendation.headline.text()
    # The table fits: the prompt column capped, both contenders on screen at 1280.
    qtbot.wait(50)
    assert page.table.columnWidth(0) == PROMPT_COLUMN_PX
    assert all(page.table.columnWidth(c) >= CONTENDER_COLUMN_MIN_PX for c in (1, 2))
    assert not page.table.horizontalScrollBar().isVisible()
    # one model, two settings variants: the model's row, then one indented row per variant
    titles = [page.board_table.item(r, 0).text() for r in range(page.board_table.rowCount())]
    assert len(titles) == 3 and sum(t.strip().startswith("↳") for t in titles) == 2, titles
    assert "system prompt" in titles[1] + titles[2]
    page.grab().save(str(screenshot_dir / "trials_results.png"))

    # Run again: the bar starts from nothing, not from the last trial's 4/4.
    page.start()
    assert page.progress.maximum() == 0 and page.eta.text() == ""
    page.cancel()
    qtbot.waitUntil(lambda: not page.is_running and page.busy == 0, timeout=120_000)
    assert page.eta.text() == "" and page.progress.maximum() > 0

    out = tmp_path / "report.html"
    page.export(str(out), "html")
    qtbot.waitUntil(out.exists, timeout=10_000)
    assert "Capital of France?" in out.read_text()


def test_the_picker_follows_the_library(qtbot, services, model_path, tmp_path) -> None:
    from ui.views.trials.page import TrialsPage
    from workbench.library import add_model

    page = TrialsPage(services)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: bool(page.picker.models) and page.busy == 0, timeout=10_000)
    before = len(page.picker.models)
    copy = tmp_path / "second-copy.gguf"
    copy.write_bytes(model_path.read_bytes() + b"\0" * 16)  # other contents: a model of its own
    add_model(services.workspace.db, copy)
    services.events.changed.emit(frozenset({"library"}), None)  # the Models page's add
    qtbot.waitUntil(lambda: len(page.picker.models) == before + 1, timeout=10_000)


def test_rename_and_delete_a_suite(qtbot, services, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ui.views.trials.page import TrialsPage
    from workbench.trials.suites import SuitePrompt, create_suite, list_suites

    db = services.workspace.db
    create_suite(db, "drafts", [SuitePrompt("Say hi.")])
    page = TrialsPage(services)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.suites.count() == 1, timeout=10_000)
    page.suites.setCurrentRow(0)
    page.rename_suite("greetings")
    qtbot.waitUntil(lambda: page.suites.count() == 1
                    and page.suites.item(0).text().startswith("greetings"), timeout=10_000)
    assert [s["name"] for s in list_suites(db)] == ["greetings"]
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: next(answers))
    page.suites.setCurrentRow(0)
    page.delete_suite()  # No: kept
    qtbot.wait(100)
    assert len(list_suites(db)) == 1
    page.delete_suite()  # Yes
    qtbot.waitUntil(lambda: page.suites.count() == 0, timeout=10_000)
    assert list_suites(db) == [] and page.prompts.count() == 0


def test_trials_screenshots(qtbot, services, screenshot_dir, tmp_path) -> None:
    """The page as a user meets it: the guide, a suite being edited, results, leaderboard;
    at 1280x800 and 1920x1080, light and dark (one trial run, the theme switched live)."""
    from PySide6.QtWidgets import QApplication

    from tests.ui.conftest import make_window
    from ui import theme

    app = QApplication.instance()
    window = make_window(qtbot, services)
    window.show_page("Trials")
    page = window.page_widgets["Trials"]

    def shoot(state: str) -> None:
        for look in ("light", "dark"):
            theme.apply_theme(app, look)
            for width, height in ((1280, 800), (1920, 1080)):
                window.resize(width, height)
                qtbot.wait(120)
                assert window.grab().save(
                    str(screenshot_dir / f"trials-{state}-{look}-{width}x{height}.png"))
        theme.apply_theme(app, "light")

    qtbot.waitUntil(lambda: page.busy == 0 and bool(page.picker.models), timeout=10_000)
    shoot("empty")
    suite = tmp_path / "support.jsonl"
    suite.write_text(
        '{"prompt": "What is the capital of France? Answer in one word.", "reference": "Paris", '
        '"checks": [{"contains": "Paris", "ignore_case": true}, {"max_tokens": 16}]}\n'
        '{"prompt": "Reply with a JSON object with the key \\"city\\" for the capital of '
        'Italy.", "checks": [{"type": "json"}, {"not_contains": "sorry"}]}\n'
        '{"prompt": "Name a year in the 1990s.", "checks": [{"regex": "199\\\\d"}]}\n')
    page.import_file(str(suite))
    qtbot.waitUntil(lambda: page.prompts.count() == 3 and page.busy == 0, timeout=10_000)
    page.prompts.setCurrentRow(0)
    page.check_editor.choose("max_latency_ms")
    shoot("suite")
    page.picker.add_row()
    page.picker.rows[0][1].setText(SETTINGS)
    page.picker.rows[1][1].setText(SETTINGS + ", system_prompt=Be brief.")
    page.start()
    qtbot.waitUntil(lambda: not page.is_running, timeout=120_000)
    qtbot.waitUntil(lambda: page.matrix.rowCount() == 3 and page.busy == 0, timeout=10_000)
    shoot("results")
    page.tabs.setCurrentIndex(1)
    shoot("leaderboard")
    window.close()
