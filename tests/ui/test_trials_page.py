"""The Trials page, used as a person uses it: every action by pressing its button
(``qtbot.mouseClick``), dialogs answered by patching the Qt dialog call. Checks picked without
JSON, a guide while there is nothing to show, a suite made, imported, renamed, deleted and run
over two contenders with a progress bar that starts from nothing on Run and an ETA that goes
when done, results that fill in while it runs, a report exported and opened, edits never lost
without a question, a refused check's reason in view, and the page at 1024x640."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QListWidget, QMessageBox, QWidget

from workbench.trials.checks import normalize_check
from workbench.units import human_tps

SETTINGS = "temperature=0, max_tokens=8, n_ctx=2048, n_threads=2, gpu_layers=0"


def click(qtbot, widget: QWidget) -> None:  # type: ignore[no-untyped-def]
    """Press a button as a user does (it must be visible and enabled to react)."""
    assert widget.isVisible() and widget.isEnabled(), widget
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def click_row(qtbot, items: QListWidget, row: int) -> None:  # type: ignore[no-untyped-def]
    rect = items.visualItemRect(items.item(row))
    qtbot.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def answer_text(monkeypatch, text: str, ok: bool = True) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(QInputDialog, "getText", lambda *_a, **_k: (text, ok))


def idle(qtbot, page) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: page.busy == 0, timeout=10_000)


def new_suite(qtbot, monkeypatch, page, name: str) -> None:  # type: ignore[no-untyped-def]
    answer_text(monkeypatch, name)
    before = page.suites.count()
    click(qtbot, page.suite_buttons["New…"])
    qtbot.waitUntil(lambda: page.suites.count() == before + 1 and page.busy == 0,
                    timeout=10_000)


def import_suite(qtbot, monkeypatch, page, path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, **_k: (str(path), ""))
    click(qtbot, page.suite_buttons["Import…"])
    qtbot.waitUntil(lambda: page.prompts.count() > 0 and page.busy == 0, timeout=10_000)


def add_check(qtbot, editor, kind: str, text: str = "") -> None:  # type: ignore[no-untyped-def]
    editor.choose(kind)
    if text:
        editor.text.setText(text)
    click(qtbot, editor.add_button)


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
    ("cites", "", False, {"cites": True}),
    ("cites", "handbook.pdf#page=2, notes.md", False,
     {"cites": ["handbook.pdf#page=2", "notes.md"]}),
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
    editor.show()
    click(qtbot, editor.add_button)
    assert editor.checks() == [expected]
    normalize_check(expected, "Paris")  # the core takes it as it is


def test_the_editor_refuses_with_the_core_reason_and_reads_schema_files(qtbot, tmp_path,
                                                                       monkeypatch):
    from ui.views.trials.checks import CheckEditor

    editor = CheckEditor()
    qtbot.addWidget(editor)
    editor.show()
    add_check(qtbot, editor, "regex", "([unclosed")
    assert editor.error.text().startswith("check regex") and editor.checks() == []
    assert editor.error.isVisible()
    editor.text.clear()
    add_check(qtbot, editor, "contains")  # no text
    assert "needs a text" in editor.error.text()
    add_check(qtbot, editor, "json_schema")
    assert "schema file" in editor.error.text() and editor.checks() == []
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, **_k: (str(broken), ""))
    click(qtbot, editor.schema_button)
    assert "not JSON" in editor.error.text()
    schema = {"title": "Answer", "type": "object", "required": ["city"]}
    good = tmp_path / "answer.schema.json"
    good.write_text(json.dumps(schema))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, **_k: (str(good), ""))
    click(qtbot, editor.schema_button)
    click(qtbot, editor.add_button)
    assert editor.checks() == [{"json_schema": schema}]
    assert editor.list.item(0).text() == "Matches the JSON schema “Answer”"
    # Stored checks (the core's form) come back as the same words.
    editor.set_checks([{"type": "contains", "value": "Rome", "ignore_case": True},
                       {"type": "max_tokens", "value": 20}])
    assert [editor.list.item(i).text() for i in range(2)] == [
        "Contains “Rome” (any case)", "At most 20 tokens"]
    click_row(qtbot, editor.list, 0)
    click(qtbot, editor.remove_button)
    assert editor.checks() == [{"type": "max_tokens", "value": 20}]


def test_with_no_model_the_page_says_to_add_one(qtbot, bare_services) -> None:
    from ui.views.trials.page import TrialsPage

    page = TrialsPage(bare_services)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.busy == 0, timeout=10_000)
    assert "Add a model first" in page.guide.text()
    assert page.results_stack.currentWidget() is page.guide
    assert not page.run_button.isEnabled()


def shown_page(qtbot, services, size=(1280, 800)):  # type: ignore[no-untyped-def]
    """The page on screen (buttons react to clicks only when shown), loaded."""
    from ui.views.trials.page import TrialsPage

    page = TrialsPage(services)
    qtbot.addWidget(page)
    page.resize(*size)
    page.show()
    qtbot.waitExposed(page)
    qtbot.waitUntil(lambda: page.busy == 0 and bool(page.picker.models), timeout=10_000)
    return page


def test_the_page_guides_through_the_first_suite(qtbot, services, monkeypatch) -> None:
    """New… names a suite through the dialog (the button's clicked(bool) once arrived as
    the name: "'bool' object has no attribute 'strip'")."""
    errors: list[str] = []
    services.events.error.connect(errors.append)
    page = shown_page(qtbot, services)
    assert "Test models on your own prompts" in page.guide.text()
    assert not page.run_button.isEnabled()
    answer_text(monkeypatch, "", ok=False)  # Cancel: nothing made
    click(qtbot, page.suite_buttons["New…"])
    idle(qtbot, page)
    assert page.suites.count() == 0
    answer_text(monkeypatch, "   ")  # a blank name is refused beside the editor
    click(qtbot, page.suite_buttons["New…"])
    assert "needs a name" in page.editor_note.text()
    new_suite(qtbot, monkeypatch, page, "drafts")
    assert page.suites.item(0).text().startswith("drafts")
    assert "no prompts yet" in page.guide.text()
    assert page.run_button.isEnabled()
    assert errors == []


def test_prompts_and_checks_are_edited_without_json(qtbot, services, monkeypatch) -> None:
    from workbench.trials.suites import get_suite, list_suites

    page = shown_page(qtbot, services)
    new_suite(qtbot, monkeypatch, page, "capitals")
    click(qtbot, page.prompt_buttons["Add prompt"])  # nothing typed: said beside the editor
    assert "Type the prompt first" in page.editor_note.text()
    page.prompt_text.setPlainText("Capital of France?")
    page.prompt_reference.setText("Paris")
    add_check(qtbot, page.check_editor, "contains", "Paris")
    add_check(qtbot, page.check_editor, "exact")  # empty: the reference answer
    click(qtbot, page.prompt_buttons["Add prompt"])
    qtbot.waitUntil(lambda: page.prompts.count() == 1 and page.busy == 0, timeout=10_000)
    suite = get_suite(services.workspace.db, list_suites(services.workspace.db)[0]["id"])
    assert suite.prompts[0].checks == [{"type": "contains", "value": "Paris"},
                                       {"type": "exact", "value": "Paris"}]
    # the new prompt is selected and shown, unchanged; its row counts its checks
    assert page.prompts.currentRow() == 0 and not page.editor_changed()
    assert page.prompts.item(0).text() == "Capital of France?  · 2 checks"
    assert [page.check_editor.list.item(i).text() for i in range(2)] == [
        "Contains “Paris”", "Equals “Paris”"]
    click_row(qtbot, page.check_editor.list, 1)
    click(qtbot, page.check_editor.remove_button)
    assert page.prompts.item(0).text().startswith("● ")  # marked as changed
    assert page.editor_note.text() == "Unsaved changes"
    click(qtbot, page.prompt_buttons["Save prompt"])
    qtbot.waitUntil(lambda: page.editor_note.text() == "Saved." and page.busy == 0,
                    timeout=10_000)
    assert "Saved the prompt" in page.status.text()
    assert page.prompts.item(0).text() == "Capital of France?  · 1 check"
    assert not page.prompt_buttons["Save prompt"].isEnabled()
    assert get_suite(services.workspace.db, suite.id).prompts[0].checks == [
        {"type": "contains", "value": "Paris"}]
    click(qtbot, page.prompt_buttons["Delete prompt"])
    qtbot.waitUntil(lambda: page.prompts.count() == 0 and page.busy == 0, timeout=10_000)
    assert page.prompt_text.toPlainText() == ""


def test_a_changed_prompt_is_never_lost_without_a_question(qtbot, services,
                                                           monkeypatch) -> None:
    """Add a check, click another prompt: asked Save/Discard/Cancel. Cancel stays, Discard
    drops the check, Save keeps it."""
    from workbench.trials.suites import SuitePrompt, create_suite, get_suite

    db = services.workspace.db
    suite = create_suite(db, "capitals", [SuitePrompt("Capital of France?"),
                                          SuitePrompt("Capital of Italy?")])
    page = shown_page(qtbot, services)
    qtbot.waitUntil(lambda: page.prompts.count() == 2, timeout=10_000)
    click_row(qtbot, page.prompts, 0)
    add_check(qtbot, page.check_editor, "contains", "Paris")
    assert page.editor_changed() and page.prompts.item(0).text().startswith("● ")
    asked: list[str] = []

    def answer(button):  # type: ignore[no-untyped-def]
        def question(_parent, _title, text, *_a, **_k):  # type: ignore[no-untyped-def]
            asked.append(text)
            return button
        monkeypatch.setattr(QMessageBox, "question", question)

    answer(QMessageBox.StandardButton.Cancel)
    click_row(qtbot, page.prompts, 1)
    assert asked and "Capital of France?" in asked[-1]
    assert page.prompts.currentRow() == 0  # stayed, the check still there
    assert page.check_editor.checks() == [{"contains": "Paris"}]
    answer(QMessageBox.StandardButton.Discard)
    click_row(qtbot, page.prompts, 1)
    assert page.prompts.currentRow() == 1 and page.check_editor.checks() == []
    click_row(qtbot, page.prompts, 0)  # nothing changed: no question
    assert len(asked) == 2 and page.check_editor.checks() == []
    add_check(qtbot, page.check_editor, "contains", "Paris")
    answer(QMessageBox.StandardButton.Save)
    click_row(qtbot, page.prompts, 1)
    idle(qtbot, page)
    assert len(asked) == 3 and page.prompts.currentRow() == 1
    assert get_suite(db, suite.id).prompts[0].checks == [{"type": "contains",
                                                          "value": "Paris"}]
    click_row(qtbot, page.prompts, 0)
    assert page.check_editor.checks() == [{"type": "contains", "value": "Paris"}]
    assert page.prompts.item(0).text().endswith("· 1 check")


def test_closing_the_window_asks_about_unsaved_edits(qtbot, services, monkeypatch) -> None:
    """Closing with a changed prompt asks too: Cancel keeps the window open, Save writes
    the edit and then closes (a quit never cancels a save still queued)."""
    from tests.ui.conftest import make_window
    from workbench.trials.suites import SuitePrompt, create_suite, get_suite

    db = services.workspace.db
    suite = create_suite(db, "capitals", [SuitePrompt("Capital of France?")])
    window = make_window(qtbot, services)
    window.show_page("Trials")
    page = window.page_widgets["Trials"]
    qtbot.waitUntil(lambda: page.prompts.count() == 1 and page.busy == 0, timeout=10_000)
    click_row(qtbot, page.prompts, 0)
    add_check(qtbot, page.check_editor, "contains", "Paris")
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save]
    asked: list[str] = []

    def question(_parent, _title, text, *_a, **_k):  # type: ignore[no-untyped-def]
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    window.close()
    assert window.isVisible() and len(asked) == 1  # Cancel: nothing lost, still open
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert len(asked) == 2
    assert get_suite(db, suite.id).prompts[0].checks == [{"type": "contains",
                                                          "value": "Paris"}]


def test_at_1024x640_the_editor_and_the_contender_fit(qtbot, services, monkeypatch) -> None:
    """Add check and Save prompt in view without scrolling; the settings field shows its
    start and the settings in words; a refused check's reason is scrolled into view."""
    from PySide6.QtWidgets import QApplication

    from tests.ui.conftest import make_window
    from workbench.trials.suites import SuitePrompt, create_suite

    create_suite(services.workspace.db, "capitals",
                 [SuitePrompt("Capital of France?", checks=[{"contains": "Paris"}]),
                  SuitePrompt("Capital of Italy?")])
    window = make_window(qtbot, services, size=(1024, 640))
    window.show_page("Trials")
    page = window.page_widgets["Trials"]
    qtbot.waitUntil(lambda: page.prompts.count() == 2 and page.busy == 0, timeout=10_000)
    click_row(qtbot, page.prompts, 0)
    qtbot.wait(50)
    viewport = page.editor_scroll.viewport()

    def in_view(widget: QWidget) -> bool:
        top_left = widget.mapTo(viewport, QPoint(0, 0))
        bottom = top_left.y() + widget.height()
        return widget.isVisible() and top_left.y() >= 0 and bottom <= viewport.height()

    for button in (page.check_editor.add_button, page.prompt_buttons["Save prompt"],
                   page.prompt_buttons["Add prompt"]):
        assert in_view(button), button.text()
    edit = page.picker.rows[0][1]
    assert edit.width() >= edit.fontMetrics().horizontalAdvance("temperature=0, max_tok")
    assert edit.cursorPosition() == 0
    assert page.picker.row_widgets[0].words.text() == "greedy, up to 256 tokens"
    # a bad pattern: the reason under the field, in view even when the column is scrolled
    page.editor_scroll.verticalScrollBar().setValue(0)
    window.resize(1024, 520)  # shorter still: the column scrolls
    QApplication.processEvents()
    add_check(qtbot, page.check_editor, "regex", "capital of (France")
    qtbot.wait(50)
    assert "missing )" in page.check_editor.error.text()
    assert in_view(page.check_editor.error)
    window.close()


