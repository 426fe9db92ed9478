"""Small dense linear-algebra primitives shared by the covariance objects and models."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

__all__ = ["EconomicSVD", "economic_svd", "Whitening", "joint_whitening", "column_basis"]


class EconomicSVD(NamedTuple):
    """``G = U diag(S) Vᵀ`` restricted to the k non-zero singular values.

    Attributes
    ----------
    U : ndarray, shape (n, k)
        Orthonormal left singular vectors.
    S2 : ndarray, shape (k,)
        Squared singular values (eigenvalues of ``GGᵀ``), all > 0.
    """

    U: NDArray[np.float64]
    S2: NDArray[np.float64]


def economic_svd(G: NDArray[np.float64], rtol: float | None = None) -> EconomicSVD:
    """Eigen-decomposition ``GGᵀ = U diag(S2) Uᵀ`` without forming ``GGᵀ`` when r < n.

    Parameters
    ----------
    G : ndarray, shape (n, r)
        Any real matrix (r may be 0).
    rtol : float, optional
        Singular values ``S ≤ rtol · max(S)`` are treated as zero and dropped; default
        ``max(n, r) · ε`` (NumPy's matrix-rank rule). An all-zero ``G`` gives k = 0.

    Notes
    -----
    For r < n the thin SVD (LAPACK gesdd) of G costs O(n r²). For r ≥ n the symmetric
    eigen-decomposition of the n × n matrix GGᵀ is used instead: it is 2–3 times faster
    and returns exactly orthonormal U; eigenvalues carry an absolute error of order
    ε·max(S2), which is what the likelihood is sensitive to anyway.
    """
    n, r = G.shape
    if n == 0 or r == 0 or not np.any(G):
        return EconomicSVD(np.zeros((n, 0)), np.zeros(0))
    if rtol is None:
        rtol = max(n, r) * np.finfo(float).eps
    if r < n:
        U, S, _ = sla.svd(G, full_matrices=False, lapack_driver="gesdd", check_finite=False)
        S2 = S**2
    else:
        S2, U = sla.eigh(G @ G.T, driver="evd", check_finite=False)
        S2, U = S2[::-1], U[:, ::-1]
    keep = S2 > (rtol**2) * S2[0] if r < n else S2 > rtol * S2[0]
    return EconomicSVD(np.ascontiguousarray(U[:, keep]), S2[keep].copy())


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


def column_basis(M: NDArray[np.float64], rtol: float | None = None) -> NDArray[np.float64]:
    """Orthonormal basis ``V`` (c × c′) of the row space of ``M`` (n × c).

    ``M V`` has full column rank c′ = rank(M), and for any ``b′`` the coefficients
    ``b = V b′`` are the minimum-norm ones giving the same fit ``M b = (M V) b′``.
    """
    if M.shape[1] == 0:
        return np.zeros((0, 0))
    _, s, Vt = np.linalg.svd(M, full_matrices=False)
    if rtol is None:
        rtol = max(M.shape) * np.finfo(float).eps
    rank = int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0
    return Vt[:rank].T.copy()
