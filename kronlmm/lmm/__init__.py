"""Mixed models: :class:`Kron2Sum` (multi-trait) and :class:`LMM` (single trait).

The association scanners built from a fitted model (:class:`FastScanner`,
:class:`KronFastScanner`) are importable from here too, as in glimix-core, and so is
:class:`LMMPredict` (prediction of new samples).
"""

from ..core.optimize import FitResult
from ..core.warnings import FitWarning
from ..scan import FastScanner, KronFastScanner
from .kron2sum import Kron2Sum
from .lmm import LMM
from .predict import LMMPredict

__all__ = [
    "Kron2Sum",
    "LMM",
    "LMMPredict",
    "FitResult",
    "FitWarning",
    "FastScanner",
    "KronFastScanner",
]