def test_import_run_results_and_export(qtbot, services, heartbeat, tmp_path, monkeypatch,
                                       screenshot_dir: Path) -> None:
    from PySide6.QtGui import QDesktopServices

    from ui.views.trials.tables import CONTENDER_COLUMN_MIN_PX, PROMPT_COLUMN_PX

    suite = tmp_path / "capitals.jsonl"
    suite.write_text('{"prompt": "Capital of France?", "checks": [{"contains": "Paris"}]}\n'
                     '{"prompt": "Capital of Italy?", "checks": [{"contains": "Rome"}]}\n')
    page = shown_page(qtbot, services)
    import_suite(qtbot, monkeypatch, page, suite)
    assert page.prompts.count() == 2
    click(qtbot, page.picker.add_button)
    page.picker.rows[0][1].setText(SETTINGS)
    page.picker.rows[1][1].setText(SETTINGS + ", system_prompt=Be brief.")
    guides: list[str] = []
    with heartbeat:
        click(qtbot, page.run_button)
        # while it runs, the Results tab never says "Ready to run" beside done cells
        statuses = set()
        while page.is_running:
            if page.results_stack.currentWidget() is page.guide:
                guides.append(page.guide.text())
            statuses.add(page.status.text())
            qtbot.wait(20)
        qtbot.waitUntil(lambda: page.matrix.rowCount() == 2 and page.busy == 0, timeout=10_000)
    assert not any("Ready to run" in text for text in guides), guides
    # The window runs each contender's cells batched at the automatic width (batching gains
    # more than two contenders side by side, which the window leaves to --batch 1).
    assert not any("side by side" in text for text in statuses), statuses
    widths = [json.loads(row[0]).get("batch_width") for row in
              services.workspace.db.execute("SELECT settings FROM trial_cells")]
    assert widths and all(width == 2 for width in widths), widths
    assert heartbeat.max_gap_ms < 500
    assert page.progress.value() == page.progress.maximum() == 4
    assert page.eta.text() == ""  # no "ETA 0 s" left behind
    assert page.matrix.columnCount() == 3  # the prompt and two contenders
    assert page.results_stack.currentWidget() is page.table
    # the column's tooltip gives the settings in words, not KEY=VALUE
    tip = page.matrix.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "greedy, up to 8 tokens" in tip and "=" not in tip
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
    assert "a system prompt" in titles[1] + titles[2] and "=" not in "".join(titles)
    page.grab().save(str(screenshot_dir / "trials_results.png"))

    # Run again: the bar starts from nothing, not from the last trial's 4/4.
    click(qtbot, page.run_button)
    assert page.progress.maximum() == 0 and page.eta.text() == ""
    click(qtbot, page.cancel_button)
    qtbot.waitUntil(lambda: not page.is_running and page.busy == 0, timeout=120_000)
    assert page.eta.text() == "" and page.progress.maximum() > 0
    assert "Unexpected error" not in page.status.text()

    out = tmp_path / "report.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *_a, **_k: (str(out), "HTML (*.html)"))
    click(qtbot, page.export_button)
    qtbot.waitUntil(lambda: out.exists() and page.busy == 0, timeout=10_000)
    assert "Capital of France?" in out.read_text()
    assert page.status.text() == "Wrote report.html"
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        lambda url: opened.append(url.toLocalFile()) or True)
    click(qtbot, page.open_report_button)
    assert opened == [str(out)]


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
    from workbench.trials.suites import SuitePrompt, create_suite, list_suites

    db = services.workspace.db
    create_suite(db, "drafts", [SuitePrompt("Say hi.")])
    page = shown_page(qtbot, services)
    qtbot.waitUntil(lambda: page.suites.count() == 1, timeout=10_000)
    click_row(qtbot, page.suites, 0)
    answer_text(monkeypatch, "greetings")
    click(qtbot, page.suite_buttons["Rename…"])
    qtbot.waitUntil(lambda: page.suites.count() == 1
                    and page.suites.item(0).text().startswith("greetings"), timeout=10_000)
    assert [s["name"] for s in list_suites(db)] == ["greetings"]
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: next(answers))
    click_row(qtbot, page.suites, 0)
    click(qtbot, page.suite_buttons["Delete"])  # No: kept
    idle(qtbot, page)
    assert len(list_suites(db)) == 1
    click(qtbot, page.suite_buttons["Delete"])  # Yes
    qtbot.waitUntil(lambda: page.suites.count() == 0, timeout=10_000)
    assert list_suites(db) == [] and page.prompts.count() == 0


