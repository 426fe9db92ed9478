"""Everything computed once γ is fitted: σ², θ, log-likelihood, β and its covariance, the
observed information of θ, the Jacobian of cov(β̂) in θ (for Satterthwaite's df) and BLUPs.

Parameters θ = (θ_1, …, θ_K, σ²), V = Σ_k θ_k Z_k Z_kᵀ + σ² I = σ² H(γ). With G_k = Z_k Z_kᵀ and
G_{K+1} = I, P_V the REML projection of V and P'_V = P_V (REML) or V⁻¹ (ML):

    ∂ℓ/∂θ_i        = −½[tr(P'_V G_i) − yᵀP_V G_i P_V y]
    −∂²ℓ/∂θ_i∂θ_j   = yᵀP_V G_i P_V G_j P_V y − ½ tr(P'_V G_i P'_V G_j)       (observed)
    ∂cov(β̂)/∂θ_i   = cov(β̂) XᵀV⁻¹G_iV⁻¹X cov(β̂)

(the ML log-likelihood has β profiled out, as in lme4 and lmerTest). In the reduced
coordinates of :mod:`._lmm_reduce` every term is an r × r or p × p expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._lmm_algebra import count, make_factor
from ._lmm_reduce import FloatArray, ReducedProblem

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass
class Estimates:
    """Per-feature results at γ (all arrays have the features first)."""

    sigma2: FloatArray  # (m,)
    theta: FloatArray  # (m, K+1)
    loglik: FloatArray  # (m,)
    coef: FloatArray  # (m, p)
    cov: FloatArray  # (m, p, p)
    psi: FloatArray  # (m, p, p) (XᵀH⁻¹X)⁻¹ = cov / σ²
    dlogl: FloatArray  # (m, K+1) ∂ℓ/∂θ
    information: FloatArray  # (m, K+1, K+1) observed information of θ
    vcov_theta: FloatArray  # (m, K+1, K+1) its inverse over the non-boundary parameters
    cov_jacobian: FloatArray  # (m, K+1, p, p) ∂cov(β̂)/∂θ_i
    blup: FloatArray | None  # (m, q) or None


def estimates(
    prob: ReducedProblem,
    gamma: FloatArray,
    reml: bool,
    at_boundary: NDArray[np.bool_],
    blups: bool = False,
) -> Estimates:
    """All per-feature estimates at ``gamma`` (m × K) for every feature of ``prob``."""
    m = prob.nfeatures
    K = prob.ncomponents
    n, p = prob.n, prob.p
    N = count(prob, reml)
    fac = make_factor(prob.reml, gamma)
    a = prob.a
    b = fac.solve(a)
    s = prob.e + np.einsum("ir,ir->i", a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = s / N
    theta = np.concatenate([gamma * sigma2[:, None], sigma2[:, None]], axis=1)
    mlfac = make_factor(prob.ml, gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        if reml:
            loglik = -0.5 * (N * (LOG_2PI + np.log(sigma2)) + fac.logdet + prob.logdet_XX + N)
        else:
            loglik = -0.5 * (n * (LOG_2PI + np.log(sigma2)) + mlfac.logdet + n)

    # ---- fixed effects: XᵀH⁻¹X = X⊥ᵀX⊥ + X̃ᵀM₀⁻¹X̃, XᵀH⁻¹y = X⊥ᵀy + X̃ᵀM₀⁻¹ỹ ----------------
    Xm = mlfac.solve_matrix(prob.Xt)  # (m, r0, p) M₀⁻¹X̃
    XmT = Xm.transpose(0, 2, 1)
    XHX = prob.Gperp[None] + np.matmul(prob.Xt.T, Xm)
    XHy = prob.Xperp_y + np.einsum("irp,ir->ip", Xm, prob.yt)
    psi = np.linalg.inv(XHX)
    psi = 0.5 * (psi + psi.transpose(0, 2, 1))
    coef = np.einsum("ipq,iq->ip", psi, XHy)
    cov = sigma2[:, None, None] * psi

    # ---- gradient and observed information of θ -------------------------------------------
    tfac = fac if reml else mlfac
    tbasis = prob.reml if reml else prob.ml
    Fb = fac.times_F(b)  # (m, K, r)
    u = np.einsum("ikr,ir->ik", Fb, b)
    t, T = tfac.traces(second=True)
    assert T is not None
    tr1, tr2, trk = tfac.identity_traces()
    dim = (n - p if reml else n) - tbasis.rank  # directions where P' acts as the identity
    vecs = np.concatenate([Fb, b[:, None, :]], axis=1)  # (m, K+1, r)
    Yq = fac.quad(vecs, vecs)
    Yq[:, K, K] += prob.e
    Tq = np.empty((m, K + 1, K + 1))
    Tq[:, :K, :K] = T
    Tq[:, :K, K] = trk
    Tq[:, K, :K] = trk
    Tq[:, K, K] = dim + tr2
    sig = sigma2[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        information = Yq / sig**3 - 0.5 * Tq / sig**2
        dlogl = np.empty((m, K + 1))
        dlogl[:, :K] = 0.5 * (u / sigma2[:, None] ** 2 - t / sigma2[:, None])
        bb = np.einsum("ir,ir->i", b, b)
        dlogl[:, K] = 0.5 * ((prob.e + bb) / sigma2**2 - (dim + tr1) / sigma2)
    vcov_theta = _restricted_inverse(information, at_boundary)

    # ---- Jacobian of cov(β̂): Ψ R_i Ψ, R_k = Xmᵀ F₀_k Xm, R_{K+1} = X⊥ᵀX⊥ + XmᵀXm -----------
    R = np.empty((m, K + 1, p, p))
    for k in range(K):
        FXm = np.matmul(prob.ml.F[k], Xm)
        R[:, k] = np.matmul(XmT, FXm)
    R[:, K] = prob.Gperp[None] + np.matmul(XmT, Xm)
    cov_jacobian = np.matmul(np.matmul(psi[:, None], R), psi[:, None])

    blup = None
    if blups:
        # û_k = γ_k Z_kᵀPy = γ_k E_k M⁻¹a
        w = b @ prob.reml.E.T  # (m, q)
        blup = w * np.repeat(gamma, prob.d, axis=1)
    return Estimates(
        sigma2=sigma2,
        theta=theta,
        loglik=loglik,
        coef=coef,
        cov=cov,
        psi=psi,
        dlogl=dlogl,
        information=information,
        vcov_theta=vcov_theta,
        cov_jacobian=cov_jacobian,
        blup=blup,
    )


def _restricted_inverse(J: FloatArray, at_boundary: NDArray[np.bool_]) -> FloatArray:
    """Inverse of J over the parameters not at the boundary (rows/columns of the others 0).

    At θ_k = 0 lmerTest's Hessian in (√γ, σ) decouples that parameter, and the Jacobian of
    cov(β̂) in it vanishes, so Satterthwaite's df are those of the model without component k:
    here the component is left out of the inverse. Directions of J with eigenvalue at or
    below 1e-12 of the largest (a flat likelihood) are left out too (a pseudo-inverse).
    """
    m, k1, _ = J.shape
    keep = np.concatenate([~at_boundary, np.ones((m, 1), dtype=bool)], axis=1)
    both = keep[:, :, None] & keep[:, None, :]
    A = np.where(both, J, 0.0)
    A = 0.5 * (A + A.transpose(0, 2, 1))
    bad = ~np.isfinite(A).all(axis=(1, 2))
    A[bad] = np.eye(k1)
    w, V = np.linalg.eigh(A)
    top = np.abs(w).max(axis=1, keepdims=True)
    ok = w > 1e-12 * top
    inv_w = np.where(ok, 1.0 / np.where(ok, w, 1.0), 0.0)
    out = np.einsum("iab,ib,icb->iac", V, inv_w, V)
    out = np.where(both, out, 0.0)
    out[bad] = np.nan
    return out


def satterthwaite(
    cov: FloatArray, cov_jacobian: FloatArray, vcov_theta: FloatArray, L: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Variance and Satterthwaite df of the contrasts Lβ (L: c × p): each (m, c).

    df = 2 (L C Lᵀ)² / (gᵀ A g), g_i = L (∂C/∂θ_i) Lᵀ, A the inverse observed information.
    """
    var = np.einsum("cp,ipq,cq->ic", L, cov, L)
    grad = np.einsum("cp,ikpq,cq->ick", L, cov_jacobian, L)
    denom = np.einsum("ick,ikl,icl->ic", grad, vcov_theta, grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2.0 * var**2 / denom
    return var, df
