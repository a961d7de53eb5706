"""Real documents made for the documents tests: a PDF with facts on known pages (reportlab),
a DOCX with headings and a table (python-docx), Markdown, HTML, and hostile files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

#: page -> the fact printed on it
PDF_FACTS = {
    1: "The warehouse in Tromso opens at seven in the morning.",
    2: "The refund period for damaged parcels is forty-five days.",
    3: "Invoices are archived by the clerk named Oswaldo Pereira.",
}


def make_pdf(path: Path, facts: dict[int, str] = PDF_FACTS) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    sheet = canvas.Canvas(str(path), pagesize=A4)
    for page in sorted(facts):
        sheet.drawString(72, 760, f"Handbook, page {page}")
        sheet.drawString(72, 720, facts[page])
        sheet.showPage()
    sheet.save()
    return path


def papers_collection(db, root: Path, notes: str | None = None) -> Path:
    """The collection "papers" most documents tests ask about: ROOT holds the handbook PDF
    (``PDF_FACTS``) and, given NOTES, ``notes.md``; added and indexed by keyword."""
    from workbench.documents.collections import add_collection
    from workbench.documents.indexing import index

    root.mkdir(parents=True, exist_ok=True)
    make_pdf(root / "handbook.pdf")
    if notes is not None:
        (root / "notes.md").write_text(notes)
    add_collection(db, "papers", [str(root)])
    list(index(db, "papers"))
    return root


def make_scanned_pdf(path: Path) -> Path:
    """Pages with only a drawing on them, no text layer: what a scanner makes."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    sheet = canvas.Canvas(str(path), pagesize=A4)
    for _ in range(2):
        sheet.rect(72, 72, 300, 500, fill=1)
        sheet.showPage()
    sheet.save()
    return path


def make_encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(path.with_suffix(".plain"))
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt("secret", algorithm="RC4-128")
    with path.open("wb") as stream:
        writer.write(stream)
    plain.unlink()
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Staff guide", level=1)
    document.add_heading("Parking", level=2)
    document.add_paragraph("Bicycles are parked behind the greenhouse near the pond.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Badge colour"
    table.rows[0].cells[1].text = "turquoise"
    document.save(str(path))
    return path


def make_zip_bomb_docx(path: Path) -> Path:
    """A valid-looking DOCX whose one member unpacks to 300 MB of zeros (it is 300 KB)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                member.write(block)
    return path


MARKDOWN = """# Garden notes

## Watering

The tomatoes need watering every evening in July.

## Pests

Slugs are kept away with copper tape around the beds.
"""

HTML = """<html><head><title>t</title><style>p { color: red }</style>
<script>var hidden = "javascriptsecret";</script></head>
<body><h1>Museum</h1><h2>Tickets</h2><p>Children under twelve enter for free on
Sundays.</p><p>The caf&eacute; closes at five.</p></body></html>"""


def docx_bytes_broken() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a docx")
    return buffer.getvalue()


def make_slow_pdf(path: Path, operators: int = 100_000, pages: int = 50) -> Path:
    """A hostile PDF: every page shares one compressed content stream of ``operators``
    text-showing operators. It is a few kilobytes, and pypdf takes about three seconds per
    page here (minutes for the file) to extract its text."""
    import zlib

    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, StreamObject

    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    content = StreamObject()
    content.set_data(zlib.compress(b"BT /F1 12 Tf 72 720 Td " + b"(a) Tj 1 0 Td " * operators
                                   + b"ET"))
    content[NameObject("/Filter")] = NameObject("/FlateDecode")
    shared = writer._add_object(content)
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject(
        {NameObject("/F1"): font})})
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = resources
        page[NameObject("/Contents")] = shared
    with path.open("wb") as stream:
        writer.write(stream)
    return path


def make_memory_hungry_docx(path: Path, paragraphs: int = 3_000_000) -> Path:
    """A hostile DOCX under the zip-bomb bound: its XML is about 100 MB of tiny paragraphs,
    which lxml turns into gigabytes of nodes (the file itself is a few hundred KB)."""
    plain = make_docx(path.with_suffix(".plain.docx"))
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w",
                                                           zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                archive.writestr(info, source.read(info))
                continue
            head, _, tail = source.read(info).decode().partition("<w:body>")
            with archive.open("word/document.xml", "w", force_zip64=True) as member:
                member.write((head + "<w:body>").encode())
                block = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>" * 10_000
                for _ in range(paragraphs // 10_000):
                    member.write(block)
                member.write(tail.encode())
    plain.unlink()
    return path
