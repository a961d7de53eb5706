"""Tiny inline SVG charts for the reports: a scatter plot and a horizontal bar chart.

Written by hand so a report is one self-contained file with no script, font or network
reference. No ``xmlns`` attribute either: inline SVG in HTML5 needs none, and it would be
the only URL in the file.
"""

from __future__ import annotations

from html import escape

W, H, PAD = 460, 260, 48
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _ticks(low: float, high: float) -> list[float]:
    if high <= low:
        high = low + 1
    step = (high - low) / 4
    return [low + step * i for i in range(5)]


def scatter(title: str, points: list[tuple[str, float, float]], x_label: str,
            y_label: str, y_max: float | None = None) -> str:
    """Points are (label, x, y); each label gets its own colour and a legend line."""
    if not points:
        return f"<p><em>{escape(title)}: no data yet.</em></p>"
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    x_low, x_high = min(xs) * 0.9, max(xs) * 1.1 or 1
    y_low, y_high = 0.0, y_max if y_max is not None else (max(ys) * 1.15 or 1)
    if x_high <= x_low:
        x_high = x_low + 1

    def sx(x: float) -> float:
        return PAD + (x - x_low) / (x_high - x_low) * (W - 2 * PAD)

    def sy(y: float) -> float:
        return H - PAD - (y - y_low) / (y_high - y_low) * (H - 2 * PAD)

    parts = [f'<svg width="{W}" height="{H + 20 * len(points)}" role="img" '
             f'aria-label="{escape(title)}" style="font:11px sans-serif">',
             f'<text x="{W / 2}" y="16" text-anchor="middle" font-weight="bold">'
             f"{escape(title)}</text>",
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">{escape(x_label)}</text>',
             f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" '
             f'text-anchor="middle">{escape(y_label)}</text>']
    for tick in _ticks(y_low, y_high):
        parts.append(f'<text x="{PAD - 4}" y="{sy(tick) + 4:.1f}" text-anchor="end">'
                     f"{tick:.3g}</text>")
    for tick in _ticks(x_low, x_high):
        parts.append(f'<text x="{sx(tick):.1f}" y="{H - PAD + 14}" text-anchor="middle">'
                     f"{tick:.3g}</text>")
    for i, (label, x, y) in enumerate(points):
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="6" fill="{colour}" '
                     f'fill-opacity="0.8"><title>{escape(label)}: {y:.3g}</title></circle>')
        parts.append(f'<circle cx="{PAD + 6}" cy="{H + 20 * i + 4}" r="5" fill="{colour}"/>'
                     f'<text x="{PAD + 16}" y="{H + 20 * i + 8}">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bars(title: str, items: list[tuple[str, float, str]]) -> str:
    """Horizontal bars: (label, value 0..1, text shown at the bar's end)."""
    if not items:
        return f"<p><em>{escape(title)}: no data yet.</em></p>"
    height = 30 + 26 * len(items)
    parts = [f'<svg width="{W}" height="{height}" role="img" aria-label="{escape(title)}" '
             'style="font:11px sans-serif">',
             f'<text x="{W / 2}" y="16" text-anchor="middle" font-weight="bold">'
             f"{escape(title)}</text>"]
    for i, (label, value, text) in enumerate(items):
        y = 28 + 26 * i
        width = max(0.0, min(1.0, value)) * (W - 200)
        parts.append(f'<text x="4" y="{y + 13}">{escape(label[:28])}</text>'
                     f'<rect x="150" y="{y}" width="{width:.1f}" height="18" '
                     f'fill="{COLOURS[i % len(COLOURS)]}"/>'
                     f'<text x="{154 + width:.1f}" y="{y + 13}">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)
