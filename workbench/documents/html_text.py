"""HTML to text blocks with the standard library's parser (no extra dependency): block
elements end a paragraph, headings become the section path, scripts and styles are dropped."""

from __future__ import annotations

from html.parser import HTMLParser

from workbench.documents.blocks import Block

_BREAKS = {"p", "div", "li", "br", "tr", "td", "th", "section", "article", "pre", "table",
           "ul", "ol", "blockquote", "header", "footer", "main", "nav", "aside", "dd", "dt",
           "figcaption", "hr"}
_HIDDEN = {"script", "style", "noscript", "template", "head"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.parts: list[str] = []
        self.headings: list[tuple[int, str]] = []
        self.hidden = 0
        self.heading: int | None = None

    def flush(self) -> None:
        text = " ".join("".join(self.parts).split())
        self.parts.clear()
        if not text:
            return
        if self.heading is not None:
            level = self.heading
            self.headings[:] = [h for h in self.headings if h[0] < level] + [(level, text)]
            return
        section = " > ".join(title for _, title in self.headings) or None
        self.blocks.append(Block(text, None, section))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _HEADINGS:
            self.flush()
            self.heading = _HEADINGS[tag]
        elif tag in _BREAKS:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _HEADINGS:
            self.flush()
            self.heading = None
        elif tag in _BREAKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_blocks(text: str) -> list[Block]:
    parser = _Text()
    parser.feed(text)
    parser.close()
    parser.heading = None
    parser.flush()
    return parser.blocks
