"""Pairing a model with its vision projector, from the CLI, with the crafted projector
(tests/vision_craft.py) and the real test model."""

import shutil

from tests.vision_craft import N_PATCHES
from workbench import library
from workbench.engine import Engine


def test_models_add_mmproj_pairs_and_shows_vision(cli_run, db, model_path, mmproj) -> None:
    result = cli_run("models", "add", str(model_path), "--mmproj", str(mmproj))
    assert result.exit_code == 0, result.output
    assert "Vision: sees images" in result.output
    model = library.list_models(db)[0]
    assert model.sees and model.mmproj == str(mmproj)
    listed = cli_run("models", "list")
    assert "vision" in listed.output
    shown = cli_run("models", "show", str(model.id))
    assert f"sees images ({mmproj})" in shown.output


def test_a_projector_for_another_size_is_refused_naming_both(cli_run, db, model_path,
                                                            mmproj_other) -> None:
    result = cli_run("models", "add", str(model_path), "--mmproj", str(mmproj_other))
    assert result.exit_code != 0
    line = result.output.strip()
    assert mmproj_other.name in line and model_path.name in line and "576" in line
    assert len(line.splitlines()) == 1
    assert not any(m.sees for m in library.list_models(db))  # nothing paired


def test_a_projector_beside_the_model_is_paired_and_used(db, tmp_path, model_path, mmproj,
                                                         mmproj_other) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(model_path, folder / model_path.name)
    shutil.copy(mmproj, folder / "mmproj-SmolLM2-f32.gguf")
    shutil.copy(mmproj_other, folder / "mmproj-other-f32.gguf")  # does not fit: skipped
    model = library.add_model(db, folder / model_path.name)
    assert model.mmproj == str(folder / "mmproj-SmolLM2-f32.gguf")
    from workbench.engine.vision import Picture
    from workbench.model_settings import runnable

    ready = runnable(db, model.id, {"max_tokens": 4, "temperature": 0.0, "n_ctx": 512})
    assert ready.load.mmproj == model.mmproj
    engine = Engine()
    try:
        messages = [{"role": "user", "content": "Describe it.",
                     "images": [Picture(8, 8, bytes(8 * 8 * 3))]}]
        reply = engine.reply(model.path, messages, load=ready.load, sampling=ready.sampling)
        "".join(reply)
        assert reply.stats.image_tokens == N_PATCHES
    finally:
        engine.unload()
