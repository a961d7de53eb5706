"""Where a model loaded across workers sits, said in the chat (a part of the chat page).

The core's :class:`~workbench.chat_runner.Placed` event comes once per load across workers:
its line ("layers 0-9 here, 10-29 on 192.168.1.5:50052") goes under the reply that loaded the
model, beside its metrics, and each worker the load left out is one line in the chat's banner
(not only in the log). Kept apart so the page stays small.
"""

from __future__ import annotations

from typing import Any

from workbench.chat_runner import Placed


def on_placed(page: Any, stream: Any, event: Placed) -> None:
    """Keep the split for the reply's metrics line; say each dropped worker now."""
    stream.placed = event.line
    if event.dropped:
        line = "; ".join(event.dropped)
        page.show_error(line[:1].upper() + line[1:])
    if stream.widget is not None and event.line:
        stream.widget.set_status(f"Split: {event.line}")


def metrics_note(stream: Any, note: str | None) -> str | None:
    """The note beside a finished reply's metrics: the split it ran on, then ``note``."""
    placed = f"split: {stream.placed}" if getattr(stream, "placed", "") else ""
    return "; ".join(part for part in (placed, note or "") if part) or None
