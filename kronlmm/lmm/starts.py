"""Starting values for the Kron2Sum fit: moment estimates and variance-share starts."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..core.projections import KronProjections


def ols_residual_moments(
    proj: KronProjections,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Residuals of the per-trait OLS of Y on X, in the rotated space.

    Returns ``Rt = Uᵀ R`` (k × p), ``R⊥ᵀR⊥`` (p × p) and ``RᵀR / (n − c′)`` (p × p), where
    ``R = Y − X B_ols``.
    """
    if proj.XtX.size:
        B = np.linalg.solve(proj.XtX, proj.XtY)
    else:
        B = np.zeros((0, proj.p))
    Rt = proj.UY - proj.UX @ B
    Rp = proj.Syy - proj.Sxy.T @ B - B.T @ proj.Sxy + B.T @ proj.Sxx @ B
    dof = max(proj.n - proj.XtX.shape[0], 1)
    total = (proj.YtY - proj.XtY.T @ B) / dof
    return Rt, (Rp + Rp.T) / 2, (total + total.T) / 2


def _psd_rank(C: NDArray[np.float64], rank: int, floor: float) -> NDArray[np.float64]:
    """Best rank-``rank`` PSD approximation of C with eigenvalues at least ``floor``."""
    w, V = np.linalg.eigh((C + C.T) / 2)
    order = np.argsort(w)[::-1][:rank]
    w = np.maximum(w[order], floor)
    return (V[:, order] * w) @ V[:, order].T


def moment_start(
    proj: KronProjections, rank: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Method-of-moments start for (C₀, C₁).

    In the eigenbasis of GGᵀ the OLS residuals satisfy, approximately,
    ``E[(Uᵀr)ᵢ (Uᵀr)ᵢᵀ] = C₀ S2ᵢ + C₁`` (p × p) and ``E[R⊥ᵀR⊥] = (n − k) C₁``. A weighted
    least-squares fit of those p × p products on (S2ᵢ, 1) gives every entry of C₀ and C₁ at
    once (two passes: unweighted, then weights 1 / (S2ᵢ v₀ + v₁)²). The estimates are
    then projected on the PSD cone (C₀ to rank ``rank``) with eigenvalues floored at 1%
    of the average trait variance, so that no column of L₀ starts at zero (a zero column
    has zero gradient and would never move).
    """
    Rt, Rp, total = ols_residual_moments(proj)
    n, k, S2 = proj.n, proj.k, proj.S2
    tvar = float(np.mean(np.diag(total)))
    kappa = float(np.sum(S2) / n) if k else 1.0  # average diagonal of GGᵀ
    v0, v1 = 0.5 / kappa, 0.5
    C0 = C1 = None
    for _ in range(2):
        w = 1.0 / (S2 * v0 + v1) ** 2
        wp = (n - k) / v1**2
        sw, swx, swxx = np.sum(w) + wp, np.sum(w * S2), np.sum(w * S2**2)
        rhs0 = Rt.T @ ((w * S2)[:, None] * Rt)
        rhs1 = Rt.T @ (w[:, None] * Rt) + Rp / v1**2
        det = swxx * sw - swx**2
        if k == 0 or det <= 1e-10 * swxx * sw:
            C0 = 0.5 * total / kappa
            C1 = 0.5 * total
            break
        C0 = (sw * rhs0 - swx * rhs1) / det
        C1 = (swxx * rhs1 - swx * rhs0) / det
        v0 = max(np.mean(np.diag(C0)) / tvar, 0.05 / kappa)
        v1 = max(np.mean(np.diag(C1)) / tvar, 0.05)
    assert C0 is not None and C1 is not None
    C1 = _psd_rank(C1, proj.p, 0.01 * tvar)
    C0 = _psd_rank(C0, rank, 0.01 * tvar / kappa)
    return C0, C1


def share_start(
    proj: KronProjections, rank: int, h: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Start that gives the genetic term a share ``h`` of the OLS residual covariance."""
    _, _, total = ols_residual_moments(proj)
    tvar = float(np.mean(np.diag(total)))
    kappa = float(np.sum(proj.S2) / proj.n) if proj.k else 1.0
    C0 = _psd_rank(h * total / kappa, rank, 0.01 * tvar / kappa)
    C1 = _psd_rank((1 - h) * total, proj.p, 0.01 * tvar)
    return C0, C1
