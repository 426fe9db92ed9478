r"""Dense reference computations of Gaussian log-likelihoods (for tests, O(N³)).

Notation: N is the number of observations, ``y`` (length N) the outcome vector, ``K``
(N × N, positive definite) its covariance, ``m`` (length N) its mean, and ``M`` (N × c)
a design matrix of fixed effects ``β`` (length c) so that ``m = Mβ``. ``log 2π`` is the
natural logarithm of 2π and ``|·|`` a determinant.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import solve_triangular

from ..core.validation import as_matrix, as_vector, check_square_symmetric

__all__ = [
    "dense_lml",
    "dense_ml_lml",
    "dense_reml_lml",
    "dense_gls",
    "dense_kron2sum_cov",
]

_LOG2PI = float(np.log(2 * np.pi))


def _cholesky(K: ArrayLike, n: int) -> NDArray[np.float64]:
    K = check_square_symmetric("K", K, size=n)
    try:
        return np.asarray(np.linalg.cholesky(K), dtype=np.float64)
    except np.linalg.LinAlgError:
        raise ValueError(f"K (shape {K.shape}) is not positive definite") from None


def _inputs(
    y: ArrayLike, M: ArrayLike, K: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Validate; return ``y``, ``M`` and the Cholesky factor ``L`` of ``K``."""
    y = as_vector("y", y)
    M = as_matrix("M", M, nrows=y.size)
    return y, M, _cholesky(K, y.size)


def _gls(
    y: NDArray[np.float64], M: NDArray[np.float64], L: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], int]:
    """GLS on the whitened system; return ``β̂``, ``L⁻¹M``, ``L⁻¹r`` and rank(M)."""
    Mw = solve_triangular(L, M, lower=True)
    yw = solve_triangular(L, y, lower=True)
    beta, *_ = np.linalg.lstsq(Mw, yw, rcond=None)  # minimum-norm if M is rank deficient
    rank = _rank(M)
    return np.asarray(beta, dtype=np.float64), Mw, yw - Mw @ beta, rank


def _rank(M: NDArray[np.float64]) -> int:
    """Numerical rank: singular values above ``max(sv)·max(N, c)·ε`` (as NumPy)."""
    if M.size == 0:
        return 0
    return int(np.linalg.matrix_rank(M))


def _log_pdet_gram(M: NDArray[np.float64], rank: int) -> float:
    """``log pdet(MᵀM)``: the sum of the logs of its ``rank`` largest eigenvalues."""
    if rank == 0:
        return 0.0
    sv = np.linalg.svd(M, compute_uv=False)
    return float(2 * np.sum(np.log(sv[:rank])))


def dense_lml(y: ArrayLike, m: ArrayLike, K: ArrayLike) -> float:
    r"""Gaussian log density ``log N(y; m, K)``.

    ``log N(y; m, K) = −½ [N log 2π + log|K| + (y − m)ᵀ K⁻¹ (y − m)]``, computed through
    the Cholesky factor ``K = LLᵀ``.

    Parameters
    ----------
    y : array_like
        Outcome, length N.
    m : array_like
        Mean, length N.
    K : array_like
        Covariance, N × N, symmetric positive definite.

    Returns
    -------
    float
        The log density.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import multivariate_normal
    >>> from kronlmm.testing import dense_lml
    >>> K = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> y, m = np.array([1.0, -1.0]), np.zeros(2)
    >>> bool(np.isclose(dense_lml(y, m, K), multivariate_normal(m, K).logpdf(y)))
    True
    """
    y = as_vector("y", y)
    m = as_vector("m", m, size=y.size)
    L = _cholesky(K, y.size)
    z = solve_triangular(L, y - m, lower=True)
    logdet = 2 * np.sum(np.log(np.diag(L)))
    return float(-0.5 * (y.size * _LOG2PI + logdet + z @ z))


