"""Covariance objects.

Each object is a :class:`~kronlmm.cov.Covariance` (a :class:`kronlmm.core.Function`) whose
``value()`` is a covariance matrix ``K(θ)`` and whose ``gradient()`` maps the dotted name of
every free parameter θ to ``∂K/∂θ`` (parameter axis last). ``contract_gradient(M)``
returns ``Σᵢⱼ M[i, j] ∂K[i, j]/∂θ`` without forming the gradient array.

Trait covariances (p × p; the C₀ and C₁ of :class:`~kronlmm.lmm.Kron2Sum`, see
:class:`TraitCovariance`):

=================================  ==================================================
``FreeFormCov(p)``                 ``C = LLᵀ + diag(f)``, L lower triangular (full rank)
``LRFreeFormCov(p, m)``            ``C = LLᵀ``, L p × m (rank ≤ m)
``DiagonalCov(p)``                 ``C = diag(v)`` (uncorrelated traits)
``FactorAnalyticCov(p, k)``        ``C = ΛΛᵀ + diag(ψ)``, Λ p × k (k factors)
``FixedCov(C)``                    a given C, not estimated
``SumCov([...])``                  ``C = C₀ + C₁ + ⋯`` (e.g. low rank + diagonal)
=================================  ==================================================

Other covariances:

=============================  ===================================================
``EyeCov(dim)``                ``K = s·I``
``GivenCov(K0)``               ``K = s·K₀`` for a given symmetric ``K₀``
``LinearCov(X)``               ``K = s·XXᵀ``
``Kron2SumCov(G, dim, rank)``  ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ``
=============================  ===================================================

``s = exp(logscale)`` is a positive scale.
"""

from .base import Covariance, TraitCovariance
from .diagonal import DiagonalCov
from .eye import EyeCov
from .factor_analytic import FactorAnalyticCov
from .fixed import FixedCov
from .free_form import FreeFormCov
from .given import GivenCov
from .kron2sum import Kron2SumCov
from .linear import LinearCov
from .lr_free_form import LRFreeFormCov
from .sum import SumCov

__all__ = [
    "Covariance",
    "TraitCovariance",
    "EyeCov",
    "GivenCov",
    "LinearCov",
    "FreeFormCov",
    "LRFreeFormCov",
    "DiagonalCov",
    "FactorAnalyticCov",
    "FixedCov",
    "SumCov",
    "Kron2SumCov",
]
