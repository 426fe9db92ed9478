"""Mixed models: :class:`Kron2Sum` (multi-trait) and :class:`LMM` (single trait).

The association scanners built from a fitted model (:class:`FastScanner`,
:class:`KronFastScanner`) are importable from here too, as in glimix-core, and so is
:class:`LMMPredict` (prediction of new samples). :func:`refit_lrt` is the exact
likelihood-ratio test of candidates with C₀, C₁ re-estimated (:mod:`kronlmm.lmm.refit`);
:func:`bootstrap_calibration` calibrates the fixed-VC F test by a parametric bootstrap of
the fitted null (:mod:`kronlmm.lmm.bootstrap`).
"""

from ..core.optimize import FitResult
from ..core.warnings import FitWarning
from ..scan import FastScanner, KronFastScanner
from .bootstrap import (
    BOOTSTRAP_METHODS,
    DEFAULT_BOOTSTRAP_CANDIDATES,
    DEFAULT_BOOTSTRAP_REPLICATES,
    BootstrapCalibration,
    bootstrap_calibration,
    simulate_phenotypes,
)
from .kron2sum import Kron2Sum
from .lmm import LMM
from .predict import LMMPredict
from .refit import DEFAULT_REFIT_THRESHOLD, REFIT_MODES, RefitResult, refit_lrt

__all__ = [
    "Kron2Sum",
    "LMM",
    "LMMPredict",
    "FitResult",
    "FitWarning",
    "FastScanner",
    "KronFastScanner",
    "DEFAULT_REFIT_THRESHOLD",
    "REFIT_MODES",
    "RefitResult",
    "refit_lrt",
    "BOOTSTRAP_METHODS",
    "DEFAULT_BOOTSTRAP_CANDIDATES",
    "DEFAULT_BOOTSTRAP_REPLICATES",
    "BootstrapCalibration",
    "bootstrap_calibration",
    "simulate_phenotypes",
]