def test_trials_screenshots(qtbot, services, screenshot_dir, tmp_path, monkeypatch) -> None:
    """The page as a user meets it: the guide, a suite being edited, results, leaderboard,
    recommendation and charts; at 1024x640, 1280x800 and 1920x1080, light and dark (one
    trial run, the theme switched live)."""
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
            for width, height in ((1024, 640), (1280, 800), (1920, 1080)):
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
    import_suite(qtbot, monkeypatch, page, suite)
    click_row(qtbot, page.prompts, 0)
    page.check_editor.choose("max_latency_ms")
    shoot("suite")
    click(qtbot, page.picker.add_button)
    page.picker.rows[0][1].setText(SETTINGS)
    page.picker.rows[1][1].setText(SETTINGS + ", system_prompt=Be brief.")
    click(qtbot, page.run_button)
    qtbot.waitUntil(lambda: not page.is_running, timeout=120_000)
    qtbot.waitUntil(lambda: page.matrix.rowCount() == 3 and page.busy == 0, timeout=10_000)
    shoot("results")
    for tab in (1, 2, 3):
        page.tabs.setCurrentIndex(tab)
        shoot(page.tabs.tabText(tab).lower())
    window.close()


def test_the_editor_makes_a_grounded_check_with_a_judge(qtbot) -> None:
    from ui.views.trials.checks import CheckEditor

    editor = CheckEditor()
    qtbot.addWidget(editor)
    editor.show()
    editor.set_models([(1, "smol")])
    editor.choose("grounded")
    assert editor.judge_row.isVisible() and not editor.text.isVisible()
    editor.min_score.setValue(3)
    click(qtbot, editor.add_button)
    expected = {"grounded": {"model": "smol", "min_score": 3, "scale": 5}}
    assert editor.checks() == [expected]
    assert editor.list.item(0).text() == ("Grounded in the passages, judged by smol (passes "
                                          "at 3/5)")
    normalize_check(expected)


