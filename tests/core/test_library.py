import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gguf_variants import distinct_copy  # noqa: E402

from workbench import library  # noqa: E402
from workbench.demo import ensure_demo_model  # noqa: E402
from workbench.errors import AlreadyInLibraryError, ModelFileError, ModelNotFound  # noqa: E402
from workbench.gguf_header import read_header  # noqa: E402
from workbench.store import open_database  # noqa: E402


def test_add_reads_the_header_and_hashes(db, model_path: Path) -> None:
    model = library.add_model(db, model_path)
    assert model.architecture == "llama"
    assert model.quantization == "Q4_1"
    assert model.has_chat_template
    assert model.context_length == 8192
    assert model.file_size == model_path.stat().st_size
    assert model.sha256 == library.sha256_file(model_path)
    assert model.path == str(model_path.absolute())
    # Adding the same file again updates, never duplicates.
    again = library.add_model(db, model_path)
    assert again.id == model.id
    assert len(library.list_models(db)) == 1


def test_find_by_id_and_prefix(db, model_path: Path, tmp_path: Path) -> None:
    first = library.add_model(db, model_path, name="SmolLM2 fast")
    copy = distinct_copy(model_path, tmp_path / "other.gguf")
    second = library.add_model(db, copy, name="SmolLM2 slow")
    assert library.get_model(db, str(first.id)).id == first.id
    assert library.get_model(db, "smollm2 s").id == second.id
    assert library.get_model(db, "other").id == second.id
    with pytest.raises(ModelNotFound, match="matches several"):
        library.get_model(db, "smollm2")
    with pytest.raises(ModelNotFound, match="no model"):
        library.get_model(db, "nothing-like-it")


