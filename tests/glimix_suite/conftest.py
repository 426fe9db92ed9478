"""Collect the ported glimix-core tests only where glimix-core is installed.

They import helpers (``vec``, ``unvec``, ``assert_interface``, ``multivariate_normal``,
``DeltaProdLik``, ``GGPSampler``) from glimix-core itself; where it is absent each module
is reported as skipped instead of failing to import. Nothing here needs glimix-core to
*fit*, so the modules also run under SciPy ≥ 1.18, where it cannot.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest


def _have_glimix() -> bool:
    try:
        return importlib.util.find_spec("glimix_core") is not None
    except (ImportError, ValueError):  # e.g. sys.modules["glimix_core"] is None
        return False


HAVE_GLIMIX = _have_glimix()


class _GlimixAbsent(pytest.File):
    """Stands in for a test module when glimix-core is not installed: reports a skip."""

    def collect(self) -> Any:
        pytest.skip(
            "glimix-core is not installed: its ported test suite imports its helpers "
            "(pip install glimix-core)",
            allow_module_level=True,
        )


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    if HAVE_GLIMIX or not module_path.name.startswith("test_"):
        return None
    return _GlimixAbsent.from_parent(parent, path=module_path)
