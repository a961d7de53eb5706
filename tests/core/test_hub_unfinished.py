"""Interrupted downloads found again (as after a restart), resumed by pulling again, or
discarded; from the core and from the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from filelock import FileLock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub_standin import MODEL_FILE, REPO  # noqa: E402

pytest_plugins = ["hub_fixtures"]

from workbench.cli import cli  # noqa: E402
from workbench.errors import DownloadError  # noqa: E402
from workbench.hardware import Hardware  # noqa: E402
from workbench.hub.download import partial_paths, pull  # noqa: E402
from workbench.hub.unfinished import (  # noqa: E402
    discard_unfinished,
    first_part,
    list_unfinished,
)
from workbench.units import human_size  # noqa: E402

BIG_MACHINE = Hardware(ram_total=64 << 30, ram_available=60 << 30, gpu_offload=False)


def _broken_pull(hub, hub_client, workspace) -> None:
    hub.faults.cut_after, hub.faults.cut_times = 3 << 20, 10
    hub_client.retries = 0
    with pytest.raises(DownloadError):
        list(pull(hub_client, workspace.db, workspace.models_dir, REPO, MODEL_FILE,
                  machine=BIG_MACHINE))
    hub.faults.cut_after = None


def _cli(workspace, *args: str):
    return CliRunner().invoke(cli, ["--data-dir", str(workspace.root), *args])


def test_broken_download_is_listed_then_resumed(hub, hub_client, hub_workspace,
                                                test_model_file):
    assert list_unfinished(hub_workspace.models_dir) == []
    _broken_pull(hub, hub_client, hub_workspace)
    [item] = list_unfinished(hub_workspace.models_dir)
    assert (item.repo_id, item.file) == (REPO, MODEL_FILE)
    assert item.have == 3 << 20 and item.size == test_model_file.stat().st_size
    listed = _cli(hub_workspace, "unfinished")
    assert listed.exit_code == 0 and MODEL_FILE in listed.output
    assert human_size(3 << 20) in listed.output
    events = list(pull(hub_client, hub_workspace.db, hub_workspace.models_dir, item.repo_id,
                       item.file, machine=BIG_MACHINE))
    assert any(e.stage == "rehash" and e.done == 3 << 20 for e in events)
    assert list_unfinished(hub_workspace.models_dir) == []
    assert "No unfinished downloads." in _cli(hub_workspace, "unfinished").output


def test_discard_frees_the_bytes(hub, hub_client, hub_workspace):
    _broken_pull(hub, hub_client, hub_workspace)
    partial, record = partial_paths(hub_workspace.models_dir, REPO, MODEL_FILE)
    assert "--discard 2: no such number (1-1)" in _cli(hub_workspace, "unfinished",
                                                      "--discard", "2").output
    result = _cli(hub_workspace, "unfinished", "--discard", "1")
    assert result.exit_code == 0 and f"{human_size(3 << 20)} freed" in result.output
    assert not partial.exists() and not record.exists()


def test_a_download_in_progress_is_not_offered(hub, hub_client, hub_workspace):
    _broken_pull(hub, hub_client, hub_workspace)
    partial, _ = partial_paths(hub_workspace.models_dir, REPO, MODEL_FILE)
    with FileLock(str(partial) + ".lock", timeout=0):  # what a running transfer holds
        assert list_unfinished(hub_workspace.models_dir) == []
    assert len(list_unfinished(hub_workspace.models_dir)) == 1


def test_split_parts_are_one_download_named_by_the_first_part(tmp_path):
    first = "split/M.Q8_0-00001-of-00003.gguf"
    for index, size in ((1, 100), (2, 50)):
        path = f"split/M.Q8_0-0000{index}-of-00003.gguf"
        partial, record = partial_paths(tmp_path, "org/repo", path)
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"x" * (size // 2))
        record.write_text(json.dumps({"repo": "org/repo", "path": path, "size": size,
                                      "sha256": None, "started_at": f"2026-01-0{index}"}))
    (tmp_path / ".partial" / "junk.json").write_text("{not json")
    [item] = list_unfinished(tmp_path)
    assert (item.file, item.have, item.size) == (first, 75, 150)
    assert item.started_at == "2026-01-02"
    assert discard_unfinished(item) == 75
    assert list_unfinished(tmp_path) == []
    assert first_part("M-00002-of-00010.gguf") == "M-00001-of-00010.gguf"
    assert first_part("a/b.gguf") == "a/b.gguf"


def test_same_named_splits_in_two_folders_stay_two_models() -> None:
    from workbench.hub.files import RemotePart, group_files

    names = [f"{folder}/M-0000{i}-of-00002.gguf" for folder in ("a", "b") for i in (1, 2)]
    grouped = group_files([RemotePart(name, 10) for name in names])
    assert sorted(m.name for m in grouped) == ["a/M-00001-of-00002.gguf",
                                              "b/M-00001-of-00002.gguf"]
    assert first_part("a/M-00002-of-00002.gguf") == "a/M-00001-of-00002.gguf"
