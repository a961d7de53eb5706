"""One file to text blocks, or one line saying why not.

Each format's reader gets the file's bytes, already read with one bound, so per-file memory is
bounded and the text is extracted from exactly the bytes that were hashed (a file changed while
it is indexed cannot mix two versions). Text that is not UTF-8 is read as Windows-1252 when
that decodes, with a note saying so; binary data under a text name is refused.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from workbench.documents.blocks import Block, Extracted, Unreadable, paragraphs
from workbench.text_files import MAX_TEXT_BYTES

#: The most read from one file (the same bound as any text a user hands over).
MAX_FILE_BYTES = MAX_TEXT_BYTES

#: Extracted text kept per file: a bound on the work and memory of chunking one file.
MAX_TEXT_CHARS = 16_000_000

PDF = (".pdf",)
DOCX = (".docx",)
MARKDOWN = (".md", ".markdown", ".mdown", ".mkd")
HTML = (".html", ".htm", ".xhtml")
TEXT = (".txt", ".text", ".rst", ".org", ".log", ".csv", ".tsv", ".tex", ".adoc")
CODE = (".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".c", ".h", ".cc", ".cpp", ".hpp",
        ".cs", ".java", ".kt", ".go", ".rs", ".rb", ".php", ".swift", ".scala", ".sh",
        ".bash", ".zsh", ".ps1", ".sql", ".r", ".jl", ".lua", ".pl", ".m", ".css", ".scss",
        ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".xml")


def format_of(path: Path) -> str | None:
    """The reader for ``path`` by its name, or None for a format Workbench does not read."""
    suffix = path.suffix.lower()
    for name, suffixes in (("pdf", PDF), ("docx", DOCX), ("markdown", MARKDOWN),
                           ("html", HTML), ("text", TEXT), ("code", CODE)):
        if suffix in suffixes:
            return name
    return None


def extract(path: Path, data: bytes) -> Extracted:
    """The blocks of ``data`` (the bytes of ``path``); :class:`Unreadable` with the reason."""
    kind = format_of(path)
    if kind is None:
        raise Unreadable(f"unsupported format ({path.suffix.lower() or 'no extension'})")
    if not data:
        raise Unreadable("empty file")
    if kind in ("pdf", "docx"):
        from workbench.documents import office

        return office.pdf(data) if kind == "pdf" else office.docx(data)
    text, notes = decode_text(data)
    if len(text) > MAX_TEXT_CHARS:  # refused before it is split: a copy less at the peak
        raise Unreadable(f"more than {MAX_TEXT_CHARS:,} characters of text")
    if kind == "html":
        from workbench.documents.html_text import html_blocks

        blocks = html_blocks(text)
    elif kind == "markdown":
        blocks = markdown_blocks(text)
    else:
        blocks = [Block(part) for part in paragraphs(text)]
    blocks = bounded(blocks)
    if not blocks:
        raise Unreadable("no text")
    return Extracted(kind, blocks, None, notes)


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """Text from bytes: UTF-8 (or UTF-16 with its byte-order mark), else Windows-1252 with a
    note; binary data (NUL or many control bytes near the start) is :class:`Unreadable`."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError:
            raise Unreadable("damaged UTF-16 text") from None
    head = data[:8192]
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    if b"\x00" in head or controls > len(head) // 10:
        raise Unreadable("binary data, not text")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as error:
        where = error.start
    try:
        return data.decode("cp1252"), [f"not UTF-8 (byte 0x{data[where]:02x} at offset "
                                       f"{where:,}): read as Windows-1252"]
    except UnicodeDecodeError:
        raise Unreadable(f"not text: byte 0x{data[where]:02x} at offset {where:,} is "
                         "neither UTF-8 nor Windows-1252") from None


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def markdown_blocks(text: str) -> list[Block]:
    """Paragraphs under the heading path they fall in (``Guide > Refunds``)."""
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    lines: list[str] = []

    def flush() -> None:
        section = " > ".join(title for _, title in headings) or None
        blocks.extend(Block(part, None, section) for part in paragraphs("\n".join(lines)))
        lines.clear()

    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            headings[:] = [h for h in headings if h[0] < level] + [(level, match.group(2))]
        else:
            lines.append(line)
    flush()
    return blocks


def bounded(blocks: list[Block]) -> list[Block]:
    """At most :data:`MAX_TEXT_CHARS` of text; the rest of a file is not indexed."""
    kept: list[Block] = []
    total = 0
    for block in blocks:
        if total + len(block.text) > MAX_TEXT_CHARS:
            raise Unreadable(f"more than {MAX_TEXT_CHARS:,} characters of text")
        total += len(block.text)
        kept.append(block)
    return kept
