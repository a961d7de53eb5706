"""The trial charts, drawn one way: small SVG documents for the reports and the window.

Written by hand so a report is one self-contained file with no script, font or network
reference (no ``xmlns`` either: inline SVG in HTML5 needs none, and it would be the only URL
in the file); the window renders the very same text with Qt's SVG renderer, which adds the
namespace itself (:func:`standalone`). Only SVG Tiny features are used (no CSS, no
``<foreignObject>``), so both draw alike.

Legibility rules: "nice" ticks (1, 2 or 5 times a power of ten), whole-number labels for
counts, every contender's full name (wrapped, never cut) in a numbered legend, and colours
from a :class:`ChartStyle` so the window's dark look gets dark charts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from workbench.units import TOKENS_PER_S

W = 460
FONT_PX = 11
CHAR_PX = 6.4  # a generous average advance of an 11 px sans-serif glyph
LINE_PX = 15


@dataclass(frozen=True)
class ChartStyle:
    """Colours of one look. The window builds one from its theme (``ui.theme.chart_style``);
    reports use :data:`LIGHT`."""

    background: str
    text: str
    muted: str
    grid: str
    axis: str
    series: tuple[str, ...]


LIGHT = ChartStyle(background="#ffffff", text="#1f2328", muted="#5f6771", grid="#e3e6ea",
                   axis="#8c939c",
                   series=("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"))
DARK = ChartStyle(background="#26282c", text="#e6e7e9", muted="#a3a7ae", grid="#3a3d42",
                  axis="#80858d",
                  series=("#60a5fa", "#f87171", "#4ade80", "#c084fc", "#fb923c", "#22d3ee"))


# --- scales --------------------------------------------------------------------------------

def nice_step(span: float, count: int = 5, integer: bool = False) -> float:
    """A step of 1, 2 or 5 times a power of ten that cuts ``span`` into about ``count``
    parts; at least 1 for counts (no "0.25 votes")."""
    if span <= 0 or not math.isfinite(span):
        span = 1.0
    raw = span / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return max(1.0, round(step)) if integer else step


def nice_ticks(low: float, high: float, count: int = 5,
               integer: bool = False) -> list[float]:
    """Ticks covering [low, high], starting and ending on a multiple of the step."""
    if high <= low:
        high = low + 1
    step = nice_step(high - low, count, integer)
    start = math.floor(low / step + 1e-9) * step
    end = math.ceil(high / step - 1e-9) * step
    ticks: list[float] = []
    value = start
    while value <= end + step / 2 and len(ticks) < 50:
        ticks.append(round(value, 10))
        value += step
    return ticks


def tick_label(value: float, step: float) -> str:
    """As many decimals as the step needs, none for whole steps."""
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def wrap(text: str, width_px: float) -> list[str]:
    """Lines of ``text`` no wider than ``width_px`` (estimated), broken at spaces, then at
    dashes, dots and underscores; a word longer than a line is split, never dropped."""
    limit = max(4, int(width_px / CHAR_PX))
    pieces: list[tuple[str, str]] = []  # (piece, what joins it to the one before)
    for word in text.split():
        glue = " "
        while len(word) > limit:
            cut = max(word.rfind(ch, 0, limit) for ch in "-_./")
            cut = cut + 1 if cut > 0 else limit
            pieces.append((word[:cut], glue))
            word, glue = word[cut:], ""
        if word:
            pieces.append((word, glue))
    lines: list[str] = []
    for piece, glue in pieces:
        if lines and len(lines[-1]) + len(glue) + len(piece) <= limit:
            lines[-1] += glue + piece
        else:
            lines.append(piece)
    return lines or [""]


# --- drawing -------------------------------------------------------------------------------

def _text(x: float, y: float, text: str, fill: str, anchor: str = "start",
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" fill="{fill}" text-anchor="{anchor}"{extra}>'
            f"{escape(text)}</text>")


def _open(title: str, height: float, style: ChartStyle) -> list[str]:
    return [f'<svg width="{W}" height="{height:.0f}" viewBox="0 0 {W} {height:.0f}" '
            f'role="img" aria-label="{escape(title)}" font-family="sans-serif" '
            f'font-size="{FONT_PX}">',
            f'<rect x="0" y="0" width="{W}" height="{height:.0f}" fill="{style.background}"/>',
            _text(W / 2, 18, title, style.text, "middle", ' font-weight="bold" font-size="13"')]


def _legend(labels: Sequence[str], top: float, style: ChartStyle) -> tuple[list[str], float]:
    """A numbered legend, one entry per contender, full names wrapped; returns its height."""
    parts: list[str] = []
    y = top
    for number, label in enumerate(labels, 1):
        colour = style.series[(number - 1) % len(style.series)]
        parts.append(f'<circle cx="14" cy="{y - 4:.1f}" r="6" fill="{colour}"/>')
        parts.append(_text(14, y - 0.5, str(number), style.background, "middle",
                           ' font-size="9" font-weight="bold"'))
        for line in wrap(label, W - 40):
            parts.append(_text(28, y, line, style.text))
            y += LINE_PX
        y += 3
    return parts, y - top


def empty(title: str, style: ChartStyle = LIGHT) -> str:
    """A chart with nothing to draw yet still says what it will show."""
    parts = _open(title, 70, style)
    parts.append(_text(W / 2, 48, "No data yet", style.muted, "middle"))
    parts.append("</svg>")
    return "".join(parts)


def scatter(title: str, points: list[tuple[str, float, float]], x_label: str,
            y_label: str, y_max: float | None = None, style: ChartStyle = LIGHT) -> str:
    """Points are (label, x, y); each gets a number, its colour and a legend line."""
    if not points:
        return empty(title, style)
    left, right, top, plot_h = 56, 26, 34, 170
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    pad = (max(xs) - min(xs)) * 0.1 or max(abs(max(xs)) * 0.1, 1)
    x_ticks = nice_ticks(max(0.0, min(xs) - pad), max(xs) + pad, 5)
    y_ticks = nice_ticks(0.0, y_max if y_max is not None else max(ys) * 1.1 or 1, 5)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    bottom = top + plot_h

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (W - left - right)

    def sy(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * plot_h

    legend_top = bottom + 52
    legend, legend_h = _legend([p[0] for p in points], legend_top, style)
    parts = _open(title, legend_top + legend_h + 4, style)
    x_step, y_step = x_ticks[1] - x_ticks[0], y_ticks[1] - y_ticks[0]
    for tick in y_ticks:
        parts.append(f'<line x1="{left}" y1="{sy(tick):.1f}" x2="{W - right}" '
                     f'y2="{sy(tick):.1f}" stroke="{style.grid}"/>')
        parts.append(_text(left - 6, sy(tick) + 4, tick_label(tick, y_step), style.muted,
                           "end"))
    for tick in x_ticks:
        parts.append(_text(sx(tick), bottom + 16, tick_label(tick, x_step), style.muted,
                           "middle"))
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{W - right}" y2="{bottom}" '
                 f'stroke="{style.axis}"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" '
                 f'stroke="{style.axis}"/>')
    parts.append(_text((left + W - right) / 2, bottom + 34, x_label, style.text, "middle"))
    parts.append(_text(14, top + plot_h / 2, y_label, style.text, "middle",
                       f' transform="rotate(-90 14 {top + plot_h / 2:.1f})"'))
    for number, (label, x, y) in enumerate(points, 1):
        colour = style.series[(number - 1) % len(style.series)]
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="7" fill="{colour}">'
                     f"<title>{escape(label)}: {y:.3g}</title></circle>")
        parts.append(_text(sx(x), sy(y) + 3.5, str(number), style.background, "middle",
                           ' font-size="9" font-weight="bold"'))
    parts += legend
    parts.append("</svg>")
    return "".join(parts)


def bars(title: str, items: list[tuple[str, float, str]], style: ChartStyle = LIGHT) -> str:
    """Horizontal bars: (label, value 0..1, text shown at the bar's end). The full label
    sits above its bar, wrapped, so long contender names are never cut."""
    if not items:
        return empty(title, style)
    parts: list[str] = []
    y = 38.0
    track = W - 24 - 110
    for number, (label, value, text) in enumerate(items, 1):
        colour = style.series[(number - 1) % len(style.series)]
        for line in wrap(f"{number}. {label}", W - 24):
            parts.append(_text(12, y, line, style.text))
            y += LINE_PX
        width = max(0.0, min(1.0, value)) * track
        parts.append(f'<rect x="12" y="{y - 9:.1f}" width="{track}" height="14" rx="3" '
                     f'fill="{style.grid}"/>')
        parts.append(f'<rect x="12" y="{y - 9:.1f}" width="{width:.1f}" height="14" rx="3" '
                     f'fill="{colour}"/>')
        parts.append(_text(18 + track, y + 2, text, style.text))
        y += 24
    return "".join(_open(title, y, style) + parts + ["</svg>"])


def stacked(title: str, rows: Sequence[tuple[str, Sequence[int]]], parts_names: Sequence[str],
            style: ChartStyle = LIGHT) -> str:
    """Horizontal stacked bars of whole counts (votes): integer ticks, a legend of the
    parts, each row's full label above its bar. The parts are green, then grey: not the
    contenders' colours, which mean a contender in the other charts."""
    colours = (style.series[2 % len(style.series)], style.axis, style.muted)
    if not rows or not any(sum(values) for _, values in rows):
        return empty(title, style)
    ticks = nice_ticks(0, max(sum(values) for _, values in rows), 5, integer=True)
    left, right = 12, 24
    track = W - left - right

    def sx(value: float) -> float:
        return left + value / ticks[-1] * track

    body: list[str] = []
    x = float(left)
    for index, name in enumerate(parts_names):
        colour = colours[index % len(colours)]
        body.append(f'<rect x="{x:.1f}" y="30" width="10" height="10" fill="{colour}"/>')
        body.append(_text(x + 14, 39, name, style.text))
        x += 24 + len(name) * CHAR_PX
    y = 62.0
    top = y - 12
    for number, (label, values) in enumerate(rows, 1):
        for line in wrap(f"{number}. {label}", W - 24):
            body.append(_text(left, y, line, style.text))
            y += LINE_PX
        start = 0
        for index, value in enumerate(values):
            if value:
                body.append(f'<rect x="{sx(start):.1f}" y="{y - 9:.1f}" '
                            f'width="{sx(start + value) - sx(start):.1f}" height="14" '
                            f'fill="{colours[index % len(colours)]}">'
                            f"<title>{escape(parts_names[index])}: {value}</title></rect>")
            start += value
        y += 22
    for tick in ticks:
        body.insert(0, f'<line x1="{sx(tick):.1f}" y1="{top}" x2="{sx(tick):.1f}" '
                       f'y2="{y - 8:.1f}" stroke="{style.grid}"/>')
        body.append(_text(sx(tick), y + 6, f"{int(tick)}", style.muted, "middle"))
    return "".join(_open(title, y + 14, style) + body + ["</svg>"])


# --- the trial's charts --------------------------------------------------------------------

def trial_charts(contenders: list[dict[str, Any]], style: ChartStyle = LIGHT) -> list[str]:
    """Speed against size, pass rate against size and votes: what a report embeds and the
    Trials page shows (``contenders`` as in ``trial_summary(...)["contenders"]``)."""
    speed = [(c["label"], c["file_size"] / 1e6, c["gen_tps"]["median"]) for c in contenders
             if c["gen_tps"]["median"] is not None]
    passing = [(c["label"], c["file_size"] / 1e6, c["pass_rate"] * 100) for c in contenders
               if c["pass_rate"] is not None]
    votes: list[tuple[str, Sequence[int]]] = []
    for c in contenders:
        if c.get("votes"):
            good = round((c.get("vote_share") or 0) * c["votes"])
            votes.append((c["label"], (good, c["votes"] - good)))
    return [scatter("Speed against size", speed, "file size (MB)", TOKENS_PER_S, style=style),
            scatter("Pass rate against size", passing, "file size (MB)", "pass rate (%)",
                    y_max=100, style=style),
            stacked("Votes", votes, ("won or tied", "lost or bad"), style=style)]


def standalone(svg: str) -> str:
    """The same chart as a standalone SVG file (with the namespace a parser needs)."""
    return svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)


_COLOUR = re.compile(r'(fill|stroke)="(#[0-9a-fA-F]{6})"')


def restyle(svg: str, old: ChartStyle, new: ChartStyle) -> str:
    """A chart drawn in ``old`` colours, in ``new`` ones: the window's charts follow a
    switch of look without being computed again. Each colour of ``old`` becomes the one
    in the same place of ``new`` (all at once, so no colour is changed twice)."""
    mapping: dict[str, str] = {}
    for name in ("background", "text", "muted", "grid", "axis"):
        mapping[getattr(old, name).lower()] = getattr(new, name)
    for before, after in zip(old.series, new.series, strict=False):
        mapping[before.lower()] = after
    return _COLOUR.sub(
        lambda m: f'{m.group(1)}="{mapping.get(m.group(2).lower(), m.group(2))}"', svg)
