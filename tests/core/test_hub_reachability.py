"""With no network, a Hub call ends within two seconds saying so, whatever the resolver does;
a host that is there but refuses stays a "cannot reach" line; the stand-in is reached."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub_standin import REPO  # noqa: E402

pytest_plugins = ["hub_fixtures"]

from workbench.errors import HubError, NoConnectionError  # noqa: E402
from workbench.hub import reachability  # noqa: E402
from workbench.hub.client import HubClient  # noqa: E402
from workbench.hub.files import list_files  # noqa: E402
from workbench.hub.search import search_models  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh() -> None:
    reachability.forget()


def _resolver(monkeypatch: pytest.MonkeyPatch, host: str, behaviour: str) -> threading.Event:
    real = socket.getaddrinfo
    release = threading.Event()

    def lookup(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name != host:
            return real(name, *args, **kwargs)
        if behaviour == "hang":  # a broken resolver: no answer for a long time
            release.wait(30)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return release


@pytest.mark.parametrize("behaviour", ["fails", "hang"])
def test_no_network_is_said_within_two_seconds(monkeypatch, behaviour) -> None:
    release = _resolver(monkeypatch, "huggingface.co", behaviour)
    client = HubClient()  # the real Hub's address; no request leaves the machine
    started = time.perf_counter()
    try:
        with pytest.raises(NoConnectionError,
                           match="^No internet connection: your local models still work"):
            search_models(client, "qwen")
    finally:
        release.set()
    assert time.perf_counter() - started < 2.0


def test_a_refusing_host_is_not_called_offline() -> None:
    client = HubClient(endpoint="http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(HubError, match="cannot reach 127.0.0.1:9") as caught:
        list_files(client, REPO)
    assert not isinstance(caught.value, NoConnectionError)


def test_a_reachable_host_is_looked_at_once(hub, monkeypatch) -> None:
    client = HubClient(endpoint=hub.endpoint, timeout=2.0)
    looks: list[str] = []
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda name, *a, **k: looks.append(name) or real(name, *a, **k))
    reachability.check_reachable(hub.endpoint)
    reachability.check_reachable(hub.endpoint)
    assert looks == ["127.0.0.1"]
    assert search_models(client, "SmolLM2")  # and the Hub calls go through
