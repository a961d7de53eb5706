"""PDF (pypdf, BSD) and DOCX (python-docx, MIT): pure-Python readers, well kept, no GPL and no
native code, so a hostile file can fail the reader but never crash the process.

Both parsers raise many kinds of exception on a damaged file (``KeyError`` from a broken
cross-reference table, ``struct.error``, their own ``PdfReadError``...), so each call into them
catches ``Exception`` and turns it into the file's one-line reason: one bad file never stops
the indexing of the rest.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

from workbench.documents.blocks import Block, Extracted, Unreadable, paragraphs
from workbench.units import human_size

#: The most a DOCX may unpack to: far more than any real document, far less than a zip bomb.
MAX_UNPACKED = 256 << 20
#: Pages read from one PDF: a bound on the work per file.
MAX_PAGES = 5000


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """The parser's own warnings about a damaged file stay out of the terminal: the file's
    reason line says it once."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def pdf(data: bytes) -> Extracted:
    """One block per page that has text, numbered from 1; a PDF with pages but no text at
    all has only scanned images, which need OCR (not done here)."""
    from pypdf import PdfReader

    with _quiet("pypdf"):
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise Unreadable("encrypted: needs a password")
            count = len(reader.pages)
        except Unreadable:
            raise
        except Exception as error:
            if "encrypt" in str(error).lower() or "password" in str(error).lower():
                raise Unreadable(f"encrypted: cannot be opened ({_one_line(error)})") from None
            raise Unreadable(f"damaged PDF: {_one_line(error)}") from None
        if count == 0:
            raise Unreadable("damaged PDF: no pages")
        if count > MAX_PAGES:
            raise Unreadable(f"more than {MAX_PAGES:,} pages")
        blocks: list[Block] = []
        for number in range(1, count + 1):
            try:
                text = reader.pages[number - 1].extract_text() or ""
            except Exception as error:
                raise Unreadable(f"damaged PDF: page {number}: {_one_line(error)}") from None
            text = text.strip()
            if text:
                blocks.append(Block(text, number))
    if not blocks:
        raise Unreadable("no text: scanned pages need OCR")
    return Extracted("pdf", blocks, count)


def docx(data: bytes) -> Extracted:
    """Paragraphs and table rows in document order, under their heading path. The archive's
    unpacked size is bounded before python-docx opens it (a zip bomb is refused unread)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise Unreadable(f"damaged DOCX: {_one_line(error)}") from None
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_UNPACKED:
        raise Unreadable(f"refused: unpacks to {human_size(unpacked)}, more than "
                         f"{human_size(MAX_UNPACKED)} (a zip bomb?)")
    if "word/document.xml" not in names:
        raise Unreadable("damaged DOCX: no word/document.xml inside")
    import docx as python_docx
    from docx.table import Table

    try:
        document = python_docx.Document(io.BytesIO(data))
        items = list(document.iter_inner_content())
    except Exception as error:
        raise Unreadable(f"damaged DOCX: {_one_line(error)}") from None
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    for item in items:
        if isinstance(item, Table):
            for row in item.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                text = " | ".join(cell for cell in cells if cell)
                if text:
                    blocks.append(Block(text, None, _path(headings)))
            continue
        style = (item.style.name if item.style is not None else "") or ""
        level = _heading_level(style)
        text = item.text.strip()
        if not text:
            continue
        if level:
            headings[:] = [h for h in headings if h[0] < level] + [(level, text)]
        else:
            blocks.extend(Block(part, None, _path(headings)) for part in paragraphs(text))
    if not blocks:
        raise Unreadable("no text")
    return Extracted("docx", blocks)


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    if style.startswith("Heading "):
        digits = style.removeprefix("Heading ").strip()
        return int(digits) if digits.isdigit() else 0
    return 0


def _path(headings: list[tuple[int, str]]) -> str | None:
    return " > ".join(title for _, title in headings) or None
