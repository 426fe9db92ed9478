"""Small dense linear-algebra primitives shared by the covariance objects and models."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

__all__ = [
    "EconomicSVD",
    "economic_eigh",
    "economic_svd",
    "column_basis",
    "Basis",
    "orthonormal_basis",
    "SPDFactor",
    "spd_factor",
    "small_eigh",
]

_EPS = float(np.finfo(float).eps)
_dsyevd = sla.lapack.dsyevd
_dpotrf = sla.lapack.dpotrf
_dpotrs = sla.lapack.dpotrs


def small_eigh(
    A: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Eigenvalues (ascending) and eigenvectors of a small symmetric matrix (lower triangle
    read): LAPACK syevd called directly, which for p × p trait matrices costs a third of
    :func:`numpy.linalg.eigh`'s call overhead (the likelihood engines call this several
    times per evaluation). Falls back to :func:`numpy.linalg.eigh` if LAPACK reports a
    failure.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.linalg import small_eigh
    >>> w, V = small_eigh(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> w.round(12).tolist(), bool(np.allclose(V @ np.diag(w) @ V.T, [[2, 1], [1, 2]]))
    ([1.0, 3.0], True)
    """
    w, V, info = _dsyevd(A, lower=1)
    if info != 0:
        w, V = np.linalg.eigh(A)
    return w, V


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
    if r >= n:
        return economic_eigh(G @ G.T, rtol, overwrite=True)
    U, S, _ = sla.svd(G, full_matrices=False, lapack_driver="gesdd", check_finite=False)
    S2 = S**2
    keep = S2 > (rtol**2) * S2[0]
    return EconomicSVD(np.ascontiguousarray(U[:, keep]), S2[keep].copy())


#: :func:`economic_eigh` with ``max_rank``: the largest eigenvalues must add up to the trace of
#: K to this relative tolerance, or the rank bound is taken to be wrong.
MAX_RANK_TRACE_RTOL = 1e-9


def economic_eigh(
    K: NDArray[np.float64],
    rtol: float | None = None,
    *,
    max_rank: int | None = None,
    overwrite: bool = False,
) -> EconomicSVD:
    """``K = U diag(S2) Uᵀ`` of a symmetric positive semi-definite ``K`` (n × n), keeping the
    eigenvalues ``S2 > rtol · max(S2)`` (largest first).

    Parameters
    ----------
    K : ndarray, shape (n, n)
        Symmetric (only its lower triangle is read).
    rtol : float, optional
        Relative threshold below which eigenvalues count as zero; default ``n · ε``.
    max_rank : int, optional
        A bound on the rank of K known beforehand (e.g. the number of variants of a GRM):
        only the ``max_rank`` largest eigenpairs are computed. Checked: if they do not add
        up to the trace of K (the bound was wrong), all eigenpairs are computed instead.
    overwrite : bool, default False
        Let LAPACK overwrite K (saves a copy of n² values).

    Notes
    -----
    All eigenpairs: LAPACK ``syevd`` (divide and conquer), which returns U orthonormal to
    ``O(nε)`` (``syevr`` is at most 15% quicker but its eigenvectors are orthonormal only to
    ``O(10³·nε)``, measured in ``benchmarks/bench_pipeline.py``); the ``max_rank`` largest
    ones: ``syevr`` (MRRR), the only driver that computes a subset, which skips the work of
    the other eigenvectors (the reduction to tridiagonal form, 4n³/3 flops, is done either
    way). Costs O(n³), against O(n r²) for :func:`economic_svd` of an n × r factor.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import economic_eigh
    >>> G = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    >>> K = G @ G.T
    >>> full, top = economic_eigh(K), economic_eigh(K, max_rank=2)
    >>> full.S2.round(12).tolist(), top.S2.round(12).tolist()
    ([4.0, 1.0], [4.0, 1.0])
    >>> economic_eigh(K, max_rank=1).S2.round(12).tolist()  # a wrong bound is noticed
    [4.0, 1.0]
    >>> bool(np.allclose((full.U * full.S2) @ full.U.T, K))
    True
    """
    n = K.shape[0]
    if K.shape != (n, n):
        raise ValueError(f"K has shape {K.shape}, expected a square matrix")
    if rtol is None:
        rtol = n * np.finfo(float).eps
    if n == 0 or not np.any(K):
        return EconomicSVD(np.zeros((n, 0)), np.zeros(0))
    # K is symmetric, so its transpose (Fortran order for a C-ordered K) is K itself and
    # LAPACK can work in place when allowed to
    A = K.T if K.flags.c_contiguous else K
    S2: NDArray[np.float64] | None = None
    if max_rank is not None and max_rank < n:
        trace = float(np.trace(K))
        lo = n - max(int(max_rank), 1)
        S2, U = sla.eigh(A, driver="evr", subset_by_index=(lo, n - 1), check_finite=False)
        if abs(trace - float(np.sum(S2))) > MAX_RANK_TRACE_RTOL * abs(trace):
            S2 = None  # K has more than max_rank eigenvalues that are not 0
    if S2 is None:
        S2, U = sla.eigh(A, driver="evd", overwrite_a=overwrite, check_finite=False)
    S2, U = S2[::-1], U[:, ::-1]
    keep = S2 > rtol * S2[0] if S2[0] > 0 else np.zeros(S2.size, dtype=bool)
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


