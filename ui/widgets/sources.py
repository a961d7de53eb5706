"""Under a reply that answered from documents: "Sources", one button per passage it was
given ([1] handbook.pdf, page 2), and the note saying what was cut to fit the context.

The reply's own "[1]" marks become links to the same passages (see
:func:`link_citations`), so the reader can click where the claim is made or in this list.
"""

from __future__ import annotations

import os
import re
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QToolButton, QVBoxLayout, QWidget

from ui.widgets.plain_label import Label

#: A citation mark in a reply: [1], or several in one: [1, 3].
MARK = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
#: The link scheme the reply's citation marks point to.
SCHEME = "cite"


def citation_label(citation: dict[str, Any]) -> str:
    """[1] handbook.pdf, page 2 (or its section), as the Sources list shows it."""
    parts = [os.path.basename(str(citation.get("path", "")))]
    if citation.get("page") is not None:
        parts.append(f"page {citation['page']}")
    elif citation.get("section"):
        parts.append(str(citation["section"]))
    return f"[{citation.get('number', '?')}] {', '.join(parts)}"


def link_citations(markdown: str, count: int) -> str:
    """``markdown`` with each citation mark [n] (1 <= n <= ``count``) made a link to
    ``cite:n``; marks of numbers the reply was not given, and code, are left as they are."""
    if count < 1:
        return markdown

    def link(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        if not all(1 <= n <= count for n in numbers):
            return match.group(0)
        return "".join(f"[\\[{n}\\]]({SCHEME}:{n})" for n in numbers)

    pieces = re.split(r"(`[^`]*`)", markdown)  # inline code stays as written
    return "".join(piece if piece.startswith("`") else MARK.sub(link, piece)
                   for piece in pieces)


class SourcesList(QFrame):
    """The Sources under a reply; ``opened`` says which citation was clicked."""

    opened = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Sources")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 2, 0, 2)
        self._layout.setSpacing(0)
        self.heading = Label("Sources", self)
        self.heading.setObjectName("Role")
        self.note = Label(self)
        self.note.setObjectName("Muted")
        self.note.setWordWrap(True)
        self._layout.addWidget(self.heading)
        self._layout.addWidget(self.note)
        self.buttons: list[QToolButton] = []
        self.citations: list[dict[str, Any]] = []
        self.hide()

    def set_citations(self, citations: list[dict[str, Any]], note: str | None) -> None:
        for button in self.buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        self.citations = list(citations)
        for citation in self.citations:
            button = QToolButton(self)
            button.setObjectName("SourceLink")
            button.setAutoRaise(True)
            button.setText(citation_label(citation))
            where = citation.get("where") or citation.get("path")
            button.setToolTip(f"Open the passage: {where} ({citation.get('collection')}, "
                              f"{citation.get('method', 'keyword')} score "
                              f"{citation.get('score', 0):.3f})")
            button.clicked.connect(lambda _=False, c=citation: self.opened.emit(c))
            self._layout.addWidget(button)
            self.buttons.append(button)
        self.note.setText(note or "")
        self.note.setVisible(bool(note))
        self.heading.setVisible(bool(citations))
        self.setVisible(bool(citations) or bool(note))

    def citation(self, number: int) -> dict[str, Any] | None:
        return next((c for c in self.citations if c.get("number") == number), None)
