"""Every public name has an example, and every subpackage has an API page.

The examples themselves run through pytest's own collectors (``--doctest-modules`` over
``kronlmm/`` and ``--doctest-glob`` over ``docs/*.rst`` and ``docs/*.md``; see setup.cfg and
the root conftest.py), so ``make test`` and CI execute every one of them.

- Every public class and function of every subpackage has an example.
- Every subpackage has a page in the API reference (``API_MODULES`` of ``docs/conf.py``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import kronlmm

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Subpackages whose every public class and function must carry a ``>>>`` example.
#: (kronlmm.core.parameters holds the base classes users subclass.)
EXAMPLES_REQUIRED = [
    "kronlmm.core",
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


def _import(modname: str) -> ModuleType:
    try:
        return importlib.import_module(modname)
    except ImportError as err:
        if err.name and not err.name.split(".")[0] == "kronlmm":
            pytest.skip(f"{modname} needs the optional dependency {err.name!r}")
        raise


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
