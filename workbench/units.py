"""Numbers as people read them: the one place sizes, durations, rates and a reply's metrics are
written, so the window, the CLI and the reports spell the same reply alike (llm's
``token_usage_string`` is the model). ``tests/core/test_units.py`` holds the rules below and
fails when a unit is written by hand anywhere else.

- **Sizes** are decimal, as the Hub and file managers show them: ``512 B``, ``98.4 MB``,
  ``1.2 GB``. Memory too: one set of units, so a file's size and the memory it needs compare.
- **A measured time** is whole milliseconds under a second (``840 ms``), seconds with one
  decimal under a minute (``2.3 s``), then ``4 min 10 s`` and ``1 h 03 min``.
  **A time left** is an estimate, so whole seconds only: ``12 s``, ``4 min 10 s``.
  **How long ago** is coarse: ``just now``, ``3 min ago``, ``2 h ago``, ``5 days ago``.
- **Rates** have one decimal under 100 and none above: ``12.3 tok/s``, ``1,234 tok/s``;
  bytes per second as a size: ``5.0 MB/s``.
- **A reply's metrics** in one order: speed, first token, tokens, peak memory, load time,
  finish. The short form (a table cell, a column) is speed, time to first token, tokens and
  peak memory; the long form (under a reply, the CLI, History, exports, reports) adds what the
  prompt cost, the load time, the finish reason and turns dropped to fit the context.
  A number not measured is left out, never shown as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: The unit of generation and prompt speed; a spin box's suffix or an axis title uses this.
TOKENS_PER_S = "tok/s"
#: Between the parts of a metrics line.
SEP = " · "


def human_size(n: float | None) -> str:
    """Bytes in decimal units: ``98.4 MB``; ``-`` when unknown."""
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


def _clock(whole: int) -> str:
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def human_duration(seconds: float | None) -> str:
    """A measured time: ``0.3 ms``, ``840 ms``, ``2.3 s``, ``4 min 10 s``, ``1 h 03 min``;
    ``-`` unknown. Under 10 ms with a decimal (a loopback round trip is not "0 ms")."""
    if seconds is None:
        return "-"
    if 0 < round(seconds * 1000, 1) < 10:
        return f"{seconds * 1000:.1f} ms"
    if round(seconds * 1000) < 1000:
        return f"{seconds * 1000:.0f} ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    return _clock(int(round(seconds)))


def human_ms(milliseconds: float | None) -> str:
    """:func:`human_duration` for the times the engine records in milliseconds."""
    return human_duration(None if milliseconds is None else milliseconds / 1000)


def human_eta(seconds: float | None) -> str:
    """A time left, in whole seconds: ``12 s``, ``4 min 10 s``, ``1 h 03 min``; empty when
    unknown (a table cell or a label that shows nothing yet)."""
    if seconds is None or seconds < 0:
        return ""
    return _clock(int(round(seconds)))


def human_ago(seconds: float | None) -> str:
    """How long ago something was checked or seen: ``just now`` (under a minute),
    ``3 min ago``, ``2 h ago``, ``5 days ago``; ``-`` when unknown. A time a little in the
    future (another computer's clock) reads ``just now``."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return "just now"
    if whole < 3600:
        return f"{whole // 60} min ago"
    if whole < 86400:
        return f"{whole // 3600} h ago"
    days = whole // 86400
    return f"{days} day{'s' if days != 1 else ''} ago"


def _rate(value: float) -> str:
    return f"{value:.1f}" if round(value, 1) < 100 else f"{value:,.0f}"


def human_tps(tokens_per_second: float | None) -> str:
    """Tokens per second: ``12.3 tok/s``, ``1,234 tok/s``; ``-`` when not measured."""
    if tokens_per_second is None:
        return "-"
    return f"{_rate(tokens_per_second)} {TOKENS_PER_S}"


def human_rate(bytes_per_second: float | None) -> str:
    """A transfer speed: ``12.3 MB/s``; empty when nothing has been measured yet."""
    if not bytes_per_second:
        return ""
    return f"{human_size(bytes_per_second)}/s"


def human_spread(spread: Mapping[str, Any] | None, fmt: Callable[[Any], str]) -> str:
    """A median with its range over several runs: ``840 ms (790 ms–1.2 s, n=3)``; one run is
    its number alone, none is ``–``. ``spread`` is ``trials.stats``' ``{median, min, max, n}``."""
    if not spread or spread.get("median") is None:
        return "–"
    if (spread.get("n") or 0) > 1:
        return f"{fmt(spread['median'])} ({fmt(spread['min'])}–{fmt(spread['max'])}, " \
               f"n={spread['n']})"
    return fmt(spread["median"])


def human_speculative(figures: Mapping[str, Any] | None, *, short: bool = False) -> str:
    """What a draft did for a reply: ``draft 31/40 accepted (78%) · 1.4× faster (est.)``;
    ``short``: ``draft 78% · 1.4×``. "" without figures (no draft)."""
    if not figures:
        return ""
    rate = figures.get("acceptance")
    drafted = figures.get("drafted") or 0
    if short:
        share = f"draft {rate:.0%}" if rate is not None else "draft –"
    else:
        share = (f"draft {figures.get('accepted', 0)}/{drafted} accepted"
                 + (f" ({rate:.0%})" if rate is not None else ""))
    speedup = figures.get("speedup")
    if speedup:
        share += f"{SEP}{speedup:.2g}×" + ("" if short else " speed (est.)")
    return share


def _speculative(metrics: Mapping[str, Any]) -> Any:
    """A reply's draft figures: its own ``speculative``, else its settings record's (a trial
    cell's row keeps them there)."""
    found = metrics.get("speculative")
    settings = metrics.get("settings")
    if found is None and isinstance(settings, Mapping):
        found = settings.get("speculative")
    return found if isinstance(found, Mapping) else None


def reply_metrics(metrics: Mapping[str, Any], finish_reason: str | None = None, *,
                  short: bool = False) -> str:
    """What a reply cost, in the one order: ``12.3 tok/s · first token 840 ms · 120 tokens ·
    peak 310.2 MB · loaded in 1.2 s · finish: stop``. ``metrics`` has the stored names
    (``gen_tps``, ``ttft_ms``, ``prompt_tokens``, ``completion_tokens``, ``prompt_tps``,
    ``peak_rss``, ``load_ms``, ``finish_reason``, ``dropped_turns``, a trial cell's
    ``batch_width``); what is missing is left out. ``short`` keeps speed, ``TTFT``, tokens,
    peak memory and the batch for a cell or a column."""
    m = metrics
    finish = m.get("finish_reason") if finish_reason is None else finish_reason
    tokens = m.get("completion_tokens")
    tokens_text = None if tokens is None else f"{tokens} tokens"
    if tokens_text and m.get("prompt_tokens") and not short:
        tokens_text = f"{m['prompt_tokens']} prompt + {tokens_text}"
    ttft = m.get("ttft_ms")
    parts = [
        human_tps(m["gen_tps"]) if m.get("gen_tps") else None,
        None if ttft is None else f"{'TTFT' if short else 'first token'} {human_ms(ttft)}",
        tokens_text,
        f"prompt {human_tps(m['prompt_tps'])}" if m.get("prompt_tps") and not short else None,
        f"peak {human_size(m['peak_rss'])}" if m.get("peak_rss") else None,
        f"loaded in {human_ms(m['load_ms'])}" if m.get("load_ms") and not short else None,
        f"finish: {finish}" if finish and not short else None,
        f"dropped {m['dropped_turns']} old turns" if m.get("dropped_turns") and not short
        else None,
        f"{m['image_tokens']} image tokens" if m.get("image_tokens") and not short else None,
        f"images encoded in {human_ms(m['image_ms'])}" if m.get("image_ms") and not short
        else None,
        human_speculative(_speculative(m), short=short) or None,
        # a batched cell's speed is its share of a batch: say so beside it
        f"batch of {m['batch_width']}" if (m.get("batch_width") or 0) > 1 else None,
    ]
    return SEP.join(p for p in parts if p)
