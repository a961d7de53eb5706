"""Collections of real documents: indexed, searched by keyword with the right page or
section, re-indexed touching only what changed, removed without touching the files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from docs_files import HTML, MARKDOWN, PDF_FACTS, make_docx, make_pdf

from workbench.documents.blocks import Block
from workbench.documents.chunking import JOIN, chunk
from workbench.documents.collections import (
    add_collection,
    collection_files,
    list_collections,
    remove_collection,
    remove_path,
)
from workbench.documents.indexing import index
from workbench.documents.search import fts_query, keyword_search


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "papers"
    (root / "sub").mkdir(parents=True)
    make_pdf(root / "handbook.pdf")
    make_docx(root / "sub" / "staff.docx")
    (root / "garden.md").write_text(MARKDOWN, encoding="utf-8")
    (root / "museum.html").write_text(HTML, encoding="utf-8")
    (root / "notes.txt").write_text("The spare key hangs in the blue cupboard.\n")
    (root / "tool.py").write_text("def launch():\n    return 'rocket telemetry'\n")
    return root


def run(db, name: str) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for event in index(db, name):
        seen.setdefault(event.status, []).append(os.path.basename(event.path))
    return seen


def test_fts5_is_available() -> None:
    sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x)")


def test_keyword_retrieval_finds_each_fact_with_its_page_or_section(db, folder) -> None:
    add_collection(db, "papers", [str(folder)])
    seen = run(db, "papers")
    assert sorted(seen["indexed"]) == ["garden.md", "handbook.pdf", "museum.html",
                                       "notes.txt", "staff.docx", "tool.py"]
    for page, fact in PDF_FACTS.items():
        best = keyword_search(db, "papers", fact, k=3)[0]
        assert (Path(best.path).name, best.page) == ("handbook.pdf", page), fact
        assert best.method == "keyword" and best.score > 0
    refund = keyword_search(db, "papers", "How long is the refund period?")[0]
    assert refund.page == 2 and "forty-five" in refund.text
    assert refund.where.endswith("handbook.pdf#page=2")
    slugs = keyword_search(db, "papers", "slugs copper")[0]
    assert (Path(slugs.path).name, slugs.section) == ("garden.md", "Garden notes > Pests")
    bikes = keyword_search(db, "papers", "where are bicycles parked")[0]
    assert (Path(bikes.path).name, bikes.section) == ("staff.docx", "Staff guide > Parking")
    assert "Badge colour | turquoise" in keyword_search(db, "papers", "badge colour")[0].text
    museum = keyword_search(db, "papers", "children free sundays")[0]
    assert (Path(museum.path).name, museum.section) == ("museum.html", "Museum > Tickets")
    assert keyword_search(db, "papers", "javascriptsecret") == []  # scripts are not text
    assert Path(keyword_search(db, "papers", "rocket telemetry")[0].path).name == "tool.py"
    assert Path(keyword_search(db, "papers", "spare key cupboard")[0].path).name == "notes.txt"
    # Offsets point into the file's extracted text, and a passage records the file's hash.
    files = {Path(row["path"]).name: row for row in collection_files(db, 1)}
    assert files["handbook.pdf"]["pages"] == 3 and len(files["handbook.pdf"]["sha256"]) == 64
    assert files["handbook.pdf"]["mtime_ns"] == (folder / "handbook.pdf").stat().st_mtime_ns


def test_reindex_after_editing_one_file_touches_only_it(db, folder) -> None:
    add_collection(db, "papers", [str(folder)])
    run(db, "papers")
    before = {row["path"]: row for row in collection_files(db, 1)}
    (folder / "notes.txt").write_text("The spare key now hangs in the red drawer.\n")
    (folder / "new.md").write_text("# New\n\nA heron visits the pond at dawn.\n")
    (folder / "museum.html").unlink()
    os.utime(folder / "garden.md")  # a new time, the same bytes: not read again for text
    seen = run(db, "papers")
    assert seen["indexed"] == ["new.md", "notes.txt"]
    assert seen["removed"] == ["museum.html"]
    assert sorted(seen["unchanged"]) == ["garden.md", "handbook.pdf", "staff.docx", "tool.py"]
    after = {row["path"]: row for row in collection_files(db, 1)}
    for name in ("handbook.pdf", "staff.docx", "garden.md", "tool.py"):
        path = str(folder / "sub" / name) if name == "staff.docx" else str(folder / name)
        assert after[path]["id"] == before[path]["id"]  # the same row: not re-extracted
    assert keyword_search(db, "papers", "red drawer")[0].path == str(folder / "notes.txt")
    assert keyword_search(db, "papers", "blue cupboard") == []
    assert keyword_search(db, "papers", "children sundays") == []
    assert run(db, "papers").keys() == {"unchanged"}


def test_a_stopped_run_leaves_a_consistent_index_that_resumes(db, folder) -> None:
    add_collection(db, "papers", [str(folder)])
    stream = index(db, "papers")
    for event in stream:
        assert event.total == 6
        if event.done == 2:
            stream.stop()
    assert stream.stopped and sum(stream.counts.values()) == 2
    consistent = db.execute("SELECT COUNT(*) FROM doc_files f WHERE chunk_count != "
                            "(SELECT COUNT(*) FROM doc_chunks c WHERE c.file_id = f.id)")
    assert consistent.fetchone()[0] == 0
    seen = run(db, "papers")
    assert len(seen["unchanged"]) == 2 and len(seen["indexed"]) == 4


def test_removing_a_collection_removes_its_chunks_and_keeps_the_files(db, folder) -> None:
    add_collection(db, "papers", [str(folder)])
    add_collection(db, "other", [str(folder / "notes.txt")])
    run(db, "papers")
    run(db, "other")
    removed = remove_collection(db, "papers")
    assert removed["files"] == 6 and removed["chunks"] > 6
    assert [row["name"] for row in list_collections(db)] == ["other"]
    assert db.execute("SELECT COUNT(*) FROM doc_chunks").fetchone()[0] == 1
    fts = db.execute("SELECT COUNT(*) FROM doc_chunks_fts WHERE doc_chunks_fts MATCH "
                     "'warehouse'").fetchone()[0]
    assert fts == 0
    assert (folder / "handbook.pdf").exists() and (folder / "notes.txt").exists()


def test_removing_a_path_excludes_it_from_now_on(db, folder) -> None:
    add_collection(db, "papers", [str(folder)])
    run(db, "papers")
    assert remove_path(db, "papers", str(folder / "sub"))["files"] == 1
    assert keyword_search(db, "papers", "bicycles") == []
    assert "staff.docx" not in run(db, "papers").get("indexed", [])
    assert (folder / "sub" / "staff.docx").exists()


def test_include_and_exclude_patterns(db, folder) -> None:
    add_collection(db, "md", [str(folder)], include=["*.md", "*.txt"], exclude=["notes*"])
    assert run(db, "md") == {"indexed": ["garden.md"]}


def test_chunks_keep_to_pages_and_sections_and_overlap() -> None:
    long = " ".join(f"word{i}." for i in range(500))
    blocks = [Block("Intro.", 1), Block(long, 1), Block("Other page.", 2, "Part B")]
    chunks = chunk(blocks, target=400, overlap=80)
    full = JOIN.join(block.text for block in blocks)
    assert all(full[c.start:c.end] == c.text for c in chunks)
    assert chunks[-1].text == "Other page." and chunks[-1].page == 2
    assert all(c.page == 1 for c in chunks[:-1]) and all(len(c.text) <= 400 for c in chunks)
    first, second = chunks[0], chunks[1]
    assert second.start < first.end  # they overlap
    assert full[second.start - 1] == " " and first.text.endswith(".")


def test_a_question_is_never_read_as_fts_syntax() -> None:
    assert fts_query('what\'s "NEAR" the AND-gate? (x*)') == \
        '"what" OR "s" OR "near" OR "the" OR "and" OR "gate" OR "x"'
    assert fts_query("?!") == ""
