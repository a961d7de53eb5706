"""The number vocabulary: how sizes, durations, rates and a reply's metrics read, and that
nothing outside ``workbench/units.py`` writes a unit after a number by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.units import (
    TOKENS_PER_S,
    human_ago,
    human_duration,
    human_eta,
    human_ms,
    human_rate,
    human_size,
    human_spread,
    human_tps,
    reply_metrics,
)

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "workbench" / "units.py"


@pytest.mark.parametrize(("n", "text"), [
    (None, "-"), (0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (98_400_000, "98.4 MB"),
    (1.2e9, "1.2 GB"), (3.5e12, "3.5 TB"),
])
def test_sizes_are_decimal(n: float | None, text: str) -> None:
    assert human_size(n) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0.0, "0 ms"), (0.00009, "0.1 ms"), (0.0042, "4.2 ms"),
    (0.8404, "840 ms"), (0.9996, "1.0 s"), (2.34, "2.3 s"),
    (59.96, "1 min 00 s"), (250, "4 min 10 s"), (3780, "1 h 03 min"),
])
def test_a_measured_time_is_ms_under_a_second_then_seconds_then_minutes(
        seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


def test_milliseconds_read_as_durations() -> None:
    assert human_ms(840.2) == "840 ms"
    assert human_ms(1234) == "1.2 s"
    assert human_ms(None) == "-"


@pytest.mark.parametrize(("seconds", "text"), [
    (None, ""), (-1, ""), (12.4, "12 s"), (250, "4 min 10 s"), (3780, "1 h 03 min"),
])
def test_a_time_left_is_whole_seconds(seconds: float | None, text: str) -> None:
    assert human_eta(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0, "just now"), (59.9, "just now"), (60, "1 min ago"), (3599, "59 min ago"),
    (7300, "2 h ago"), (86400, "1 day ago"), (5 * 86400 + 10, "5 days ago"),
])
def test_how_long_ago_is_coarse(seconds: float | None, text: str) -> None:
    assert human_ago(seconds) == text


@pytest.mark.parametrize(("tps", "text"), [
    (None, "-"), (12.34, "12.3 tok/s"), (99.94, "99.9 tok/s"), (99.96, "100 tok/s"),
    (1234.4, "1,234 tok/s"),
])
def test_rates_have_one_decimal_under_a_hundred(tps: float | None, text: str) -> None:
    assert human_tps(tps) == text


def test_transfer_rates_are_sizes_per_second() -> None:
    assert human_rate(5e6) == "5.0 MB/s"
    assert human_rate(0) == human_rate(None) == ""


def test_a_spread_formats_each_number_with_its_unit() -> None:
    spread = {"median": 840.0, "min": 790.0, "max": 1200.0, "n": 3}
    assert human_spread(spread, human_ms) == "840 ms (790 ms–1.2 s, n=3)"
    assert human_spread({"median": 12.0, "min": 12.0, "max": 12.0, "n": 1}, human_tps) == \
        "12.0 tok/s"
    assert human_spread({"median": None, "n": 0}, human_tps) == "–"


METRICS = {"gen_tps": 12.34, "ttft_ms": 840.0, "prompt_tokens": 5, "completion_tokens": 120,
           "prompt_tps": 312.0, "peak_rss": 310_200_000, "load_ms": 1234.0}


def test_the_long_form_has_everything_in_the_one_order() -> None:
    line = reply_metrics({**METRICS, "dropped_turns": 2}, "stop")
    assert line == ("12.3 tok/s · first token 840 ms · 5 prompt + 120 tokens · prompt 312 tok/s"
                    " · peak 310.2 MB · loaded in 1.2 s · finish: stop · dropped 2 old turns")


def test_the_short_form_keeps_speed_ttft_tokens_and_peak() -> None:
    line = reply_metrics({**METRICS, "finish_reason": "stop"}, short=True)
    assert line == "12.3 tok/s · TTFT 840 ms · 120 tokens · peak 310.2 MB"


def test_what_was_not_measured_is_left_out() -> None:
    assert reply_metrics({"completion_tokens": 3, "gen_tps": None, "peak_rss": 0}) == "3 tokens"
    assert reply_metrics({}) == ""
    # The finish reason comes from the metrics unless given.
    assert reply_metrics({"finish_reason": "length"}) == "finish: length"
    assert reply_metrics({"finish_reason": "length"}, "") == ""


def test_reply_stats_summary_is_the_long_form() -> None:
    from workbench.engine.settings import ReplyStats  # the engine may use a leaf
    stats = ReplyStats(prompt_tokens=5, completion_tokens=120, ttft_ms=840.0, gen_tps=12.34,
                       peak_rss=310_200_000, finish_reason="stop")
    assert stats.summary() == reply_metrics(
        {**stats.measurements(), "dropped_turns": 0}, "stop")
    assert stats.summary().startswith(human_tps(12.34))


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if p != UNITS)


#: A number formatted in an f-string and followed by a unit: ``{x:.1f} MB``, ``{ms:.0f} ms``.
#: Times in error messages (``within {timeout:g} s``) are a limit's own words and stay.
HAND_WRITTEN = re.compile(r"\}\s?(ms|KB|MB|GB|TB|MB/s|tok/s|tokens/s)\b")


def test_the_speed_unit_is_written_only_by_units() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _sources("workbench", "ui", "benchmarks")
                 if TOKENS_PER_S in p.read_text(encoding="utf-8")]
    assert offenders == [], f"'{TOKENS_PER_S}' is written outside workbench/units.py"


def test_no_number_gets_its_unit_by_hand() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
                 for p in _sources("workbench", "ui")
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if HAND_WRITTEN.search(line)]
    assert offenders == [], "use workbench.units:\n" + "\n".join(offenders)


def test_the_checks_can_fail() -> None:
    planted = 'speed = f"{tps:.1f} tok/s"; size = f"{n / 1e6:.0f} MB"\n'
    assert TOKENS_PER_S in planted and HAND_WRITTEN.search(planted)
    assert not HAND_WRITTEN.search('f"took longer than {MAX_SECONDS:g} s"')


def test_units_is_a_leaf() -> None:
    imports = re.findall(r"^\s*(?:from|import)\s+(\S+)", UNITS.read_text(), re.MULTILINE)
    assert not [name for name in imports if name.startswith(("workbench", "ui"))
                and name != "workbench.errors"]
