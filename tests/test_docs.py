"""Every example in the documentation runs, and every public name has one.

- The docstring examples of every module of the kronlmm package, one test per module: what
  ``python -m pytest --doctest-modules kronlmm`` runs (with pytest's default option flag,
  ELLIPSIS), here inside the ordinary suite so that ``make test`` and CI execute them.
- The ``>>>`` examples of the narrative pages ``docs/*.rst`` and ``docs/*.md``.
- Every public class and function of every subpackage has an example, and every
  subpackage has a page in the API reference (``API_MODULES`` of ``docs/conf.py``).

Modules that cannot be imported because an optional third-party dependency is missing are
skipped, not failed.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import io
import os
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import kronlmm

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: pytest's default ``doctest_optionflags``, so that results match ``--doctest-modules``.
OPTIONFLAGS = doctest.ELLIPSIS

#: Subpackages whose every public class and function must carry a ``>>>`` example.
#: (kronlmm._function holds the base classes users subclass.)
EXAMPLES_REQUIRED = [
    "kronlmm._function",
    "kronlmm.cov",
    "kronlmm.mean",
    "kronlmm.lmm",
    "kronlmm.scan",
    "kronlmm.io",
    "kronlmm.testing",
    "kronlmm.data",
    "kronlmm.gwas",
    "kronlmm.plot",
    "kronlmm.cli",
    "kronlmm.distributed",
    "kronlmm.features",
]


def _all_modules() -> list[str]:
    names = ["kronlmm"]
    for info in pkgutil.walk_packages(kronlmm.__path__, "kronlmm.", onerror=lambda name: None):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # running it would run the command
            continue
        names.append(info.name)
    return sorted(names)


def _import(modname: str) -> ModuleType:
    try:
        return importlib.import_module(modname)
    except ImportError as err:
        if err.name and not err.name.split(".")[0] == "kronlmm":
            pytest.skip(f"{modname} needs the optional dependency {err.name!r}")
        raise


def _run(tests: list[doctest.DocTest]) -> tuple[int, str]:
    """Run doctests; return (number of examples, failure report)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # plot examples draw off-screen
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report = io.StringIO()
    attempted = 0
    for test in tests:
        result = runner.run(test, out=report.write)
        attempted += result.attempted
    return attempted, report.getvalue()


@pytest.mark.parametrize("modname", _all_modules())
def test_docstring_examples(modname: str) -> None:
    module = _import(modname)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = sorted(finder.find(module, modname), key=lambda t: t.name)
    if not tests:
        return
    _, failures = _run(tests)
    assert not failures, f"docstring examples of {modname} failed:\n{failures}"


DOC_PAGES = sorted([*DOCS.glob("*.rst"), *DOCS.glob("*.md")])


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda path: path.name)
def test_documentation_page_examples(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    if not test.examples:
        return
    _, failures = _run([test])
    assert not failures, f"examples of docs/{page.name} failed:\n{failures}"


def _public_callables(module: ModuleType) -> list[tuple[str, object]]:
    out = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            out.append((name, obj))
    return out


@pytest.mark.parametrize("modname", EXAMPLES_REQUIRED)
def test_public_names_have_examples(modname: str) -> None:
    module = _import(modname)
    public = _public_callables(module)
    assert public, f"{modname} exports no class or function"
    missing = [name for name, obj in public if ">>>" not in (inspect.getdoc(obj) or "")]
    assert not missing, (
        f"public names of {modname} without an example in their docstring: {missing} "
        "(add an 'Examples' section with a short, fast doctest)"
    )


def _documented_modules() -> list[str]:
    """The module names of ``API_MODULES`` in docs/conf.py (read, not executed)."""
    tree = ast.parse((DOCS / "conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "API_MODULES" for t in targets):
            return [entry[0] for entry in ast.literal_eval(node.value)]
    raise AssertionError("docs/conf.py defines no API_MODULES")


def test_every_subpackage_has_an_api_page() -> None:
    subpackages = [
        f"kronlmm.{info.name}"
        for info in pkgutil.iter_modules(kronlmm.__path__)
        if info.ispkg and not info.name.startswith("_")
    ]
    missing = sorted(set(subpackages) - set(_documented_modules()))
    assert not missing, f"add these subpackages to API_MODULES in docs/conf.py: {missing}"