class Basis(NamedTuple):
    """An orthonormal basis of the column span of a matrix ``M`` (n × c).

    ``Q = M T`` (n × c′, ``QᵀQ = I``, c′ = rank M), so that coefficients ``b′`` of ``Q``
    map to the minimum-norm coefficients ``b = T b′`` of ``M`` with the same fit
    ``M b = Q b′``.

    Attributes
    ----------
    Q : ndarray, shape (n, c′)
    T : ndarray, shape (c, c′)
    log_pdet_gram : float
        ``log`` of the pseudo-determinant of ``MᵀM`` (product of its non-zero eigenvalues).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.linalg import orthonormal_basis
    >>> M = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]])  # rank 1
    >>> basis = orthonormal_basis(M)
    >>> basis.Q.shape, bool(np.allclose(M @ basis.T, basis.Q))
    ((3, 1), True)
    """

    Q: NDArray[np.float64]
    T: NDArray[np.float64]
    log_pdet_gram: float

    @property
    def rank(self) -> int:
        """c′, the rank of ``M``."""
        return int(self.Q.shape[1])


def orthonormal_basis(M: NDArray[np.float64], rtol: float | None = None) -> Basis:
    """Orthonormal basis of the column span of ``M``, robust to badly scaled columns.

    Columns are first scaled to unit norm (all-zero columns are dropped), so that a
    covariate in units of 1e6 next to one in units of 1e-6 does not decide the rank; the
    singular values of the scaled matrix below ``rtol·max`` (default ``max(n, c)·ε``)
    count as zero.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.linalg import orthonormal_basis
    >>> M = np.column_stack([np.ones(4), 1e8 * np.arange(4.0)])
    >>> basis = orthonormal_basis(M)
    >>> basis.rank, bool(np.allclose(basis.Q.T @ basis.Q, np.eye(2)))
    (2, True)
    """
    n, c = M.shape
    if c == 0 or n == 0:
        return Basis(np.zeros((n, 0)), np.zeros((c, 0)), 0.0)
    norms = np.sqrt(np.einsum("ij,ij->j", M, M))
    nz = norms > 0
    if not np.any(nz):
        return Basis(np.zeros((n, 0)), np.zeros((c, 0)), 0.0)
    Ms = M[:, nz] / norms[nz]
    U, s, Vt = sla.svd(Ms, full_matrices=False, lapack_driver="gesdd", check_finite=False)
    if rtol is None:
        rtol = max(n, c) * _EPS
    keep = s > rtol * s[0]
    Q = np.ascontiguousarray(U[:, keep])
    if s.size == c and keep.all() and nz.all():
        # full column rank: M = Q diag(s) Vᵀ diag(norms), so T = diag(1/norms) V diag(1/s)
        # is the inverse of R = QᵀM, and |MᵀM| = Π norms² · Π s² (no second SVD of M)
        T_full = (Vt.T / s[None, :]) / norms[:, None]
        logdet = 2.0 * float(np.log(s).sum() + np.log(norms).sum())
        return Basis(Q, T_full, logdet)
    # M = Q R with R = QᵀM (c′ × c, full row rank); the minimum-norm T with M T = Q is
    # R⁺ (it lies in the row space of M), which the column scaling above would not give
    # for a rank-deficient M.
    R = Q.T @ M
    T = np.linalg.pinv(R, rcond=1e-15)
    r = int(np.sum(keep))
    sv = np.sort(sla.svdvals(M[:, nz], check_finite=False))[::-1][:r]
    return Basis(Q, np.asarray(T, dtype=np.float64), float(2.0 * np.sum(np.log(sv))))


