"""Trials and comparisons with image prompts: real llama.cpp, the crafted projector paired
with a copy of the test model. A suite line's pictures are read relative to the suite file and
kept by sha256, so the trial reruns after the files are gone; checks grade the reply as for
text; cells record the image tokens; a contender that cannot see is refused in one line; the
CLI's ``suite add --image`` and ``compare --image``."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.vision_craft import N_PATCHES
from workbench.errors import InvalidInputError
from workbench.library import add_model
from workbench.trials import store
from workbench.trials.compare import CompareRun
from workbench.trials.contenders import make_contender
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.suites import export_suite, get_suite, import_suite

BASE = {"n_ctx": 512, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
        "max_tokens": 3}


@pytest.fixture
def seeing(db, vision_twin, mmproj):
    return add_model(db, vision_twin, mmproj=mmproj)


@pytest.fixture
def suite_file(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    Image.new("RGB", (120, 80), (250, 250, 240)).save(folder / "receipt.png")
    Image.new("RGB", (60, 60), (10, 10, 10)).save(folder / "dark.jpg")
    lines = [{"prompt": "What is the total on this receipt?", "images": ["receipt.png"],
              "checks": [{"max_tokens": 100}]},
             {"prompt": "Two pictures: which is darker?", "images": ["receipt.png", "dark.jpg"],
              "checks": [{"max_tokens": 0}]},
             {"prompt": "Say hello.", "checks": [{"max_tokens": 100}]}]
    path = folder / "vision.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_an_image_suite_runs_after_its_files_are_gone(db, engine, seeing, suite_file) -> None:
    suite = import_suite(db, suite_file)
    assert [len(p.images) for p in suite.prompts] == [1, 2, 0]
    assert suite.prompts[0].images[0] == suite.prompts[1].images[0]  # one kept file
    for picture in suite_file.parent.glob("*.*g"):
        picture.unlink()  # kept by sha256: the trial does not need them
    contender = make_contender(db, seeing, BASE)
    trial_id = create_trial(db, suite.id, [contender], seed=3)
    list(TrialRun(db, engine, trial_id))
    cells = {c["prompt_id"]: c for c in store.trial_cells(db, trial_id)}
    first, second, third = (cells[p.id] for p in suite.prompts)
    assert first["status"] == second["status"] == third["status"] == "done"
    assert (first["image_tokens"], second["image_tokens"], third["image_tokens"]) == (
        N_PATCHES, 2 * N_PATCHES, 0)
    assert first["passed"] == 1 and second["passed"] == 0 and third["passed"] == 1
    assert first["settings"]["image_tokens"] == N_PATCHES


def test_a_contender_that_cannot_see_is_refused_when_the_trial_is_made(db, seeing,
                                                                       library_model,
                                                                       suite_file) -> None:
    suite = import_suite(db, suite_file)
    contenders = [make_contender(db, seeing, BASE), make_contender(db, library_model, BASE)]
    with pytest.raises(InvalidInputError) as caught:
        create_trial(db, suite.id, contenders)
    message = str(caught.value)
    assert "cannot see images" in message and "prompts 1, 2" in message
    assert contenders[1].label in message and "\n" not in message
    assert not list(db.table("trials").rows)


def test_export_names_kept_pictures_and_imports_back(db, seeing, suite_file, tmp_path
                                                     ) -> None:
    suite = import_suite(db, suite_file)
    text = export_suite(db, suite.id)
    assert f"sha256:{suite.prompts[0].images[0]}" in text
    again = tmp_path / "again.jsonl"
    again.write_text(text)
    copy = import_suite(db, again)
    assert [p.images for p in copy.prompts] == [p.images for p in suite.prompts]


def test_a_damaged_picture_refuses_the_whole_import(db, suite_file) -> None:
    (suite_file.parent / "dark.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(InvalidInputError) as caught:
        import_suite(db, suite_file)
    assert "prompt 2" in str(caught.value) and "dark.jpg" in str(caught.value)
    assert not list(db.table("suites").rows)


def test_compare_with_an_image(db, engine, seeing, library_model, suite_file) -> None:
    from workbench.trials.image_prompts import keep_prompt_images

    images = keep_prompt_images(db, [str(suite_file.parent / "receipt.png")], None, "--image")
    twin = make_contender(db, seeing, BASE)
    other = make_contender(db, seeing, {**BASE, "seed": 8})
    run = CompareRun(db, engine, [twin, other], "What is this?", blind=False, images=images)
    done = [e for e in run if e.kind == "done"]
    assert len(done) == 2 and all(e.stats.image_tokens == N_PATCHES for e in done)
    replies = list(db.table("comparison_replies").rows)
    assert [r["image_tokens"] for r in replies] == [N_PATCHES, N_PATCHES]
    with pytest.raises(InvalidInputError, match="cannot see images"):
        CompareRun(db, engine, [twin, make_contender(db, library_model, BASE)], "What?",
                   images=images)


def test_cli_suite_add_and_compare_with_image(workspace, seeing, suite_file,
                                              cli_run) -> None:
    picture = str(suite_file.parent / "receipt.png")
    run = cli_run

    assert run("suite", "create", "eyes").exit_code == 0
    added = run("suite", "add", "eyes", "What is this?", "--image", picture)
    assert added.exit_code == 0, added.output
    assert get_suite(workspace.db, "eyes").prompts[0].images
    assert "images: 1" in run("suite", "show", "eyes").output
    compared = run("compare", "What is this?", "--model", str(seeing.id), "--set", "seed=1",
                   "--model", str(seeing.id), "--set", "seed=2", "--max-tokens", "3",
                   "--set", "n_ctx=512", "--image", picture)
    assert compared.exit_code == 0, compared.output
    assert f"{N_PATCHES} image tokens" in compared.output
    refused = run("compare", "What?", "--model", "SmolLM2", "--model", str(seeing.id),
                  "--image", picture)
    assert refused.exit_code != 0 and "cannot see images" in refused.output
