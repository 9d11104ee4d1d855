"""The import structure of xaikit: no import cycles, and layers that import one way only.

Every module under ``src/xaikit`` is parsed with :mod:`ast` (nothing is imported). An
import edge is any ``import xaikit...`` or ``from xaikit... import ...`` (absolute or
relative), at module level or inside a function, and any
``importlib.import_module("xaikit....")`` with a string literal. Imports under
``if TYPE_CHECKING:`` are *type-only*: they never run, so they are left out of the
module-cycle check, but they still count as dependencies between subpackages.

Two graphs are built from the edges:

- the module graph (``xaikit.evaluate.runner -> xaikit.evaluate.runtime``), which must be
  acyclic apart from type-only edges;
- the subpackage graph (``evaluate -> core``), a node per first component after
  ``xaikit.``; ``xaikit/__init__.py``, ``api.py`` and ``__main__.py`` form the node
  ``xaikit`` (the public facade, on top); any other top-level module is a node of its
  own. It must be acyclic and follow :data:`LAYERS`.

Run ``python tests/test_architecture.py`` to print the subpackage graph with the
``file:line`` of every edge.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "xaikit"

#: Subpackages from the bottom up. A module may import from its own layer or a lower
#: one, never from a higher one; imports within a layer are allowed as long as they
#: form no cycle. A new subpackage must be placed here (the test says so).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"utils", "_version"}),  # helpers without xaikit dependencies; the version string
    frozenset({"core"}),  # Explanation, targets, the method registry
    frozenset({"engine"}),  # the propagation engine
    frozenset({"rules"}),  # the propagation rules and composites (being created)
    # the method families, and the bundled models and data sets they are tried on
    frozenset({"lrp", "gradients", "perturbation", "neon", "models", "datasets", "attention", "concepts"}),
    frozenset({"evaluate"}),  # metrics of explanations
    frozenset({"store", "analysis"}),  # whole data sets: explanation stores; pooling, SpRAy
    frozenset({"plot"}),  # figures
    frozenset({"report"}),  # HTML reports
    frozenset({"demo"}),  # the demo report
    frozenset({"cli"}),  # the command line
    frozenset({ROOT}),  # xaikit/__init__.py, api.py, __main__.py: the facade on top
)

#: Cycles that exist today and are being removed by the owners of those files. Each
#: entry is the set of nodes of one cycle: subpackage names or full module names. A
#: cycle found by the tests must lie within one entry; an entry that is no longer part
#: of any cycle must be deleted (the tests say so), until this set is empty.
KNOWN_CYCLES_BEING_FIXED: frozenset[frozenset[str]] = frozenset()

#: Imports that climb the layers today, in files whose owners are changing them:
#: (importing module, imported subpackage). Delete entries as they are fixed.
KNOWN_LAYER_VIOLATIONS_BEING_FIXED: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Edge:
    """One import of a xaikit module by a xaikit module."""

    source: str
    target: str
    path: str
    line: int
    type_only: bool

    @property
    def where(self) -> str:
        """``file:line`` of the import."""
        return f"{self.path}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}


def node(module: str) -> str:
    """The subpackage of ``module``: ``xaikit.evaluate.runner`` -> ``evaluate``.

    Parameters
    ----------
    module : str
        A full module name.

    Returns
    -------
    str
        The first component after ``xaikit.`` (a subpackage, or a top-level module such
        as ``_version``); ``xaikit`` for the package itself, ``api`` and ``__main__``.
    """
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in {"api", "__main__"}:
        return ROOT
    return parts[1]


def _known_module(name: str) -> str:
    """The longest prefix of ``name`` that is a xaikit module (an attribute drops off)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int, bool]]:
    """``(imported name, line, type_only)`` for every import in ``tree``."""
    package = module if is_package else module.rpartition(".")[0]

    def visit(current: ast.AST, type_only: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(current):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from visit_one(statement, True)
                for statement in child.orelse:
                    yield from visit_one(statement, type_only)
            else:
                yield from visit_one(child, type_only)

    def visit_one(current: ast.AST, type_only: bool) -> Iterator[tuple[str, int, bool]]:
        if isinstance(current, ast.Import):
            for alias in current.names:
                yield alias.name, current.lineno, type_only
        elif isinstance(current, ast.ImportFrom):
            if current.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (current.level - 1)]
                base = ".".join([*base_parts, *([current.module] if current.module else [])])
            else:
                base = current.module or ""
            for alias in current.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), current.lineno, type_only
        elif isinstance(current, ast.Call):
            func = current.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = current.args[0] if current.args else None
            if name in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    yield first.value, current.lineno, type_only
        yield from visit(current, type_only)

    yield from visit(tree, False)


def collect_edges() -> list[Edge]:
    """Every import of a xaikit module by a xaikit module, type-only ones included."""
    edges: list[Edge] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        seen: set[tuple[str, int]] = set()
        for name, line, type_only in _imports(tree, module, path.name == "__init__.py"):
            if not (name == ROOT or name.startswith(f"{ROOT}.")):
                continue
            target = _known_module(name)
            if target == module or (target, line) in seen:
                continue
            seen.add((target, line))
            edges.append(Edge(module, target, path.relative_to(SRC).as_posix(), line, type_only))
    return edges


EDGES = collect_edges()


def package_edges(edges: Iterable[Edge]) -> dict[tuple[str, str], list[Edge]]:
    """The edges between different subpackages, grouped by (source, target) subpackage."""
    grouped: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for edge in edges:
        a, b = node(edge.source), node(edge.target)
        if a != b:
            grouped[a, b].append(edge)
    return dict(grouped)


