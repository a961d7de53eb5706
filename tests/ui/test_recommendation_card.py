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
    card.show_recommendation(recommend(rows, Bar(min_pass_rate=0.8, min_tps=10)))
    card.show()
    assert card.headline.text().startswith("1B is the smallest contender")
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
    assert card.headline.text().startswith("No bar set") and card.parts == []
    assert card.paired == []
