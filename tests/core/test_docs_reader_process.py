"""PDF, DOCX and HTML are read in the reader process, bounded in time and memory: a hostile
file is listed with its one-line reason and the next files are indexed (issue 22, "work per
file is bounded in time and memory"). The processes here are real: a real hostile PDF that
makes pypdf slow, a real DOCX that makes lxml swallow memory, and a parser named by its entry
point that sleeps, crashes or exits inside the real reader process."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from docs_files import HTML, MARKDOWN, make_docx, make_memory_hungry_docx, make_pdf, make_slow_pdf
from docs_hostile import ENTRY

from workbench.documents.collections import add_collection, collection_files
from workbench.documents.indexing import index
from workbench.documents.reader_process import ReaderProcess
from workbench.documents.search import keyword_search


def indexed(db, root: Path, reader: ReaderProcess, name: str = "c"
            ) -> dict[str, tuple[str, str | None]]:
    add_collection(db, name, [str(root)])
    list(index(db, name, reader=reader))
    collection = db.execute("SELECT id FROM doc_collections WHERE name = ?", [name]).fetchone()
    return {os.path.relpath(row["path"], root): (row["status"], row["reason"])
            for row in collection_files(db, collection[0])}


def test_a_pdf_that_makes_pypdf_slow_is_cut_off_and_the_rest_indexed(db, tmp_path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    make_slow_pdf(root / "a-slow.pdf")  # read first: the files after it need a fresh reader
    make_pdf(root / "b-handbook.pdf")
    make_docx(root / "c-guide.docx")
    (root / "d-museum.html").write_text(HTML)
    (root / "e-garden.md").write_text(MARKDOWN)
    reader = ReaderProcess(timeout_s=2.0)
    started = time.monotonic()
    try:
        found = indexed(db, root, reader)
    finally:
        reader.close()
    assert time.monotonic() - started < 30  # the PDF alone would take minutes
    assert found["a-slow.pdf"] == ("skipped", "took longer than 2.0 s to read")
    assert {name: status for name, (status, _) in found.items() if name != "a-slow.pdf"} == {
        "b-handbook.pdf": "indexed", "c-guide.docx": "indexed", "d-museum.html": "indexed",
        "e-garden.md": "indexed"}
    assert reader.starts == 2  # the slow one's reader was ended, and one more read the rest
    assert keyword_search(db, "c", "refund period")[0].page == 2
    assert keyword_search(db, "c", "turquoise")[0].path.endswith("c-guide.docx")


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the memory cap is RLIMIT_AS, enforced by Linux")
def test_a_docx_that_needs_too_much_memory_is_refused(db, tmp_path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    make_memory_hungry_docx(root / "hungry.docx")
    assert (root / "hungry.docx").stat().st_size < 1_000_000
    make_docx(root / "plain.docx")
    reader = ReaderProcess(timeout_s=60.0, memory_bytes=300_000_000)
    try:
        found = indexed(db, root, reader)
    finally:
        reader.close()
    assert found == {"hungry.docx": ("skipped", "needed more than 300.0 MB of memory to read"),
                     "plain.docx": ("indexed", None)}


def test_a_parser_that_crashes_exits_or_hangs_costs_one_line(db, tmp_path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "1-crash.pdf").write_bytes(b"%CRASH")
    (root / "2-ok.html").write_text(HTML)
    (root / "3-exit.docx").write_bytes(b"%EXIT")
    (root / "4-sleep.html").write_bytes(b"%SLEEP")
    (root / "5-garden.md").write_text(MARKDOWN)
    make_pdf(root / "6-handbook.pdf")
    reader = ReaderProcess(timeout_s=1.5, extractor=ENTRY)
    try:
        found = indexed(db, root, reader)
    finally:
        reader.close()
    assert found == {
        "1-crash.pdf": ("skipped", "the reader crashed (SIGSEGV)"),
        "2-ok.html": ("indexed", None),
        "3-exit.docx": ("skipped", "the reader ended unexpectedly (exit code 3)"),
        "4-sleep.html": ("skipped", "took longer than 1.5 s to read"),
        "5-garden.md": ("indexed", None),
        "6-handbook.pdf": ("indexed", None),
    }
    assert reader.starts == 4
    assert keyword_search(db, "c", "refund period")[0].path.endswith("6-handbook.pdf")


def test_one_reader_process_reads_every_file_of_a_run(db, tmp_path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    for number in range(40):
        (root / f"page{number:02d}.html").write_bytes(b"%PID")
    reader = ReaderProcess(extractor=ENTRY)
    try:
        found = indexed(db, root, reader)
        pid = reader.pid
    finally:
        reader.close()
    assert all(status == "indexed" for status, _ in found.values()) and len(found) == 40
    texts = {row[0] for row in db.execute("SELECT text FROM doc_chunks")}
    assert texts == {f"read by process {pid}"} and pid != os.getpid()
    assert reader.starts == 1


def test_a_run_owns_its_reader_and_ends_it(db, tmp_path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "museum.html").write_text(HTML)
    add_collection(db, "c", [str(root)])
    run = index(db, "c")
    assert [event.status for event in run] == ["indexed"]
    assert run.reader.starts == 1 and run.reader.pid is None  # ended with the run


def test_a_stop_ends_a_slow_read_at_once_and_keeps_the_file_as_it_was(db, tmp_path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.html").write_text(HTML)
    (root / "b-sleep.html").write_bytes(b"%SLEEP")
    (root / "c.html").write_text(HTML)
    add_collection(db, "c", [str(root)])
    reader = ReaderProcess(timeout_s=600.0, extractor=ENTRY)
    run = index(db, "c", reader=reader)
    events = []
    started = time.monotonic()
    try:
        for event in run:
            events.append(Path(event.path).name)
            threading.Timer(0.5, run.stop).start()
    finally:
        reader.close()
    assert time.monotonic() - started < 10
    assert run.stopped and events == ["a.html"]
    assert [Path(row["path"]).name for row in collection_files(db, 1)] == ["a.html"]