def test_a_trial_over_documents_shows_recall_and_mrr(qtbot, services, tmp_path, monkeypatch,
                                                    screenshot_dir: Path) -> None:
    """A suite that names a collection and its sources, two contenders that differ in k:
    the Recommendation tab says, per contender, what retrieval found."""
    from tests.core.docs_files import make_pdf
    from workbench.documents.collections import add_collection
    from workbench.documents.indexing import index

    root = tmp_path / "papers"
    root.mkdir()
    make_pdf(root / "handbook.pdf")
    (root / "notes.md").write_text("# Canteen\n\nThe canteen serves soup on Fridays.\n")
    db = services.workspace.db
    add_collection(db, "papers", [str(root)])
    list(index(db, "papers"))
    suite = tmp_path / "handbook.jsonl"
    suite.write_text(
        '{"suite": {"docs": "papers"}}\n'
        '{"prompt": "What is the refund period for damaged parcels?", '
        '"sources": ["handbook.pdf#page=2"], "checks": [{"cites": true}]}\n'
        '{"prompt": "When does the canteen serve soup?", "sources": ["notes.md#Canteen"]}\n')
    page = shown_page(qtbot, services)
    import_suite(qtbot, monkeypatch, page, suite)
    click(qtbot, page.picker.add_button)
    page.picker.rows[0][1].setText(SETTINGS + ", k=1")
    page.picker.rows[1][1].setText(SETTINGS + ", k=2")
    click(qtbot, page.run_button)
    qtbot.waitUntil(lambda: not page.is_running, timeout=180_000)
    qtbot.waitUntil(lambda: page.matrix.rowCount() == 2 and page.busy == 0, timeout=10_000)
    page.tabs.setCurrentIndex([page.tabs.tabText(i) for i in range(page.tabs.count())]
                              .index("Recommendation"))
    assert page.retrieval.isVisible()
    text = page.retrieval.text()
    assert "recall@1" in text and "recall@2" in text and "MRR" in text, text
    from PySide6.QtWidgets import QApplication

    from ui import theme

    for look in ("light", "dark"):
        theme.apply_theme(QApplication.instance(), look)
        for width, height in ((1280, 800), (1920, 1080)):
            page.resize(width, height)
            qtbot.wait(100)
            assert page.grab().save(
                str(screenshot_dir / f"trials-docs-{look}-{width}x{height}.png"))
    theme.apply_theme(QApplication.instance(), "light")