def dense_gls(
    y: ArrayLike, M: ArrayLike, K: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Generalised least squares ``β̂`` and its covariance.

    ``β̂ = (MᵀK⁻¹M)⁺ MᵀK⁻¹y`` (the minimum-norm solution if ``M`` is rank deficient)
    and ``cov(β̂) = (MᵀK⁻¹M)⁺`` (``⁺``: Moore–Penrose pseudo-inverse).

    Parameters
    ----------
    y : array_like
        Outcome, length N.
    M : array_like
        Design, N × c (a 1-D array is one column).
    K : array_like
        Covariance, N × N, symmetric positive definite.

    Returns
    -------
    beta : ndarray
        ``β̂``, length c.
    beta_covariance : ndarray
        ``(MᵀK⁻¹M)⁺``, c × c.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.testing import dense_gls
    >>> beta, cov = dense_gls([1.0, 2.0, 6.0], np.ones((3, 1)), np.eye(3))
    >>> beta.round(6).tolist(), cov.round(6).tolist()
    ([3.0], [[0.333333]])
    """
    y, M, L = _inputs(y, M, K)
    beta, Mw, _, _ = _gls(y, M, L)
    return beta, np.asarray(np.linalg.pinv(Mw.T @ Mw, hermitian=True), dtype=np.float64)


def dense_ml_lml(y: ArrayLike, M: ArrayLike, K: ArrayLike) -> float:
    r"""Profile (maximum-likelihood) log-likelihood over the fixed effects.

    ``max_β log N(y; Mβ, K) = log N(y; Mβ̂, K)`` with ``β̂`` the GLS estimate
    (:func:`dense_gls`).

    Parameters
    ----------
    y : array_like
        Outcome, length N.
    M : array_like
        Design, N × c (a 1-D array is one column).
    K : array_like
        Covariance, N × N, symmetric positive definite.

    Returns
    -------
    float
        The profile log-likelihood.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.testing import dense_gls, dense_lml, dense_ml_lml
    >>> rng = np.random.default_rng(0)
    >>> y, M, K = rng.standard_normal(6), rng.standard_normal((6, 2)), np.eye(6) + 0.5
    >>> beta, _ = dense_gls(y, M, K)
    >>> bool(np.isclose(dense_ml_lml(y, M, K), dense_lml(y, M @ beta, K)))
    True
    """
    y, M, L = _inputs(y, M, K)
    _, _, rw, _ = _gls(y, M, L)
    logdet = 2 * np.sum(np.log(np.diag(L)))
    return float(-0.5 * (y.size * _LOG2PI + logdet + rw @ rw))


def dense_reml_lml(y: ArrayLike, M: ArrayLike, K: ArrayLike) -> float:
    r"""Restricted (REML) log-likelihood with the constants of GEMMA and glimix-core.

    .. math::

        −½ [(N − q) log 2π − log pdet(MᵀM) + log|K| + log pdet(MᵀK⁻¹M) + rᵀK⁻¹r]

    where ``q = rank(M)``, ``r = y − Mβ̂`` is the GLS residual (:func:`dense_gls`) and
    ``pdet`` the pseudo-determinant, the product of the ``q`` non-zero eigenvalues
    (``q`` is the numerical rank of ``M``: singular values above
    ``max(sv)·max(N, c)·ε``; ``MᵀK⁻¹M`` has the same rank). This equals the log density
    of the error contrasts ``Qᵀy`` for any N × (N − q) matrix ``Q`` with orthonormal
    columns orthogonal to the columns of ``M``, and it does not change when ``M`` is
    replaced by another basis of the same column space.

    Parameters
    ----------
    y : array_like
        Outcome, length N.
    M : array_like
        Design, N × c (a 1-D array is one column); may be rank deficient.
    K : array_like
        Covariance, N × N, symmetric positive definite.

    Returns
    -------
    float
        The REML log-likelihood.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import null_space
    >>> from kronlmm.testing import dense_lml, dense_reml_lml
    >>> rng = np.random.default_rng(0)
    >>> y, M, K = rng.standard_normal(6), rng.standard_normal((6, 2)), np.eye(6) + 0.5
    >>> Q = null_space(M.T)  # 6 × 4, orthonormal columns with Qᵀ M = 0
    >>> contrasts = dense_lml(Q.T @ y, np.zeros(4), Q.T @ K @ Q)
    >>> bool(np.isclose(dense_reml_lml(y, M, K), contrasts))
    True
    """
    y, M, L = _inputs(y, M, K)
    _, Mw, rw, q = _gls(y, M, L)
    logdet = 2 * np.sum(np.log(np.diag(L)))
    val = (y.size - q) * _LOG2PI - _log_pdet_gram(M, q) + logdet + _log_pdet_gram(Mw, q) + rw @ rw
    return float(-0.5 * val)


def dense_kron2sum_cov(C0: ArrayLike, G: ArrayLike, C1: ArrayLike) -> NDArray[np.float64]:
    r"""Dense multi-trait covariance ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ``.

    Parameters
    ----------
    C0 : array_like
        ``C₀``, p × p trait covariance of the ``GGᵀ`` term.
    G : array_like
        ``G``, n × r (a 1-D array is one column).
    C1 : array_like
        ``C₁``, p × p residual trait covariance.

    Returns
    -------
    ndarray
        ``K``, np × np, for ``vec(Y)`` with ``Y`` n × p stacked column by column.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.cov import Kron2SumCov
    >>> from kronlmm.testing import dense_kron2sum_cov
    >>> G = np.arange(6.0).reshape(3, 2)
    >>> cov = Kron2SumCov(G, dim=2, rank=2)
    >>> K = dense_kron2sum_cov(cov.C0.value(), G, cov.C1.value())
    >>> K.shape, bool(np.allclose(K, cov.value()))
    ((6, 6), True)
    """
    C0 = check_square_symmetric("C0", C0)
    C1 = check_square_symmetric("C1", C1, size=C0.shape[0])
    G = as_matrix("G", G)
    return np.kron(C0, G @ G.T) + np.kron(C1, np.eye(G.shape[0]))
