"""A cited passage in a small window: where it is (file, page or section), its text with the
text around it (the cited part marked), and "Open file" to see the file itself.

The text comes from the index (:func:`workbench.documents.passage.passage_context`, read on a
worker by whoever opens this); the file is opened by the system's own viewer through
``QDesktopServices.openUrl``, a PDF at its start (viewers take no common page argument).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.plain_label import Label
from workbench.documents.passage import PassageContext, passage_context


class PassageView(QDialog):
    """One passage; ``title`` names the citation ("[2]") or the search rank."""

    def __init__(self, context: PassageContext, title: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle(f"{title} {context.where}".strip())
        self.setObjectName("PassageView")
        self.resize(640, 460)
        layout = QVBoxLayout(self)
        self.where = Label(context.where, self)
        self.where.setObjectName("SubHeading")
        self.where.setWordWrap(True)
        self.path = Label(context.path, self)
        self.path.setObjectName("Muted")
        self.path.setWordWrap(True)
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.where)
        layout.addWidget(self.path)
        if context.note:
            note = Label(context.note, self)
            note.setObjectName("Muted")
            note.setWordWrap(True)
            layout.addWidget(note)
        self.text = QTextBrowser(self)
        self.text.setAccessibleName("Passage")
        self.text.setOpenLinks(False)
        self.text.setHtml(self._html(context))
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.open_button = QPushButton("Open file", self)
        self.open_button.setAccessibleName("Open the file")
        self.open_button.setEnabled(context.file_exists)
        self.open_button.setToolTip(
            "Open the file in its own app" if context.file_exists
            else "The file is no longer there")
        self.open_button.clicked.connect(self.open_file)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    @staticmethod
    def _html(context: PassageContext) -> str:
        """The passage marked, its neighbours muted; every piece of it escaped (it is the
        user's file, never markup for us)."""
        def para(text: str) -> str:
            return html.escape(" ".join(text.split()))

        before = f"<span style='color: gray'>…{para(context.before)} </span>" \
            if context.before else ""
        after = f"<span style='color: gray'> {para(context.after)}…</span>" \
            if context.after else ""
        return (f"<p style='line-height: 140%'>{before}<b>{para(context.text)}</b>"
                f"{after}</p>")

    def open_file(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.context.path))


def open_passage(services: Any, citation: dict[str, Any], parent: QWidget,
                 shown: Callable[[PassageView], None] | None = None,
                 failure: Callable[[str], None] | None = None) -> None:
    """Read the citation's passage on the "db" worker, then show it (the chat's citations
    and the Documents page's search results both open passages this way)."""
    number = citation.get("number")

    def show(context: PassageContext) -> None:
        view = PassageView(context, f"[{number}]" if number else "", parent)
        view.open()
        if shown is not None:
            shown(view)

    services.ops.run("db", passage_context, citation, name="open passage", success=show,
                     failure=failure)
