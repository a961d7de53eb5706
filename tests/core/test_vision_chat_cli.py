"""``chat MODEL PROMPT --image PATH`` end to end: real llama.cpp, the crafted projector."""

import pytest
from PIL import Image

from tests.vision_craft import N_PATCHES


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (300, 200), (20, 120, 220)).save(path)
    return path


def test_chat_with_two_images_counts_their_tokens_and_keeps_them(cli_run, workspace,
                                                                 model_path, mmproj,
                                                                 photo) -> None:
    added = cli_run("models", "add", str(model_path), "--mmproj", str(mmproj))
    assert added.exit_code == 0, added.output
    model_id = added.output.split(":")[0].split()[-1]
    result = cli_run("chat", model_id, "What is in this picture?", "--image", str(photo),
                     "--image", str(photo), "--max-tokens", "4", "--temperature", "0",
                     "--ctx", "512", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert f"{2 * N_PATCHES} image tokens" in result.output
    db = workspace.db
    rows = list(db.query("select * from message_images order by position"))
    assert [r["position"] for r in rows] == [0, 1] and rows[0]["sha256"] == rows[1]["sha256"]
    kept = list(db.query("select * from images"))
    assert len(kept) == 1 and kept[0]["width"] == 300
    assert (workspace.root / "images").is_dir()


def test_a_model_without_a_projector_given_an_image_is_one_line(cli_run, photo) -> None:
    result = cli_run("chat", "SmolLM2", "What is it?", "--image", str(photo))
    assert result.exit_code != 0
    assert "cannot see images" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_damaged_image_is_one_line_and_nothing_is_sent(cli_run, workspace, model_path,
                                                         mmproj, tmp_path, photo) -> None:
    cli_run("models", "add", str(model_path), "--mmproj", str(mmproj))
    bad = tmp_path / "bad.png"
    bad.write_bytes(photo.read_bytes()[:80])
    result = cli_run("chat", "SmolLM2", "What is it?", "--image", str(bad))
    assert result.exit_code != 0 and "bad.png" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list(workspace.db.query("select count(*) as n from messages"))[0]["n"] == 0