class SPDFactor:
    """A symmetric positive semi-definite matrix ``H``, factorised without failing.

    A Cholesky factorisation is tried first. If it fails (``H`` singular or indefinite
    through rounding), the symmetric eigendecomposition is used instead and eigenvalues
    at or below ``rtol·max`` are treated as zero: :meth:`solve` then returns the
    minimum-norm (pseudo-inverse) solution, :attr:`logdet` is the log pseudo-determinant
    and :attr:`rank` says how many directions were kept.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.linalg import spd_factor
    >>> f = spd_factor(np.array([[4.0, 2.0], [2.0, 2.0]]))
    >>> f.solve(np.array([2.0, 2.0])).round(12).tolist(), round(f.logdet, 12)
    ([0.0, 1.0], 1.38629436112)
    >>> g = spd_factor(np.array([[1.0, 1.0], [1.0, 1.0]]))  # singular: pseudo-inverse
    >>> g.rank, g.solve(np.array([2.0, 2.0])).round(12).tolist()
    (1, [1.0, 1.0])
    """

    def __init__(self, H: NDArray[np.float64], rtol: float | None = None) -> None:
        H = np.asarray(H, dtype=float)
        m = H.shape[0]
        self.dim = m
        self._chol: NDArray[np.float64] | None = None
        self._eig: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        if m == 0:
            self.logdet = 0.0
            self.rank = 0
            return
        if rtol is None:
            rtol = m * 1e3 * _EPS
        dmax = float(H.diagonal().max())
        if dmax > 0 and np.isfinite(H).all():
            # LAPACK potrf directly (lower triangle; info > 0: not positive definite)
            L, info = _dpotrf(H, lower=1, clean=1)
            if info == 0:
                ld = L.diagonal()
                if float(ld.min()) ** 2 > rtol * dmax:
                    self._chol = np.asarray(L, dtype=np.float64)
                    self.logdet = 2.0 * float(np.log(ld).sum())
                    self.rank = m
                    return
        Hs = (H + H.T) / 2
        if not np.all(np.isfinite(Hs)):
            Hs = np.nan_to_num(Hs, nan=0.0, posinf=0.0, neginf=0.0)
        w, V = np.linalg.eigh(Hs)
        top = float(w[-1]) if w.size else 0.0
        keep = w > rtol * max(top, 0.0) if top > 0 else np.zeros(m, dtype=bool)
        self._eig = (w[keep], V[:, keep])
        self.rank = int(np.sum(keep))
        self.logdet = float(np.sum(np.log(w[keep])))

    @property
    def full_rank(self) -> bool:
        """Whether all ``dim`` directions were kept (an ordinary inverse exists)."""
        return bool(self.rank == self.dim)

    def solve(self, b: NDArray[np.float64]) -> NDArray[np.float64]:
        """``H⁻¹ b`` (or ``H⁺ b``) for a vector or a matrix of right-hand sides."""
        b = np.asarray(b, dtype=float)
        if self.dim == 0:
            return np.zeros_like(b)
        if self._chol is not None:
            x, info = _dpotrs(self._chol, b, lower=1)
            if info != 0:  # pragma: no cover - only for invalid arguments
                raise ValueError(f"LAPACK potrs failed (info={info})")
            out: NDArray[np.float64] = x
            return out
        assert self._eig is not None
        w, V = self._eig
        proj = V.T @ b
        proj = proj / (w if proj.ndim == 1 else w[:, None])
        return V @ proj

    def inverse(self) -> NDArray[np.float64]:
        """``H⁻¹`` (or the pseudo-inverse ``H⁺``), dense."""
        return self.solve(np.eye(self.dim))


def spd_factor(H: NDArray[np.float64], rtol: float | None = None) -> SPDFactor:
    """Factorise a symmetric positive semi-definite matrix; see :class:`SPDFactor`.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.linalg import spd_factor
    >>> spd_factor(np.eye(3)).rank
    3
    """
    return SPDFactor(H, rtol)
