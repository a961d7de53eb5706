"""Contender settings as words ("greedy, up to 256 tokens"), never as a dict or KEY=VALUE
list, wherever the Trials page shows them (the picker's hint, the results' column tooltips,
the leaderboard's variant rows, the chart legends): the core's own wording
(:mod:`workbench.trials.plain`), so the window, the CLI and the reports say the same."""

from __future__ import annotations

from workbench.errors import WorkbenchError
from workbench.trials.contenders import parse_set_options
from workbench.trials.plain import contender_in_words, settings_in_words

__all__ = ["contender_in_words", "settings_in_words", "typed_in_words"]


def typed_in_words(items: list[str]) -> str:
    """A picker row's ``KEY=VALUE`` items in words, or why they are not valid yet."""
    try:
        return settings_in_words(parse_set_options(items))
    except WorkbenchError as error:
        return str(error)
