"""Trials without llama.cpp: suite import formats, checks, leaderboard maths, recommendation."""

from __future__ import annotations

import json
import math

import pytest

from workbench.errors import InvalidInputError
from workbench.trials.checks import normalize_check, run_check, run_checks
from workbench.trials.recommend import Bar, recommend
from workbench.trials.stats import bradley_terry, rate_with_intervals, spread, wilson
from workbench.trials.suites import export_suite, get_suite, import_suite


def test_import_jsonl_csv_and_text(db, tmp_path) -> None:
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text(
        '{"prompt": "Capital of France?", "reference": "Paris", '
        '"checks": [{"contains": "Paris"}, {"type": "exact"}]}\n\n'
        '{"prompt": "JSON please", "system": "Reply in JSON.", "checks": ["json"]}\n')
    csv_file = tmp_path / "qa.csv"
    csv_file.write_text('prompt,reference\n"Say hi, please",hi\nCount to 3,\n')
    text = tmp_path / "qa.txt"
    text.write_text("First prompt\n\nSecond prompt\n")

    one = import_suite(db, jsonl)
    assert [p.prompt for p in one.prompts] == ["Capital of France?", "JSON please"]
    assert one.prompts[0].checks == [{"type": "contains", "value": "Paris"},
                                     {"type": "exact", "value": "Paris"}]
    assert one.prompts[1].system == "Reply in JSON." and one.prompts[1].checks == [
        {"type": "json"}]
    two = import_suite(db, csv_file)
    assert [(p.prompt, p.reference) for p in two.prompts] == [("Say hi, please", "hi"),
                                                               ("Count to 3", None)]
    three = import_suite(db, text)
    assert [p.prompt for p in three.prompts] == ["First prompt", "Second prompt"]
    again = import_suite(db, text)
    assert (two.name, three.name, again.name) == ("qa (2)", "qa (3)", "qa (4)")

    exported = tmp_path / "back.jsonl"
    exported.write_text(export_suite(db, one.id))
    assert get_suite(db, import_suite(db, exported).id).prompts[0].checks == one.prompts[0].checks


