"""Mixed models: :class:`Kron2Sum` (multi-trait) and :class:`LMM` (single trait)."""

from ._optimize import FitResult
from .kron2sum import Kron2Sum
from .lmm import LMM
from .warnings import FitWarning

__all__ = ["Kron2Sum", "LMM", "FitResult", "FitWarning"]
