"""The core's import graph, read with ``ast``, and the two checks the layer contract makes on it.

import-linter does this for napari; here it is ~100 lines so the suite needs no extra tool. Every
``import`` and ``from ... import`` counts wherever it is written: at the top, inside a function
(a lazy import is still a dependency; it only moves the moment it bites), and under
``if TYPE_CHECKING:`` (the core has none today; an annotation that names a module above is the
same dependency upward, so it counts too). ``importlib.import_module("workbench....")`` with a
literal counts as well. A named entry point (``"package.module:function"`` resolved at run time)
is not an import: that is how a lower layer is handed work from above without knowing it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    """``workbench/hub/download.py`` -> ``workbench.hub.download``; a package is named by
    its ``__init__``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The core modules one module's source imports, by dotted name.

    ``from workbench.hub import download`` is an edge to ``workbench.hub.download`` (a module)
    but ``from workbench.hub import pull`` is an edge to ``workbench.hub`` (its ``__init__``).
    """
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(sub if (sub := f"{base}.{alias.name}") in known else base)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                  "import_module", "__import__")):
            found.add(node.args[0].value)
    top = name.split(".")[0]
    # ``import workbench.a.b`` where only ``workbench.a`` is a module: the nearest known one.
    edges = {_nearest(target, known) for target in found if target.split(".")[0] == top}
    return {edge for edge in edges if edge and edge != name}


def _nearest(target: str, known: set[str]) -> str:
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target


def import_graph(root: Path) -> Graph:
    """Every module under ``root`` (a package folder) and the core modules each one imports."""
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    known = set(files)
    return {name: imports_of(path.read_text(encoding="utf-8"), name,
                             path.name == "__init__.py", known)
            for name, path in files.items()}


def layer_of(module: str, layers: Mapping[str, Iterable[str]]) -> str | None:
    """The layer whose longest listed name is ``module`` or a package above it. The top
    package (a name without a dot) covers only itself: a new top-level module must be placed."""
    best, best_len = None, -1
    for layer, names in layers.items():
        for listed in names:
            below = "." in listed and module.startswith(listed + ".")
            if (module == listed or below) and len(listed) > best_len:
                best, best_len = layer, len(listed)
    return best


def upward_imports(graph: Mapping[str, set[str]],
                   layers: Mapping[str, Iterable[str]]) -> list[str]:
    """Each import from a lower layer to a higher one, as "importer -> imported".

    ``layers`` runs top to bottom; a module may import its own layer and any below it.
    """
    rank = {layer: index for index, layer in enumerate(layers)}
    found = []
    for importer, targets in sorted(graph.items()):
        low = layer_of(importer, layers)
        for target in sorted(targets):
            high = layer_of(target, layers)
            if low is not None and high is not None and rank[high] < rank[low]:
                found.append(f"{importer} ({low}) -> {target} ({high})")
    return found


def unclassified(graph: Mapping[str, set[str]], layers: Mapping[str, Iterable[str]]) -> list[str]:
    return sorted(module for module in graph if layer_of(module, layers) is None)


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)
