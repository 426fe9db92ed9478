"""Joint whitening of a pair of trait covariances and the whitened Kron2Sum covariance."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .linalg import EconomicSVD

__all__ = ["Whitening", "joint_whitening", "WhitenedKron2Sum"]


class Whitening(NamedTuple):
    """Joint diagonalisation of a pair of trait covariances.

    ``Lh C1 Lhᵀ = I`` and ``Lh C0 Lhᵀ = diag(lam)``.

    Attributes
    ----------
    Lh : ndarray, shape (p, p)
    lam : ndarray, shape (p,)
        Generalised eigenvalues of (C0, C1), clipped at 0.
    logdet_C1 : float
        ``log|C1|``.
    """

    Lh: NDArray[np.float64]
    lam: NDArray[np.float64]
    logdet_C1: float


def joint_whitening(C0: NDArray[np.float64], C1: NDArray[np.float64]) -> Whitening:
    """Return ``Lh`` with ``Lh C1 Lhᵀ = I`` and ``Lh C0 Lhᵀ`` diagonal (C1 ≻ 0, C0 ⪰ 0)."""
    w1, E1 = np.linalg.eigh(C1)
    if w1[0] <= 0:
        raise np.linalg.LinAlgError("C1 is not positive definite")
    W = E1 / np.sqrt(w1)[None, :]  # Wᵀ C1 W = I
    M = W.T @ C0 @ W
    lam, E = np.linalg.eigh((M + M.T) / 2)
    return Whitening(E.T @ W.T, np.clip(lam, 0.0, None), float(np.sum(np.log(w1))))


class WhitenedKron2Sum:
    """The covariance in its whitened coordinates (Casale et al. 2015).

    With ``GGᵀ = U diag(S2) Uᵀ`` (U: n × k) and ``Lh`` jointly diagonalising C₀ and C₁
    (``Lh C₁ Lhᵀ = Iₚ``, ``Lh C₀ Lhᵀ = diag(λ)``), and ``Uₓ = [U, U⊥]`` orthonormal,

        (Lh ⊗ Uₓᵀ) K (Lh ⊗ Uₓᵀ)ᵀ = diag(λ) ⊗ diag(S2, 0, …, 0) + Iₙₚ,

    a diagonal matrix whose first k rows (per trait) are ``D = 1 + S2 λᵀ`` (k × p) and whose
    remaining ``n − k`` rows are 1.

    Attributes
    ----------
    Lh : ndarray (p, p)
    lam : ndarray (p,)
    D : ndarray (k, p)
    n : int
    logdet : float
        ``log|K| = Σ log D + n·log|C₁|``.
    """

    def __init__(self, svd: EconomicSVD, n: int, wh: Whitening) -> None:
        self.Lh = wh.Lh
        self.lam = wh.lam
        self.D = 1.0 + svd.S2[:, None] * wh.lam[None, :]
        self.n = n
        self.logdet = float(np.sum(np.log(self.D)) + n * wh.logdet_C1)

    def trace_weights(self, S2: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """Diagonals ``w0, w1`` of the trace of ``K⁻¹ dK`` in whitened coordinates.

        ``tr(K⁻¹ dK) = tr(Lh dC₀ Lhᵀ diag w0) + tr(Lh dC₁ Lhᵀ diag w1)``.
        """
        k = self.D.shape[0]
        w0 = (S2[:, None] / self.D).sum(axis=0)
        w1 = (1.0 / self.D).sum(axis=0) + (self.n - k)
        return w0, w1
