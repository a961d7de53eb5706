"""Text from files, the Hub and the user is shown as text, never read as markup (issue 10):
every label in the window is a plain-text ``Label`` unless it carries the window's own markup."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

UI = Path(__file__).resolve().parents[2] / "ui"
HOSTILE = "<img src=x><b>Evil</b> model"


def test_labels_are_plain_text_unless_asked(qapp) -> None:
    from ui.widgets.plain_label import Label

    assert Label("<b>x</b>").textFormat() == Qt.TextFormat.PlainText
    assert Label("<b>x</b>", rich=True).textFormat() == Qt.TextFormat.RichText


def test_no_bare_qlabel_is_made_in_the_window() -> None:
    bare = [f"{path.relative_to(UI)}:{number}"
            for path in UI.rglob("*.py") if path.name != "plain_label.py"
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"(?<![A-Za-z_.])QLabel\(", line)]
    assert not bare, f"use ui.widgets.plain_label.Label: {bare}"


def test_a_hostile_model_name_is_shown_as_text(qtbot, services) -> None:
    from tests.ui.conftest import make_window

    db = services.workspace.db
    first = next(iter(db.table("models").rows))
    db.table("models").update(first["id"], {"name": HOSTILE})
    window = make_window(qtbot, services)
    for index in range(window.pages.count()):  # every page, so each fills its labels
        window.pages.setCurrentIndex(index)
        qtbot.wait(300)
    window.pages.setCurrentIndex(0)
    qtbot.waitUntil(lambda: any("Evil" in label.text()
                                for label in window.findChildren(QLabel)), timeout=10_000)
    shown = [label for label in window.findChildren(QLabel) if "Evil" in label.text()]
    for label in shown:
        assert label.textFormat() == Qt.TextFormat.PlainText or "&lt;img" in label.text(), (
            f"{label.objectName() or type(label).__name__} reads {label.text()!r} as markup")
