"""Every Hub failure is one clear line; offline mode makes no connection at all."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner  # noqa: E402
from hub_standin import MODEL_FILE, REPO, TOKEN  # noqa: E402

pytest_plugins = ["hub_fixtures"]

from workbench.cli import cli  # noqa: E402
from workbench.errors import HubError, OfflineError  # noqa: E402
from workbench.hub.client import HubClient  # noqa: E402
from workbench.hub.files import list_files  # noqa: E402
from workbench.hub.search import search_models  # noqa: E402
from workbench.settings import set_setting  # noqa: E402


def _cli(workspace, *args):
    result = CliRunner().invoke(cli, ["--data-dir", str(workspace.root), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("args, expected", [
    (["files", "nobody/missing"], "nobody/missing: no such repository on 127.0.0.1"),
    (["files", REPO, "--revision", "v9"], "no such revision"),
    (["pull", "test-org/Gated-GGUF", MODEL_FILE], "the repository is gated"),
    (["files", "test-org/Private-GGUF"], "a token is needed"),
])
def test_refusals_are_one_line(hub_workspace, args, expected):
    code, output = _cli(hub_workspace, *args)
    assert code == 1 and output.count("\n") == 1 and expected in output, output
    assert "Traceback" not in output


def test_server_error_malformed_and_stalled(hub_client, hub):
    hub.faults.status["/api/models"] = 500
    with pytest.raises(HubError, match=r"server error \(HTTP 500\)"):
        search_models(hub_client, "x")
    hub.faults.status.clear()
    hub.faults.malformed.add("/api/models/")
    with pytest.raises(HubError, match="malformed JSON"):
        list_files(hub_client, REPO)
    hub.faults.malformed.clear()
    hub.faults.stall.add("/api/models")
    hub_client.timeout = 0.3
    with pytest.raises(HubError, match="did not answer within 0.3 s"):
        search_models(hub_client, "x")
    with pytest.raises(HubError, match="did not answer"):
        list_files(hub_client, REPO)


def test_unreachable_host_is_one_line():
    client = HubClient(endpoint="http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(HubError, match="cannot reach 127.0.0.1:9"):
        list_files(client, REPO)


def test_token_unlocks_gated_and_never_leaks(hub_workspace, hub, monkeypatch):
    set_setting(hub_workspace.db, "hub_token", TOKEN)
    code, output = _cli(hub_workspace, "pull", "test-org/Gated-GGUF", MODEL_FILE, "--ctx", "512")
    assert code == 0, output
    assert TOKEN not in output
    # the stand-in's CDN refuses any request carrying the token: none did
    assert all(host == "api" or "Signature" in path for host, _, path in hub.requests())
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_999")
    code, output = _cli(hub_workspace, "files", REPO)
    assert code == 1 and "refused the token (HTTP 401)" in output
    assert "hf_wrong_token_999" not in output


def test_offline_makes_no_connection(hub_workspace, hub, monkeypatch):
    set_setting(hub_workspace.db, "offline", True)
    for args in (["search", "smol"], ["files", REPO], ["pull", REPO, MODEL_FILE]):
        code, output = _cli(hub_workspace, *args)
        assert code == 1 and "Workbench is offline" in output, output
    set_setting(hub_workspace.db, "offline", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="Workbench is offline"):
        search_models(HubClient.from_settings(hub_workspace.db), "smol")
    assert hub.requests() == []


def test_mirror_endpoint_from_env(hub_workspace, hub, monkeypatch):
    set_setting(hub_workspace.db, "hub_endpoint", None)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    client = HubClient.from_settings(hub_workspace.db)
    assert client.endpoint == hub.endpoint
    assert search_models(client, "smol")[0].repo_id == REPO
