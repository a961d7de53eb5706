import shutil
from pathlib import Path

import pytest

from workbench import library
from workbench.errors import ModelFileError, ModelNotFound


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
    copy = tmp_path / "other.gguf"
    shutil.copy(model_path, copy)
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
