"""Labels that show their text as text.

QLabel's default (``Qt.AutoText``) renders anything that looks like HTML as rich text, so a
model name, a licence, a Hub field or an error message holding ``<b>`` or ``<img src=...>``
would be drawn as markup (and an image tag can make Qt read a local file). Every label in the
window is a :class:`Label`: plain text unless the caller asks for rich text, which is then
only the window's own markup with any outside text escaped (``html.escape``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


class Label(QLabel):
    """A QLabel that is plain text by default; ``rich=True`` for the window's own markup."""

    def __init__(self, *args: Any, rich: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
