"""Derivatives of ``C = L Lᵀ`` with respect to the entries of ``L``."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def dLLt_dL(L: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return ``∂(L Lᵀ)[i, j] / ∂L[a, b]`` as an array of shape ``(n, n, n, m)``.

    ``∂(LLᵀ)_ij/∂L_ab = δ_ia L_jb + δ_ja L_ib``.
    """
    n, m = L.shape
    out = np.zeros((n, n, n, m))
    idx = np.arange(n)
    out[idx, :, idx, :] += L[None, :, :]
    out[:, idx, idx, :] += L[:, None, :]
    return out
