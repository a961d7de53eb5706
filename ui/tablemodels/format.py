"""How numbers read in the Models tables: rates, times left and dates here; sizes and counts
come from ``workbench.units`` so the window, the CLI and the reports spell them alike.
"""

from __future__ import annotations

import datetime

from workbench.units import human_count, human_size

__all__ = ["human_count", "human_date", "human_eta", "human_rate", "human_size"]


def human_rate(bytes_per_second: float | None) -> str:
    """``12.3 MB/s``; empty when nothing has been measured yet."""
    if not bytes_per_second:
        return ""
    return f"{human_size(bytes_per_second)}/s"


def human_eta(seconds: float | None) -> str:
    """``1 h 03 min``, ``4 min 10 s``, ``12 s``; empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def human_date(value: str | datetime.datetime | None, today: datetime.date | None = None) -> str:
    """``2024-05-03``, or ``today`` / ``yesterday`` / ``5 days ago`` within a week."""
    if not value:
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value[:10]
    day = value.date()
    today = today or datetime.date.today()
    delta = (today - day).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "yesterday"
    if 1 < delta < 7:
        return f"{delta} days ago"
    return day.isoformat()
