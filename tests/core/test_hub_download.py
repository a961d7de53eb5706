"""Downloads against the stand-in: verified, resumable (broken connection, cancel, a killed
process), refused when unsafe, and added to the library with provenance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub_standin import MODEL_FILE, REPO  # noqa: E402

pytest_plugins = ["hub_fixtures"]

from workbench import library  # noqa: E402
from workbench.errors import DownloadError  # noqa: E402
from workbench.hardware import Hardware  # noqa: E402
from workbench.hub.download import partial_paths, plan_pull, pull, run_pull  # noqa: E402

BIG_MACHINE = Hardware(ram_total=64 << 30, ram_available=60 << 30, gpu_offload=False)
TINY_MACHINE = Hardware(ram_total=256 << 20, ram_available=128 << 20, gpu_offload=False)


def _run(events):
    return list(events)


def _last_range(hub):
    """The last Range asked for (the repository's projector follows the model, whole)."""
    return [r for r in hub.range_headers if r][-1]


def _range_requests(hub):
    return [p for host, m, p in hub.requests("cdn") if m == "GET"]


def test_pull_verifies_moves_and_adds_with_provenance(hub_client, hub_workspace, hub,
                                                      test_model_file):
    db, models_dir = hub_workspace.db, hub_workspace.models_dir
    events = _run(pull(hub_client, db, models_dir, REPO, MODEL_FILE, machine=BIG_MACHINE))
    stages = [e.stage for e in events]
    assert stages[0] == "fit" and stages[-1] == "done" and "verify" in stages
    assert events[0].verdict.kind == "cpu"
    model = events[-1].model
    target = models_dir / "test-org" / "SmolLM2-135M-Instruct-GGUF" / MODEL_FILE
    assert Path(model.path) == target.resolve()
    assert target.read_bytes() == test_model_file.read_bytes()
    assert not list((models_dir / ".partial").glob("*.part"))
    prov = model.provenance
    assert prov["repo"] == REPO and prov["commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert prov["files"][0]["path"] == MODEL_FILE and prov["license"] == "apache-2.0"
    assert prov["sha256"] == model.sha256 == library.sha256_file(target)
    assert prov["size"] == target.stat().st_size and prov["downloaded_at"]
    again = _run(pull(hub_client, db, models_dir, REPO, MODEL_FILE, machine=BIG_MACHINE))
    assert "already in the library" in again[-1].message


def test_split_model_is_one_library_entry(hub_client, hub_workspace):
    first = "split/SmolLM2-135M-Instruct.Q8_0-00001-of-00002.gguf"
    events = _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO, first,
                       machine=BIG_MACHINE))
    model = events[-1].model
    assert model.path.endswith("00001-of-00002.gguf")
    assert Path(model.path).with_name(
        "SmolLM2-135M-Instruct.Q8_0-00002-of-00002.gguf").read_bytes() == b"second part"
    assert [f["path"] for f in model.provenance["files"]] == [
        first, "split/SmolLM2-135M-Instruct.Q8_0-00002-of-00002.gguf"]
    assert len(library.list_models(hub_workspace.db)) == 1


def test_connection_cut_mid_file_resumes_in_the_same_pull(hub_client, hub_workspace, hub,
                                                          test_model_file):
    hub.faults.cut_after = 5 << 20
    events = _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO,
                       MODEL_FILE, machine=BIG_MACHINE))
    assert any(e.stage == "retry" for e in events)
    assert Path(events[-1].model.path).read_bytes() == test_model_file.read_bytes()
    gets = _range_requests(hub)
    assert any("Signature" in p for p in gets)
    assert _last_range(hub) == f"bytes={5 << 20}-"


def test_broken_pull_resumes_on_the_next_pull(hub_client, hub_workspace, hub,
                                              test_model_file):
    hub.faults.cut_after, hub.faults.cut_times = 3 << 20, 10
    hub_client.retries = 0
    with pytest.raises(DownloadError, match="run the same pull again to resume"):
        _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO, MODEL_FILE,
                  machine=BIG_MACHINE))
    partial, record = partial_paths(hub_workspace.models_dir, REPO, MODEL_FILE)
    assert partial.stat().st_size == 3 << 20 and record.exists()
    assert library.list_models(hub_workspace.db) == []  # a partial file is never in the library
    hub.faults.cut_after = None
    events = _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO,
                       MODEL_FILE, machine=BIG_MACHINE))
    assert any(e.stage == "rehash" and e.done == 3 << 20 for e in events)
    assert _last_range(hub) == f"bytes={3 << 20}-"
    assert Path(events[-1].model.path).read_bytes() == test_model_file.read_bytes()


