"""The Tools section's "Always allowed" list: the MCP tools the user allowed "always" in the
approval bar, which then run without asking in every chat and after a restart, each with
Remove to take it back (its next call asks again).

The answers are kept by the core (:mod:`workbench.mcp.approvals`, bound to each tool's
description and input schema, so a tool its server changed is asked about again); this list
only reads and removes them on the "db" worker. Hidden while the list is empty.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.plain_label import Label
from workbench.mcp.approvals import ToolApproval, list_approvals, remove_approval

#: The list is never taller than this many rows (it scrolls beyond).
VISIBLE_ROWS = 5
PAIR_ROLE = Qt.ItemDataRole.UserRole


class ApprovalsList(QFrame):
    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        heading = Label("Always allowed", self)
        heading.setObjectName("Muted")
        self.list = QListWidget(self)
        self.list.setObjectName("ToolApprovals")
        self.list.setAccessibleName("Tools allowed always")
        self.list.setToolTip("These tools run without asking, in every chat, until you "
                             "remove them or their server changes them")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Ask again before the selected tool runs")
        self.remove_button.setAccessibleName("Remove the tool allowed always")
        row = QHBoxLayout()
        row.setSpacing(4)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        layout.addWidget(heading)
        layout.addWidget(self.list)
        layout.addLayout(row)
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.currentItemChanged.connect(lambda *_: self._buttons())
        self._show([])
        self.refresh()

    def refresh(self) -> None:
        self.services.ops.run("db", list_approvals, name="list tools allowed always",
                              key="approvals", initiator=self, success=self._show)

    def pairs(self) -> list[tuple[str, str]]:
        """The (server, tool) pairs shown (tests read them)."""
        return [tuple(self.list.item(i).data(PAIR_ROLE))  # type: ignore[misc]
                for i in range(self.list.count())]

    def _show(self, found: list[ToolApproval]) -> None:
        self.list.clear()
        for approval in found:
            item = QListWidgetItem(f"{approval.tool} · {approval.server}", self.list)
            item.setData(PAIR_ROLE, (approval.server, approval.tool))
            item.setToolTip(f"{approval.tool} of MCP server {approval.server}: allowed "
                            f"always since {approval.approved_at.replace('T', ' ')}")
        rows = max(1, min(len(found), VISIBLE_ROWS))
        self.list.setFixedHeight(rows * (self.list.fontMetrics().height() + 8) + 4)
        self.setVisible(bool(found))
        self._buttons()

    def _buttons(self) -> None:
        self.remove_button.setEnabled(self.list.currentItem() is not None)

    def remove_selected(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        server, tool = item.data(PAIR_ROLE)
        self.services.ops.run("db", remove_approval, server, tool,
                              name="take back a tool allowed always", initiator=self,
                              success=lambda _a: self.refresh())
