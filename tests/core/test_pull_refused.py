"""A downloaded, verified file that the library then refuses is not orphaned in the models
folder: it stays in `unfinished`, with the reason, until it is discarded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest_plugins = ["hub_fixtures"]

from workbench.cli import cli  # noqa: E402
from workbench.errors import DownloadError  # noqa: E402
from workbench.hardware import Hardware  # noqa: E402
from workbench.hub.download import pull  # noqa: E402
from workbench.hub.unfinished import list_unfinished  # noqa: E402
from workbench.library import list_models  # noqa: E402

BIG_MACHINE = Hardware(ram_total=64 << 30, ram_available=60 << 30, gpu_offload=False)
REPO, FILE = "other-org/TinyLlama-GGUF", "tinyllama.Q2_K.gguf"  # "GGUF" and 100 bytes


def _cli(workspace, *args: str):
    return CliRunner().invoke(cli, ["--data-dir", str(workspace.root), *args])


def test_a_refused_download_stays_in_unfinished_with_the_reason(hub, hub_client,
                                                                hub_workspace) -> None:
    models_dir = hub_workspace.models_dir
    with pytest.raises(DownloadError) as caught:
        list(pull(hub_client, hub_workspace.db, models_dir, REPO, FILE, force=True,
                  machine=BIG_MACHINE))
    assert "verified, but not added to the library" in str(caught.value)
    assert "unfinished" in str(caught.value)
    assert all(m.file_name != FILE for m in list_models(hub_workspace.db))
    assert not [p for p in models_dir.rglob("*.gguf")]  # nothing orphaned in the folder
    [item] = list_unfinished(models_dir)
    assert (item.repo_id, item.file, item.have) == (REPO, FILE, item.size)
    assert item.refused and item.refused in str(caught.value)  # the library's own reason
    listed = _cli(hub_workspace, "unfinished")
    assert listed.exit_code == 0 and "not added to the library" in listed.output
    assert item.refused.splitlines()[0] in listed.output
    # pulled again: the bytes are re-verified (not downloaded again) and refused again
    with pytest.raises(DownloadError):
        list(pull(hub_client, hub_workspace.db, models_dir, REPO, FILE, force=True,
                  machine=BIG_MACHINE))
    assert len(list_unfinished(models_dir)) == 1
    discarded = _cli(hub_workspace, "unfinished", "--discard", "1")
    assert discarded.exit_code == 0 and "Discarded 1 download" in discarded.output
    assert list_unfinished(models_dir) == []
    assert not [p for p in models_dir.rglob("*") if p.is_file()]
