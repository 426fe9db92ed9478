"""Optional peer implementations used as test references (tests skip where absent)."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest


def glimix_lmm(fits: bool = True) -> ModuleType:
    """``glimix_core.lmm``, or skip the test.

    With ``fits=True`` also skip where glimix-core cannot fit: its optimiser (optimix
    3.0.6) passes ``disp=`` to ``scipy.optimize.fmin_l_bfgs_b``, which SciPy 1.18 removed.
    """
    mod = pytest.importorskip("glimix_core.lmm")
    if fits:
        from scipy.optimize import fmin_l_bfgs_b

        if "disp" not in inspect.signature(fmin_l_bfgs_b).parameters:
            import scipy

            pytest.skip(
                f"glimix-core cannot fit under SciPy {scipy.__version__}: optimix passes "
                "disp= to fmin_l_bfgs_b, which SciPy 1.18 removed"
            )
    return mod
