"""The numerical core below every model and scanner.

Layers import only layers below them; ``core`` imports nothing else of kronlmm.

=====================  ============================================================
module                 concept
=====================  ============================================================
``parameters``         :class:`Parameter` and :class:`Function` (named parameters,
                       flat views, fix/unfix) — the base of covariances and means
``validation``         argument checks with messages that name argument and shapes
``numerics``           the numerical policy: tolerances and constants
``linalg``             :class:`EconomicSVD`, :func:`economic_svd`,
                       :func:`economic_eigh`, column bases
``whitening``          joint whitening of (C₀, C₁) and the whitened Kron2Sum covariance
``projections``        :class:`KronProjections`: the data projections computed once
``likelihood``         the Kron2Sum likelihood engine (ML/REML value and gradient)
``single_trait``       the FaST-LMM likelihood terms of the single-trait model
``optimize``           the optimiser wrapper and :class:`FitResult`
``warnings``           :class:`FitWarning`
``stats``              χ² and F log survival functions
``progress``           progress reporting of long loops
=====================  ============================================================
"""

from .linalg import EconomicSVD, column_basis, economic_eigh, economic_svd
from .optimize import FitResult
from .parameters import Function, Parameter
from .warnings import FitWarning

__all__ = [
    "EconomicSVD",
    "FitResult",
    "FitWarning",
    "Function",
    "Parameter",
    "column_basis",
    "economic_eigh",
    "economic_svd",
]
