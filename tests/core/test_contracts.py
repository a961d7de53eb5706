"""Contracts, not conventions: the core (``workbench/``) never imports Qt or the window.

napari enforces the same with an import-linter contract; here it is two plain tests in the
suite (so CI runs them with everything else and no extra tool is needed): one reads every
source file's imports, the other imports every core module in a fresh interpreter in which
PySide6, shiboken6 and ``ui`` cannot be imported at all.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "workbench"
FORBIDDEN = ("PySide6", "shiboken6", "ui")


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """Every import of a forbidden package in one module's source, as "line: name"."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                  "import_module", "__import__")):
            names = [node.args[0].value]
        found += [f"{node.lineno}: {name}" for name in names
                  if name.split(".")[0] in FORBIDDEN]
    return found


def test_the_checker_sees_each_way_of_importing() -> None:
    source = ("import PySide6.QtCore\nfrom shiboken6 import isValid\nfrom ui.tasks import Job\n"
              "import importlib\nimportlib.import_module('PySide6.QtWidgets')\n"
              "from .ui import x\nimport uikit\nfrom workbench import ui_words\n")
    assert forbidden_imports(source) == ["1: PySide6.QtCore", "2: shiboken6", "3: ui.tasks",
                                         "5: PySide6.QtWidgets"]


def test_no_core_source_imports_qt_or_the_window() -> None:
    offenders = {str(path.relative_to(ROOT)): hits for path in sorted(CORE.rglob("*.py"))
                 if (hits := forbidden_imports(path.read_text(encoding="utf-8"), str(path)))}
    assert offenders == {}, f"workbench/ must not import {FORBIDDEN}: {offenders}"


BLOCKED_IMPORT = r"""
import importlib, importlib.abc, json, pkgutil, sys
FORBIDDEN = {forbidden!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"{{name}} is blocked: the core must not import it")
        return None

sys.meta_path.insert(0, Block())
import workbench
failed = {{}}
for info in pkgutil.walk_packages(workbench.__path__, "workbench."):
    if info.name.rsplit(".", 1)[-1] == "__main__":
        continue
    try:
        importlib.import_module(info.name)
    except Exception as error:
        failed[info.name] = f"{{type(error).__name__}}: {{error}}"
loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
print(json.dumps({{"failed": failed, "loaded": loaded}}))
"""


def test_every_core_module_imports_without_qt() -> None:
    """A fresh interpreter where Qt and ``ui`` cannot be imported: every core module still
    imports (the headless run napari's CI does by uninstalling Qt)."""
    code = BLOCKED_IMPORT.format(forbidden=set(FORBIDDEN))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, env=_env())
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"failed": {}, "loaded": []}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return env
