"""Starting values for the Kron2Sum fit, in the model's internal units.

The internal units (:class:`~kronlmm.core.projections.TraitScaling`) give every trait unit
variance after the covariates and GGᵀ unit average diagonal, so the starts below do not
depend on the units of the data.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..core.projections import KronProjections

__all__ = ["ols_residual_moments", "moment_start", "share_start", "random_starts", "psd_floor"]


def ols_residual_moments(
    proj: KronProjections,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Residuals of the per-trait OLS of Y on X, in the rotated space.

    Returns ``Rt = Uᵀ R`` (k × p), ``R⊥ᵀR⊥`` (p × p) and ``RᵀR / (n − c′)`` (p × p), where
    ``R = Y − X B_ols`` (X is an orthonormal basis in the projections, so
    ``B_ols = XᵀY``).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import economic_svd
    >>> from kronlmm.core.projections import KronProjections
    >>> from kronlmm.lmm.starts import ols_residual_moments
    >>> rng = np.random.default_rng(0)
    >>> Y, G = rng.normal(size=(30, 2)), rng.normal(size=(30, 5))
    >>> proj, _, _ = KronProjections.build(Y, np.eye(2), np.ones((30, 1)), economic_svd(G), False)
    >>> Rt, Rp, total = ols_residual_moments(proj)
    >>> Rt.shape, np.round(np.diag(total) * 29 / 30, 12).tolist()  # unit variance per trait
    ((5, 2), [1.0, 1.0])
    """
    B = proj.XtY
    Rt = proj.UY - proj.UX @ B
    Rp = proj.Syy - proj.Sxy.T @ B - B.T @ proj.Sxy + B.T @ proj.Sxx @ B
    dof = max(proj.n - proj.UX.shape[1], 1)
    total = (proj.YtY - B.T @ B) / dof
    return Rt, (Rp + Rp.T) / 2, (total + total.T) / 2


def psd_floor(C: NDArray[np.float64], floor: float) -> NDArray[np.float64]:
    """The symmetric matrix closest to C with every eigenvalue at least ``floor``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm.starts import psd_floor
    >>> np.linalg.eigvalsh(psd_floor(np.array([[1.0, 2.0], [2.0, 1.0]]), 0.1)).round(6).tolist()
    [0.1, 3.0]
    """
    w, V = np.linalg.eigh((C + C.T) / 2)
    out: NDArray[np.float64] = (V * np.maximum(w, floor)) @ V.T
    return out


def _scales(total: NDArray[np.float64], proj: KronProjections) -> tuple[float, float]:
    """(mean trait variance of the OLS residual covariance ``total``, κ = mean diagonal of
    GGᵀ, 1 without a genetic term): the scales every start is measured in."""
    tvar = float(np.mean(np.diag(total)))
    kappa = float(np.sum(proj.S2) / proj.n) if proj.k else 1.0
    return tvar, kappa


def _residual_scale(proj: KronProjections) -> tuple[NDArray[np.float64], float, float]:
    """The OLS residual covariance and its :func:`_scales`."""
    _, _, total = ols_residual_moments(proj)
    return (total, *_scales(total, proj))


