"""The privacy page's list names every address Workbench may contact, and offline mode is one
test for every connection out (the Hub, endpoints, MCP servers over HTTP, workers)."""

import pytest

from workbench import endpoints
from workbench.addresses import is_loopback, is_loopback_url
from workbench.mcp.servers import add_server
from workbench.settings import is_offline, set_setting
from workbench.workers import add_worker


def test_the_list_names_mcp_servers_and_workers_with_when(db) -> None:
    add_server(db, "notes", url="http://192.0.2.7:8000/mcp")
    add_server(db, "local", command=["python", "server.py"])  # no address: not listed
    add_worker(db, "127.0.0.1:50052")
    add_worker(db, "192.0.2.8:50052")
    rows = {row["address"]: row["when"] for row in endpoints.contacts(db)}
    assert rows["http://192.0.2.7:8000/mcp"].startswith("MCP server notes")
    assert "never while offline" in rows["http://192.0.2.7:8000/mcp"]
    assert "(this computer)" in rows["127.0.0.1:50052"]
    assert "never while offline" in rows["192.0.2.8:50052"]
    assert not any("server.py" in address for address in rows)


def test_offline_is_the_setting_or_the_hub_switch(db, monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert not is_offline(db)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert is_offline(db)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    set_setting(db, "offline", True)
    assert is_offline(db)


@pytest.mark.parametrize(("host", "local"), [
    ("localhost", True), ("LOCALHOST", True), ("app.localhost", True), ("127.0.0.2", True),
    ("::1", True), ("[::1]", True), ("192.0.2.1", False), ("example.com", False),
    ("localhost.example.com", False), ("", False)])
def test_this_computer_is_one_rule(host: str, local: bool) -> None:
    assert is_loopback(host) is local
    if host and ":" not in host.strip("[]"):
        assert is_loopback_url(f"http://{host}:8000/v1") is local
