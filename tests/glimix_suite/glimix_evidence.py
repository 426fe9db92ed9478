"""Dense evidence for the deviations marked in the ported glimix-core tests.

Each function evaluates a Gaussian log-density densely (O(N³), small problems only) with
:mod:`kronlmm.testing`, independently of the structured code under test.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kronlmm.testing import dense_ml_lml


def lmm_profile_lml(y, X, K, delta: float) -> float:
    """Full-data ML log-likelihood of ``y ~ N(Xβ, s((1 − δ)K + δI))`` with β and s profiled."""
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    n = y.size
    D = (1 - delta) * np.asarray(K, float) + delta * np.eye(n)
    L = np.linalg.cholesky(D)
    Xw = np.linalg.solve(L, X)
    yw = np.linalg.solve(L, y)
    beta = np.linalg.lstsq(Xw, yw, rcond=None)[0]
    r = yw - Xw @ beta
    return dense_ml_lml(y, X, (r @ r / n) * D)


def kron_full_lml(Y, A, X, G, C0, C1) -> float:
    """Full-data ML density of vec(Y) ~ N((A⊗X)vec(B), C₀⊗GGᵀ + C₁⊗I), B profiled."""
    Y = np.asarray(Y, float)
    n = Y.shape[0]
    K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))
    return dense_ml_lml(Y.ravel(order="F"), np.kron(A, X), K)


def _visible_design(U, X) -> NDArray[np.float64]:
    """A basis of the directions of span(UᵀX) that X really has in span(U): those of an
    orthonormal basis Q of span(X) with |UᵀQ·v| > 10⁻⁸ (the others are rounding: X lies
    outside span(U) there, e.g. an intercept with a centred kinship)."""
    Q, s, _ = np.linalg.svd(np.asarray(X, float), full_matrices=False)
    Q = Q[:, s > s[0] * max(X.shape) * np.finfo(float).eps]
    P, cos, _ = np.linalg.svd(U.T @ Q, full_matrices=False)
    return P[:, cos > 1e-8]


def kron_projected_lml(model) -> float:
    """ML density of the projected data (Iₚ ⊗ Uᵀ)vec(Y), design A ⊗ UᵀX, covariance
    C₀ ⊗ diag(S2) + C₁ ⊗ I_k (U, S2: the economic SVD of G): what kronlmm evaluates where
    the full-data ML has no maximum (``model.ml_projected``)."""
    U, S2 = model.cov.svd.U, model.cov.svd.S2
    k = S2.size
    K = np.kron(model.C0, np.diag(S2)) + np.kron(model.C1, np.eye(k))
    yp = (U.T @ model.Y).ravel(order="F")
    return dense_ml_lml(yp, np.kron(model.A, _visible_design(U, model.X)), K)


def kron_escape_lml(Y, A, X, G, C0, C1, t: float) -> float:
    """Full-data ML density along a path on which it grows without bound (A square, full
    rank): C₁(t) = L(I − (1 − t)uuᵀ)Lᵀ, C₁ = LLᵀ, with u a direction in which the data
    outside span(G) have no residual after X. As t → 0 the density grows like
    −½(n − k)·log t (its supremum is +∞, so no maximum exists)."""
    Y = np.asarray(Y, float)
    n = Y.shape[0]
    U = np.linalg.svd(G, full_matrices=False)[0]
    k = int(np.sum(np.linalg.svd(G, compute_uv=False) > 1e-10))
    U = U[:, :k]
    P = np.eye(n) - U @ U.T
    Yp, Xp = P @ Y, P @ X
    R = Yp - Xp @ np.linalg.lstsq(Xp, Yp, rcond=None)[0]
    L = np.linalg.cholesky(C1)
    Z = np.linalg.solve(L, R.T).T
    u = np.linalg.svd(Z)[2][-1]
    C1t = L @ (np.eye(L.shape[0]) - (1 - t) * np.outer(u, u)) @ L.T
    return kron_full_lml(Y, A, X, G, C0, C1t)


def lmm_projected_lml(lmm, y, X, QS) -> float:
    """ML density of ``Q0ᵀy ~ N(Q0ᵀXβ, v₀ diag(S0) + v₁I)`` (β profiled; directions of X
    invisible in span(Q0) dropped) at the model's v₀, v₁: what kronlmm's LMM evaluates
    where ``lmm.ml_projected``."""
    Q0, S0 = QS[0][0], QS[1]
    K = lmm.v0 * np.diag(S0) + lmm.v1 * np.eye(S0.size)
    return dense_ml_lml(Q0.T @ np.asarray(y, float), _visible_design(Q0, X), K)


def gls_reference(y, X, D) -> dict[str, NDArray[np.float64] | float]:
    """Dense ML fit of ``y ~ N(Xβ, s·D)`` over β and s (D fixed, X of full column rank):
    ``beta``, ``se`` (√diag of s·(XᵀD⁻¹X)⁻¹), ``scale`` and ``lml``."""
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    n = y.size
    L = np.linalg.cholesky(np.asarray(D, float))
    Xw = np.linalg.solve(L, X)
    yw = np.linalg.solve(L, y)
    Q, R = np.linalg.qr(Xw)
    beta = np.linalg.solve(R, Q.T @ yw)
    r = yw - Xw @ beta
    s = float(r @ r / n)
    Rinv = np.linalg.inv(R)
    se = np.sqrt(s * np.sum(Rinv**2, axis=1))
    return {"beta": beta, "se": se, "scale": s, "lml": dense_ml_lml(y, X, s * D)}


def mp_gls_se(X, S, digits: int = 40) -> NDArray[np.float64]:
    """√diag((XᵀS⁻¹X)⁻¹) computed with ``digits`` significant digits (mpmath)."""
    import mpmath

    with mpmath.workdps(digits):
        Xm, Sm = mpmath.matrix(np.asarray(X).tolist()), mpmath.matrix(np.asarray(S).tolist())
        Hi = mpmath.inverse(Xm.T * mpmath.inverse(Sm) * Xm)
        return np.array([float(mpmath.sqrt(Hi[i, i])) for i in range(Hi.rows)])