def test_cancel_then_resume(hub_client, hub_workspace, hub, test_model_file):
    hub.faults.throttle = 40 << 20  # 40 MB/s: a few progress events before the end
    plan = plan_pull(hub_client, hub_workspace.models_dir, REPO, MODEL_FILE,
                     machine=BIG_MACHINE)
    events = run_pull(hub_client, hub_workspace.db, plan)
    for event in events:
        if event.stage == "download" and event.done >= 8 << 20:
            assert event.rate > 0 and event.eta is not None and event.total == plan.size
            break
    events.close()  # what the window's Stop button does between two yields
    partial, _ = partial_paths(hub_workspace.models_dir, REPO, MODEL_FILE)
    kept = partial.stat().st_size
    assert 8 << 20 <= kept < plan.model.size
    hub.faults.throttle = None
    plan = plan_pull(hub_client, hub_workspace.models_dir, REPO, MODEL_FILE,
                     machine=BIG_MACHINE)
    assert plan.already_have == kept
    done = _run(run_pull(hub_client, hub_workspace.db, plan))
    assert Path(done[-1].model.path).read_bytes() == test_model_file.read_bytes()


def test_killed_process_resumes(hub_workspace, hub, test_model_file, tmp_path):
    """``llm-workbench pull`` killed with SIGKILL mid-download; the next pull resumes."""
    hub.faults.throttle = 20 << 20
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(hub_workspace.root),
           "HF_HUB_DOWNLOAD_TIMEOUT": "5", "PYTHONUNBUFFERED": "1"}
    hub_workspace.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "pull", REPO, MODEL_FILE, "--ctx", "512"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    partial, _ = partial_paths(hub_workspace.models_dir, REPO, MODEL_FILE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size >= 10 << 20:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    output = process.communicate(timeout=10)[0].decode()
    assert process.returncode == -signal.SIGKILL, output
    kept = partial.stat().st_size
    assert 10 << 20 <= kept < test_model_file.stat().st_size
    hub.faults.throttle = None
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "pull", REPO, MODEL_FILE, "--ctx", "512"],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resuming at {kept:,} bytes" in result.stdout
    assert _last_range(hub) == f"bytes={kept}-"
    assert "Added as model" in result.stdout
    target = hub_workspace.models_dir / "test-org" / "SmolLM2-135M-Instruct-GGUF" / MODEL_FILE
    assert target.read_bytes() == test_model_file.read_bytes()


def test_sha256_mismatch_is_refused_and_deleted(hub_client, hub_workspace, hub):
    repo = hub.repos[REPO]
    hub.faults.corrupt.add(repo.file(MODEL_FILE).sha256)
    with pytest.raises(DownloadError, match="sha256 mismatch .* the downloaded file was deleted"):
        _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO, MODEL_FILE,
                  machine=BIG_MACHINE))
    partial, record = partial_paths(hub_workspace.models_dir, REPO, MODEL_FILE)
    assert not partial.exists() and not record.exists()
    assert not (hub_workspace.models_dir / "test-org").exists()
    assert library.list_models(hub_workspace.db) == []


@pytest.mark.parametrize("name", ["../escape.gguf", "/etc/evil.gguf", "a\\..\\b.gguf",
                                  "C:/x.gguf", "dir/../../x.gguf", "ok/\x00.gguf"])
def test_hostile_names_refused_before_any_request(hub_client, hub_workspace, hub, name):
    with pytest.raises(DownloadError, match="refused"):
        _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO, name,
                  machine=BIG_MACHINE))
    assert hub.requests() == []


def test_hostile_names_in_a_repository_refused(hub_client, hub_workspace, hub, tmp_path):
    for name in ("../../escape.gguf", "sub/..\\..\\win.gguf"):
        with pytest.raises(DownloadError, match="refused"):
            _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir,
                      "test-org/Hostile-GGUF", name, machine=BIG_MACHINE))
    assert hub.requests("cdn") == []
    assert not list(hub_workspace.root.parent.rglob("escape.gguf"))


def test_not_enough_disk_refused(hub_client, hub_workspace, hub):
    with pytest.raises(DownloadError, match="not enough disk space"):
        _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO, MODEL_FILE,
                  machine=BIG_MACHINE, disk_free=lambda path: 50 << 20))
    # only the header's closed byte ranges were read, never the file itself
    assert hub.range_headers and all(r and not r.endswith("-") for r in hub.range_headers)
    assert not (hub_workspace.models_dir / ".partial").exists() or not list(
        (hub_workspace.models_dir / ".partial").glob("*.part"))


def test_will_not_fit_needs_force(hub_client, hub_workspace):
    with pytest.raises(DownloadError, match="will not fit.*--force"):
        _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO, MODEL_FILE,
                  machine=TINY_MACHINE))
    events = _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO,
                       MODEL_FILE, machine=TINY_MACHINE, force=True))
    assert events[0].verdict.kind == "no" and events[-1].stage == "done"


def test_projector_is_not_pulled_as_a_chat_model(hub_client, hub_workspace):
    with pytest.raises(DownloadError, match="vision projector"):
        _run(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, REPO,
                  "mmproj-SmolLM2-135M-F16.gguf", machine=BIG_MACHINE))
