"""Pulling a vision model: the model and its projector as one job, both verified, paired in
the library, with the projector in the fit verdict (the stand-in serves the crafted
projectors of tests/vision_craft.py beside the real test model)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub_standin import MODEL_FILE, VISION_REPO  # noqa: E402
from vision_craft import N_PATCHES  # noqa: E402

pytest_plugins = ["hub_fixtures"]

from workbench import library  # noqa: E402
from workbench.errors import DownloadError  # noqa: E402
from workbench.hardware import Hardware  # noqa: E402
from workbench.hub.download import plan_pull, pull  # noqa: E402

BIG_MACHINE = Hardware(ram_total=64 << 30, ram_available=60 << 30, gpu_offload=False)


def _pull(ws, hub_client, *args, **kw):
    return list(pull(hub_client, ws.db, ws.models_dir, *args, machine=BIG_MACHINE, **kw))


def test_the_smallest_fitting_projector_comes_with_the_model(hub_client, hub_workspace,
                                                              projector_files, hub):
    plan = plan_pull(hub_client, hub_workspace.models_dir, VISION_REPO, MODEL_FILE,
                     machine=BIG_MACHINE)
    assert plan.projector.name == "mmproj-SmolLM2-135M-F16.gguf"
    assert "576 wide" in plan.projector_skipped[0] and "other-64" in plan.projector_skipped[0]
    estimate = plan.verdict.local.estimate
    size = projector_files["mmproj-SmolLM2-135M-F16.gguf"].stat().st_size
    assert estimate.projector == size and estimate.image_tokens == N_PATCHES
    assert f"{N_PATCHES} image tokens a picture" in plan.verdict.summary()
    assert plan.size == plan.model.size + size
    events = _pull(hub_workspace, hub_client, VISION_REPO, MODEL_FILE)
    verified = [e.file for e in events if e.stage == "verify"]
    assert verified == [MODEL_FILE, "mmproj-SmolLM2-135M-F16.gguf"]
    model = events[-1].model
    assert model.sees and Path(model.mmproj).name == "mmproj-SmolLM2-135M-F16.gguf"
    assert Path(model.mmproj).read_bytes() == projector_files[
        "mmproj-SmolLM2-135M-F16.gguf"].read_bytes()
    assert model.provenance["mmproj"]["sha256"] == library.sha256_file(Path(model.mmproj))
    assert len(library.list_models(hub_workspace.db)) == 1  # the projector is no model
    # The library's verdict counts the paired projector too.
    from workbench.pool_fit import model_fit

    local = model_fit(hub_workspace.db, model, BIG_MACHINE).local
    assert local.estimate.projector == size and local.estimate.image_tokens == N_PATCHES


def test_the_users_choice_and_no_mmproj(hub_client, hub_workspace):
    plan = plan_pull(hub_client, hub_workspace.models_dir, VISION_REPO, MODEL_FILE,
                     machine=BIG_MACHINE, mmproj="mmproj-SmolLM2-135M-F32.gguf")
    assert plan.projector.name == "mmproj-SmolLM2-135M-F32.gguf"
    with pytest.raises(DownloadError, match="other-64.*does not fit.*576"):
        plan_pull(hub_client, hub_workspace.models_dir, VISION_REPO, MODEL_FILE,
                  machine=BIG_MACHINE, mmproj="mmproj-other-64-Q8_0.gguf")
    with pytest.raises(DownloadError, match="no projector 'nope.gguf'"):
        plan_pull(hub_client, hub_workspace.models_dir, VISION_REPO, MODEL_FILE,
                  machine=BIG_MACHINE, mmproj="nope.gguf")
    events = _pull(hub_workspace, hub_client, VISION_REPO, MODEL_FILE, with_mmproj=False)
    model = events[-1].model
    assert not model.sees
    # Pulled again with its projector: only the projector is downloaded, then paired.
    again = _pull(hub_workspace, hub_client, VISION_REPO, MODEL_FILE)
    assert [e.file for e in again if e.stage == "verify"] == ["mmproj-SmolLM2-135M-F16.gguf"]
    assert again[-1].model.id == model.id and again[-1].model.sees


def test_cli_pull_pairs_and_no_mmproj(hub_workspace, hub):
    from click.testing import CliRunner

    from workbench.cli import cli

    runner = CliRunner()
    base = ["--data-dir", str(hub_workspace.root), "pull", VISION_REPO, MODEL_FILE, "--force"]
    result = runner.invoke(cli, [*base, "--no-mmproj"])
    assert result.exit_code == 0, result.output
    assert not library.list_models(hub_workspace.db)[-1].sees
    result = runner.invoke(cli, [*base, "--mmproj", "mmproj-SmolLM2-135M-F32.gguf"])
    assert result.exit_code == 0, result.output
    seen = [m for m in library.list_models(hub_workspace.db) if m.sees]
    assert len(seen) == 1 and seen[0].mmproj.endswith("mmproj-SmolLM2-135M-F32.gguf")


def test_files_verdicts_count_the_projector(hub_workspace, hub):
    import json

    from click.testing import CliRunner

    from workbench.cli import cli

    runner = CliRunner()
    home = ["--data-dir", str(hub_workspace.root)]
    result = runner.invoke(cli, [*home, "files", VISION_REPO, "--ctx", "2048"])
    assert result.exit_code == 0, result.output
    assert f"({N_PATCHES} image tokens a picture)" in result.output
    assert "pulled with the models" in result.output
    data = json.loads(runner.invoke(cli, [*home, "files", VISION_REPO, "--json"]).output)
    assert data["mmproj"] == "mmproj-SmolLM2-135M-F16.gguf"
    model = next(f for f in data["files"] if f["name"] == MODEL_FILE)
    assert model["fit"]["local"]["estimate"]["image_tokens"] == N_PATCHES
