"""Numbers as people read them: one formatting for the CLI, the window and the reports."""

from __future__ import annotations


def human_size(n: float | None) -> str:
    """Bytes in decimal units (as the Hub and file managers show them): ``98.4 MB``."""
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_count(n: float | None) -> str:
    """Parameter counts and the like: ``134.5M``, ``7.6B``."""
    if not n:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))
