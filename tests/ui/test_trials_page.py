"""The Trials page: import a suite, run it over two contenders with progress, see the
matrix, recommendation and charts, export a report; the GUI thread stays free."""

from __future__ import annotations

from pathlib import Path

SETTINGS = "temperature=0, max_tokens=8, n_ctx=2048, n_threads=2, gpu_layers=0"


def test_matrix_model_without_widgets() -> None:
    from ui.views.trials_page import MatrixModel

    model = MatrixModel()
    model.set_summary({"contenders": [{"label": "a"}], "matrix": [{"prompt": "Hi there", "cells": [
        {"content": "Hello", "passed": 1, "gen_tps": 50.0, "ttft_ms": 30.0, "peak_rss": 2e8,
         "check_results": []}]}]})
    assert (model.rowCount(), model.columnCount()) == (1, 1)
    assert model.data(model.index(0, 0)).startswith("✓ Hello")


def test_import_run_results_and_export(qtbot, services, heartbeat, tmp_path,
                                       screenshot_dir: Path) -> None:
    from ui.views.trials_page import TrialsPage

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
        qtbot.waitUntil(lambda: page.matrix.rowCount() == 2, timeout=10_000)
    assert heartbeat.max_gap_ms < 500
    assert page.progress.value() == page.progress.maximum() == 4
    assert page.matrix.columnCount() == 2
    assert page.recommendation.text()
    page.grab().save(str(screenshot_dir / "trials_results.png"))
    page.tabs.setCurrentIndex(3)
    qtbot.wait(50)
    page.grab().save(str(screenshot_dir / "trials_charts.png"))

    out = tmp_path / "report.html"
    page.export(str(out), "html")
    qtbot.waitUntil(out.exists, timeout=10_000)
    assert "Capital of France?" in out.read_text()


def test_rename_and_delete_a_suite(qtbot, services, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ui.views.trials_page import TrialsPage
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
