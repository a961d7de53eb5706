"""The core's layer contract: each module imports only its own layer and the layers below, and
no two modules import each other, however indirectly.

napari writes this as ``[tool.importlinter]`` layers; here the graph is read with ``ast`` by
``layer_graph.py`` beside this file (imports inside functions count, see its docstring), so the
suite needs no extra tool. A new module must be given a layer in :data:`LAYERS` (an unlisted one
fails the test): that one line is where its place in the core is decided. Names listed here that
do not exist yet are fine; they are placed before they land.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from layer_graph import cycles, import_graph, imports_of, layer_of, unclassified, upward_imports

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "workbench"

#: Top to bottom. A name covers the module and everything under it (a package), except the
#: top package ``workbench`` itself, which names only its ``__init__`` (the version).
LAYERS: dict[str, tuple[str, ...]] = {
    # What a person or a program talks to: the command line and the local server.
    "front ends": ("workbench.cli", "workbench.server", "workbench.server.tools",
                   "workbench.__main__"),
    # One thing the user does, end to end.
    "features": (
        "workbench.chat", "workbench.chat_runner", "workbench.trials", "workbench.quant",
        "workbench.hub", "workbench.scan", "workbench.export", "workbench.recovery",
        "workbench.demo", "workbench.selfcheck", "workbench.documents",
        "workbench.chat_tools",
    ),
    # What the features share: the user's models, conversations and their settings.
    "domain": (
        "workbench.conversations", "workbench.library", "workbench.model_settings",
        "workbench.catalog", "workbench.model_check", "workbench.workspace",
        "workbench.runnable", "workbench.mcp", "workbench.endpoints", "workbench.workers",
        "workbench.vision_models", "workbench.images", "workbench.pool_fit", "workbench.drafts",
    ),
    # llama.cpp, in its own process.
    "engine": ("workbench.engine", "workbench.engine.tools", "workbench.engine.tool_parse",
               "workbench.engine.tool_loop"),
    # The database, the settings file, and pure arithmetic on a model file's header.
    "store": ("workbench.store", "workbench.settings", "workbench.gguf_header", "workbench.fit",
              "workbench.split_choice"),
    # Imports nothing of the core (or only other leaves).
    "leaves": (
        "workbench", "workbench.paths", "workbench.errors", "workbench.units", "workbench.spawning",
        "workbench.hardware", "workbench.safe_text", "workbench.streams",
        "workbench.chat_tuning", "workbench.text_files", "workbench.addresses",
        "workbench.keychain",
    ),
}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(CORE)


def test_every_core_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    assert unclassified(graph, LAYERS) == [], "give each new module a layer in LAYERS"


def test_no_module_imports_a_layer_above_it(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph, LAYERS) == []


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


# --- the checker itself can fail ---------------------------------------------------------

def test_a_planted_upward_import_fails_the_contract(tmp_path: Path) -> None:
    """A copy of the core with one lazy import from the engine up to a feature (the kind
    ``engine/worker.py`` once had): the contract names it."""
    copy = tmp_path / "workbench"
    for path in CORE.rglob("*.py"):
        target = copy / path.relative_to(CORE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    planted = copy / "engine" / "stopflag.py"
    planted.write_text(planted.read_text(encoding="utf-8") + (
        "\n\ndef _planted() -> None:\n    from workbench.trials.stats import mean  # noqa\n"),
        encoding="utf-8")
    graph = import_graph(copy)
    assert upward_imports(graph, LAYERS) == [
        "workbench.engine.stopflag (engine) -> workbench.trials.stats (features)"]


def test_a_planted_circle_fails_the_contract(graph: dict[str, set[str]]) -> None:
    """``fit`` reads headers; a header that imported ``fit`` back would close a circle."""
    planted = {module: set(targets) for module, targets in graph.items()}
    planted["workbench.gguf_header"].add("workbench.fit")
    assert cycles(planted) == [["workbench.fit", "workbench.gguf_header"]]


def test_the_checker_sees_each_way_of_importing() -> None:
    known = {"workbench", "workbench.hub", "workbench.hub.download", "workbench.hub.unfinished",
             "workbench.errors", "workbench.engine", "workbench.engine.worker",
             "workbench.quant.window", "workbench.store.db", "workbench.library"}
    source = (
        "import os\n"
        "from workbench import errors\n"                 # a module, named from its package
        "from workbench.hub import pull\n"               # a name: the package's __init__
        "from . import unfinished\n"                     # relative
        "from .. import library\n"
        "def f():\n"
        "    import workbench.engine.worker\n"           # inside a function
        "    from workbench.store.db import insert_row\n"
        "if False:\n"
        "    from workbench.quant.window import score_window\n"  # TYPE_CHECKING-style
        "import importlib\n"
        "importlib.import_module('workbench.engine')\n"
        "ENTRY = 'workbench.quant.window:score_window'\n"  # an entry point is not an import
    )
    assert imports_of(source, "workbench.hub.download", False, known) == {
        "workbench.errors", "workbench.hub", "workbench.hub.unfinished", "workbench.library",
        "workbench.engine.worker", "workbench.store.db", "workbench.quant.window",
        "workbench.engine"}


def test_the_cycle_check_finds_a_circle_of_three() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_a_top_level_module_nobody_placed_is_unclassified() -> None:
    """The top package's entry covers only ``workbench/__init__.py``, never a new module."""
    assert layer_of("workbench.new_feature", LAYERS) is None
    assert layer_of("workbench.trials.new_part", LAYERS) == "features"
    assert unclassified({"workbench.new_feature": set()}, LAYERS) == ["workbench.new_feature"]


# --- pure code does not drag the engine in ------------------------------------------------

#: Modules anyone may import for their arithmetic or text without loading llama.cpp.
PURE = ("workbench.units", "workbench.fit", "workbench.gguf_header", "workbench.hardware",
        "workbench.settings", "workbench.streams", "workbench.trials.stats",
        "workbench.trials.sequential",
        "workbench.trials.svg", "workbench.trials.checks", "workbench.trials.recommend",
        "workbench.quant.logits", "workbench.hub.unfinished", "workbench.library",
        "workbench.store")

#: Modules that use the engine's plain parts (its settings, its templates) but never
#: llama.cpp: the engine package's ``__init__`` loads its names lazily, so they stay light.
LIGHT = ("workbench.engine.settings", "workbench.engine.templates", "workbench.conversations",
         "workbench.model_settings", "workbench.server.protocol", "workbench.trials.store",
         "workbench.trials.plain",
         "workbench.catalog")


def _loaded_after_import(module: str, prefixes: tuple[str, ...]) -> str:
    code = (f"import sys, {module}\n"
            f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_do_not_load_the_engine(module: str) -> None:
    loaded = _loaded_after_import(module, ("llama_cpp", "workbench.engine"))
    assert loaded == "[]", f"importing {module} loads {loaded}"


@pytest.mark.parametrize("module", LIGHT)
def test_light_modules_do_not_load_llama_cpp(module: str) -> None:
    loaded = _loaded_after_import(module, ("llama_cpp",))
    assert loaded == "[]", f"importing {module} loads {loaded}"


# --- the engine runs a feature's work by its entry point ----------------------------------

def test_the_engine_resolves_an_entry_point_without_importing_the_feature() -> None:
    from workbench.engine.worker import entry_point
    from workbench.quant.window import score_window

    assert entry_point("workbench.quant.window:score_window") is score_window
    with pytest.raises(RuntimeError, match="names no function"):
        entry_point("workbench.quant.window:no_such_function")
