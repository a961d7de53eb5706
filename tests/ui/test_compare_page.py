"""The Compare page: two contenders (the test model under two settings) stream side by side,
blind until the vote, then revealed; the GUI thread stays free."""

from __future__ import annotations

from pathlib import Path

from workbench.trials import store

SETTINGS = "temperature=0, max_tokens=12, n_ctx=2048, n_threads=2, gpu_layers=0, seed=7"


def open_page(qtbot, services):  # type: ignore[no-untyped-def]
    from ui.views.compare_page import ComparePage

    page = ComparePage(services)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    qtbot.waitUntil(lambda: bool(page.picker.models), timeout=10_000)
    return page


def test_compare_streams_blind_then_reveals(qtbot, services, heartbeat, screenshot_dir: Path):
    page = open_page(qtbot, services)
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


def test_three_answers_ranked_in_one_vote(qtbot, services, monkeypatch, screenshot_dir: Path):
    from ui.widgets.rank_dialog import RankDialog
    from workbench.trials.results import leaderboard

    page = open_page(qtbot, services)
    page.picker.add_row()
    quick = SETTINGS.replace("max_tokens=12", "max_tokens=6")
    for row, system in zip(page.picker.rows, ("", ", system_prompt=Be brief.",
                                              ", system_prompt=Answer in French."), strict=True):
        row[1].setText(quick + system)
    page.prompt.setPlainText("Name a colour.")
    page.start()
    qtbot.waitUntil(lambda: not page.is_running, timeout=90_000)
    qtbot.waitUntil(lambda: not services.tasks.running, timeout=10_000)
    texts = [b.text() for b in page.vote_buttons]
    assert texts == ["A best", "B best", "C best", "Tie", "All bad", "Rank…"]

    def exec_moving_c_to_the_top(dialog: RankDialog) -> int:
        assert dialog.order() == ["A", "B", "C"]
        dialog.list.setCurrentRow(2)
        dialog.move(-1)
        dialog.move(-1)
        dialog.move(-1)  # already at the top: stays
        return RankDialog.DialogCode.Accepted

    monkeypatch.setattr(RankDialog, "exec", exec_moving_c_to_the_top)
    next(b for b in page.vote_buttons if b.text() == "Rank…").click()
    qtbot.waitUntil(lambda: "C > A > B" in page.vote_label.text(), timeout=10_000)
    vote = store.votes_for(services.workspace.db, page.comparison_id)[0]
    order = store.get_comparison_row(services.workspace.db, page.comparison_id)["display_order"]
    assert vote["ranking"] == [order[2], order[0], order[1]]
    board = {row["contender_id"]: row for row in leaderboard(services.workspace.db, rounds=20)}
    # one ranking is three games: C beat A and B, A beat B
    assert [board[order[i]]["games"] for i in (2, 0, 1)] == [2, 2, 2]
    ratings = [board[order[i]]["rating"] for i in (2, 0, 1)]
    assert ratings == sorted(ratings, reverse=True) and ratings[0] > ratings[2]
    page.grab().save(str(screenshot_dir / "compare_ranked.png"))
