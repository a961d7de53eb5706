"""``llm-workbench docs``, as a user types it."""

from __future__ import annotations

import json

from docs_files import MARKDOWN, make_pdf


def test_docs_add_list_show_search_reindex_rm(cli_run, tmp_path) -> None:
    root = tmp_path / "papers"
    root.mkdir()
    make_pdf(root / "handbook.pdf")
    (root / "garden.md").write_text(MARKDOWN)
    (root / "empty.pdf").write_bytes(b"")
    added = cli_run("docs", "add", "papers", str(root))
    assert added.exit_code == 0, added.output
    assert "2 indexed, 1 skipped" in added.output
    assert "skipped " + str(root / "empty.pdf") + ": empty file" in added.output
    listed = json.loads(cli_run("docs", "list", "--json").output)
    assert [(c["name"], c["indexed"], c["not_indexed"]) for c in listed] == [("papers", 2, 1)]
    assert "papers" in cli_run("docs", "list").output
    shown = json.loads(cli_run("docs", "show", "papers", "--json").output)
    assert {f["path"].rsplit("/", 1)[-1]: f["status"] for f in shown["files"]} == {
        "empty.pdf": "skipped", "garden.md": "indexed", "handbook.pdf": "indexed"}
    assert "(empty file)" in cli_run("docs", "show", "papers").output
    hits = json.loads(cli_run("docs", "search", "papers", "refund period", "--k", "2",
                              "--json").output)
    assert hits[0]["page"] == 2 and hits[0]["method"] == "keyword"
    assert hits[0]["path"] == str(root / "handbook.pdf") and hits[0]["score"] > 0
    assert len(hits) <= 2
    text = cli_run("docs", "search", "papers", "slugs").output
    assert text.startswith("[1] " + str(root / "garden.md") + " (Garden notes > Pests)")
    (root / "garden.md").write_text(MARKDOWN + "\nBees like lavender.\n")
    again = cli_run("docs", "reindex", "papers")
    assert again.exit_code == 0 and "1 indexed, 2 unchanged" in again.output
    removed = cli_run("docs", "rm", "papers", str(root / "garden.md"))
    assert removed.exit_code == 0 and "1 files" in removed.output
    assert cli_run("docs", "search", "papers", "lavender").output.startswith("No passages")
    gone = cli_run("docs", "rm", "papers")
    assert gone.exit_code == 0 and "the files were kept" in gone.output
    assert json.loads(cli_run("docs", "list", "--json").output) == []
    assert (root / "garden.md").exists() and (root / "handbook.pdf").exists()


def test_docs_bad_input_is_one_line(cli_run, tmp_path) -> None:
    for args, words in [
        (("docs", "add", "x", str(tmp_path / "nope")), "no such file or folder"),
        (("docs", "show", "nope"), "no collection named 'nope'"),
        (("docs", "search", "nope", "q"), "no collection named 'nope'"),
        (("docs", "rm", "nope"), "no collection named 'nope'"),
    ]:
        result = cli_run(*args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 1 and len(lines) == 1, result.output
        assert lines[0].startswith("Error: ") and words in lines[0]
    (tmp_path / "a.txt").write_text("a")
    cli_run("docs", "add", "x", str(tmp_path / "a.txt"))
    outside = cli_run("docs", "rm", "x", "/somewhere/else")
    assert outside.exit_code == 1 and "not in collection 'x'" in outside.output
