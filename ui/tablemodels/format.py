"""How dates read in the Models tables. Sizes, counts, rates and times left are
``workbench.units``'s (imported from there, one way), so the window, the CLI and the reports
spell them alike.
"""

from __future__ import annotations

import datetime


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
