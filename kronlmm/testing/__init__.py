"""Public helpers for testing kronlmm objects and models.

- :func:`check_gradient`: analytic vs central finite-difference gradient of any kronlmm
  Function (covariance, mean, model), including user-defined ones.
- Dense O(N³) references: :func:`dense_lml`, :func:`dense_ml_lml`, :func:`dense_reml_lml`,
  :func:`dense_gls`, :func:`dense_kron2sum_cov`.
- A brute-force fit: :class:`BlockLikelihood` and :func:`reference_kron2sum_fit`, an
  independent implementation of the Kron2Sum likelihood maximised from many starts.
- Generic checks of your own objects: :func:`check_covariance`, :func:`check_mean`.
- Data: :func:`simulate_kron2sum`.
"""

from .checks import CheckReport, check_covariance, check_mean
from .dense import dense_gls, dense_kron2sum_cov, dense_lml, dense_ml_lml, dense_reml_lml
from .gradient import GradientCheck, check_gradient
from .reference import BlockLikelihood, ReferenceFit, reference_kron2sum_fit
from .simulate import KronData, simulate_kron2sum

__all__ = [
    "check_gradient",
    "GradientCheck",
    "dense_lml",
    "dense_ml_lml",
    "dense_reml_lml",
    "dense_gls",
    "dense_kron2sum_cov",
    "BlockLikelihood",
    "ReferenceFit",
    "reference_kron2sum_fit",
    "CheckReport",
    "check_covariance",
    "check_mean",
    "KronData",
    "simulate_kron2sum",
]