def moment_start(proj: KronProjections) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Method-of-moments start for (C₀, C₁), internal units.

    In the eigenbasis of GGᵀ the OLS residuals satisfy, approximately,
    ``E[(Uᵀr)ᵢ (Uᵀr)ᵢᵀ] = C₀ S2ᵢ + C₁`` (p × p) and ``E[R⊥ᵀR⊥] = (n − k) C₁``. A weighted
    least-squares fit of those p × p products on (S2ᵢ, 1) gives every entry of C₀ and C₁ at
    once (two passes: unweighted, then weights ``1 / (S2ᵢ v₀ + v₁)²``). The estimates are
    then made positive definite with eigenvalues at least 1% of the average trait
    variance, so that a low-rank C₀ taken from it has no zero column (a zero column of a
    factor has zero gradient and would never move).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import economic_svd
    >>> from kronlmm.core.projections import KronProjections
    >>> from kronlmm.lmm.starts import moment_start
    >>> rng = np.random.default_rng(0)
    >>> G = rng.normal(size=(400, 400)) / 20
    >>> Y = G @ rng.normal(size=(400, 2)) + rng.normal(size=(400, 2))
    >>> proj, _, _ = KronProjections.build(Y, np.eye(2), np.ones((400, 1)), economic_svd(G), False)
    >>> C0, C1 = moment_start(proj)  # truth: shares about 1/2 each
    >>> bool(0.2 < C0[0, 0] < 0.8 and 0.2 < C1[0, 0] < 0.8)
    True
    """
    Rt, Rp, total = ols_residual_moments(proj)
    k, S2 = proj.k, proj.S2
    tvar, kappa = _scales(total, proj)
    v0, v1 = 0.5 / kappa, 0.5
    C0 = 0.5 * total / kappa
    C1 = 0.5 * total
    nperp = proj.nperp
    for _ in range(2):
        w = 1.0 / (S2 * v0 + v1) ** 2
        wp = nperp / v1**2
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
        v0 = max(float(np.mean(np.diag(C0))) / tvar, 0.05 / kappa)
        v1 = max(float(np.mean(np.diag(C1))) / tvar, 0.05)
    return psd_floor(C0, 0.01 * tvar / kappa), psd_floor(C1, 0.01 * tvar)


def share_start(proj: KronProjections, h: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Start that gives the genetic term a share ``h`` of the OLS residual covariance
    (internal units; eigenvalues floored at 1% as in :func:`moment_start`).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import economic_svd
    >>> from kronlmm.core.projections import KronProjections
    >>> from kronlmm.lmm.starts import share_start
    >>> rng = np.random.default_rng(0)
    >>> Y, G = rng.normal(size=(30, 2)), rng.normal(size=(30, 5))
    >>> proj, _, _ = KronProjections.build(Y, np.eye(2), np.ones((30, 1)), economic_svd(G), False)
    >>> C0, C1 = share_start(proj, 0.25)
    >>> bool(np.allclose(C1, 3 * C0 * np.sum(proj.S2) / proj.n))
    True
    """
    total, tvar, kappa = _residual_scale(proj)
    return psd_floor(h * total / kappa, 0.01 * tvar * h / kappa), psd_floor(
        (1 - h) * total, 0.01 * tvar * (1 - h)
    )


def random_starts(
    proj: KronProjections, count: int, seed: int = 0
) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """``count`` random starts (internal units), reproducible in ``seed``: a genetic share
    h ~ U(0.1, 0.9) of the OLS residual variance, split between C₀ = h·W₀W₀ᵀ/(p·κ) and
    C₁ = (1 − h)·W₁W₁ᵀ/p + 0.01·I with W₀, W₁ standard normal p × p (κ = mean of S²).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import economic_svd
    >>> from kronlmm.core.projections import KronProjections
    >>> from kronlmm.lmm.starts import random_starts
    >>> rng = np.random.default_rng(0)
    >>> Y, G = rng.normal(size=(30, 2)), rng.normal(size=(30, 5))
    >>> proj, _, _ = KronProjections.build(Y, np.eye(2), np.ones((30, 1)), economic_svd(G), False)
    >>> starts = random_starts(proj, 2)
    >>> len(starts), bool(np.all(np.linalg.eigvalsh(starts[0][1]) > 0))
    (2, True)
    """
    total, tvar, kappa = _residual_scale(proj)
    p = total.shape[0]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        h = float(rng.uniform(0.1, 0.9))
        W0, W1 = rng.normal(size=(p, p)), rng.normal(size=(p, p))
        C0 = h * tvar * (W0 @ W0.T) / (p * kappa)
        C1 = (1 - h) * tvar * (W1 @ W1.T) / p + 0.01 * tvar * np.eye(p)
        out.append((C0, C1))
    return out
