"""Pages are registered one way (ui/main_window.py ``PAGES``, plain imports): a page that fails
to import stops the window from importing at all, with the page's own error, instead of a
"page is on its way" placeholder that hides the bug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BLOCKED = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise ImportError(f"{{name}} is broken (planted by the test)")
        return None
sys.meta_path.insert(0, Block())
import ui.main_window
"""


def test_every_page_is_registered_in_one_list() -> None:
    from ui.main_window import NAV, PAGES

    assert NAV == ("Chat", "Models", "Compare", "Trials", "Documents", "History")
    assert all(callable(page) for _name, page in PAGES)
    source = (ROOT / "ui" / "main_window.py").read_text(encoding="utf-8")
    assert "import_module" not in source and "on its way" not in source


@pytest.mark.parametrize("name", ["Models", "Trials"])
def test_a_page_that_fails_to_import_fails_the_window(name: str) -> None:
    from ui.main_window import PAGES

    module = dict(PAGES)[name].__module__
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    done = subprocess.run([sys.executable, "-c", BLOCKED.format(module=module)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode != 0
    assert f"{module} is broken (planted by the test)" in done.stderr
