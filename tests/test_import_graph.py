"""The import graph of kronlmm: one-way layers, public names only between subpackages.

Every module of the package is parsed with :mod:`ast` (no import is executed), including
imports inside functions; imports under ``if TYPE_CHECKING:`` are left out, since they never
run. An import is an edge from the importing module's *unit* to the imported one's, where a
unit is a subpackage (``kronlmm.gwas`` for ``kronlmm.gwas.null``) or, for modules directly in
the package (``kronlmm._version``), the package itself (``kronlmm``). The test fails on

(a) a cycle between units (a strongly connected component of more than one unit), and
(b) an import across units of a private name: a module path or imported name with a
    component starting with ``_`` (dunder names such as ``__version__`` excepted),

and reports the offending edges with file and line. The self-checks at the end run the same
analysis on small packages written to a temporary folder, so that the test can fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import kronlmm

PACKAGE_DIR = Path(kronlmm.__file__).resolve().parent


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` module imports ``target`` (module) or ``target.name``."""

    source: str
    target: str
    name: str | None
    path: str
    line: int

    def __str__(self) -> str:
        what = self.target if self.name is None else f"{self.target}.{self.name}"
        return f"{self.path}:{self.line}: {self.source} imports {what}"


def _module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package: dotted name → file."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements anywhere in the tree (functions included), except the bodies of
    ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_edges(root: Path, package: str) -> list[Edge]:
    """Edges to modules of ``package`` from every module of ``package`` under ``root``."""
    modules = _module_names(root, package)
    edges: list[Edge] = []
    for name, path in modules.items():
        where = str(path.relative_to(root.parent))
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == package:
                        edges.append(Edge(name, alias.name, None, where, node.lineno))
                continue
            if node.level:
                base_parts = here.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != package:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:  # `from pkg import submodule`
                    edges.append(Edge(name, sub, None, where, node.lineno))
                else:
                    edges.append(Edge(name, base, alias.name, where, node.lineno))
    return edges


def unit(module: str, package: str, modules: dict[str, Path]) -> str:
    """The subpackage a module belongs to (``pkg.sub``), or ``pkg`` for top-level modules."""
    parts = module.split(".")
    if len(parts) >= 2:
        head = f"{package}.{parts[1]}"
        if modules.get(head, Path()).name == "__init__.py":
            return head
    return package


def _private(component: str) -> bool:
    return component.startswith("_") and not (
        component.startswith("__") and component.endswith("__")
    )


def private_crossings(edges: list[Edge], package: str, modules: dict[str, Path]) -> list[Edge]:
    """Edges across units that name a private module or object."""
    bad = []
    for e in edges:
        if unit(e.source, package, modules) == unit(e.target, package, modules):
            continue
        parts = e.target.split(".") + ([e.name] if e.name else [])
        if any(_private(p) for p in parts):
            bad.append(e)
    return bad


