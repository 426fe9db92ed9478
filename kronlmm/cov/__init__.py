"""Covariance objects.

Each object is a :class:`kronlmm.core.parameters.Function` whose ``value()`` is a covariance
matrix ``K(θ)`` and whose ``gradient()`` maps the dotted name of every free parameter θ to
``∂K/∂θ`` (parameter axis last). ``contract_gradient(M)`` returns
``Σᵢⱼ M[i, j] ∂K[i, j]/∂θ`` without forming the gradient array.

=============================  ===================================================
``EyeCov(dim)``                ``K = s·I``
``GivenCov(K0)``               ``K = s·K₀`` for a given symmetric ``K₀``
``LinearCov(X)``               ``K = s·XXᵀ``
``FreeFormCov(dim)``           ``K = LLᵀ + f·I``, ``L`` lower triangular (full rank)
``LRFreeFormCov(n, m)``        ``K = LLᵀ``, ``L`` n × m (rank ≤ m)
``SumCov(covariances)``        ``K = K₀ + K₁ + ⋯``
``Kron2SumCov(G, dim, rank)``  ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ``
=============================  ===================================================

``s = exp(logscale)`` is a positive scale.
"""

from .eye import EyeCov
from .free_form import FreeFormCov
from .given import GivenCov
from .kron2sum import Kron2SumCov
from .linear import LinearCov
from .lr_free_form import LRFreeFormCov
from .sum import SumCov

__all__ = [
    "EyeCov",
    "GivenCov",
    "LinearCov",
    "FreeFormCov",
    "LRFreeFormCov",
    "SumCov",
    "Kron2SumCov",
]
