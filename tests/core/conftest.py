"""Fixtures of the local server's tests: each test module defines its own ``space`` (a
workspace made by ``make_space``, with the aliases it needs); ``server`` serves it on a free
port of 127.0.0.1 and ``client`` is the real OpenAI client pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import openai
import pytest

from workbench.demo import ensure_demo_model
from workbench.server.serve import RunningServer, start_server
from workbench.settings import set_setting
from workbench.workspace import Workspace


@pytest.fixture(scope="module")
def make_space(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Callable[[str], Workspace]]:
    """A workspace with the test model, one thread and a 512-token context (short, cheap
    requests); closed when the module ends."""
    made: list[Workspace] = []

    def make(name: str) -> Workspace:
        space = Workspace(tmp_path_factory.mktemp(name) / "home")
        ensure_demo_model(space.db)
        set_setting(space.db, "threads", 1)
        set_setting(space.db, "context_length", 512)
        made.append(space)
        return space

    yield make
    for space in made:
        space.close()


@pytest.fixture(scope="module")
def server(space: Workspace) -> Iterator[RunningServer]:
    running = start_server(space, port=0, idle_unload_s=600)
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=120)
