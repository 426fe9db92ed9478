"""Small dense linear-algebra primitives shared by the covariance objects and models."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

__all__ = ["EconomicSVD", "economic_svd", "column_basis"]


class EconomicSVD(NamedTuple):
    """``G = U diag(S) Vᵀ`` restricted to the k non-zero singular values.

    Attributes
    ----------
    U : ndarray, shape (n, k)
        Orthonormal left singular vectors.
    S2 : ndarray, shape (k,)
        Squared singular values (eigenvalues of ``GGᵀ``), all > 0.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import EconomicSVD
    >>> svd = EconomicSVD(np.eye(3)[:, :2], np.array([4.0, 1.0]))  # GGᵀ = diag(4, 1, 0)
    >>> svd.S2.tolist(), svd.U.shape
    ([4.0, 1.0], (3, 2))
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

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import economic_svd
    >>> G = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    >>> svd = economic_svd(G)
    >>> svd.S2.round(12).tolist()
    [4.0, 1.0]
    >>> bool(np.allclose((svd.U * svd.S2) @ svd.U.T, G @ G.T))
    True
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


def column_basis(M: NDArray[np.float64], rtol: float | None = None) -> NDArray[np.float64]:
    """Orthonormal basis ``V`` (c × c′) of the row space of ``M`` (n × c).

    ``M V`` has full column rank c′ = rank(M), and for any ``b′`` the coefficients
    ``b = V b′`` are the minimum-norm ones giving the same fit ``M b = (M V) b′``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import column_basis
    >>> X = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])  # rank 1
    >>> column_basis(X).shape
    (2, 1)
    """
    if M.shape[1] == 0:
        return np.zeros((0, 0))
    _, s, Vt = np.linalg.svd(M, full_matrices=False)
    if rtol is None:
        rtol = max(M.shape) * np.finfo(float).eps
    rank = int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0
    return Vt[:rank].T.copy()
