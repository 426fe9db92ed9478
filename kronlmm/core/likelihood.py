"""Projections of the data and the whitened likelihood kernel of the Kron2Sum model.

Model (Y: n × p, column-major vec)::

    vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

With ``GGᵀ = U diag(S2) Uᵀ`` (U: n × k) and ``Lh`` jointly diagonalising (C₀, C₁), every
quantity of the likelihood and its gradient is a function of projections computed once —
``UᵀY``, ``UᵀX``, and the Gram matrices of the parts of Y and X orthogonal to U — plus p × p
eigen-problems. After :class:`KronProjections` is built, :func:`kron_lml` touches no
n-sized array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from .numerics import LOG2PI
from .projections import KronProjections
from .whitening import WhitenedKron2Sum


@dataclass
class KronLmlTerms:
    """Result of one evaluation of :func:`kron_lml`.

    Attributes
    ----------
    lml : float
        Log marginal likelihood (ML) or restricted log-likelihood (REML).
    Br : ndarray (c′, a′)
        GLS estimate of B′ (coefficients of ``Ar ⊗ Xr``).
    H_chol : tuple
        Cholesky factor of ``H = (Ar⊗Xr)ᵀK⁻¹(Ar⊗Xr)`` (``scipy.linalg.cho_factor``).
    quad : float
        ``rᵀK⁻¹r`` at the GLS estimate.
    M0, M1 : ndarray (p, p) or None
        ``∂lml/∂C₀`` and ``∂lml/∂C₁`` as matrices (``d lml = tr(M0 dC₀) + tr(M1 dC₁)``),
        when the gradient was requested.
    """

    lml: float
    Br: NDArray[np.float64]
    H_chol: tuple
    quad: float
    M0: NDArray[np.float64] | None = None
    M1: NDArray[np.float64] | None = None


def gls_system(proj: KronProjections, wt: WhitenedKron2Sum) -> tuple[NDArray, NDArray, NDArray]:
    """``H = MᵀK⁻¹M`` (a′c′ × a′c′) and ``b = MᵀK⁻¹y`` for ``M = Ar ⊗ Xr``; also ``Ã = Lh Ar``.

    ``H = Σₜ (ãₜãₜᵀ) ⊗ Wₜ`` with ``Wₜ = (UᵀXr)ᵀ diag(1/D[:, t]) UᵀXr + Xr⊥ᵀXr⊥``; entries
    are ordered like ``vec(B′)`` (trait-design index outer).
    """
    Lh = wt.Lh
    At = Lh @ proj.Ar
    invD = 1.0 / wt.D
    Yt = proj.UY @ Lh.T
    W = np.einsum("kc,kt,kd->tcd", proj.UX, invD, proj.UX) + proj.Sxx[None, :, :]
    a, c = At.shape[1], proj.UX.shape[1]
    H = np.einsum("ta,tb,tcd->acbd", At, At, W).reshape(a * c, a * c)
    Z = proj.UX.T @ (Yt * invD) + proj.Sxy @ Lh.T
    b = (Z @ At).ravel(order="F")
    return H, b, At


def kron_lml(
    proj: KronProjections,
    wt: WhitenedKron2Sum,
    restricted: bool,
    gradient: bool = False,
) -> KronLmlTerms:
    """Evaluate the (restricted) log-likelihood with B profiled, and optionally its gradient.

    ML::

        lml = −½ [N log 2π + log|K| + rᵀK⁻¹r]

    REML (GEMMA's and glimix-core's constant)::

        lml = −½ [(N − m) log 2π − log|MᵀM| + log|K| + log|MᵀK⁻¹M| + rᵀK⁻¹r]

    with N = n·p, ``M = Ar ⊗ Xr`` of full column rank m = rank(A ⊗ X) and ``r = y − Mβ̂``
    the GLS residual. The gradient is returned as the trait-level matrices ``M0``, ``M1``.
    """
    n, p, S2 = proj.n, proj.p, proj.S2
    Lh = wt.Lh
    invD = 1.0 / wt.D
    H, b, At = gls_system(proj, wt)
    m = H.shape[0]
    if m:
        H_chol = sla.cho_factor(H, lower=True, check_finite=False)
        beta = sla.cho_solve(H_chol, b, check_finite=False)
        logdet_H = 2.0 * float(np.sum(np.log(np.diag(H_chol[0]))))
    else:
        H_chol = (np.zeros((0, 0)), True)
        beta = np.zeros(0)
        logdet_H = 0.0
    Br = beta.reshape(At.shape[1], proj.UX.shape[1]).T  # (c′, a′)
    E = Br @ At.T  # (c′, p): whitened fitted effect per trait
    Rt = proj.UY @ Lh.T - proj.UX @ E  # whitened residual, first k rows
    SyyW = Lh @ proj.Syy @ Lh.T
    SxyW = proj.Sxy @ Lh.T
    Rgram = SyyW - SxyW.T @ E - E.T @ SxyW + E.T @ proj.Sxx @ E  # whitened R⊥ᵀR⊥
    quad = float(np.sum(Rt * Rt * invD) + np.trace(Rgram))
    N = n * p
    if restricted:
        lml = -0.5 * ((N - m) * LOG2PI - proj.logdet_MtM + wt.logdet + logdet_H + quad)
    else:
        lml = -0.5 * (N * LOG2PI + wt.logdet + quad)
    out = KronLmlTerms(lml=float(lml), Br=Br, H_chol=H_chol, quad=quad)
    if not gradient:
        return out

    Zt = Rt * invD  # K⁻¹r in whitened coordinates (first k rows)
    P0 = Zt.T @ (S2[:, None] * Zt)
    P1 = Zt.T @ Zt + Rgram
    w0, w1 = wt.trace_weights(S2)
    Phi0 = 0.5 * (P0 - np.diag(w0))
    Phi1 = 0.5 * (P1 - np.diag(w1))
    if restricted and m:
        c = proj.UX.shape[1]
        F = (proj.UX[:, None, None, :] * At[None, :, :, None] * invD[:, :, None, None]).reshape(
            S2.size, p, m
        )
        Hinv = sla.cho_solve(H_chol, np.eye(m), check_finite=False)
        FH = F @ Hinv
        P0r = np.einsum("i,itm,ism->ts", S2, FH, F)
        Q = np.einsum("acbd,cd->ab", Hinv.reshape(At.shape[1], c, At.shape[1], c), proj.Sxx)
        P1r = np.einsum("itm,ism->ts", FH, F) + At @ Q @ At.T
        Phi0 += 0.5 * P0r
        Phi1 += 0.5 * P1r
    out.M0 = Lh.T @ Phi0 @ Lh
    out.M1 = Lh.T @ Phi1 @ Lh
    return out
