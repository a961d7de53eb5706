"""Markdown shown with Qt's own renderer, with fenced code blocks set apart and copyable.

The text is split into segments: prose (a ``QTextBrowser`` fed ``setMarkdown``) and fenced
code (a framed block with its language and a Copy button). Long prose is cut into segments of
about :data:`CHUNK_CHARS` at paragraph breaks where cutting changes nothing of the rendering
(see :func:`split_markdown`). Updating re-renders only the segments that changed, which while
a reply streams is the last one, and a streaming view splits again only from the start of its
last segment, so neither the cost of an update nor the work per render grows with the length
of the message. Between updates, streamed text is appended with a cursor as plain text
(:meth:`MarkdownView.append_plain`), which costs the same for the 2,000th token as for the
first.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase, QGuiApplication, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.widgets.plain_label import Label

MAX_HIGHLIGHT_CHARS = 20_000  # longer blocks stay plain: colouring must stay cheap
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)")
#: Prose longer than this is cut at the next paragraph break where cutting is safe: a
#: render of the last segment (what a streaming reply re-renders) then costs at most about
#: this much, whatever the length of the reply.
CHUNK_CHARS = 1500
#: A paragraph after a blank line that starts like this may belong to the block before it
#: (an indented continuation, a loose list's next item, a quote, a table, HTML, a link
#: definition): no cut there.
_NO_CUT_BEFORE = re.compile(r"\s|>|[-*+](\s|$)|\d{1,9}[.)](\s|$)|\||<|\[[^\]]*\]:")


@dataclass(frozen=True)
class Segment:
    kind: str  # "md" or "code"
    text: str
    language: str = ""
    #: Where the segment's lines begin in the source text: splitting again from there gives
    #: this segment and everything after it (see :func:`split_markdown`).
    start: int = field(default=0, compare=False)
    #: A code block whose opening fence line is still being written (a streaming reply's
    #: last line is "```pyth"): its language is not known yet, so it shows none.
    open_fence: bool = False


def split_markdown(text: str, start: int = 0) -> list[Segment]:
    """Prose and fenced code blocks, in order, from ``start`` (the start of a segment an
    earlier call returned: the segments before it are as they were, so a growing text need
    not be split again from the top).

    An unclosed fence (a reply still streaming) runs to the end, so a half-written code
    block already looks like code. Prose is cut after :data:`CHUNK_CHARS` at a blank line
    followed by a paragraph that cannot continue the block before it; only a complete line
    (one the text goes on after) decides a cut, so a cut never moves as the text grows."""
    segments: list[Segment] = []
    prose: list[str] = []
    prose_chars = 0
    prose_start = start
    code: list[str] = []
    code_start = start
    fence = ""
    language = ""
    after_blank = False
    lines = text[start:].split("\n")
    position = start
    for number, line in enumerate(lines):
        here = position
        position += len(line) + 1
        if not fence:
            match = _FENCE.match(line)
            if match:
                if any(p.strip() for p in prose):
                    segments.append(Segment("md", "\n".join(prose).strip("\n"),
                                            start=prose_start))
                prose, prose_chars = [], 0
                fence, language, code, code_start = match.group(1), match.group(2), [], here
                after_blank = False
            elif not line.strip():
                prose.append(line)
                prose_chars += 1
                after_blank = True
            else:
                if (after_blank and prose_chars >= CHUNK_CHARS and number < len(lines) - 1
                        and not _NO_CUT_BEFORE.match(line)):
                    segments.append(Segment("md", "\n".join(prose).strip("\n"),
                                            start=prose_start))
                    prose, prose_chars, prose_start = [], 0, here
                prose.append(line)
                prose_chars += len(line) + 1
                after_blank = False
        elif line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(
            fence[0]
        ):
            segments.append(Segment("code", "\n".join(code), language, start=code_start))
            fence = ""
            prose, prose_chars, prose_start = [], 0, position
        else:
            code.append(line)
    if fence:
        # The fence line is the text's last line: the language may still be growing.
        unfinished = not code
        segments.append(Segment("code", "\n".join(code), "" if unfinished else language,
                                start=code_start, open_fence=unfinished))
    elif any(p.strip() for p in prose):
        segments.append(Segment("md", "\n".join(prose).strip("\n"), start=prose_start))
    return segments


class AutoHeightBrowser(QTextBrowser):
    """A text browser as tall as its text: messages scroll as a whole, never inside."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenExternalLinks(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.document().setDocumentMargin(2)
        # Read-only: no undo history (a streamed reply would keep one entry per append).
        self.document().setUndoRedoEnabled(False)
        self.viewport().setAutoFillBackground(False)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.setMinimumWidth(80)
        self._fit()

    def _fit(self, *_: object) -> None:
        height = math.ceil(self.document().size().height()) + 2 * self.frameWidth()
        height = max(height, self.fontMetrics().height())
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def append_plain(self, text: str) -> None:
        document = self.document()
        cursor = QTextCursor(document)
        # setPosition, not movePosition(End): that one lays the block out to find its x.
        cursor.setPosition(document.characterCount() - 1)
        cursor.insertText(text)


