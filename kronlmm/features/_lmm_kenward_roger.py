"""Kenward–Roger adjusted covariance and denominator df for per-feature REML fits.

Kenward & Roger (1997) for V = Σ_i θ_i G_i (G_k = Z_k Z_kᵀ, G_{K+1} = I; linear in θ, so
their R_ij terms vanish), as pbkrtest computes them (``vcovAdj``, ``Lb_ddf``), here from
the summary statistics. With Φ = cov(β̂) = (XᵀV⁻¹X)⁻¹,

    P_i = −XᵀV⁻¹G_iV⁻¹X,      Q_ij = XᵀV⁻¹G_iV⁻¹G_jV⁻¹X,
    I_ij = tr(V⁻¹G_iV⁻¹G_j) − 2 tr(Φ Q_ij) + tr(Φ P_i Φ P_j)   (= tr(P G_i P G_j)),
    W = 2 I⁻¹ (the inverse expected REML information of θ),
    Φ_A = Φ + 2 Φ [Σ_ij W_ij (Q_ij − P_i Φ P_j)] Φ,

and for a contrast l (one row) with ω_i = lΦP_iΦlᵀ / lΦlᵀ the quantities A₁ = A₂ = Σ W_ij ω_i ω_j
enter KR's formulas for the denominator df (q = 1). In the reduced coordinates (V = σ²H,
H⁻¹ = (I − Q₀Q₀ᵀ) + Q₀M₀⁻¹Q₀ᵀ, Xm = M₀⁻¹X̃) every term is p × p.
"""

from __future__ import annotations

import numpy as np

from ._lmm_algebra import make_factor
from ._lmm_reduce import FloatArray, ReducedProblem, einsum


def kenward_roger(
    prob: ReducedProblem,
    gamma: FloatArray,
    sigma2: FloatArray,
    psi: FloatArray,
    L: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Adjusted variances l Φ_A lᵀ and KR df for the rows l of L (c × p): each (m, c)."""
    m, K = gamma.shape
    p = prob.p
    fac = make_factor(prob.ml, gamma)
    Xm = fac.solve_matrix(prob.Xt)  # (m, r0, p)
    basis = prob.ml
    # F₀_k Xm for every k: (m, K, r0, p)
    FXm = np.matmul(basis.F[None], Xm[:, None])  # (m, K, r0, p)
    # columns of the "G_i H⁻¹ X" factors: for k ≤ K the vectors F₀_k Xm, for the identity Xm
    G = np.concatenate([FXm, Xm[:, None]], axis=1)  # (m, K+1, r0, p)
    XmT = Xm.transpose(0, 2, 1)[:, None]  # (m, 1, p, r0)
    R: FloatArray = np.matmul(XmT, G)  # Xmᵀ F₀_k Xm, and XmᵀXm for the identity
    R[:, K] += prob.Gperp[None]
    MG = np.stack([fac.solve_matrix_batched(G[:, k]) for k in range(K + 1)], axis=1)
    # S_kl = Xmᵀ F₀_k M₀⁻¹ F₀_l Xm etc.: (m, K+1, K+1, p, p)
    S: FloatArray = np.matmul(G.transpose(0, 1, 3, 2)[:, :, None], MG[:, None])
    S[:, K, K] += prob.Gperp[None]
    t, T = fac.traces(second=True)
    assert T is not None
    _, tr2, trk = fac.identity_traces()
    Kt = np.empty((m, K + 1, K + 1))
    Kt[:, :K, :K] = T
    Kt[:, :K, K] = trk
    Kt[:, K, :K] = trk
    Kt[:, K, K] = prob.n - basis.rank + tr2
    PsiR: FloatArray = np.matmul(psi[:, None], R)  # Ψ R_k
    tr_psi_s = (psi[:, None, None] * S.swapaxes(-1, -2)).sum(axis=(-2, -1))
    tr_prpr = (PsiR[:, :, None] * PsiR[:, None].swapaxes(-1, -2)).sum(axis=(-2, -1))
    info = Kt - 2.0 * tr_psi_s + tr_prpr
    info = 0.5 * (info + info.transpose(0, 2, 1))
    Winv = _inverse(info)  # Ĩ⁻¹; W = 2σ⁴Ĩ⁻¹ in absolute units
    RPsiR = np.matmul(R[:, :, None], PsiR[:, None])  # R_k Ψ R_l
    U = einsum("ikl,iklab->iab", Winv, S - RPsiR)
    adjusted = psi + 4.0 * np.matmul(np.matmul(psi, U), psi)
    var_adj = sigma2[:, None] * einsum("cp,ipq,cq->ic", L, adjusted, L)

    base = einsum("cp,ipq,cq->ic", L, psi, L)  # lΨlᵀ
    lPsi = einsum("cp,ipq->icq", L, psi)
    omega = einsum("icp,ikpq,icq->ick", lPsi, R, lPsi) / base[:, :, None]
    A2 = 2.0 * einsum("ick,ikl,icl->ic", omega, Winv, omega)
    A1 = A2
    q = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1.0) * A1 - (q + 4.0) * A2) / ((q + 2.0) * A2)
        denom = 3.0 * q + 2.0 * (1.0 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2.0 - g) / denom
        V0 = 1.0 + c1 * B
        V1 = 1.0 - c2 * B
        V2 = 1.0 - c3 * B
        V0 = np.where(np.abs(V0) < 1e-10, 0.0, V0)
        num = 1.0 - A2 / q
        ratio = np.where((np.abs(num) < 1e-14) & (np.abs(V1) < 1e-14), 1.0, num / V1)
        rho = (1.0 / q) * ratio**2 * V0 / V2
        df = 4.0 + (q + 2.0) / (q * rho - 1.0)
    del t, p
    return var_adj, df


def _inverse(A: FloatArray) -> FloatArray:
    """Inverse of symmetric matrices; a pseudo-inverse where one is (nearly) singular."""
    w, V = np.linalg.eigh(A)
    top = np.abs(w).max(axis=1, keepdims=True)
    ok = np.abs(w) > 1e-10 * top
    inv_w = np.where(ok, 1.0 / np.where(ok, w, 1.0), 0.0)
    return einsum("iab,ib,icb->iac", V, inv_w, V)
