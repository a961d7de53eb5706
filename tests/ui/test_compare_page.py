"""The Compare page: contenders (the test model under different settings) stream side by side
as lettered answers, blind until the vote; the vote is stored for the contender whose answer
was chosen, whichever way the columns were shuffled; the GUI thread stays free."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from tests.ui.conftest import make_window
from ui import theme
from workbench.library import get_model
from workbench.trials import store
from workbench.trials.contenders import make_contender, parse_set_options

# One thread: on a loaded machine llama.cpp's spinning thread pool made two threads 20 times
# slower (0.5 against 9 tokens/s with eight test runs sharing two cores).
SETTINGS = "temperature=0, max_tokens=12, n_ctx=2048, n_threads=1, gpu_layers=0, seed=7"
FRENCH = SETTINGS + ", system_prompt=Answer in French."
SIZES = ((1280, 800), (1920, 1080))


class FixedOrder(random.Random):
    """A "shuffle" that keeps or reverses the columns: forces the blind order in a test."""

    def __init__(self, reverse: bool) -> None:
        super().__init__(0)
        self.reverse = reverse

    def shuffle(self, x) -> None:  # type: ignore[no-untyped-def, override]
        if self.reverse:
            x.reverse()


def open_page(qtbot, services):  # type: ignore[no-untyped-def]
    from ui.views.compare.page import ComparePage

    page = ComparePage(services)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    qtbot.waitUntil(lambda: bool(page.picker.models), timeout=10_000)
    # The memory estimate that follows the model list is done before a test starts work.
    qtbot.waitUntil(lambda: not services.tasks.running, timeout=10_000)
    return page


def run_and_wait(qtbot, page, services) -> None:  # type: ignore[no-untyped-def]
    page.start()
    qtbot.waitUntil(lambda: not page.is_running, timeout=120_000)
    qtbot.waitUntil(lambda: not services.tasks.running, timeout=10_000)
    qtbot.waitUntil(lambda: "saved" in page.status.text(), timeout=10_000)


def contender_id(services, page, row: int) -> int:  # type: ignore[no-untyped-def]
    """The contender a picker row stands for, resolved apart from the page."""
    from ui.views.contender_picker import split_settings

    combo, edit, _remove = page.picker.rows[row]
    db = services.workspace.db
    return make_contender(db, get_model(db, combo.currentData()),
                          parse_set_options(split_settings(edit.text()))).id


def button(page, text: str) -> QPushButton:  # type: ignore[no-untyped-def]
    return next(b for b in page.vote_buttons if b.text() == text)


def test_picker_rows_are_numbered_and_renumbered(qtbot, services):
    page = open_page(qtbot, services)
    page.picker.add_row()
    numbers = [row.number.text() for row in page.picker.row_widgets]
    assert numbers == ["1", "2", "3"]
    page.picker.remove_row(page.picker.row_widgets[1])
    qtbot.wait(10)
    assert [row.number.text() for row in page.picker.row_widgets] == ["1", "2"]


@pytest.mark.parametrize("reverse", [False, True], ids=["kept", "reversed"])
def test_blind_vote_is_stored_for_the_writer_of_the_chosen_answer(qtbot, services, heartbeat,
                                                                  reverse):
    page = open_page(qtbot, services)
    page.shuffle_rng = FixedOrder(reverse)
    first, second = page.picker.rows
    first[1].setText(SETTINGS)
    second[1].setText(FRENCH)
    page.prompt.setPlainText("What is the capital of France?")
    assert page.blind.isChecked()
    with heartbeat:
        run_and_wait(qtbot, page, services)
    assert heartbeat.max_gap_ms < 500, heartbeat.long_gaps

    db = services.workspace.db
    one, two = contender_id(services, page, 0), contender_id(services, page, 1)
    order = store.get_comparison_row(db, page.comparison_id)["display_order"]
    assert order == ([two, one] if reverse else [one, two])  # the forced shuffle held
    assert [c.title.text() for c in page.columns] == ["Answer A", "Answer B"]
    assert all(c.writer.text() == "Hidden until you vote" for c in page.columns)
    texts = [c.text for c in page.columns]
    assert all(texts) and texts[0] != texts[1], texts  # two answers told apart by content
    assert [b.text() for b in page.vote_buttons] == ["A is better", "B is better", "Tie",
                                                      "Both bad"]

    # The user prefers the second answer shown: the vote must go to whoever wrote it.
    qtbot.mouseClick(button(page, "B is better"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Your vote" in page.status.text(), timeout=10_000)
    vote = store.votes_for(db, page.comparison_id)[0]
    expected = one if reverse else two
    assert vote["outcome"] == "win" and vote["winner_id"] == expected
    stored = {r["contender_id"]: r["content"] for r in store.comparison_replies(
        db, page.comparison_id)}
    assert stored[vote["winner_id"]] == page.columns[1].text  # the text that was chosen
    number = 1 if reverse else 2
    chosen, other = page.columns[1], page.columns[0]
    assert chosen.writer.text().startswith(f"Contender {number}: SmolLM2")
    assert chosen.verdict.text() == "✓ Your choice"
    assert ("system prompt" in chosen.writer.toolTip()) == (not reverse)  # its settings
    assert other.writer.text().startswith(f"Contender {3 - number}: SmolLM2")
    assert other.verdict.text() == ""
    assert "B is better" in page.status.text()
    assert not any(b.isEnabled() for b in page.vote_buttons)


def test_three_answers_ranked_in_one_vote(qtbot, services, monkeypatch):
    from ui.widgets.rank_dialog import RankDialog
    from workbench.trials.results import leaderboard

    page = open_page(qtbot, services)
    page.picker.add_row()
    quick = SETTINGS.replace("max_tokens=12", "max_tokens=6")
    for row, system in zip(page.picker.rows, ("", ", system_prompt=Be brief.",
                                              ", system_prompt=Answer in French."), strict=True):
        row[1].setText(quick + system)
    page.prompt.setPlainText("Name a colour.")
    page.blind.setChecked(False)  # open: writers and all metrics are shown from the start
    run_and_wait(qtbot, page, services)
    order = store.get_comparison_row(services.workspace.db, page.comparison_id)["display_order"]
    ids = [contender_id(services, page, row) for row in range(3)]
    assert order == ids  # not shuffled
    assert [c.writer.text().split(":")[0] for c in page.columns] == [
        "Contender 1", "Contender 2", "Contender 3"]
    assert all("peak" in c.metrics.text() for c in page.columns)
    texts = [b.text() for b in page.vote_buttons]
    assert texts == ["A is best", "B is best", "C is best", "Tie", "All bad", "Rank…"]

    def exec_moving_c_to_the_top(dialog: RankDialog) -> int:
        assert dialog.order() == ["A", "B", "C"]
        assert dialog.list.item(2).text().startswith("Answer C: ")
        dialog.list.setCurrentRow(2)
        dialog.move(-1)
        dialog.move(-1)
        dialog.move(-1)  # already at the top: stays
        return RankDialog.DialogCode.Accepted

    monkeypatch.setattr(RankDialog, "exec", exec_moving_c_to_the_top)
    button(page, "Rank…").click()
    qtbot.waitUntil(lambda: "C > A > B" in page.status.text(), timeout=10_000)
    vote = store.votes_for(services.workspace.db, page.comparison_id)[0]
    assert vote["ranking"] == [order[2], order[0], order[1]]
    assert [c.verdict.text() for c in page.columns] == ["Ranked 2nd", "Ranked 3rd",
                                                         "Ranked 1st"]
    board = {row["contender_id"]: row for row in leaderboard(services.workspace.db, rounds=20)}
    # one ranking is three games: C beat A and B, A beat B
    assert [board[order[i]]["games"] for i in (2, 0, 1)] == [2, 2, 2]
    ratings = [board[order[i]]["rating"] for i in (2, 0, 1)]
    assert ratings == sorted(ratings, reverse=True) and ratings[0] > ratings[2]


def assert_not_clipped(widget: QLabel | QPushButton) -> None:
    """A label gets the height its wrapped text needs; a button is as wide as its text."""
    name = f"{type(widget).__name__} {widget.text()!r}"
    if isinstance(widget, QPushButton):
        assert widget.width() >= widget.fontMetrics().horizontalAdvance(widget.text()), name
        return
    if widget.wordWrap():
        assert widget.height() >= widget.heightForWidth(widget.width()), name
    else:
        assert widget.width() >= widget.sizeHint().width(), name


def test_four_answers_fit_at_1280_and_screenshots(qtbot, services, screenshot_dir: Path):
    """Four Markdown answers side by side in the window at 1280x800, nothing clipped, the
    status bar naming the model while it runs; shots at both sizes, light and dark, before
    and after the vote."""
    from ui.views.compare.column import COLUMN_MIN_WIDTH

    window = make_window(qtbot, services)
    window.show_page("Compare")
    page = window.page_widgets["Compare"]
    qtbot.waitUntil(lambda: bool(page.picker.models), timeout=10_000)
    page.picker.add_row()
    page.picker.add_row()
    markdown = SETTINGS.replace("max_tokens=12", "max_tokens=30")
    for row, extra in zip(page.picker.rows, ("", ", seed=8, temperature=0.9",
                                             ", system_prompt=Be brief.",
                                             ", system_prompt=Answer in French."), strict=True):
        row[1].setText(markdown + extra)
    page.prompt.setPlainText("Give three tips for learning Python, as a Markdown list with "
                             "**bold** key words.")
    page.start()
    status = window.model_label.full_text()
    # Blind (the default): the status bar names no model until the vote.
    assert status == "Model hidden until you vote", status
    qtbot.waitUntil(lambda: not page.is_running, timeout=180_000)
    qtbot.waitUntil(lambda: not services.tasks.running, timeout=10_000)
    qtbot.waitUntil(lambda: "saved" in page.status.text(), timeout=10_000)
    assert "comparing" not in window.model_label.full_text()
    assert len(page.columns) == 4 and all(c.text for c in page.columns)
    assert all(c.view.plain_text() for c in page.columns)  # drawn by the Markdown view

    def check_layout(voted: bool) -> None:
        qtbot.wait(100)
        assert not page.column_scroll.horizontalScrollBar().isVisible()  # four fit across
        assert not page.page_scroll.verticalScrollBar().isVisible()  # and the page, down
        for column in page.columns:
            assert column.width() >= COLUMN_MIN_WIDTH
            assert column.metrics.text() and "tok/s" in column.metrics.text()
            assert ("peak" in column.metrics.text()) == voted  # memory: only once named
            for label in (column.title, column.verdict, column.writer, column.metrics):
                assert_not_clipped(label)
        for widget in (page.status, *page.vote_buttons):
            assert_not_clipped(widget)

    def shots(state: str) -> None:
        for look in ("light", "dark"):
            theme.apply_theme(QApplication.instance(), look)
            for width, height in SIZES:
                window.resize(width, height)
                qtbot.wait(150)
                if width == 1280:
                    check_layout(state == "after-vote")
                path = screenshot_dir / f"compare-{state}-{look}-{width}x{height}.png"
                assert window.grab().save(str(path))
        theme.apply_theme(QApplication.instance(), "light")
        window.resize(*SIZES[0])

    shots("before-vote")
    button(page, "C is best").click()
    qtbot.waitUntil(lambda: "Your vote" in page.status.text(), timeout=10_000)
    assert all(c.writer.text().startswith("Contender ") for c in page.columns)
    shots("after-vote")
    window.close()


def test_vote_words_name_letters_and_verdicts_follow_the_vote():
    """Pure functions: button texts and what a stored vote says of each answer."""
    from ui.views.compare.page import column_verdicts, said_vote, vote_choices

    assert vote_choices(2) == [("A is better", "a"), ("B is better", "b"), ("Tie", "tie"),
                               ("Both bad", "bad")]
    assert [t for t, _ in vote_choices(4)] == ["A is best", "B is best", "C is best",
                                               "D is best", "Tie", "All bad"]
    win = {"outcome": "win", "winner_letter": "B", "ranking_letters": []}
    assert said_vote(win, 2) == "B is better" and said_vote(win, 3) == "B is best"
    assert column_verdicts(win, 3) == ["", "✓ Your choice", ""]
    ranked = {"outcome": "win", "winner_letter": "C", "ranking_letters": ["C", "A", "B"]}
    assert said_vote(ranked, 3) == "C > A > B"
    assert column_verdicts(ranked, 3) == ["Ranked 2nd", "Ranked 3rd", "Ranked 1st"]
    assert said_vote({"outcome": "bad"}, 2) == "Both bad"
    assert column_verdicts({"outcome": "tie"}, 2) == ["Tie", "Tie"]
