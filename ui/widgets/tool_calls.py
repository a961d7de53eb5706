"""A reply's tool calls in the transcript: each call with its server, tool and arguments,
what the user decided, and the result folded (one line and its size; a click shows it
whole); the one-line notices of servers that failed or misbehaved.

Fed live from a chat turn's events (:meth:`ToolCallsView.add_call`, :meth:`set_result`,
:meth:`add_notice`) and, for a saved reply, from its ``settings.tool_calls``
(:meth:`set_records`): a result is shown the same way either way, from its record
(:meth:`workbench.mcp.toolbox.ToolResultShown.record`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

from ui.widgets.plain_label import Label
from workbench.mcp.toolbox import arguments_line
from workbench.units import human_size

DECISIONS = {
    "once": "allowed once",
    "always": "allowed: always for this tool",
    "auto": "allowed always (you allowed this tool before)",
    "deny": "denied: nothing ran",
}
WAITING = "waiting for your approval"
#: The most characters of a result shown expanded (History keeps up to 20,000).
SHOWN_CHARS = 20_000
#: An expanded result is as tall as its text up to this many lines, then it scrolls.
RESULT_LINES = 12


class ToolCallCard(QFrame):
    """One call: "→ server · tool", its arguments, its state, its folded result."""

    def __init__(self, server: str, tool: str, arguments: dict[str, Any], call_id: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ToolCall")
        self.call_id = call_id
        self.server, self.tool = server, tool
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        self.heading = Label(f"→ {server} · {tool}", self)
        self.heading.setObjectName("ToolName")
        self.heading.setAccessibleName("Tool call")
        self.arguments = Label(arguments_line(arguments, 600), self)
        self.arguments.setObjectName("Mono")
        self.arguments.setWordWrap(True)
        self.arguments.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state = Label(WAITING, self)
        self.state.setObjectName("Muted")
        self.fold = QToolButton(self)
        self.fold.setObjectName("Flat")
        self.fold.setCheckable(True)
        self.fold.setAccessibleName("Show the result")
        self.fold.setToolTip("Show or hide the whole result")
        self.fold.setCursor(Qt.CursorShape.PointingHandCursor)
        self.fold.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.fold.hide()
        self.result = QPlainTextEdit(self)
        self.result.setObjectName("ToolResult")
        self.result.setReadOnly(True)
        self.result.setAccessibleName("Tool result")
        self.result.hide()
        for widget in (self.heading, self.arguments, self.state, self.fold, self.result):
            layout.addWidget(widget)
        self.fold.toggled.connect(self._folded)
        self.record: dict[str, Any] | None = None

    @property
    def expanded(self) -> bool:
        return self.fold.isChecked()

    def set_result(self, record: dict[str, Any]) -> None:
        """What was decided and, unless denied, the result (folded)."""
        self.record = record
        decision = str(record.get("decision") or "")
        text = str(record.get("result") or "")
        state = DECISIONS.get(decision, decision)
        if decision != "deny" and record.get("is_error"):
            state += " · the tool answered with an error"
        self.state.setText(state)
        self.state.setObjectName("ErrorText" if decision == "deny" or record.get("is_error")
                                 else "Muted")
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        if decision == "deny":
            self.fold.hide()
            self.result.hide()
            return
        lines = text.splitlines() or [""]
        size = human_size(record.get("size") or len(text.encode("utf-8")))
        count = f"{len(lines):,} line{'s' if len(lines) != 1 else ''}"
        cut = ", cut" if record.get("result_cut") else ""
        self._summary = f"Result ({count}, {size}{cut})"
        self._first = lines[0][:120]
        self.result.setPlainText(text[:SHOWN_CHARS])
        lines_in = max(1, self.result.document().blockCount())
        shown = min(RESULT_LINES, lines_in)
        margins = self.result.contentsMargins()
        self.result.setFixedHeight(
            shown * self.result.fontMetrics().lineSpacing()
            + 2 * round(self.result.document().documentMargin())
            + margins.top() + margins.bottom() + 12)
        self.result.setVerticalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAsNeeded if lines_in > RESULT_LINES
            else Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.fold.show()
        self._folded(self.fold.isChecked())

    def _folded(self, expanded: bool) -> None:
        if self.record is None:
            return
        if expanded:
            self.fold.setText(f"▾ {self._summary}")
        else:
            self.fold.setText(f"▸ {self._summary}: {self._first}" if self._first
                              else f"▸ {self._summary}")
        self.result.setVisible(expanded)


class ToolCallsView(QWidget):
    """The calls of one reply, in order, and the notices among them; hidden when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ToolCalls")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 4)
        self._layout.setSpacing(4)
        self.cards: list[ToolCallCard] = []
        self.notices: list[Label] = []
        self.hide()

    def clear(self) -> None:
        for widget in [*self.cards, *self.notices]:
            self._layout.removeWidget(widget)
            widget.deleteLater()
        self.cards, self.notices = [], []
        self.hide()

    def add_call(self, server: str, tool: str, arguments: dict[str, Any],
                 call_id: str = "") -> ToolCallCard:
        """A call the model made (before it runs); a second word of the same call (by id)
        gives the card already shown."""
        for card in self.cards:
            if call_id and card.call_id == call_id:
                return card
        card = ToolCallCard(server, tool, arguments, call_id, self)
        self._layout.addWidget(card)
        self.cards.append(card)
        self.show()
        return card

    def set_result(self, record: dict[str, Any], call_id: str = "") -> ToolCallCard:
        """The result of a call shown before (by id, else the first still waiting); a
        result whose call was not shown gets its card now."""
        card = next((c for c in self.cards if call_id and c.call_id == call_id), None)
        if card is None:
            card = next((c for c in self.cards if c.record is None), None)
        if card is None:
            card = self.add_call(str(record.get("server", "")), str(record.get("tool", "")),
                                 record.get("arguments") or {}, call_id)
        card.set_result(record)
        return card

    def add_notice(self, line: str) -> None:
        label = Label(f"Note: {line}", self)
        label.setObjectName("Muted")
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout.addWidget(label)
        self.notices.append(label)
        self.show()

    def set_records(self, records: list[dict[str, Any]], notices: list[str] | None = None
                    ) -> None:
        """A saved reply's calls (``settings.tool_calls``) and notices, replacing what is
        shown; a card the user expanded stays expanded."""
        expanded = {i for i, card in enumerate(self.cards) if card.expanded}
        self.clear()
        for line in notices or []:
            self.add_notice(line)
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                continue
            card = self.add_call(str(record.get("server", "")), str(record.get("tool", "")),
                                 record.get("arguments") or {})
            card.set_result(record)
            if index in expanded:
                card.fold.setChecked(True)
