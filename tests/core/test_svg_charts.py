"""The trial charts (one renderer for reports and window): nice ticks, whole numbers for
counts, every contender's full name, and a dark variant."""

from __future__ import annotations

import re
from html import unescape
from xml.etree import ElementTree

from workbench.trials import svg

LONG = "SmolLM2-135M-Instruct-Q8_0.gguf · temperature 0.7 · top p 0.9 · seed 7 · ctx 4096"


def contenders(votes: bool = True) -> list[dict]:
    return [
        {"label": LONG, "file_size": 145e6, "gen_tps": {"median": 190.2}, "pass_rate": 0.75,
         "votes": 3 if votes else 0, "vote_share": 2 / 3},
        {"label": "Qwen2.5-0.5B-Instruct-Q4_K_M", "file_size": 397e6,
         "gen_tps": {"median": 79.5}, "pass_rate": 0.5, "votes": 3 if votes else 0,
         "vote_share": 1 / 3},
    ]


def texts(document: str) -> list[str]:
    root = ElementTree.fromstring(svg.standalone(document))
    return [unescape("".join(node.itertext())) for node in root.iter()
            if node.tag.endswith("text")]


def test_ticks_are_nice_numbers():
    assert svg.nice_ticks(79, 191) == [50, 100, 150, 200]
    assert svg.nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert svg.nice_ticks(0, 0.9) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_counts_get_whole_number_ticks():
    assert svg.nice_ticks(0, 1, integer=True) == [0, 1]
    assert svg.nice_ticks(0, 3, integer=True) == [0, 1, 2, 3]
    chart = svg.stacked("Votes", [("a", (1, 0)), ("b", (0, 1))], ("won", "lost"))
    numbers = [t for t in texts(chart) if re.fullmatch(r"[\d.]+", t)]
    assert numbers == ["0", "1"]


def test_full_names_are_kept_wrapped_never_cut():
    for chart in svg.trial_charts(contenders()):
        shown = " ".join(texts(chart))
        for word in LONG.split():
            assert word in shown, (word, shown)
        assert "…" not in shown
    lines = svg.wrap(LONG, 200)
    assert len(lines) > 1 and "".join(lines).replace(" ", "") == LONG.replace(" ", "")
    assert all(len(line) * svg.CHAR_PX <= 200 for line in lines)


def test_every_chart_is_valid_svg_in_both_looks():
    for style in (svg.LIGHT, svg.DARK):
        for chart in svg.trial_charts(contenders(), style) + svg.trial_charts([], style):
            root = ElementTree.fromstring(svg.standalone(chart))
            assert root.tag.endswith("svg")
            background = next(n for n in root.iter() if n.tag.endswith("rect"))
            assert background.get("fill") == style.background


def test_the_dark_variant_draws_on_a_dark_background():
    chart = svg.trial_charts(contenders(), svg.DARK)[0]
    assert f'fill="{svg.DARK.background}"' in chart and svg.LIGHT.background not in chart


def test_no_data_says_so():
    charts = svg.trial_charts(contenders(votes=False))
    assert "No data yet" in " ".join(texts(charts[2]))
    assert all("<svg" in chart for chart in charts)
