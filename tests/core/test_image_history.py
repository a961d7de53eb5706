"""Pictures in History: an export names them, deleting a chat removes the pictures nothing else
uses (this chat's own stay until the next delete or start, so Undo brings them back), and a
picture another chat or a suite uses stays. Chats made with ``chat --image`` (real llama.cpp,
the crafted projector)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from workbench import conversations as convs
from workbench.export import export_conversation
from workbench.images import prune_unused
from workbench.recovery import repair_after_kill
from workbench.trials.suites import SuitePrompt, create_suite


@pytest.fixture
def chats(workspace, model_path, mmproj, tmp_path, cli_run):
    def run(*args: str):
        result = cli_run(*args)
        assert result.exit_code == 0, result.output
        return result

    run("models", "add", str(model_path), "--mmproj", str(mmproj))
    pictures = []
    for name, color in (("a.png", (200, 0, 0)), ("b.png", (0, 0, 200))):
        Image.new("RGB", (50, 40), color).save(tmp_path / name)
        pictures.append(str(tmp_path / name))
    common = ("--max-tokens", "2", "--temperature", "0", "--ctx", "512", "--threads", "1")
    run("chat", "SmolLM2", "First?", "--image", pictures[0], "--image", pictures[1], *common)
    run("chat", "SmolLM2", "Second?", "--image", pictures[1], *common)
    ids = [row["id"] for row in workspace.db.query("select id from conversations order by id")]
    return ids


def _kept(db) -> dict[str, str]:
    return {row["sha256"]: row["path"] for row in db.query("select * from images")}


def test_export_names_the_pictures(workspace, chats) -> None:
    db = workspace.db
    data = json.loads(export_conversation(db, chats[0], "json"))
    paths = data["messages"][0]["images"]
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths)
    markdown = export_conversation(db, chats[0], "md")
    assert markdown.count("![picture") == 2 and Path(paths[0]).as_uri() in markdown


def test_deleting_a_chat_deletes_only_pictures_nothing_else_uses(workspace, chats) -> None:
    db = workspace.db
    before = _kept(db)
    assert len(before) == 2
    only_first = next(d for d in before
                      if db.execute("select count(*) from message_images where sha256 = ?",
                                    [d]).fetchone()[0] == 1)
    saved = convs.delete_conversation(db, chats[0])
    assert _kept(db) == before  # kept for Undo
    convs.restore_conversation(db, saved)
    assert db.execute("select count(*) from message_images").fetchone()[0] == 3
    convs.delete_conversation(db, chats[0])
    repair_after_kill(db)  # the next start
    after = _kept(db)
    assert only_first not in after and not Path(before[only_first]).exists()
    assert len(after) == 1 and Path(next(iter(after.values()))).is_file()  # chat 2 uses it


def test_a_picture_a_suite_uses_stays(workspace, chats) -> None:
    db = workspace.db
    shared = list(_kept(db))
    create_suite(db, "eyes", [SuitePrompt("What?", images=shared)])
    for conversation in chats:
        convs.delete_conversation(db, conversation)
    assert prune_unused(db) == 0 and set(_kept(db)) == set(shared)
