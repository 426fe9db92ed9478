"""Sphinx configuration of the kronlmm documentation.

Build (warnings are errors)::

    .venv/bin/python -m pip install -e ".[docs]"
    .venv/bin/python -m sphinx -E -W --keep-going -b html docs docs/_build/html

The API pages are written here, at configuration time, so that they follow the code
without hand edits (``api/`` is a build product, ignored by git): one reference page per
public subpackage, listing every name of its ``__all__`` in an ``autosummary`` table
(autosummary then writes a stub page per name into ``api/generated/``). Optional
subpackages (``kronlmm.gwas``, ``kronlmm.plot``, ``kronlmm.cli``) get a page when they can
be imported. The command line (``cli.rst``) is rendered from the Click command itself by
sphinx-click.

A subpackage that exists but fails to import is reported as a Sphinx warning, so that
``-W`` fails the build; one that does not exist yet is not.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the checkout, also when it is not installed

import kronlmm  # noqa: E402

# -- project -------------------------------------------------------------------------------
project = "kronlmm"
author = "kronlmm developers"
copyright = "2026, kronlmm developers"  # noqa: A001 - Sphinx's name
release = kronlmm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_click",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "code"  # `x` renders as code, as in most docstrings' intent
suppress_warnings: list[str] = []

# -- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"kronlmm {release}"
html_static_path: list[str] = []
html_theme_options = {"navigation_with_keys": True}

# -- autodoc / autosummary / numpydoc ---------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # types are in the numpydoc Parameters sections
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
numpydoc_show_class_members = False  # the class template lists members through autodoc
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

myst_heading_anchors = 3

#: Where inheritance of documented members stops (members of these classes are left out).
INHERITANCE_STOPS = ", ".join(
    [
        "object",
        "BaseException",
        "Exception",
        "OSError",
        "FileNotFoundError",
        "ValueError",
        "UserWarning",
        "Warning",
        "tuple",
        "dict",
        "Mapping",
        "Protocol",
    ]
)

autosummary_context = {"inheritance_stops": INHERITANCE_STOPS}

# -- generated API pages ------------------------------------------------------------------------
#: (module, title, required). Required modules must import; optional ones are documented when
#: they exist and are skipped silently when they do not.
API_MODULES = [
    ("kronlmm.core", "Core: parameters, numerics, likelihood engine", True),
    ("kronlmm.lmm", "Models", True),
    ("kronlmm.features", "Many-feature linear models (limma)", True),
    ("kronlmm.scan", "Association scanners", True),
    ("kronlmm.gwas", "Genome-wide scans", False),
    ("kronlmm.cov", "Covariance objects", True),
    ("kronlmm.mean", "Mean objects", True),
    ("kronlmm.io", "Input: PLINK, tables, kinship, alignment", True),
    ("kronlmm.testing", "Testing helpers", True),
    ("kronlmm.data", "Bundled example data", True),
    ("kronlmm.distributed", "Distributed scans (Dask)", False),
    ("kronlmm.plot", "Plots", False),
    ("kronlmm.cli", "Command line", False),
    ("kronlmm.features", "Many features: limma-style models and per-feature LMMs", True),
]

#: Problems found while writing generated pages, reported as Sphinx warnings once the build
#: starts (so that ``-W`` fails on them).
_PROBLEMS: list[str] = []
#: Optional subpackages that do not exist (yet); reported as information only.
_ABSENT: list[str] = []


def _exists(modname: str) -> bool:
    try:
        return importlib.util.find_spec(modname) is not None
    except ModuleNotFoundError:
        return False


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "exceptions"
        return "classes"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "functions"
    return "data"


_SECTION_TITLES = {
    "classes": "Classes",
    "functions": "Functions",
    "exceptions": "Exceptions and warnings",
    "data": "Constants",
}


def _underline(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def _entry(modname: str, module: object, name: str) -> tuple[object, str]:
    """The object behind ``module.name`` and its autosummary entry: the public name, unless
    that would not lead autodoc to the object; then its defining location (relative to
    ``modname``), displayed by its short name:

    - a name shadowing a submodule of the same name (function and module): the function
      in that submodule;
    - a constant: autodoc reads its ``#:`` comment or docstring from the module that
      defines it (the submodule listing it in ``__all__``), not from the package.
    """
    if _exists(f"{modname}.{name}"):
        sub = importlib.import_module(f"{modname}.{name}")
        if hasattr(sub, name):
            return getattr(sub, name), f"~{name}.{name}"
    obj = getattr(module, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return obj, name
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        sub = sys.modules.get(f"{modname}.{info.name}")
        if sub is not None and name in getattr(sub, "__all__", []) and getattr(sub, name) is obj:
            return obj, f"~{info.name}.{name}"
    return obj, name


def _home(obj: object) -> str | None:
    """The kronlmm subpackage (``kronlmm.x``) that defines a class or function, if any."""
    parts = str(getattr(obj, "__module__", "")).split(".")
    return ".".join(parts[:2]) if parts[0] == "kronlmm" and len(parts) > 1 else None


def _api_page(modname: str, title: str, module: object) -> str:
    names = list(getattr(module, "__all__", []))
    groups: dict[str, list[str]] = {k: [] for k in _SECTION_TITLES}
    reexported: list[str] = []
    for name in names:
        obj, entry = _entry(modname, module, name)
        home = _home(obj) if inspect.isclass(obj) or inspect.isfunction(obj) else None
        if home is not None and home != modname and modname.count(".") == 1:
            # documented once, on the page of the subpackage that defines it
            reexported.append(f":{'class' if inspect.isclass(obj) else 'func'}:`{home}.{name}`")
            continue
        groups[_kind(obj)].append(entry)
    out = [
        f".. This page is written by docs/conf.py from {modname}.__all__; do not edit.\n",
        _underline(f"``{modname}``: {title}", "="),
        f".. automodule:: {modname}\n",
        f".. currentmodule:: {modname}\n",
    ]
    for kind, members in groups.items():
        if not members:
            continue
        out.append(_underline(_SECTION_TITLES[kind], "-"))
        entries = "\n".join(f"   {m}" for m in members)
        out.append(f".. autosummary::\n   :toctree: generated\n   :nosignatures:\n\n{entries}\n")
    if reexported:
        out.append(_underline("Also importable from here", "-"))
        out.append(", ".join(reexported) + ".\n")
    return "\n".join(out)


def _write_api_pages() -> None:
    api = DOCS / "api"
    shutil.rmtree(api, ignore_errors=True)  # stale pages of modules that went away
    api.mkdir()
    pages = []
    for modname, title, required in API_MODULES:
        if not required and not _exists(modname):
            _ABSENT.append(modname)
            continue
        try:
            module = importlib.import_module(modname)
        except Exception as err:  # noqa: BLE001 - reported as a build warning
            _PROBLEMS.append(f"{modname} exists but cannot be imported: {err!r}")
            continue
        (api / f"{modname}.rst").write_text(_api_page(modname, title, module), encoding="utf-8")
        pages.append(modname)
    toc = "\n".join(f"   {p}" for p in pages)
    absent = ""
    if _ABSENT:
        listed = ", ".join(f"``{m}``" for m in _ABSENT)
        absent = (
            f"\n.. note::\n\n   Not part of this build: {listed} (not present in the source "
            "tree when the documentation was built).\n"
        )
    index = (
        ".. This page is written by docs/conf.py; do not edit.\n\n"
        + _underline("API reference", "=")
        + "\nOne page per subpackage; every public class and function has its own page with "
        "at least one example, and all examples run as tests (``tests/test_docs.py``).\n"
        + absent
        + f"\n.. toctree::\n   :maxdepth: 1\n\n{toc}\n"
    )
    (api / "index.rst").write_text(index, encoding="utf-8")


_write_api_pages()


# -- Sphinx hooks ----------------------------------------------------------------------------
def _skip_namedtuple_fields(app, what, name, obj, skip, options):  # noqa: ANN001, ANN201
    """Leave out NamedTuple field accessors ("Alias for field number 0"): the class's
    Attributes section documents them."""
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith("Alias for field number"):
        return True
    return None


def _drop_builtin_docstrings(app, what, name, obj, options, lines):  # noqa: ANN001, ANN201
    """A constant without a docstring of its own would show its type's docstring (e.g.
    tuple's "Built-in immutable sequence..."): show nothing instead."""
    if what in ("data", "attribute") and lines:
        type_doc = inspect.getdoc(type(obj)) or ""
        if "\n".join(lines).strip() == type_doc.strip():
            lines.clear()


def _report(app) -> None:  # noqa: ANN001
    from sphinx.util import logging

    logger = logging.getLogger("kronlmm.docs")
    for problem in _PROBLEMS:
        logger.warning(problem)
    for modname in _ABSENT:
        logger.info(f"[kronlmm docs] {modname} is not present: no API page for it")


def setup(app):  # noqa: ANN001, ANN201
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
    app.connect("autodoc-process-docstring", _drop_builtin_docstrings)
    app.connect("builder-inited", _report)
    return {"parallel_read_safe": True}