def test_bad_import_names_the_line_and_writes_nothing(db, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": "x", "checks": [{"regex": "("}]}\n')
    with pytest.raises(InvalidInputError, match="line 2"):
        import_suite(db, bad)
    assert db.execute("SELECT COUNT(*) FROM suites").fetchone()[0] == 0
    no_column = tmp_path / "bad.csv"
    no_column.write_text("question\nhi\n")
    with pytest.raises(InvalidInputError, match="'prompt' column"):
        import_suite(db, no_column)


SCHEMA = {"type": "object", "required": ["name", "age"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}

CASES = [  # (check, passing reply, failing reply)
    ({"contains": "Paris"}, "It is Paris.", "It is Lyon."),
    ({"not_contains": "sorry"}, "Sure.", "I am sorry."),
    ({"regex": r"\b\d{4}\b"}, "In 1969.", "Long ago."),
    ({"type": "json"}, '```json\n{"a": 1}\n```', "{a: 1}"),
    ({"json_schema": SCHEMA}, '{"name": "Ann", "age": 3}', '{"name": "Ann", "age": -3}'),
    ({"exact": "Paris"}, "  Paris\n", "Paris."),
]


@pytest.mark.parametrize(("raw", "good", "bad"), CASES, ids=[next(iter(c[0])) for c in CASES])
def test_text_checks_pass_and_fail(raw, good, bad) -> None:
    check = normalize_check(raw)
    assert run_check(check, good).passed, run_check(check, good).detail
    assert not run_check(check, bad).passed


def test_json_checks_on_a_cut_reply_fail_with_the_reason() -> None:
    """A reply whose JSON the token limit cut fails its JSON checks with that reason, not a
    parser's message; the other checks are run as usual."""
    cut = "the JSON was cut at the token limit"
    checks = [normalize_check(c) for c in ({"type": "json"}, {"json_schema": SCHEMA},
                                           {"contains": "Ann"})]
    passed, results = run_checks(checks, '{"name": "Ann", "ag', cut=cut)
    assert passed is False
    assert [(r.passed, r.detail) for r in results] == [
        (False, cut), (False, cut), (True, "found: 'Ann'")]
    assert run_checks(checks, '{"name": "Ann", "age": 3}')[0] is True


def test_metric_checks_and_aggregate() -> None:
    tokens = normalize_check({"max_tokens": 10})
    latency = normalize_check({"type": "max_latency", "value": "500"})
    assert run_check(tokens, "x", completion_tokens=10).passed
    assert not run_check(tokens, "x", completion_tokens=11).passed
    assert run_check(latency, "x", total_ms=499.0).passed
    assert not run_check(latency, "x", total_ms=501.0).passed
    assert run_checks([], "anything") == (None, [])
    passed, results = run_checks([tokens, latency], "x", completion_tokens=3, total_ms=900)
    assert passed is False and [r.passed for r in results] == [True, False]
    schema_fail = run_check(normalize_check({"json_schema": SCHEMA}), '{"name": 5}')
    assert schema_fail.detail == "$: 'age' is a required property"  # the outermost first
    nested = run_check(normalize_check({"json_schema": SCHEMA}), '{"name": 5, "age": 1}')
    assert nested.detail == "$.name: 5 is not of type 'string'"
    fancy = {"$defs": {"id": {"type": "string", "pattern": "^[a-z]+-[0-9]+$"}},
             "type": "array", "items": {"$ref": "#/$defs/id"}, "uniqueItems": True}
    assert run_check(normalize_check({"json_schema": fancy}), '["ab-1", "cd-2"]').passed
    assert not run_check(normalize_check({"json_schema": fancy}), '["ab-1", "ab-1"]').passed
    with pytest.raises(InvalidInputError, match="not a valid schema"):
        normalize_check({"json_schema": {"type": "strnig"}})
    with pytest.raises(InvalidInputError):
        normalize_check({"type": "sounds_good"})


def test_bradley_terry_matches_the_closed_form() -> None:
    # A beats B 8 times out of 10: the ML strength ratio is 8/2 = 4, i.e. 400·log10(4) points.
    games = [(1, 2, 1.0)] * 8 + [(1, 2, 0.0)] * 2
    ratings = bradley_terry(games, prior=0)
    assert ratings[1] - ratings[2] == pytest.approx(400 * math.log10(4), abs=0.01)
    assert (ratings[1] + ratings[2]) / 2 == pytest.approx(1000, abs=0.01)
    # Ties count half: 4 wins, 4 losses, 2 ties -> equal.
    even = bradley_terry([(1, 2, 1.0)] * 4 + [(1, 2, 0.0)] * 4 + [(1, 2, 0.5)] * 2, prior=0)
    assert even[1] == pytest.approx(even[2], abs=1e-6)
    # A transitive three-way set ranks A > B > C; an unbeaten record stays finite with a prior.
    chain = [(1, 2, 1.0)] * 3 + [(2, 3, 1.0)] * 3 + [(1, 3, 1.0)] * 3
    ranked = bradley_terry(chain)
    assert ranked[1] > ranked[2] > ranked[3] and all(math.isfinite(v) for v in ranked.values())


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_votes() -> None:
    few = rate_with_intervals([[(1, 2, 1.0)]] * 3 + [[(1, 2, 0.0)]], rounds=200)
    many = rate_with_intervals(([[(1, 2, 1.0)]] * 3 + [[(1, 2, 0.0)]]) * 10, rounds=200)
    for board in (few, many):
        top = board[0]
        assert top.player == 1 and top.low <= top.rating <= top.high
        assert top.games == sum(r.games for r in board) / 2
    assert (many[0].high - many[0].low) < (few[0].high - few[0].low)
    assert rate_with_intervals([[(1, 2, 1.0)]])[0].low is None  # one vote: no interval


def test_spread_and_wilson() -> None:
    assert spread([3.0, None, 1.0, 2.0]).to_dict() == {"median": 2.0, "min": 1.0, "max": 3.0,
                                                       "n": 3}
    low, high = wilson(10, 10)
    assert 0.69 < low < 0.73 and high == 1.0


def _row(label, size, rss, pass_rate=None, checked=0, share=None, votes=0, tps=None, runs=5):
    return {"label": label, "file_size": size, "peak_rss": rss,
            "prompts_checked": checked, "prompts_passed": (pass_rate or 0) * checked,
            "pass_rate": pass_rate, "vote_share": share, "votes": votes,
            "gen_tps": {"median": tps, "n": runs if tps is not None else 0}}


def test_recommendation_picks_smallest_that_meets_the_bar() -> None:
    rows = [_row("big", 4_000, 900, 0.98, 60, 0.9, 60, 20.0),
            _row("small", 1_000, 500, 0.98, 60, 0.85, 60, 40.0),
            _row("tiny", 500, 300, 0.40, 60, 0.2, 60, 90.0)]
    choice = recommend(rows, Bar(min_pass_rate=0.8, min_vote_share=0.5, min_tps=10))
    assert choice.choice is not None and choice.choice["label"] == "small"
    assert "smallest" in choice.reason and "1 larger one also meets" in choice.reason
    # Same file size: the lower peak memory wins.
    tie = recommend([_row("a", 1_000, 800, 1.0, 40), _row("b", 1_000, 400, 1.0, 40)],
                    Bar(min_pass_rate=0.8))
    assert tie.choice is not None and tie.choice["label"] == "b"


def test_recommendation_says_when_none_meets_the_bar() -> None:
    rows = [_row("big", 4_000, 900, 0.6, 40), _row("small", 1_000, 500, 0.3, 40)]
    verdict = recommend(rows, Bar(min_pass_rate=0.9, min_vote_share=0.5))
    assert verdict.choice is None and verdict.closest is not None
    assert verdict.closest["label"] == "big"
    assert verdict.reason.startswith("No contender meets the bar")
    assert "no votes" in verdict.reason  # a bar part with no evidence is not met
    assert json.dumps(verdict.to_dict())