def unit_cycles(edges: list[Edge], package: str, modules: dict[str, Path]) -> list[list[Edge]]:
    """For every strongly connected component of more than one unit: its edges."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        a, b = unit(e.source, package, modules), unit(e.target, package, modules)
        graph.setdefault(a, set())
        graph.setdefault(b, set())
        if a != b:
            graph[a].add(b)
    # Tarjan's algorithm
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    out = []
    for comp in components:
        out.append(
            [
                e
                for e in edges
                if unit(e.source, package, modules) in comp
                and unit(e.target, package, modules) in comp
                and unit(e.source, package, modules) != unit(e.target, package, modules)
            ]
        )
    return out


def _analyse(root: Path, package: str) -> tuple[list[list[Edge]], list[Edge]]:
    modules = _module_names(root, package)
    edges = import_edges(root, package)
    return unit_cycles(edges, package, modules), private_crossings(edges, package, modules)


def _report(groups: list[list[Edge]]) -> str:
    return "\n".join(
        "cycle between "
        + ", ".join(sorted({e.source.rsplit(".", 1)[0] for e in g}))
        + ":\n"
        + "\n".join(f"  {e}" for e in g)
        for g in groups
    )


def test_no_import_cycle_between_subpackages() -> None:
    cycles, _ = _analyse(PACKAGE_DIR, "kronlmm")
    assert not cycles, _report(cycles)


def test_no_private_name_imported_across_subpackages() -> None:
    _, private = _analyse(PACKAGE_DIR, "kronlmm")
    assert not private, "private names imported across subpackages:\n" + "\n".join(
        f"  {e}" for e in private
    )


#: The layers, lowest first: a layer imports only layers before it (same rank: neither).
LAYERS = [
    ["kronlmm.core"],
    ["kronlmm.cov", "kronlmm.mean"],
    ["kronlmm.scan"],
    ["kronlmm.lmm"],
    ["kronlmm.io"],
    ["kronlmm.gwas"],
    ["kronlmm.distributed"],
    ["kronlmm.plot"],
    ["kronlmm.cli"],
]


def test_layers_import_only_downwards() -> None:
    """core → cov/mean → scan → lmm → io → gwas (driver, sources, strategies, tables) →
    distributed (the 0.1.0 façade) → plot → cli: no edge goes up or sideways. (Units not
    listed — data, testing, features — are held to the no-cycle rule only.)"""
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    modules = _module_names(PACKAGE_DIR, "kronlmm")
    bad = []
    for e in import_edges(PACKAGE_DIR, "kronlmm"):
        a, b = unit(e.source, "kronlmm", modules), unit(e.target, "kronlmm", modules)
        if a != b and a in rank and b in rank and rank[b] >= rank[a]:
            bad.append(e)
    assert not bad, "imports against the layer order:\n" + "\n".join(f"  {e}" for e in bad)


def test_scan_imports_no_model_io_or_driver() -> None:
    """The scanner computes: kronlmm.scan imports nothing of lmm, io, gwas or distributed."""
    modules = _module_names(PACKAGE_DIR, "kronlmm")
    found = [
        e
        for e in import_edges(PACKAGE_DIR, "kronlmm")
        if unit(e.source, "kronlmm", modules) == "kronlmm.scan"
        and unit(e.target, "kronlmm", modules)
        in {"kronlmm.lmm", "kronlmm.io", "kronlmm.gwas", "kronlmm.distributed"}
    ]
    assert not found, "\n".join(str(e) for e in found)


def test_the_graph_is_not_empty() -> None:
    """The walk sees the imports it is meant to check (function-level ones included)."""
    edges = import_edges(PACKAGE_DIR, "kronlmm")
    modules = _module_names(PACKAGE_DIR, "kronlmm")
    units = {
        (unit(e.source, "kronlmm", modules), unit(e.target, "kronlmm", modules)) for e in edges
    }
    assert ("kronlmm.lmm", "kronlmm.scan") in units
    assert ("kronlmm.gwas", "kronlmm.io") in units
    assert ("kronlmm.scan", "kronlmm.core") in units


# ------------------------------------------------------------------ self-checks
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "pkg",
        {
            "__init__.py": "from ._version import v\n",
            "_version.py": "v = 1\n",
            "a/__init__.py": "from .mod import f\n",
            "a/mod.py": "def f():\n    from ..b import g\n    return g\n",
            "a/_hidden.py": "x = 1\n",
            "b/__init__.py": "from .impl import g\n",
            "b/impl.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from ..a import f\n"
                "def g():\n    return 1\n"
            ),
        },
    )


def test_self_check_clean_package(toy: Path) -> None:
    cycles, private = _analyse(toy, "pkg")
    assert cycles == [] and private == []


def test_self_check_function_level_cycle_is_found(toy: Path) -> None:
    _write(toy, {"b/impl.py": "def g():\n    from ..a.mod import f\n    return f\n"})
    cycles, _ = _analyse(toy, "pkg")
    assert len(cycles) == 1
    found = {(e.source, e.target, e.name) for e in cycles[0]}
    assert found == {("pkg.a.mod", "pkg.b", "g"), ("pkg.b.impl", "pkg.a.mod", "f")}
    assert "cycle between pkg.a, pkg.b" in _report(cycles)


def test_self_check_private_names_are_found(toy: Path) -> None:
    _write(
        toy,
        {
            "b/impl.py": (
                "from ..a import _hidden\n"
                "from ..a.mod import _helper\n"
                "import pkg._version\n"
                "from .. import __doc__\n"  # dunder: allowed
                "def g():\n    return 1\n"
            ),
            "a/mod.py": "from ._hidden import x\n_helper = 1\ndef f():\n    return x\n",
        },
    )
    _, private = _analyse(toy, "pkg")
    found = sorted((e.target, e.name) for e in private)
    # a's own import of a._hidden is inside its subpackage: allowed
    assert found == [("pkg._version", None), ("pkg.a._hidden", None), ("pkg.a.mod", "_helper")]
