"""The Compare page: two contenders (the test model under two settings) stream side by side,
blind until the vote, then revealed; the GUI thread stays free."""

from __future__ import annotations

from pathlib import Path

from workbench.trials import store

SETTINGS = "temperature=0, max_tokens=12, n_ctx=2048, n_threads=2, gpu_layers=0, seed=7"


def test_compare_streams_blind_then_reveals(qtbot, services, heartbeat, screenshot_dir: Path):
    from ui.views.compare_page import ComparePage

    page = ComparePage(services)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    qtbot.waitUntil(lambda: bool(page.picker.models), timeout=10_000)
    first, second = page.picker.rows
    first[1].setText(SETTINGS)
    second[1].setText(SETTINGS + ", system_prompt=Answer in French.")
    page.prompt.setPlainText("What is the capital of France?")
    assert page.blind.isChecked()
    with heartbeat:
        page.start()
        qtbot.waitUntil(lambda: not page.is_running, timeout=90_000)
        qtbot.waitUntil(lambda: not services.tasks.running, timeout=10_000)
    assert heartbeat.max_gap_ms < 500
    assert len(page.columns) == 2 and all(c.text.toPlainText() for c in page.columns)
    assert [c.title() for c in page.columns] == ["A: Model A", "B: Model B"]
    assert "tok/s" in page.columns[0].metrics.text()
    page.grab().save(str(screenshot_dir / "compare_before_vote.png"))

    page.vote("a")
    qtbot.waitUntil(lambda: "revealed" in page.vote_label.text(), timeout=10_000)
    assert all("SmolLM2" in c.title() for c in page.columns)
    db = services.workspace.db
    comparison = store.get_comparison_row(db, page.comparison_id)
    assert comparison["blind"] == 1 and len(store.votes_for(db, page.comparison_id)) == 1
    page.grab().save(str(screenshot_dir / "compare_after_vote.png"))
