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


# --- the pairing and token estimate against real models' published headers ---------------
# Values from the models' published configs and GGUF metadata: gemma-3-4b-it (text
# n_embd 2560; SigLIP 896 px, patch 14, 256 tokens a picture), gemma-3-12b-it (n_embd 3840),
# Qwen2.5-VL-3B-Instruct (n_embd 2048, patch 14, 2x2 merge), SmolVLM2-2.2B-Instruct
# (SmolLM2-1.7B text, n_embd 2048; 384 px, patch 14, pixel-shuffle scale factor 3).

def _header(**metadata):
    from workbench.gguf_header import GGUFHeader

    return GGUFHeader(3, metadata)


def _projector(kind, width, size, patch, **extra):
    return _header(**{"general.architecture": "clip", "clip.projector_type": kind,
                      "clip.vision.projection_dim": width, "clip.vision.image_size": size,
                      "clip.vision.patch_size": patch, "clip.has_vision_encoder": True},
                   **extra)


def _text(arch, width):
    return _header(**{"general.architecture": arch, f"{arch}.embedding_length": width})


def test_real_vision_models_pair_and_count_image_tokens():
    from workbench.fit import image_tokens
    from workbench.vision_models import pair_problem

    gemma = _projector("gemma3", 2560, 896, 14)
    assert pair_problem(_text("gemma3", 2560), gemma, "gemma-3-4b", "mmproj") is None
    wrong = pair_problem(_text("gemma3", 3840), gemma, "gemma-3-12b-it-Q4_K_M.gguf",
                         "mmproj-model-f16.gguf")
    assert "2560" in wrong and "3840" in wrong and "gemma-3-12b-it-Q4_K_M.gguf" in wrong
    assert image_tokens(gemma) == 256
    qwen = _projector("qwen2.5vl_merger", 2048, 560, 14)
    assert pair_problem(_text("qwen2vl", 2048), qwen, "qwen", "mmproj") is None
    assert "feeds qwen2vl" in pair_problem(_text("llama", 2048), qwen, "llama", "mmproj")
    assert image_tokens(qwen) == 400  # (560 / 14 / 2)^2 at the header's size
    smol = _projector("idefics3", 2048, 384, 14, **{"clip.vision.projector.scale_factor": 3})
    assert pair_problem(_text("llama", 2048), smol, "smolvlm2", "mmproj") is None
    assert image_tokens(smol) == 81
    assert image_tokens(_projector("mlp", 4096, 336, 14)) == 576  # LLaVA-1.5
