"""The shapes every format's reader returns: text blocks, or one line saying why not."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class Unreadable(Exception):
    """This file cannot be indexed; ``str(error)`` is the one-line reason shown to the user."""


@dataclass(frozen=True)
class Block:
    """A run of text that belongs together: a paragraph, a table row, a PDF page."""

    text: str
    page: int | None = None
    section: str | None = None


@dataclass
class Extracted:
    format: str
    blocks: list[Block]
    pages: int | None = None
    notes: list[str] = field(default_factory=list)


def paragraphs(text: str) -> list[str]:
    """Runs of text between blank lines, stripped; empty ones dropped."""
    return [part.strip() for part in re.split(r"\n\s*\n", text) if part.strip()]
