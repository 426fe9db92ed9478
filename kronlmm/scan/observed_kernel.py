"""Blocked association scans on the observed values of Y (missing phenotypes), exact.

Null and alternative at fixed C₀, C₁ (scale s re-profiled), on the observed entries O of
vec(Y) only (``K_OO`` the block of K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ at O)::

    H0: y_O ~ N((A₀ ⊗ X)_O β₀,                     s·K_OO)
    H1: y_O ~ N((A₀ ⊗ X)_O β₀ + (A₁ ⊗ g)_O β₁,    s·K_OO)

Both are maximised over the fixed effects and s (ML). With N_o observed values and
``q = rᵀK_OO⁻¹r`` at the GLS estimate, the profiled log-likelihood is
``−½[N_o log 2π + log|K_OO| + N_o log(q/N_o) + N_o]``, and the likelihood-ratio test is
``N_o log(q₀/q₁) ~ χ²_dof``: the fixed-variance-component test of
:mod:`kronlmm.scan.kernel` on the observed values.

**Method** (exact). With ``P = K⁻¹`` (structured, :mod:`kronlmm.core.missing_likelihood`)
and ``S = P_MM`` factorised once for the null, ``K_OO⁻¹ = P_OO − P_OM S⁻¹ P_MO``. The
terms of the GLS system that involve the null design and Y (``K_OO⁻¹M_O``, ``K_OO⁻¹y_O``)
are computed once; per candidate g only

- ``Uᵀg`` (the one O(n·k) product, shared by all traits),
- ``(g eₜ)ᵀ P (g eₛ)`` from it in the whitened coordinates (O(k·p)),
- ``R = (P (g eₜ))_M`` (O(m·k·p)) and the correction ``Rᵀ S⁻¹ R`` (O(m²·p)),
- the cross terms with the null design and Y (O(n·p·r))

are needed, all as matrix products over a block of candidates. Cost per candidate
O(n·k + m·k·p + m²·p) with m the number of missing values: exact but quadratic in m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from ..core.linalg import SPDFactor
from ..core.missing_likelihood import ObservedLikelihood
from ..core.numerics import COLLINEAR_RTOL, LOG2PI
from .block_result import block_result
from .kernel import impute_block
from .plan import TestPlan
from .result import ScanResult

__all__ = [
    "ObservedNullModel",
    "ObservedBlockFit",
    "ObservedBlockTerms",
    "fit_observed_block",
    "observed_block_terms",
    "scan_observed_block",
]


@dataclass(frozen=True)
class ObservedNullModel:
    """The fixed null terms of a scan on the observed values (internal units).

    Attributes
    ----------
    n, p : int
    U : ndarray (n, k)
    Xq : ndarray (n, c′)
        Orthonormal basis of span(X) (for the collinearity check).
    observed : ndarray (n, p) of bool
    miss_rows, miss_traits : ndarray (m,)
    UM : ndarray (m, k)
    Lh, invD, il1 : ndarray
        Whitening of the null (C₀, C₁), ``1/D``, ``1/λ₁``.
    perp : bool
        Whether U does not span ℝⁿ (k < n).
    S_chol : ndarray (m, m)
        Lower Cholesky factor of ``S = P_MM``.
    QM : ndarray (n, p·r)
        ``K_OO⁻¹ M_O`` for the null design basis, as n × p matrices (column t·r + j).
    Qy : ndarray (n, p)
        ``K_OO⁻¹ y_O`` (internal units; 0 where missing).
    H00 : SPDFactor
        ``M_OᵀK_OO⁻¹M_O`` in the design basis.
    beta : ndarray (r,)
        Null GLS estimate (design basis) for the Y of ``Qy``.
    quad0 : float
    logdetK : float
        ``log|K_OO|`` in the units of the data.
    nobs : int
        N_o.
    trait_sd : ndarray (p,)
    """

    n: int
    p: int
    U: NDArray[np.float64]
    Xq: NDArray[np.float64]
    observed: NDArray[np.bool_]
    miss_rows: NDArray[np.intp]
    miss_traits: NDArray[np.intp]
    UM: NDArray[np.float64]
    Lh: NDArray[np.float64]
    invD: NDArray[np.float64]
    il1: NDArray[np.float64]
    perp: bool
    S_chol: NDArray[np.float64]
    QM: NDArray[np.float64]
    Qy: NDArray[np.float64]
    H00: SPDFactor
    beta: NDArray[np.float64]
    quad0: float
    logdetK: float
    nobs: int
    trait_sd: NDArray[np.float64]

    @property
    def N(self) -> int:
        """N_o, the number of observed values."""
        return self.nobs

    def profiled_lml(self, quad: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """ML log-likelihood of the observed values with the scale profiled."""
        N = self.N
        return -0.5 * (N * LOG2PI + self.logdetK + N * np.log(np.asarray(quad) / N) + N)

    def fingerprint_arrays(self) -> list[NDArray[np.float64]]:
        """Arrays that identify this null (for checkpoint manifests)."""
        return [self.Lh, self.invD, self.Qy, self.beta, self.observed.astype(float)]

    @classmethod
    def build(
        cls,
        engine: ObservedLikelihood,
        C0: NDArray[np.float64],
        C1: NDArray[np.float64],
        Xq: NDArray[np.float64],
    ) -> ObservedNullModel:
        """Null terms at fixed C₀, C₁ (data units) for the data of an observed-data engine
        (which must be ML: the scan's likelihoods are ML whatever the null fit).

        Raises
        ------
        ValueError
            If K_OO is singular at C₀, C₁.
        """
        dt = engine.data
        if dt.restricted:
            raise ValueError("the scan's null terms need an ML (restricted=False) engine")
        try:
            wt = engine.whiten(C0, C1)
        except np.linalg.LinAlgError as err:
            raise ValueError(f"K = C0 ⊗ GGᵀ + C1 ⊗ I is singular: {err}") from None
        if wt.singular:
            raise ValueError("K = C0 ⊗ GGᵀ + C1 ⊗ I is singular at the given C0, C1")
        n, p, r = dt.n, dt.p, dt.rank_M
        V = np.concatenate([dt.Yu[:, :, None], dt.MT], axis=2)
        QV = engine.solve_observed(C0, C1, V)
        Qy, QM = QV[:, :, 0], QV[:, :, 1:]
        HT = dt.MT.reshape(n * p, r).T @ QM.reshape(n * p, r)
        H00 = SPDFactor((HT + HT.T) / 2)
        beta = H00.solve(np.einsum("itj,it->j", dt.MT, Qy))
        Qr = Qy - QM @ beta
        quad0 = float(np.sum((dt.Yu - dt.MT @ beta) * Qr))
        L, logdetK = engine.missing_precision_factor(C0, C1)
        d = dt.scaling.trait_sd
        return cls(
            n=n,
            p=p,
            U=dt.U,
            Xq=Xq,
            observed=dt.observed,
            miss_rows=dt.miss_rows,
            miss_traits=dt.miss_traits,
            UM=dt.UM,
            Lh=wt.Lh,
            invD=1.0 / wt.D,
            il1=wt.inv_lam1,
            perp=dt.k < n,
            S_chol=L,
            QM=np.ascontiguousarray(QM.reshape(n, p * r)),
            Qy=Qy,
            H00=H00,
            beta=beta,
            quad0=quad0,
            logdetK=float(logdetK),
            nobs=int(np.sum(dt.nobs)),
            trait_sd=d,
        )


@dataclass
class ObservedBlockFit:
    """Alternative fits of a block (see :class:`kronlmm.scan.kernel.BlockFit`):
    ``dquad`` (m,), ``beta1`` (m, a₁) and ``S_inv`` (m, a₁, a₁); ``ok`` (m,) is False for
    candidates whose Schur complement is singular (no information on some effect at the
    observed values beyond the null design: their values are NaN)."""

    dquad: NDArray[np.float64]
    beta1: NDArray[np.float64]
    S_inv: NDArray[np.float64]
    ok: NDArray[np.bool_]


@dataclass(frozen=True)
class ObservedBlockTerms:
    """Per-candidate GLS terms on the observed values, for trait designs of the form
    ``A ⊗ g`` (any A): with ``zₜ = g eₜᵀ`` (an n × p matrix, internal units),
    ``H11[b, t, s] = zₜᵀK_OO⁻¹zₛ``, ``H01[b, t, j] = zₜᵀK_OO⁻¹(M_O)ⱼ`` and
    ``b1[b, t] = zₜᵀK_OO⁻¹y_O``; ``gobs[b, t]`` is ``Σ gᵢ²`` over the samples where trait
    t is observed and ``gg[b]`` over all samples."""

    H11: NDArray[np.float64]
    H01: NDArray[np.float64]
    b1: NDArray[np.float64]
    gobs: NDArray[np.float64]
    gg: NDArray[np.float64]

    def take(self, idx: NDArray[np.intp]) -> ObservedBlockTerms:
        """The terms of the candidates ``idx`` only."""
        return ObservedBlockTerms(
            H11=self.H11[idx], H01=self.H01[idx], b1=self.b1[idx], gobs=self.gobs[idx],
            gg=self.gg[idx],
        )  # fmt: skip


def observed_block_terms(null: ObservedNullModel, G: NDArray[np.float64]) -> ObservedBlockTerms:
    """The GLS terms of every candidate (column) of a finite block G (n × b)."""
    n, b = G.shape
    p = null.p
    Lh, invD, il1 = null.Lh, null.invD, null.il1
    UG = null.U.T @ G  # (k, b)
    gg = np.einsum("ib,ib->b", G, G)
    w = invD.T @ (UG * UG)  # (p(u), b)
    if null.perp:
        w += il1[:, None] * (gg - np.sum(UG * UG, axis=0))[None, :]
    H11 = np.einsum("ut,us,ub->bts", Lh, Lh, w)
    m = null.miss_rows.size
    if m:
        # F[j, u, b] = ((λ₀ᵤGGᵀ + λ₁ᵤI)⁻¹ g)ᵢⱼ, then R[j, t, b] = Σᵤ Lh_{u,tⱼ} Lh_{u,t} F[j,u,b]
        F = np.stack([null.UM @ (UG * invD[:, u, None]) for u in range(p)], axis=1)
        if null.perp:
            Gm = G[null.miss_rows]  # (m, b)
            F += il1[None, :, None] * (Gm - null.UM @ UG)[:, None, :]
        F *= Lh[:, null.miss_traits].T[:, :, None]
        R = np.einsum("jub,ut->jtb", F, Lh).reshape(m, p * b)
        SR = sla.cho_solve((null.S_chol, True), R, check_finite=False)
        corr = np.einsum("jtb,jsb->bts", R.reshape(m, p, b), SR.reshape(m, p, b))
        H11 = H11 - corr
    H11 = (H11 + H11.transpose(0, 2, 1)) / 2
    r = null.beta.size
    H01 = (G.T @ null.QM).reshape(b, p, r)
    b1 = G.T @ null.Qy  # (b, p)
    gobs = (G * G).T @ null.observed.astype(float)
    return ObservedBlockTerms(H11=H11, H01=H01, b1=b1, gobs=gobs, gg=gg)


def fit_observed_block(
    null: ObservedNullModel, terms: ObservedBlockTerms, A1r: NDArray[np.float64]
) -> ObservedBlockFit:
    """Fit ``A₁ ⊗ gⱼ`` (A₁r: p × a₁, full column rank, data units) for every candidate,
    by the Schur complement of the null design (as :func:`kronlmm.scan.kernel.fit_block`)."""
    A = A1r / null.trait_sd[:, None]  # internal units
    H11 = np.einsum("ta,bts,sc->bac", A, terms.H11, A)
    H01 = np.einsum("btj,ta->bja", terms.H01, A)  # (b, r, a1)
    b1 = terms.b1 @ A  # (b, a1)
    bsz, r, a1 = H01.shape
    X01 = null.H00.solve(H01.transpose(1, 0, 2).reshape(r, bsz * a1))
    X01 = X01.reshape(r, bsz, a1).transpose(1, 0, 2)
    S = H11 - np.matmul(H01.transpose(0, 2, 1), X01)
    S = (S + S.transpose(0, 2, 1)) / 2
    r1 = b1 - np.einsum("j,bja->ba", null.beta, H01)
    # a candidate without information on some effect at the observed values (e.g. non-zero
    # only where a trait is missing) has a singular S: flagged, not inverted. Judged without
    # dependence on the units of the traits: an effect whose design column is (nearly) zero
    # at the observed values, or S relative to each effect's own information (diag H11).
    A2 = A * A
    seen = terms.gobs @ A2 > COLLINEAR_RTOL * terms.gg[:, None] * A2.sum(axis=0)[None, :]
    dg = np.diagonal(H11, axis1=1, axis2=2)  # (b, a1)
    w = 1.0 / np.sqrt(np.maximum(dg, np.finfo(float).tiny))
    lam = np.linalg.eigvalsh(S * w[:, :, None] * w[:, None, :])[:, 0] if bsz else np.zeros(0)
    ok = (lam > COLLINEAR_RTOL) & np.all(seen & (dg > 0), axis=1)
    S_inv = np.full_like(S, np.nan)
    S_inv[ok] = np.linalg.inv(S[ok])
    beta1 = np.full((bsz, a1), np.nan)
    beta1[ok] = np.matmul(S_inv[ok], r1[ok][:, :, None])[:, :, 0]
    dquad = np.full(bsz, np.nan)
    dquad[ok] = np.maximum(np.einsum("ba,ba->b", r1[ok], beta1[ok]), 0.0)
    return ObservedBlockFit(dquad=dquad, beta1=beta1, S_inv=S_inv, ok=ok)


def observed_degenerate(
    null: ObservedNullModel, G: NDArray[np.float64], terms: ObservedBlockTerms
) -> NDArray[np.object_]:
    """Per candidate: "" if testable, else why not: constant (all zero), collinear with
    the covariates, or no variation at the samples with an observed trait."""
    b = G.shape[1]
    reasons = np.full(b, "", dtype=object)
    gg = np.einsum("ib,ib->b", G, G)
    XG = null.Xq.T @ G
    resid = gg - np.sum(XG * XG, axis=0)
    reasons[resid <= COLLINEAR_RTOL * gg] = "collinear with covariates"
    # the candidate's residual after the null design, on the observed values (any trait)
    A = np.eye(null.p)
    fit_terms = np.einsum("bss->b", terms.H11)
    X01 = null.H00.solve(
        np.einsum("btj,ta->jba", terms.H01, A).reshape(null.beta.size, b * null.p)
    ).reshape(null.beta.size, b, null.p)
    S_diag = fit_terms - np.einsum("btj,jbt->b", terms.H01, X01)
    reasons[(S_diag <= COLLINEAR_RTOL * np.maximum(fit_terms, 1e-300)) & (reasons == "")] = (
        "collinear with covariates at the observed values"
    )
    reasons[gg == 0] = "constant (all zero)"
    return reasons


def scan_observed_block(
    null: ObservedNullModel,
    G: NDArray[np.float64],
    plan: TestPlan,
    ids: NDArray[np.generic] | None,
    df2: int,
) -> ScanResult:
    """Test every column of ``G`` (n × m; NaN = missing genotype, mean-imputed per
    column) on the observed values of Y: the counterpart of
    :func:`kronlmm.scan.scan_block` for an :class:`ObservedNullModel` (``df2``: the F
    test's residual degrees of freedom, N_o minus the rank of the alternative's design at
    the observed values, :func:`kronlmm.scan.block_scan.residual_dof`)."""
    G = np.asarray(G, dtype=float)
    if G.ndim != 2 or G.shape[0] != null.n:
        raise ValueError(f"candidate block has shape {G.shape}, expected ({null.n}, m)")
    n, m = G.shape
    Gi, nmiss, means = impute_block(G)
    terms = observed_block_terms(null, Gi)
    reason = observed_degenerate(null, Gi, terms)
    flagged = np.flatnonzero(reason != "")
    reason[flagged[np.ptp(Gi[:, flagged], axis=0) == 0]] = "constant"
    reason[nmiss == n] = "all values missing"
    if df2 <= 0:
        reason[reason == ""] = (
            f"no residual degrees of freedom: the alternative's mean design has rank "
            f"{null.N - df2} ≥ {null.N} observed values and fits them exactly"
        )
    ok = np.flatnonzero(reason == "")
    dq_alt = dq_null = np.zeros(ok.size)
    a1 = plan.A1r.shape[1]
    beta1, S_inv = np.zeros((0, a1)), np.zeros((0, a1, a1))
    if ok.size:
        sub = terms.take(ok)
        alt = fit_observed_block(null, sub, plan.A1r)
        good = alt.ok
        if plan.A1r_null is not None:
            nfit = fit_observed_block(null, sub, plan.A1r_null)
            dq_null, good = nfit.dquad, good & nfit.ok
        reason[ok[~good]] = "no information at the observed values (collinear with covariates)"
        ok, dq_null = ok[good], dq_null[good]
        dq_alt, beta1, S_inv = alt.dquad[good], alt.beta1[good], alt.S_inv[good]
    return block_result(
        plan,
        N=null.N,
        df2=df2,
        quad0=null.quad0,
        profiled_lml=null.profiled_lml,
        ok=ok,
        dquad_alt=dq_alt,
        dquad_null=dq_null,
        beta1=beta1,
        S_inv=S_inv,
        n_missing=nmiss,
        means=means,
        reason=reason,
        ids=ids,
    )