class CodeBody(AutoHeightBrowser):
    """Code is never wrapped (a wrapped line reads as two): a line wider than the block
    scrolls sideways, with a scroll bar under the code, counted in the block's height."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setLineWrapMode(QTextBrowser.LineWrapMode.NoWrap)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.horizontalScrollBar().rangeChanged.connect(self._fit)

    def _fit(self, *_: object) -> None:
        height = math.ceil(self.document().size().height()) + 2 * self.frameWidth()
        height = max(height, self.fontMetrics().height())
        bar = self.horizontalScrollBar()
        if bar.maximum() > 0:
            height += bar.sizeHint().height()
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)


def highlighted_html(code: str, language: str, dark: bool, family: str) -> str | None:
    """The code as HTML coloured by Pygments for ``language`` (None: no such lexer, or too
    long to colour quickly; it is then shown plain)."""
    if not language or len(code) > MAX_HIGHLIGHT_CHARS:
        return None
    try:
        lexer = get_lexer_by_name(language, stripnl=False)
    except ClassNotFound:
        return None
    formatter = HtmlFormatter(nowrap=True, noclasses=True,
                              style="github-dark" if dark else "default")
    body = highlight(code, lexer, formatter).rstrip("\n")
    return f"<pre style=\"margin:0; font-family:'{family}'\">{body}</pre>"


class CodeBlock(QFrame):
    """A fenced code block: language, a Copy button, and the code in a fixed-width font."""

    def __init__(self, code: str, language: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CodeBlock")
        self.code = code
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        header = QFrame(self)
        header.setObjectName("CodeHeader")
        row = QHBoxLayout(header)
        row.setContentsMargins(10, 2, 4, 2)
        self.language = Label(self._header(language), header)
        self.copy_button = QToolButton(header)
        self.copy_button.setObjectName("Flat")
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy this code block")
        self.copy_button.setAccessibleName("Copy code")
        self.copy_button.clicked.connect(self.copy)
        row.addWidget(self.language)
        row.addStretch(1)
        row.addWidget(self.copy_button)
        self.body = CodeBody(self)
        self.body.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.body.document().setDocumentMargin(8)
        self._show(code, language)
        layout.addWidget(header)
        layout.addWidget(self.body)

    def set_code(self, code: str, language: str, *, open_fence: bool = False) -> None:
        self.code = code
        self.language.setText("" if open_fence else self._header(language))
        self._show(code, language)

    @staticmethod
    def _header(language: str) -> str:
        return language or "code"

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        """A switch of look colours the code again (Pygments' light or dark style)."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and self._dark != (theme.current() is theme.DARK):
            self._show(self.code, self._language)

    def _show(self, code: str, language: str) -> None:
        self._language = language
        self._dark = theme.current() is theme.DARK
        coloured = highlighted_html(code, language, self._dark,
                                    self.body.font().family())
        if coloured is None:
            self.body.setPlainText(code)
        else:
            self.body.setHtml(coloured)

    def append_plain(self, text: str) -> None:
        self.code += text
        self.body.append_plain(text)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.code)
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText("Copy"))


#: While a reply streams, the whole text is re-rendered as Markdown at most every this many
#: seconds (new text is appended plainly in between) ...
MIN_RENDER_INTERVAL_S = 0.25
#: ... and the spacing adapts so re-rendering never takes over 3% of the time.
RENDER_BUDGET = 0.03
#: Space between segments; between two prose segments less, so that a cut reads as the
#: paragraph break it is (Qt's Markdown paragraphs are 6 px apart, and each prose segment
#: keeps its document's 2 px margin).
SEGMENT_GAP_PX = 8
PROSE_GAP_PX = 2


