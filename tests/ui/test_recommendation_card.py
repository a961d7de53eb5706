"""The recommendation card on its own: each part of the bar in words with its numbers, the
paired lines, the ask for a bar when none is set, and labels shown as text, not markup."""

from __future__ import annotations

from workbench.trials.recommend import Bar, recommend
from workbench.trials.stats import wilson


def _row(label, size, passed, checked, scores, runs=5):
    return {"label": label, "file_size": size, "peak_rss": size, "prompts_checked": checked,
            "prompts_passed": passed, "pass_rate": passed / checked,
            "pass_low": wilson(passed, checked)[0], "prompt_scores": scores, "votes": 0,
            "gen_tps": {"median": 40.0, "n": runs}}


def test_card_shows_parts_and_paired_lines(qtbot, themed) -> None:
    from ui.views.trials.recommendation_card import RecommendationCard

    card = RecommendationCard()
    qtbot.addWidget(card)
    rows = [_row("<b>7B</b>", 7000, 40, 40, {p: 1.0 for p in range(40)}),
            _row("1B", 1000, 37, 40, {p: float(p >= 3) for p in range(40)}),
            _row("tiny", 10, 3, 3, {p: 1.0 for p in range(3)}, runs=2)]
    # 37 of 40 settles a 70% bar with Holm over three contenders (an 80% bar would need
    # all 40: the rule holds however often the trial is looked at)
    card.show_recommendation(recommend(rows, Bar(min_pass_rate=0.7, min_tps=10)))
    card.show()
    assert card.reason.text().startswith("1B is the smallest contender")
    assert card.headline.text().startswith("Recommended: 1B")
    outcomes = {(label, outcome) for label, outcome, _text in card.parts}
    assert ("1B", "meets") in outcomes and ("tiny", "not enough evidence") in outcomes
    assert ("1B", "not enough evidence") not in outcomes
    speed = [t for label, outcome, t in card.parts if label == "tiny" and t.startswith("speed")]
    assert speed and "1 more warm run needed" in speed[0]
    assert len(card.paired) == 1 and "p = 0.25" in card.paired[0]
    assert "<b>7B</b> passed 3 more of 40 prompts" in card.paired[0]  # text, not markup
    texts = [w.text() for w in card.findChildren(type(card.headline))]
    assert any(t.strip().startswith("not enough evidence: pass rate 100% (3 of 3") for t in texts)

    # Again with no bar: the card is replaced, not appended to, and asks for a bar.
    card.show_recommendation(recommend(rows, Bar()))
    qtbot.wait(1)
    assert card.reason.text().startswith("No bar set") and card.parts == []
    assert card.headline.text().endswith("Set a minimum pass rate to get a recommendation.")
    assert card.paired == []


def test_the_plain_verdict_comes_first_and_the_numbers_fold_open_on_a_click(qtbot,
                                                                          themed) -> None:
    from PySide6.QtCore import Qt

    from ui.views.trials.recommendation_card import RecommendationCard

    greedy = {"temperature": 0.0, "max_tokens": 256}
    smol = {**_row("SmolLM2 [max_tokens=256, temperature=0.0]", 98_400_000, 4, 4,
                   {p: 1.0 for p in range(4)}), "model": "SmolLM2", "settings": greedy,
            "name": "SmolLM2 (greedy, up to 256 tokens)"}
    gemma = {**_row("gemma [max_tokens=256, temperature=0.0]", 240_000_000, 0, 4,
                    {p: 0.0 for p in range(4)}), "model": "gemma-3-270m", "settings": greedy,
             "name": "gemma-3-270m (greedy, up to 256 tokens)",
             "kind": "base model (not tuned for chat)", "echoes": 4}
    card = RecommendationCard()
    qtbot.addWidget(card)
    card.resize(900, 600)
    card.show_recommendation(recommend([smol, gemma], Bar(min_pass_rate=0.8)))
    card.show()
    qtbot.waitExposed(card)
    headline = card.headline.text()
    assert headline.startswith("Best so far: SmolLM2 (98.4 MB): 4 of 4 prompts passed.")
    assert "base model (not tuned for chat), 4 echoes of the prompt" in headline
    assert "To be sure SmolLM2 reaches 80%, it needs to pass" in headline
    assert "interval" not in headline and "max_tokens" not in headline
    # The numbers are folded: nothing of them is on screen until the toggle is clicked.
    assert not card.reason.isVisible() and card.fold.text() == "Show the numbers"
    qtbot.mouseClick(card.fold, Qt.MouseButton.LeftButton)
    assert card.reason.isVisible() and card.fold.text() == "Hide the numbers"
    assert "95% interval" in card.reason.text()
    shown = [w.text() for w in card.findChildren(type(card.headline)) if w.isVisible()]
    assert "SmolLM2 (greedy, up to 256 tokens): does not meet the bar (yet)" in shown
    assert ("  Why it may fail: base model (not tuned for chat), 4 echoes of the prompt"
            in shown)
    assert not any("max_tokens=" in text for text in shown)  # settings as words
    # The order on screen: the sentence above the toggle above the numbers.
    assert card.headline.y() < card.fold.y() < card._body.y()
    qtbot.mouseClick(card.fold, Qt.MouseButton.LeftButton)
    assert not card.reason.isVisible()