def test_remove_keeps_the_file_unless_asked(db, model_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    shutil.copy(model_path, copy)
    model = library.add_model(db, copy)
    library.remove_model(db, model.id)
    assert copy.exists()
    assert library.list_models(db) == []
    model = library.add_model(db, copy)
    library.remove_model(db, model.id, delete_file=True)
    assert not copy.exists()


@pytest.mark.parametrize("content", [None, b"", b"GGML nonsense", "head"])
def test_bad_files_write_nothing(db, tmp_path: Path, model_path: Path, content) -> None:
    bad = tmp_path / "bad.gguf"
    if content == "head":
        bad.write_bytes(model_path.read_bytes()[:1_000_000])
    elif content is not None:
        bad.write_bytes(content)
    with pytest.raises(ModelFileError, match="bad.gguf"):
        library.add_model(db, bad)
    assert db["models"].count == 0


def test_split_model_is_one_entry_from_its_first_part(db, model_path: Path, split_model,
                                                      tmp_path: Path) -> None:
    first, second = split_model
    whole = library.add_model(db, model_path)
    with pytest.raises(ModelFileError, match=f"part 2 of 2 .*add the first part, {first.name}"):
        library.add_model(db, second)
    lonely = tmp_path / first.name
    shutil.copy(first, lonely)  # the first part without the second beside it
    with pytest.raises(ModelFileError, match=f"missing {second.name}"):
        library.add_model(db, lonely)
    assert [m.id for m in library.list_models(db)] == [whole.id]  # nothing written
    model = library.add_model(db, first)
    assert model.name == "SmolLM2-split" and model.file_name == first.name
    assert model.file_size == first.stat().st_size + second.stat().st_size
    assert model.parameters == whole.parameters  # both parts' tensors counted
    assert model.quantization == whole.quantization


def test_the_same_contents_twice_is_one_entry(db, model_path: Path, tmp_path: Path) -> None:
    model = library.add_model(db, model_path)
    copy = tmp_path / "elsewhere" / "renamed.gguf"
    copy.parent.mkdir()
    shutil.copyfile(model_path, copy)
    with pytest.raises(AlreadyInLibraryError) as caught:
        library.add_model(db, copy)
    assert str(caught.value) == (f"renamed.gguf: already in the library as {model.id}: "
                                 f"{model.name} ({model.path})")
    assert [m.id for m in library.list_models(db)] == [model.id]
    # A copy whose original is gone is the same model moved: the entry follows the file.
    original = tmp_path / "original.gguf"
    shutil.copyfile(model_path, original)
    db.table("models").update(model.id, {"path": str(original)})
    original.unlink()
    moved = library.add_model(db, copy)
    assert moved.id == model.id and moved.path == str(copy) and moved.name == model.name
    assert len(library.list_models(db)) == 1


def test_the_demo_model_and_a_copy_of_it_are_one_entry(db, model_path: Path,
                                                       tmp_path: Path) -> None:
    copy = shutil.copyfile(model_path, tmp_path / "my-smollm.gguf")
    mine = library.add_model(db, copy)
    ensure_demo_model(db)  # the demo file is the test model: same sha256
    assert [m.id for m in library.list_models(db)] == [mine.id]
    assert db.table("settings").get("demo_offered")["value"] == "true"  # not tried again


def test_the_other_way_round_the_copy_is_refused(workspace, model_path: Path,
                                                 tmp_path: Path) -> None:
    db = workspace.db
    ensure_demo_model(db)
    [demo] = library.list_models(db)
    copy = shutil.copyfile(model_path, tmp_path / "SmolLM2-copy.gguf")
    with pytest.raises(AlreadyInLibraryError, match=f"as {demo.id}: {demo.name}"):
        library.add_model(db, copy)
    assert library.get_model(db, "SmolLM2").id == demo.id  # the name prefix stays unique


def test_a_base_model_is_labelled(db, model_path: Path, no_template_model: Path) -> None:
    # The test model's header names a training run ("Smollm2 135M 8k Lc100K Mix1 Ep2",
    # finetune "8k-lc100k-mix1-ep2"): without its chat template nothing says it is tuned.
    header = read_header(no_template_model)
    assert header.chat_template is None and not library.marks_chat_tuning(
        [header.get("general.name"), header.get("general.finetune")])
    base = library.add_model(db, no_template_model)
    assert base.base_model and base.kind_label == library.BASE_MODEL_LABEL
    assert library.base_model_label(db, model_id=base.id) == "base model (not tuned for chat)"
    assert library.base_model_label(db, sha256=base.sha256) == library.BASE_MODEL_LABEL
    # A chat template, or an instruct marker in the name without one, is a chat model.
    chat = library.add_model(db, model_path)
    assert not chat.base_model and chat.kind_label is None
    assert library.base_model_label(db, model_id=chat.id) is None
    assert not library.looks_like_base_model(header, "SmolLM2-135M-Instruct.gguf")


@pytest.mark.parametrize(("texts", "chat"), [
    (["gemma-3-270m", "Gemma 3 270m"], False),
    (["gemma-3-270m-it"], True),
    (["Qwen2.5-0.5B-Instruct-Q4_K_M"], True),
    (["deepseek-llm-7b-chat"], True),
    (["Llama-2-7b"], False),
    (["mistral-7b-v0.1", "OpenHermes"], True),
    (["tinyllama-1.1b-sft-v1.0"], True),
    (["bitnet"], False),  # "it" only counts as a word of its own
])
def test_chat_markers(texts: list[str], chat: bool) -> None:
    assert library.marks_chat_tuning(texts) is chat


def test_old_databases_get_the_base_model_column(tmp_path: Path) -> None:
    fixture = Path(__file__).parent.parent / "fixtures" / "schema-0.1.0.db"
    copy = tmp_path / fixture.name
    copy.write_bytes(fixture.read_bytes())
    db = open_database(copy)
    assert "base_model" in db.table("models").columns_dict
    assert all(not m.base_model for m in library.list_models(db))  # it has a chat template


def test_cli_lists_and_shows_a_base_model(workspace, no_template_model: Path) -> None:
    from click.testing import CliRunner

    from workbench.cli import cli

    library.add_model(workspace.db, no_template_model)
    runner = CliRunner()
    listed = runner.invoke(cli, ["--data-dir", str(workspace.root), "models", "list"])
    row = next(line for line in listed.output.splitlines() if "SmolLM2-no-template" in line)
    assert row.endswith("base model (not tuned for chat)")
    shown = runner.invoke(cli, ["--data-dir", str(workspace.root), "models", "show",
                                "SmolLM2-no"])
    assert "Kind:            base model (not tuned for chat)" in shown.output
