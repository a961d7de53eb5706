"""Bad files in a collection: each is listed with its one-line reason and the rest is
indexed (issue 22, "Bad input gets a clear line and loses nothing")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from docs_files import (
    docx_bytes_broken,
    make_encrypted_pdf,
    make_pdf,
    make_scanned_pdf,
    make_zip_bomb_docx,
)

from workbench.documents import extract as extract_module
from workbench.documents import walk as walk_module
from workbench.documents.collections import add_collection, collection_files
from workbench.documents.indexing import index
from workbench.documents.search import keyword_search


def reasons(db, root: Path) -> dict[str, tuple[str, str | None]]:
    add_collection(db, "bad", [str(root)])
    list(index(db, "bad"))
    return {os.path.relpath(row["path"], root): (row["status"], row["reason"])
            for row in collection_files(db, 1)}


def test_each_bad_file_gets_its_reason_and_the_rest_is_indexed(db, tmp_path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    make_pdf(root / "good.pdf")
    (root / "empty.pdf").write_bytes(b"")
    (root / "damaged.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<\ngarbage" + os.urandom(300))
    make_pdf(root / "cut.pdf")
    (root / "cut.pdf").write_bytes((root / "cut.pdf").read_bytes()[:200])
    make_encrypted_pdf(root / "locked.pdf")
    make_scanned_pdf(root / "scan.pdf")
    make_zip_bomb_docx(root / "bomb.docx")
    (root / "notzip.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (root / "nodoc.docx").write_bytes(docx_bytes_broken())
    (root / "binary.txt").write_bytes(os.urandom(4096) + b"\0")
    (root / "latin.txt").write_bytes("Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e recipe".encode(
        "cp1252"))
    (root / "neither.txt").write_bytes(b"abc \x81\x8d\x8f\x90 def")
    (root / "utf16.txt").write_text("Hedgehogs hibernate in leaves.", encoding="utf-16")
    (root / "photo.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(100))
    os.symlink("loop", root / "loop")  # a link to itself
    os.symlink(".", root / "again")  # a folder that contains itself
    found = reasons(db, root)
    assert found["good.pdf"] == ("indexed", None)
    assert found["empty.pdf"] == ("skipped", "empty file")
    assert found["damaged.pdf"][1].startswith("damaged PDF: ")
    assert found["cut.pdf"][1].startswith("damaged PDF: ")
    assert found["locked.pdf"] == ("skipped", "encrypted: needs a password")
    assert found["scan.pdf"] == ("skipped", "no text: scanned pages need OCR")
    assert found["bomb.docx"][1].startswith("refused: unpacks to 314.6 MB")
    assert found["notzip.docx"][1].startswith("damaged DOCX: ")
    assert found["nodoc.docx"] == ("skipped", "damaged DOCX: no word/document.xml inside")
    assert found["binary.txt"] == ("skipped", "binary data, not text")
    assert found["latin.txt"] == (
        "indexed", "not UTF-8 (byte 0xe9 at offset 3): read as Windows-1252")
    assert found["neither.txt"][1].startswith("not text: byte 0x81 at offset 4")
    assert found["utf16.txt"] == ("indexed", None)
    assert found["photo.jpg"] == ("skipped", "unsupported format (.jpg)")
    assert found["loop"] == ("skipped", "symlink loop")
    assert found["again"] == ("skipped", "symlink loop: this folder is already in the "
                                         "collection")
    assert all(reason is None or "\n" not in reason for _, reason in found.values())
    assert keyword_search(db, "bad", "crème brûlée")[0].path.endswith("latin.txt")
    assert keyword_search(db, "bad", "hedgehogs")[0].path.endswith("utf16.txt")
    assert keyword_search(db, "bad", "refund period")[0].page == 2


def test_a_huge_text_file_is_refused_unread(db, tmp_path, monkeypatch) -> None:
    """The bound is per file (64 MiB); a sparse 2 GB file shows it costs nothing to refuse."""
    root = tmp_path / "big"
    root.mkdir()
    with (root / "huge.txt").open("wb") as stream:
        stream.truncate(2_000_000_000)
    (root / "small.txt").write_text("A small file about otters.")
    found = reasons(db, root)
    assert found["huge.txt"] == ("skipped", "larger than 67.1 MB, the most read from one file")
    assert found["small.txt"] == ("indexed", None)


def test_an_unreadable_folder_is_listed_and_the_rest_indexed(db, tmp_path,
                                                             monkeypatch) -> None:
    root = tmp_path / "mixed"
    (root / "closed").mkdir(parents=True)
    (root / "closed" / "secret.txt").write_text("hidden")
    (root / "open.txt").write_text("Owls hunt at night.")
    real = os.scandir

    def scandir(path):  # root may read any folder, so the refusal is the kernel's words
        if str(path).endswith("closed"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(walk_module.os, "scandir", scandir)
    found = reasons(db, root)
    assert found == {"closed": ("skipped", "cannot read: permission denied"),
                     "open.txt": ("indexed", None)}


def test_a_file_deleted_or_changed_while_indexing(db, tmp_path, monkeypatch) -> None:
    root = tmp_path / "moving"
    root.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (root / name).write_text(f"Text of {name} about lighthouses.")
    real = extract_module.extract

    def extract(path, data):
        if path.name == "a.txt":  # while a.txt is read, b.txt goes and c.txt changes
            (root / "b.txt").unlink()
            with (root / "c.txt").open("a") as stream:
                stream.write(" More.")
        return real(path, data)

    monkeypatch.setattr("workbench.documents.indexing.extract", extract)
    add_collection(db, "moving", [str(root)])
    events = {Path(e.path).name: (e.status, e.reason) for e in index(db, "moving")}
    assert events["a.txt"] == ("indexed", None)
    assert events["b.txt"] == ("removed", "deleted while indexing")
    assert events["c.txt"][0] == "indexed"  # read after the change: the new bytes
    monkeypatch.undo()

    real_open = open
    changed = []

    def growing_open(path, mode="r", *args, **kwargs):
        stream = real_open(path, mode, *args, **kwargs)
        if str(path).endswith("a.txt") and not changed:
            changed.append(path)
            with real_open(path, "a") as other:
                other.write(" Appended while read.")
        return stream

    (root / "a.txt").write_text("Text of a.txt, edited, about lighthouses.")
    monkeypatch.setattr("builtins.open", growing_open)
    events = {Path(e.path).name: (e.status, e.reason) for e in index(db, "moving")}
    monkeypatch.undo()
    assert events["a.txt"] == ("error", "changed while being read: reindex to try again")
    events = {Path(e.path).name: e.status for e in index(db, "moving")}
    assert events["a.txt"] == "indexed"
    assert keyword_search(db, "moving", "appended")[0].path.endswith("a.txt")


@pytest.mark.parametrize("name", ["doc.md", "page.html", "code.py"])
def test_binary_data_under_any_text_name_is_refused(tmp_path, name) -> None:
    from workbench.documents.blocks import Unreadable
    from workbench.documents.extract import extract

    with pytest.raises(Unreadable, match="binary data, not text"):
        extract(Path(name), b"\x7fELF\x02\x01\x01\0\0\0" + bytes(range(256)))


def test_more_text_than_is_kept_from_one_file_is_refused(db, tmp_path) -> None:
    root = tmp_path / "long"
    root.mkdir()
    (root / "long.txt").write_text("otters swim. " * 1_300_000)  # 16.9 million characters
    (root / "short.txt").write_text("Otters hold hands while they sleep.")
    found = reasons(db, root)
    assert found == {"long.txt": ("skipped", "more than 16,000,000 characters of text"),
                     "short.txt": ("indexed", None)}
