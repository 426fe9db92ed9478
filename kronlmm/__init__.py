"""kronlmm: multi-trait linear mixed models.

Model: ``vec(Y) ~ N((A ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)``; see :mod:`kronlmm.lmm`.
"""

from ._version import __version__

__all__ = ["__version__"]