class MarkdownView(QWidget):
    """Markdown text as a column of prose and code segments; see the module's docstring.

    With :meth:`set_citations`, a reply's citation marks ([1]) are links that say which
    passage was clicked (``citation_clicked``) instead of leaving the window."""

    citation_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None, *, plain: bool = False) -> None:
        super().__init__(parent)
        self.cite_count = 0  # citation marks [1]..[cite_count] are links
        self._plain = plain  # a user's message: shown exactly as typed
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)  # a spacing item before each segment but the first
        self._segments: list[Segment] = []
        self._widgets: list[QWidget] = []
        self.render_interval = MIN_RENDER_INTERVAL_S
        self._last_render = 0.0

    def stream(self, text: str, piece: str) -> None:
        """``piece`` arrived and ``text`` is everything so far: append it plainly, and now
        and then (see :data:`RENDER_BUDGET`) render it as Markdown: split again from the
        start of the last segment, only the last segments drawn again. The chat and the
        Compare columns stream through this one throttle."""
        now = time.perf_counter()
        # A fence line being written: render at once, so its language goes to the header
        # and never into the code (a render of an empty code block costs nothing).
        fence_open = bool(self._segments) and self._segments[-1].open_fence
        if fence_open or now - self._last_render >= self.render_interval:
            if self._segments and not self._plain:
                resume = self._segments[-1].start
                self.set_segments(self._segments[:-1] + split_markdown(text, resume))
            else:
                self.set_markdown(text)
            done = time.perf_counter()
            self.render_interval = max(MIN_RENDER_INTERVAL_S, (done - now) / RENDER_BUDGET)
            self._last_render = done
        else:
            self.append_plain(piece)

    def set_citations(self, count: int, text: str) -> None:
        """Make marks [1]..[count] in ``text`` links (0: none) and show it again."""
        if count == self.cite_count:
            return
        self.cite_count = count
        self._truncate(0)
        self._segments = []
        self.set_markdown(text)

    def _anchor(self, url: QUrl) -> None:
        from ui.widgets.sources import SCHEME

        if url.scheme() == SCHEME and url.path().isdigit():
            self.citation_clicked.emit(int(url.path()))
        else:
            QDesktopServices.openUrl(url)

    @property
    def code_blocks(self) -> list[CodeBlock]:
        return [w for w in self._widgets if isinstance(w, CodeBlock)]

    def set_markdown(self, text: str) -> None:
        """Show ``text``, re-rendering only the segments that differ from what is shown."""
        self.set_segments([Segment("md", text)] if self._plain else split_markdown(text))

    def set_segments(self, segments: list[Segment]) -> None:
        """Show ``segments``, re-rendering only those that differ from what is shown."""
        keep = 0
        for old, new in zip(self._segments, segments, strict=False):
            if old != new:
                break
            keep += 1
        # Widgets past ``keep`` are updated in place when the kind matches, else rebuilt.
        for index in range(keep, len(segments)):
            segment = segments[index]
            widget = self._widgets[index] if index < len(self._widgets) else None
            if widget is not None and self._kind(widget) == segment.kind:
                self._fill(widget, segment)
                continue
            self._truncate(index)
            self._append(self._make(segment))
        self._truncate(len(segments))
        self._segments = segments

    def _append(self, widget: QWidget) -> None:
        if self._widgets:
            prose = self._kind(widget) == self._kind(self._widgets[-1]) == "md"
            self._layout.addSpacing(PROSE_GAP_PX if prose else SEGMENT_GAP_PX)
        self._widgets.append(widget)
        self._layout.addWidget(widget)

    def _truncate(self, count: int) -> None:
        """Keep the first ``count`` segments' widgets (and the spacing between them)."""
        if count >= len(self._widgets):
            return
        for stale in self._widgets[count:]:
            stale.deleteLater()
        del self._widgets[count:]
        keep_items = max(0, 2 * count - 1)
        while self._layout.count() > keep_items:
            item = self._layout.takeAt(keep_items)
            if item.widget() is not None:
                item.widget().hide()  # deleted later; gone from the layout and screen now

    def append_plain(self, text: str) -> None:
        """Append streamed text to the last segment, unrendered (cheap; see module doc)."""
        if not self._widgets:
            self._append(self._make(Segment("md", "")))
            self._segments = [Segment("md", "")]
        last = self._widgets[-1]
        last.append_plain(text)  # type: ignore[attr-defined]
        # The shown text no longer matches the segment: the next render must redo it.
        self._segments[-1] = Segment("stale", "", start=self._segments[-1].start)

    def plain_text(self) -> str:
        parts = []
        for widget in self._widgets:
            if isinstance(widget, CodeBlock):
                parts.append(widget.code)
            elif isinstance(widget, QTextBrowser):
                parts.append(widget.toPlainText())
        return "\n".join(parts)

    @staticmethod
    def _kind(widget: QWidget) -> str:
        return "code" if isinstance(widget, CodeBlock) else "md"

    def _make(self, segment: Segment) -> QWidget:
        if segment.kind == "code":
            block = CodeBlock(segment.text, segment.language, self)
            if segment.open_fence:
                block.language.setText("")
            return block
        browser = AutoHeightBrowser(self)
        if self.cite_count:
            browser.setOpenLinks(False)  # a citation opens its passage, nothing else
            browser.anchorClicked.connect(self._anchor)
        self._fill(browser, segment)
        return browser

    def _fill(self, widget: QWidget, segment: Segment) -> None:
        if isinstance(widget, CodeBlock):
            widget.set_code(segment.text, segment.language, open_fence=segment.open_fence)
        elif isinstance(widget, AutoHeightBrowser):
            if self._plain:
                widget.setPlainText(segment.text)
            elif self.cite_count:
                from ui.widgets.sources import link_citations

                widget.setMarkdown(link_citations(segment.text, self.cite_count))
            else:
                widget.setMarkdown(segment.text)
