"""Mean objects.

Each object is a :class:`kronlmm.core.parameters.Function` whose ``value()`` is a mean vector
``m(θ)`` and whose ``gradient()`` maps the dotted name of every free parameter θ to
``∂m/∂θ`` (shape ``(len(m), θ.size)``). ``contract_gradient(v)`` returns
``Σᵢ v[i] ∂m[i]/∂θ``.

=======================  ===========================================================
``OffsetMean(n)``        ``m = o·1ₙ``
``LinearMean(X)``        ``m = Xβ``
``KronMean(A, X)``       ``m = (A ⊗ X) vec(B) = vec(X B Aᵀ)`` (column-major vec)
``SumMean(means)``       ``m = m₀ + m₁ + ⋯``
=======================  ===========================================================
"""

from .kron import KronMean
from .linear import LinearMean
from .offset import OffsetMean
from .sum import SumMean

__all__ = ["OffsetMean", "LinearMean", "KronMean", "SumMean"]