def cycles(graph: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """The strongly connected components of ``graph`` with more than one node (Tarjan).

    Parameters
    ----------
    graph : mapping
        Each node's successors.

    Returns
    -------
    list of frozenset
        One set of nodes per cycle (a component where every node reaches every other).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    nodes = set(graph) | {w for targets in graph.values() for w in targets}

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(nodes) + 100))
    try:
        for v in sorted(nodes):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def _describe(component: frozenset[str], edges: Mapping[tuple[str, str], list[Edge]]) -> str:
    lines = [" <-> ".join(sorted(component))]
    for (a, b), group in sorted(edges.items()):
        if a in component and b in component:
            where = ", ".join(e.where + (" (type-only)" if e.type_only else "") for e in group)
            lines.append(f"    {a} -> {b}: {where}")
    return "\n".join(lines)


def _unexpected(found: Iterable[frozenset[str]]) -> list[frozenset[str]]:
    return [c for c in found if not any(c <= known for known in KNOWN_CYCLES_BEING_FIXED)]


def _module_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[Edge]]]:
    graph: dict[str, set[str]] = defaultdict(set)
    grouped: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for edge in EDGES:
        if not edge.type_only:
            graph[edge.source].add(edge.target)
            grouped[edge.source, edge.target].append(edge)
    return graph, grouped


def _package_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[Edge]]]:
    grouped = package_edges(EDGES)
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in grouped:
        graph[a].add(b)
    return graph, grouped


def test_the_parser_sees_the_imports() -> None:
    # guards against a parser that silently finds nothing
    assert len(MODULES) > 50
    assert {"core", "engine", "evaluate", "cli"} <= {node(m) for m in MODULES}
    assert any(e.source == "xaikit" and e.target.startswith("xaikit.core") for e in EDGES)
    # a function-level import is an edge too
    assert any(e.source == "xaikit.report.report" and e.target == "xaikit.report.render" for e in EDGES)


def test_no_import_cycle_among_modules() -> None:
    graph, grouped = _module_graph()
    bad = _unexpected(cycles(graph))
    assert not bad, "import cycles among modules (type-only imports not counted):\n" + "\n".join(
        _describe(c, grouped) for c in bad
    )


def test_no_import_cycle_among_subpackages() -> None:
    graph, grouped = _package_graph()
    bad = _unexpected(cycles(graph))
    assert not bad, "import cycles among subpackages:\n" + "\n".join(_describe(c, grouped) for c in bad)


def test_known_cycles_still_exist() -> None:
    found = cycles(_module_graph()[0]) + cycles(_package_graph()[0])
    stale = sorted(
        sorted(known) for known in KNOWN_CYCLES_BEING_FIXED if not any(c <= known for c in found)
    )
    assert not stale, f"these cycles are gone; delete them from KNOWN_CYCLES_BEING_FIXED: {stale}"


def test_every_subpackage_has_a_layer() -> None:
    listed = [name for layer in LAYERS for name in layer]
    assert len(listed) == len(set(listed)), "a subpackage appears in two layers"
    missing = sorted({node(m) for m in MODULES} - set(listed))
    assert not missing, f"place these subpackages in LAYERS: {missing}"


def _layer_of(name: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if name in layer)


def layer_violations() -> list[Edge]:
    """The edges that import from a higher layer, except the known ones."""
    return [
        edge
        for (a, b), group in package_edges(EDGES).items()
        if _layer_of(b) > _layer_of(a)
        for edge in group
        if (edge.source, b) not in KNOWN_LAYER_VIOLATIONS_BEING_FIXED
    ]


def test_imports_never_climb_the_layers() -> None:
    bad = layer_violations()
    message = "\n".join(
        f"    {node(e.source)} -> {node(e.target)}: {e.where} imports {e.target}"
        + (" (type-only)" if e.type_only else "")
        for e in sorted(bad, key=lambda e: (e.path, e.line))
    )
    assert not bad, f"imports from a higher layer (see LAYERS):\n{message}"


def test_known_layer_violations_still_exist() -> None:
    current = {
        (edge.source, b)
        for (a, b), group in package_edges(EDGES).items()
        if _layer_of(b) > _layer_of(a)
        for edge in group
    }
    stale = sorted(KNOWN_LAYER_VIOLATIONS_BEING_FIXED - current)
    assert not stale, f"fixed; delete from KNOWN_LAYER_VIOLATIONS_BEING_FIXED: {stale}"


def test_the_parser_on_an_example() -> None:
    source = """
import importlib
from typing import TYPE_CHECKING

import xaikit.core.base
from . import specs
from ..core import targets
from xaikit.utils import Missing

if TYPE_CHECKING:
    from xaikit.report.report import Report
else:
    from xaikit.plot import io

def f():
    from xaikit.neon.base import Neuralized
    return importlib.import_module("xaikit.models")
"""
    found = {
        (_known_module(name), type_only)
        for name, _, type_only in _imports(ast.parse(source), "xaikit.evaluate.runner", False)
        if name.startswith(ROOT)
    }
    assert found == {
        ("xaikit.core.base", False),
        ("xaikit.evaluate.specs", False),  # relative, a module
        ("xaikit.core.targets", False),  # two levels up
        ("xaikit.utils", False),  # a name from the package, not a module
        ("xaikit.report.report", True),
        ("xaikit.plot.io", False),  # the else branch runs
        ("xaikit.neon.base", False),  # inside a function
        ("xaikit.models", False),  # importlib.import_module with a literal
    }


def main() -> None:
    """Print the subpackage graph: each edge with the ``file:line`` of its imports."""
    for (a, b), group in sorted(package_edges(EDGES).items()):
        climbs = " CLIMBS" if _layer_of(b) > _layer_of(a) else ""
        print(f"{a} -> {b} ({len(group)}){climbs}")
        for edge in group:
            print(f"    {edge.where}" + (" (type-only)" if edge.type_only else ""))


if __name__ == "__main__":
    main()
