"""The installers' sources, checked without building anything (building is
packaging/build-*.sh and packaging/check-linux.sh): the frozen launcher dispatches correctly,
the PyInstaller spec collects what a bundle needs, the release workflow covers every system.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from workbench import __version__, paths

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


@pytest.fixture(scope="module")
def launcher() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("wb_launcher", PACKAGING / "launcher.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("argv", "expected"), [
    ([], (True, None)),
    (["--data-dir", "/tmp/wb"], (True, "/tmp/wb")),
    (["--data-dir=/tmp/wb"], (True, "/tmp/wb")),
    (["-psn_0_12345"], (True, None)),  # added by the macOS Finder, not an argument
    (["--self-check", "model.gguf"], (False, None)),
    (["--data-dir", "/tmp/wb", "models"], (False, None)),
    (["--version"], (False, None)),
    (["catalog", "--json"], (False, None)),
])
def test_launcher_decides_window_or_cli(launcher, argv, expected):
    assert launcher.window_request(argv) == expected


def test_launcher_opens_the_window_directly(launcher, monkeypatch):
    """No entry points in a frozen bundle: the launcher calls ui.app.run_app itself."""
    calls: list[str | None] = []
    fake = types.ModuleType("ui.app")
    fake.run_app = lambda data_dir=None: calls.append(data_dir) or 7  # type: ignore[attr-defined]
    package = types.ModuleType("ui")  # stands in for the real one, which imports Qt
    package.app = fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ui", package)
    monkeypatch.setitem(sys.modules, "ui.app", fake)
    monkeypatch.delenv(launcher.SCREENSHOT_ENV, raising=False)

    assert launcher.main([]) == 7
    assert launcher.main(["--data-dir", "/tmp/wb"]) == 7
    assert calls == [None, "/tmp/wb"]


def test_launcher_gives_arguments_to_the_cli(launcher, monkeypatch, capsys):
    checked: list[str] = []
    monkeypatch.setattr("workbench.selfcheck.run_self_check", checked.append)
    monkeypatch.setitem(sys.modules, "ui.app", None)  # the window must not be imported

    with pytest.raises(SystemExit) as done:
        launcher.main(["--self-check", "model.gguf"])
    assert done.value.code == 0 and checked == ["model.gguf"]

    with pytest.raises(SystemExit):
        launcher.main(["--version"])
    assert __version__ in capsys.readouterr().out


@pytest.fixture(scope="module")
def spec_text() -> str:
    return (PACKAGING / "workbench.spec").read_text(encoding="utf-8")


def test_spec_is_valid_python_with_a_launcher(spec_text):
    ast.parse(spec_text)
    assert '"launcher.py"' in spec_text and (PACKAGING / "launcher.py").is_file()


def test_spec_collects_llama_cpp_libraries(spec_text):
    """llama-cpp-python has no PyInstaller hook; llama_cpp loads from llama_cpp/lib."""
    assert 'collect_dynamic_libs("llama_cpp")' in spec_text
    assert "vcomp140.dll" in spec_text  # next to llama.dll on Windows
    llama_dir = Path(importlib.util.find_spec("llama_cpp").origin).parent  # type: ignore[arg-type]
    assert any((llama_dir / "lib").glob("*llama*")), "llama_cpp/lib is where the libraries are"


def test_spec_bundles_the_catalog_where_catalog_py_looks(spec_text):
    import workbench.catalog as catalog

    source = inspect.getsource(catalog)
    assert 'joinpath("_catalog")' in source  # the packaged location catalog_path() reads
    assert '"models" / "catalog.json"' in spec_text and '"workbench/_catalog"' in spec_text
    assert (ROOT / "models" / "catalog.json").is_file()


def test_spec_keeps_charts_and_drops_heavy_qt(spec_text):
    assert '"PySide6.QtSvg"' in spec_text
    for heavy in ("QtWebEngineCore", "Qt3DCore", "QtMultimedia", "QtQuick", "QtPdf"):
        assert f'"{heavy}"' in spec_text
    excludes = spec_text[spec_text.index("QT_EXCLUDES"):spec_text.index("EXCLUDES = ")]
    assert "QtSvg" not in excludes


def test_spec_has_windowed_app_and_console_twin_on_windows(spec_text):
    assert "console=not (WINDOWS or MACOS)" in spec_text
    assert 'executable(f"{APP_NAME}-cli", console=True)' in spec_text
    assert "BUNDLE(" in spec_text and "info_plist" in spec_text


@pytest.fixture(scope="module")
def workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())


def test_release_workflow_builds_every_system_and_variant(workflow):
    job = workflow["jobs"]["installer"]
    builds = {(row["os"], row["variant"]) for row in job["strategy"]["matrix"]["include"]}
    assert builds == {("linux", "cpu"), ("linux", "cuda"), ("windows", "cpu"),
                      ("windows", "cuda"), ("macos", "metal")}
    runners = {row["runner"].split("-")[0] for row in job["strategy"]["matrix"]["include"]}
    assert runners == {"ubuntu", "windows", "macos"}
    assert "-DGGML_CUDA=on" in job["env"]["CMAKE_ARGS"]


def test_release_workflow_self_checks_and_uploads_each_installer(workflow):
    steps = workflow["jobs"]["installer"]["steps"]
    checks = [s for s in steps if s.get("name", "").startswith("Self-check")]
    assert {s["if"].split("== ")[1].strip("'") for s in checks} == {"Linux", "macOS", "Windows"}
    assert all("--self-check" in s["run"] for s in checks)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    for pattern in ("*.tar.gz", "*.AppImage", "*.dmg", "*-setup.exe"):
        assert pattern in upload["with"]["path"]
    builds = " ".join(s.get("run", "") for s in steps)
    for script in ("build-linux.sh", "build-macos.sh", "build-windows.ps1"):
        assert script in builds and (PACKAGING / script).is_file()


def test_windows_uninstaller_keeps_data_unless_asked():
    iss = (PACKAGING / "windows" / "workbench.iss").read_text(encoding="utf-8")
    assert f"{{localappdata}}\\{paths.APP_NAME}" in iss  # platformdirs' folder on Windows
    assert paths.HOME_ENV in iss
    assert "MB_DEFBUTTON2" in iss  # "No" (keep the data) is the default answer
    assert "UninstallSilent" in iss and "DelTree" in iss


def test_build_outputs_are_ignored():
    ignored = (PACKAGING / ".gitignore").read_text().split()
    assert "/build/" in ignored and "/dist/" in ignored


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("script", ["build-linux.sh", "build-macos.sh", "check-linux.sh"])
def test_shell_scripts_parse(script):
    subprocess.run(["bash", "-n", str(PACKAGING / script)], check=True)
