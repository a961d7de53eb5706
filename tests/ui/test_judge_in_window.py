"""The judge in the window: the check editor makes the judge check's JSON with a model picked
from the library, and the results show each grade (a real run, the test model as judge)."""

from __future__ import annotations

from pathlib import Path

from workbench.trials.checks import normalize_check


def test_the_editor_makes_the_judge_check(qtbot) -> None:
    from ui.views.trials.checks import CheckEditor

    editor = CheckEditor()
    qtbot.addWidget(editor)
    editor.set_models([(1, "SmolLM2"), (2, "Twin"), (3, "Twin")])
    assert [editor.judge_model.itemText(i) for i in range(3)] == [
        "SmolLM2", "Twin (id 2)", "Twin (id 3)"]  # a name shared by two files: by id
    editor.choose("judge")
    assert editor.judge_row.isVisibleTo(editor) and editor.text.isVisibleTo(editor)
    assert editor.current_check() is None  # no rubric yet: said so
    assert "rubric" in editor.error.text()
    editor.text.setText("Polite, and names Paris")
    editor.judge_model.setCurrentIndex(2)
    editor.scale.setValue(4)
    editor.min_score.setValue(3)
    expected = {"judge": {"rubric": "Polite, and names Paris", "model": "3", "min_score": 3,
                          "scale": 4}}
    assert editor.current_check() == expected
    editor.scale.setValue(2)  # the pass score follows the scale down
    assert editor.min_score.value() == 2
    editor.scale.setValue(4)
    editor.min_score.setValue(3)
    assert editor.add_current()
    assert editor.checks() == [expected]
    assert editor.list.item(0).text() == "Judged by 3: “Polite, and names Paris” (passes at 3/4)"
    assert normalize_check(expected)["value"]["min_score"] == 3
    editor.set_models([(1, "SmolLM2")])  # the library changed: the list follows
    editor.choose("contains")
    assert not editor.judge_row.isVisibleTo(editor)


def test_the_results_show_a_judge_grade_without_widgets() -> None:
    from PySide6.QtCore import Qt

    from ui.views.trials.tables import MatrixModel

    grade = {"score": 4, "scale": 5, "reason": "Names Paris, politely.", "self_judged": 0}
    model = MatrixModel()
    model.set_summary({"contenders": [{"label": "a"}], "matrix": [{"prompt": "Hi", "cells": [
        {"content": "Paris.", "passed": 1, "gen_tps": 50.0, "ttft_ms": 30.0, "peak_rss": 2e8,
         "judgements": [grade], "check_results": [
             {"check": {"type": "judge"}, "passed": True,
              "detail": "4/5 by SmolLM2 (pass at 4): Names Paris, politely."}]}]}]})
    assert "judge 4/5" in model.data(model.index(0, 1))
    tip = model.data(model.index(0, 1), Qt.ItemDataRole.ToolTipRole)
    assert "✓ judge: 4/5 by SmolLM2 (pass at 4): Names Paris, politely." in tip


def test_a_judged_run_in_the_window(qtbot, services, screenshot_dir: Path, tmp_path) -> None:
    """A real trial with the test model as its own judge: the grades reach the results; the
    check editor and the results at 1280x800, light and dark."""
    from PySide6.QtWidgets import QApplication

    from tests.ui.conftest import make_window
    from ui import theme
    from workbench.library import list_models, update_settings

    db = services.workspace.db
    judge = list_models(db)[0]
    update_settings(db, judge.id, {"n_threads": 1, "n_ctx": 2048, "gpu_layers": 0})
    app = QApplication.instance()
    window = make_window(qtbot, services)
    window.show_page("Trials")
    page = window.page_widgets["Trials"]
    qtbot.waitUntil(lambda: page.busy == 0 and bool(page.picker.models), timeout=10_000)

    def shoot(state: str) -> None:
        for look in ("light", "dark"):
            theme.apply_theme(app, look)
            window.resize(1280, 800)
            qtbot.wait(120)
            assert window.grab().save(str(screenshot_dir / f"judge-{state}-{look}.png"))
        theme.apply_theme(app, "light")

    page.new_suite("judged")
    qtbot.waitUntil(lambda: page.suites.count() == 1 and page.busy == 0, timeout=10_000)
    assert page.check_editor.judge_model.count() == len(list_models(db))
    page.prompt_text.setPlainText("What is the capital of France?")
    page.prompt_reference.setText("Paris")
    page.check_editor.choose("judge")
    page.check_editor.text.setText("Names Paris as the capital")
    page.check_editor.min_score.setValue(3)
    assert page.check_editor.add_current()
    page.add_prompt()
    qtbot.waitUntil(lambda: page.prompts.count() == 1 and page.busy == 0, timeout=10_000)
    page.prompts.setCurrentRow(0)
    page.check_editor.choose("judge")
    page.check_editor.text.setText("Polite and brief")
    shoot("editor")
    page.picker.rows[0][1].setText("temperature=0, max_tokens=12, n_ctx=2048, n_threads=1, "
                                   "gpu_layers=0")
    page.start()
    qtbot.waitUntil(lambda: not page.is_running, timeout=180_000)
    qtbot.waitUntil(lambda: page.matrix.rowCount() == 1 and page.busy == 0, timeout=10_000)
    assert page.summary is not None and page.summary["judge_pending"] == 0
    grade = page.summary["matrix"][0]["cells"][0]["judgements"][0]
    assert grade["error"] is None and 1 <= grade["score"] <= 5 and grade["self_judged"]
    shown = page.matrix.data(page.matrix.index(0, 1))
    assert f"judge {grade['score']}/5" in shown
    shoot("results")
    window.close()
