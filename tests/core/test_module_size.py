"""Rooms small enough to read at once: no module under ``workbench/`` or ``ui/`` is over
:data:`LIMIT` lines unless its docstring has a line starting with :data:`MARKER` that says why
it stays whole (a parser whose parts share one set of offsets, say). A module that grows past
the limit is split (by command group, by a page's parts, by concern) or says why not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("workbench", "ui")
LIMIT = 500
MARKER = "Whole because"


def says_why(source: str, filename: str = "<source>") -> bool:
    """Whether the module's docstring has a line that starts with :data:`MARKER`."""
    docstring = ast.get_docstring(ast.parse(source, filename)) or ""
    return any(line.strip().startswith(MARKER) for line in docstring.splitlines())


def oversized(paths: Iterable[Path], root: Path = ROOT) -> list[str]:
    """Every module over the limit whose docstring does not say why, as "path: lines"."""
    found = []
    for path in sorted(paths):
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > LIMIT and not says_why(source, str(path)):
            found.append(f"{path.relative_to(root).as_posix()}: {lines}")
    return found


def test_no_module_is_over_the_limit_without_saying_why() -> None:
    modules = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert len(modules) > 50  # the walk found the packages
    assert oversized(modules) == [], (
        f"over {LIMIT} lines: split the module, or add a docstring line starting with "
        f"{MARKER!r} that says why it stays whole")


def test_a_long_module_is_named_until_its_docstring_says_why(tmp_path: Path) -> None:
    body = "".join(f"x{n} = {n}\n" for n in range(LIMIT))
    long = tmp_path / "long.py"
    long.write_text('"""A module that grew."""\n' + body, encoding="utf-8")
    short = tmp_path / "short.py"
    short.write_text('"""Just under."""\n' + body[: body.rindex("x")], encoding="utf-8")
    assert oversized([long, short], tmp_path) == [f"long.py: {LIMIT + 1}"]
    long.write_text(f'"""A module that grew.\n\n{MARKER} its parts share one table.\n"""\n'
                    + body, encoding="utf-8")
    assert oversized([long, short], tmp_path) == []
    # the marker counts only in the docstring, not in a comment or a string further down
    long.write_text(f'"""A module that grew."""\n# {MARKER} ...\n' + body, encoding="utf-8")
    assert oversized([long], tmp_path) == [f"long.py: {LIMIT + 2}"]
