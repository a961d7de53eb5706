"""``scan`` finds GGUF files planted in each app's real folder layout."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from workbench import library
from workbench.scan import add_found, default_roots, scan

SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def _link(src: Path, dst: Path) -> Path:
    """A hard link: each app has its own file (scan counts one real file once)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    return dst


def _plant(home: Path, model: Path) -> None:
    # Hugging Face cache: blobs named by sha256, snapshots symlinking to them
    repo = home / ".cache/huggingface/hub/models--org--Smol-GGUF"
    blob = _link(model, repo / "blobs" / SHA)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs/main").write_text("c" * 40)
    snap = repo / "snapshots" / ("c" * 40)
    snap.mkdir(parents=True)
    os.symlink(os.path.relpath(blob, snap), snap / "smol.Q4_1.gguf")
    # LM Studio: <publisher>/<repo>/<file>
    _link(model, home / ".lmstudio/models/lmstudio-community/Smol-GGUF/smol-lms.gguf")
    _link(model, home / ".lmstudio/models/lmstudio-community/Smol-GGUF/mmproj-smol.gguf")
    # GPT4All: files directly in its app-local data folder
    _link(model, home / ".local/share/nomic.ai/GPT4All/smol-gpt4all.gguf")
    # Jan >= 0.6: llamacpp/models/<org>/<id>/model.gguf + model.yml
    jan = home / ".local/share/Jan/data/llamacpp/models/unsloth/smol-jan"
    _link(model, jan / "model.gguf")
    (jan / "model.yml").write_text("model_path: llamacpp/models/unsloth/smol-jan/model.gguf\n"
                                   "name: Smol Jan\nsize_bytes: 1\n")
    # Ollama: manifest naming a digest-named blob without extension
    ollama = home / ".ollama/models"
    _link(model, ollama / "blobs" / f"sha256-{SHA}")
    manifest = ollama / "manifests/registry.ollama.ai/library/smollm2/135m"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{SHA}",
         "size": model.stat().st_size},
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64,
         "size": 10}]}))
    # not models: a text file and a file that only looks like GGUF by name
    (home / ".lmstudio/models/lmstudio-community/Smol-GGUF/notes.txt").write_text("hi")
    (home / ".local/share/nomic.ai/GPT4All/fake.gguf").write_bytes(b"not gguf")


def test_scan_finds_each_layout(tmp_path, model_path, db):
    home = tmp_path / "home"
    _plant(home, model_path)
    roots = default_roots(home=home, env={}, platform="linux")
    found = {f.source: f for f in scan(db, roots)}
    assert set(found) == {"hf-cache", "lmstudio", "gpt4all", "jan", "ollama"}
    assert len(list(scan(db, roots))) == 5  # no projector, no fake, each file once
    hf = found["hf-cache"]
    assert hf.sha256 == SHA and hf.provenance["repo"] == "org/Smol-GGUF"
    assert hf.provenance["commit"] == "c" * 40
    assert found["lmstudio"].provenance["repo"] == "lmstudio-community/Smol-GGUF"
    assert found["jan"].name == "Smol Jan"
    assert found["jan"].provenance["model_id"] == "unsloth/smol-jan"
    ollama = found["ollama"]
    assert ollama.name == "smollm2:135m" and ollama.sha256 == SHA
    assert ollama.path.name == f"sha256-{SHA}"
    model = add_found(db, ollama)
    assert model.source == "ollama" and model.provenance["name"] == "smollm2:135m"
    assert model.sha256 == SHA
    assert library.list_models(db)[0].path == str(ollama.path.resolve())
    again = {f.source: f for f in scan(db, roots)}
    assert again["ollama"].in_library


def test_default_roots_per_platform(tmp_path):
    home = tmp_path
    mac = default_roots(home=home, env={}, platform="darwin")
    assert home / "Library/Application Support/nomic.ai/GPT4All" in mac["gpt4all"]
    assert home / "Library/Application Support/Jan/data/llamacpp/models" in mac["jan"]
    win = default_roots(home=home, env={"APPDATA": "C:/R", "LOCALAPPDATA": "C:/L"},
                        platform="win32")
    assert Path("C:/L/nomic.ai/GPT4All") in win["gpt4all"]
    assert Path("C:/R/Jan/data/llamacpp/models") in win["jan"]
    assert home / ".lmstudio/models" in win["lmstudio"]
    custom = default_roots(home=home, env={"OLLAMA_MODELS": "/srv/o", "HF_HUB_CACHE": "/srv/h"},
                           platform="linux")
    assert custom["ollama"] == [Path("/srv/o")] and custom["hf-cache"] == [Path("/srv/h")]
