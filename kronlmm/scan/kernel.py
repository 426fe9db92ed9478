"""Blocked association-scan kernels (pure functions of a candidate block and the null).

Null model (variance components fixed at their fitted values, scale s free)::

    vec(Y) ~ N((A₀ ⊗ X) vec(B₀),  s·K),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ

Alternative for candidate j with columns Gⱼ (n × c₁) and trait design A₁ (p × a₁)::

    vec(Y) ~ N((A₀ ⊗ X) vec(B₀) + (A₁ ⊗ Gⱼ) vec(B₁),  s·K)

Both are maximised over the fixed effects and s (ML). With N = n·p and ``q = rᵀK⁻¹r`` at
the GLS estimate, the profiled log-likelihood is ``−½[N log 2π + log|K| + N log(q/N) + N]``.

Everything is done in the whitened coordinates of the null (see
:class:`kronlmm.core.whitening.WhitenedKron2Sum`). The only O(n) work per candidate is
:func:`rotate_block`: one matrix product ``[U, X, M_V, M_u]ᵀ G`` (2·n·(k + c + pc + p) flops
per column; ``UᵀG`` alone, 2·n·k, is the physical floor) and ``GᵀG`` (O(n) per column);
then O(k·p) per column for the candidate Gram terms. :func:`fit_block` then costs
O(p·(c + 3)) per candidate and solves the (a₁c₁ × a₁c₁) Schur complement systems of all
candidates at once. Both run with whatever BLAS threads the caller set: scans compute whole
blocks on one thread each (:class:`kronlmm.scan.ThreadedExecution`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.likelihood import WhitenedLikelihood
from ..core.linalg import EconomicSVD, SPDFactor
from ..core.numerics import COLLINEAR_RTOL, LOG2PI
from ..core.projections import KronProjections


@dataclass(frozen=True)
class NullModel:
    """The fitted null terms a scan needs (everything is fixed during the scan).

    Everything is in the internal units of :mod:`kronlmm.core.projections` (traits divided
    by ``trait_sd``; X and A₀ replaced by orthonormal bases); candidates are used as given.

    Attributes
    ----------
    n, p : int
    W : ndarray (n, k + c′ + pc′ + 2p)
        ``[U, Xq, M_V, M_u, Yᵤ]`` side by side, so that one matrix product
        ``W[:, :k + c′ + pc′ + p]ᵀ G`` gives every projection of a candidate block that
        :func:`rotate_block` needs (views ``U``, ``X``, ``Y``). U: left singular vectors of
        G; ``Xq``: orthonormal basis of span(X); ``Yᵤ``: Y in internal units minus its
        least-squares fit on the null design; ``M_V`` (n × pc′, column t·c′ + c) and
        ``M_u`` (n × p): ``M_V = U (UX ∘ D⁻¹ₜ) + (1/λ₁ₜ) X⊥`` and
        ``M_u = U (Yt ∘ D⁻¹) + (Yᵤ Lhᵀ − U Yt) diag(1/λ₁)``, with ``X⊥ = Xq − U UX`` the
        part of X outside span(U), so that ``M_Vᵀg`` and ``M_uᵀg`` are the whitened cross
        terms of a candidate g with X and Y (see :class:`RotatedBlock`).
    Lh, invD, il1 : ndarray (p, p), (k, p), (p,)
        Whitening of (C₀, C₁), ``1 / D`` and the whitened precision ``1/λ₁`` of the
        complement of U (see :mod:`kronlmm.core.whitening`).
    UX, Yt : ndarray (k, c′), (k, p)
        ``UᵀXq`` and whitened ``UᵀYᵤ Lhᵀ``.
    At0 : ndarray (p, a₀′)
        Whitened null trait design ``Lh Aq``.
    H00 : SPDFactor
        The null ``H₀ = MᵀK⁻¹M`` (internal basis).
    beta0 : ndarray (a₀′c′,)
        Null GLS estimate (basis coordinates) for ``Yᵤ``; add ``beta_offset`` for Y.
    beta_offset : ndarray (a₀′c′,)
    quad0 : float
        ``rᵀK⁻¹r`` of the null.
    logdetK : float
        ``log|K|`` in the units of the data.
    Vx, Va0 : ndarray (c, c′), (a₀, a₀′)
        Maps from basis coefficients to those of X and A₀.
    trait_sd : ndarray (p,)
        The trait units: a candidate trait design A₁ becomes ``diag(1/trait_sd) A₁``.
    """

    n: int
    p: int
    W: NDArray[np.float64]
    Lh: NDArray[np.float64]
    invD: NDArray[np.float64]
    il1: NDArray[np.float64]
    UX: NDArray[np.float64]
    Yt: NDArray[np.float64]
    At0: NDArray[np.float64]
    H00: SPDFactor
    beta0: NDArray[np.float64]
    beta_offset: NDArray[np.float64]
    quad0: float
    logdetK: float
    Vx: NDArray[np.float64]
    Va0: NDArray[np.float64]
    trait_sd: NDArray[np.float64]

    @property
    def N(self) -> int:
        """n·p, the number of observations."""
        return self.n * self.p

    @property
    def U(self) -> NDArray[np.float64]:
        """U (n × k), a view into ``W``."""
        return self.W[:, : self.UX.shape[0]]

    @property
    def X(self) -> NDArray[np.float64]:
        """Xq (n × c′), a view into ``W``."""
        k = self.UX.shape[0]
        return self.W[:, k : k + self.UX.shape[1]]

    @property
    def Y(self) -> NDArray[np.float64]:
        """Yᵤ (n × p), a view into ``W``."""
        return self.W[:, self.W.shape[1] - self.p :]

    @property
    def projection(self) -> NDArray[np.float64]:
        """``[U, Xq, M_V, M_u]`` (n × (k + c′ + pc′ + p)), a view into ``W``: what
        :func:`rotate_block` multiplies every candidate block by."""
        return self.W[:, : self.W.shape[1] - self.p]

    def profiled_lml(self, quad: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """ML log-likelihood with the scale profiled, ``s = quad / N``."""
        N = self.N
        return -0.5 * (N * LOG2PI + self.logdetK + N * np.log(np.asarray(quad) / N) + N)

    @classmethod
    def build(
        cls,
        Y: NDArray[np.float64],
        A0: NDArray[np.float64],
        X: NDArray[np.float64],
        svd: EconomicSVD,
        C0: NDArray[np.float64],
        C1: NDArray[np.float64],
        trait_sd: NDArray[np.float64] | None = None,
    ) -> NullModel:
        """Null terms at fixed C₀, C₁ (ML, all the data; see :mod:`kronlmm.core`).

        Raises
        ------
        ValueError
            If K is singular at C₀, C₁ (the message says why).
        """
        n, p = Y.shape
        proj, Xq, Yu = KronProjections.build(
            Y, A0, X, svd, restricted=False, trait_sd=trait_sd, drop_perp=False
        )
        engine = WhitenedLikelihood(proj)
        try:
            wt = engine.whiten(C0, C1)
        except np.linalg.LinAlgError as err:
            raise ValueError(f"K = C0 ⊗ GGᵀ + C1 ⊗ I is singular: {err}") from None
        if wt.singular:
            raise ValueError(
                "K = C0 ⊗ GGᵀ + C1 ⊗ I is singular: C1 is singular and GGᵀ has rank "
                f"{proj.k} < n = {n}, so the residual variance is zero in some direction"
            )
        fit = engine.evaluate(C0, C1)
        assert fit.Br is not None  # the full engine always profiles B
        d = proj.scaling.trait_sd
        U, UX, invD, il1 = svd.U, proj.UX, 1.0 / wt.D, wt.inv_lam1
        k, c = UX.shape
        Yt = proj.UY @ wt.Lh.T
        MV = U @ (UX[:, None, :] * invD[:, :, None]).reshape(k, p * c)
        Mu = U @ (Yt * invD)
        if k < n:  # the parts of X and Y outside span(U), whitened by 1/λ₁
            MV += (il1[:, None] * (Xq - U @ UX)[:, None, :]).reshape(n, p * c)
            Mu += (Yu @ wt.Lh.T - U @ Yt) * il1
        return cls(
            n=n,
            p=p,
            W=np.ascontiguousarray(np.hstack([U, Xq, MV, Mu, Yu])),
            Lh=wt.Lh,
            invD=invD,
            il1=il1,
            UX=UX,
            Yt=Yt,
            At0=wt.Lh @ proj.Aq,
            H00=fit.H,
            beta0=fit.Br.T.ravel(),
            beta_offset=proj.B_off.ravel(order="F"),
            quad0=fit.quad,
            logdetK=float(wt.logdet + 2.0 * n * np.sum(np.log(d))),
            Vx=proj.Tx,
            Va0=proj.Ta,
            trait_sd=d,
        )


@dataclass(frozen=True)
class RotatedBlock:
    """Whitened sufficient statistics of m candidates with c₁ columns each.

    With ``Gt = UᵀG`` and ⊥ marking parts orthogonal to U, for trait t (whitened), covariate
    c and candidate columns e, f:

    Attributes
    ----------
    V : ndarray (p, c′, m, c₁)
        ``Σᵢ UXᵢ꜀ Gtᵢⱼₑ / Dᵢₜ + (Xr⊥ᵀG⊥)꜀ⱼₑ`` — the covariate cross terms ``X̃ᵀD⁻¹g̃``.
    u : ndarray (p, m, c₁)
        ``Σᵢ Ỹᵢₜ Gtᵢⱼₑ / Dᵢₜ + (Lh Y⊥ᵀG⊥)ₜⱼₑ`` — the outcome cross terms.
    W : ndarray (p, m, c₁, c₁)
        ``Σᵢ Gtᵢⱼₑ Gtᵢⱼf / Dᵢₜ + (G⊥ᵀG⊥)ⱼₑf`` — the candidate Gram terms.
    resid : ndarray (m, c₁, c₁)
        ``GᵀG − GᵀXr (XrᵀXr)⁻¹ XrᵀG`` per candidate (unwhitened residual after X).
    GG : ndarray (m, c₁, c₁)
        ``GᵀG`` per candidate.

    None of these depends on the candidate trait design A₁, so several tests can share
    one rotation.
    """

    V: NDArray[np.float64]
    u: NDArray[np.float64]
    W: NDArray[np.float64]
    resid: NDArray[np.float64]
    GG: NDArray[np.float64]

    def take(self, idx: NDArray[np.intp]) -> RotatedBlock:
        """The same statistics for the candidates ``idx`` only."""
        return RotatedBlock(
            V=self.V[:, :, idx],
            u=self.u[:, idx],
            W=self.W[:, idx],
            resid=self.resid[idx],
            GG=self.GG[idx],
        )


def rotate_block(null: NullModel, G: NDArray[np.float64], c1: int = 1) -> RotatedBlock:
    """Reduce a finite candidate block ``G`` (n × m·c₁; candidate j = columns j·c₁…).

    One matrix product ``[U, Xq, M_V, M_u]ᵀ G`` (a single pass over G, 2·n·(k + c′ + pc′ +
    p) flops per column; see :class:`NullModel`) gives ``UᵀG``, ``XqᵀG`` and the whitened
    cross terms V and u; ``GᵀG`` is one more pass over G, the Gram terms W are O(k·p·c₁²)
    per candidate.
    """
    n, q = G.shape
    m = q // c1
    k, c = null.UX.shape
    p = null.p
    P = null.projection.T @ G
    Gt, XG = P[:k], P[k : k + c]
    V = P[k + c : k + c + p * c].reshape(p, c, m, c1)
    u = P[k + c + p * c :].reshape(p, m, c1)
    full = k == n  # U spans ℝⁿ: nothing is orthogonal to it
    il1 = null.il1
    if c1 == 1:
        GG = np.einsum("ij,ij->j", G, G)[:, None, None]
        np.square(Gt, out=Gt)  # Gt is not needed any more: square it in place
        W = (null.invD.T @ Gt)[:, :, None, None]
        if not full:
            W += il1[:, None, None, None] * (GG[:, 0, 0] - Gt.sum(axis=0))[None, :, None, None]
    else:
        G3 = G.reshape(n, m, c1)
        Gt3 = Gt.reshape(k, m, c1)
        GG = np.einsum("ije,ijf->jef", G3, G3)
        W = np.empty((p, m, c1, c1))
        for t in range(p):
            W[t] = np.einsum("ije,ijf->jef", Gt3 * null.invD[:, t, None, None], Gt3)
        if not full:
            W += il1[:, None, None, None] * (GG - np.einsum("ije,ijf->jef", Gt3, Gt3))[None]
    # X is orthonormal: the residual Gram after X is GᵀG − (XᵀG)ᵀXᵀG
    X3 = XG.reshape(c, m, c1)
    resid = GG - np.einsum("cje,cjf->jef", X3, X3)
    return RotatedBlock(V=V, u=u, W=W, resid=resid, GG=GG)


@dataclass
class BlockFit:
    """Alternative-model fit of every candidate in a block for one trait design A₁.

    ``dquad[j] = q₀ − qⱼ ≥ 0`` (decrease of ``rᵀK⁻¹r``), ``beta1`` (m, a₁′c₁) the reduced
    effect sizes (vec of the c₁ × a₁′ matrix, design index outer), ``S_inv`` (m, a₁′c₁,
    a₁′c₁) so that ``Cov(β̂₁) = s·S_inv``, ``beta0`` (m, a₀′c′) the covariate effects and
    ``X01`` (m, a₀′c′, a₁′c₁) = ``H₀₀⁻¹H₀₁``, so that
    ``Cov(β̂₀) = s·(H₀₀⁻¹ + X01 S_inv X01ᵀ)``.
    """

    dquad: NDArray[np.float64]
    beta1: NDArray[np.float64]
    S_inv: NDArray[np.float64]
    beta0: NDArray[np.float64]
    X01: NDArray[np.float64]


def fit_block(null: NullModel, rb: RotatedBlock, A1r: NDArray[np.float64]) -> BlockFit:
    """Fit ``A₁ ⊗ Gⱼ`` for all candidates j of a rotated block (A₁r full column rank).

    With ``H = [[H₀₀, H₀₁], [H₁₀, H₁₁]]`` and ``b = [b₀, b₁]`` the GLS system of the
    alternative, the Schur complement ``S = H₁₁ − H₁₀H₀₀⁻¹H₀₁`` gives
    ``β̂₁ = S⁻¹(b₁ − H₁₀β̂₀)`` and ``q₀ − q = (b₁ − H₁₀β̂₀)ᵀ β̂₁`` (no cancellation).
    """
    p, c, m, c1 = rb.V.shape
    At1 = null.Lh @ (A1r / null.trait_sd[:, None])  # (p, a1), in internal units
    a1 = At1.shape[1]
    a0 = null.At0.shape[1]
    # as products over the trait index t: Pab[t, a, b] = Ã₀[t, a] Ã₁[t, b]
    P01 = (null.At0[:, :, None] * At1[:, None, :]).reshape(p, a0 * a1)
    H01 = (P01.T @ rb.V.reshape(p, c * m * c1)).reshape(a0, a1, c, m, c1)
    H01 = H01.transpose(3, 0, 2, 1, 4).reshape(m, a0 * c, a1 * c1)
    P11 = (At1[:, :, None] * At1[:, None, :]).reshape(p, a1 * a1)
    H11 = (P11.T @ rb.W.reshape(p, m * c1 * c1)).reshape(a1, a1, m, c1, c1)
    H11 = H11.transpose(2, 0, 3, 1, 4).reshape(m, a1 * c1, a1 * c1)
    b1 = (At1.T @ rb.u.reshape(p, m * c1)).reshape(a1, m, c1).transpose(1, 0, 2).reshape(m, -1)
    X01 = null.H00.solve(H01.transpose(1, 0, 2).reshape(a0 * c, m * a1 * c1))
    X01 = X01.reshape(a0 * c, m, a1 * c1).transpose(1, 0, 2)  # H₀₀⁻¹H₀₁
    S = H11 - np.matmul(H01.transpose(0, 2, 1), X01)
    S = (S + S.transpose(0, 2, 1)) / 2
    r1 = b1 - null.beta0 @ H01
    S_inv = np.linalg.inv(S)
    beta1 = np.matmul(S_inv, r1[:, :, None])[:, :, 0]
    dquad = np.maximum(np.einsum("jb,jb->j", r1, beta1), 0.0)
    beta0 = null.beta0[None, :] - np.matmul(X01, beta1[:, :, None])[:, :, 0]
    return BlockFit(dquad=dquad, beta1=beta1, S_inv=S_inv, beta0=beta0, X01=X01)


def degenerate_reason(rb: RotatedBlock) -> NDArray[np.object_]:
    """Per candidate: "" if testable, else why not (constant, or collinear with X)."""
    m = rb.GG.shape[0]
    reasons = np.full(m, "", dtype=object)
    diag_gg = np.einsum("jee->je", rb.GG)
    diag_res = np.einsum("jee->je", rb.resid)
    zero = np.all(diag_gg == 0, axis=1)
    # smallest eigenvalue of the residual Gram relative to the largest raw norm
    lam_min = np.linalg.eigvalsh(rb.resid)[:, 0] if rb.resid.shape[1] > 1 else diag_res[:, 0]
    scale = np.max(diag_gg, axis=1)
    collinear = lam_min <= COLLINEAR_RTOL * scale
    reasons[collinear] = "collinear with covariates"
    reasons[zero] = "constant (all zero)"
    return reasons


def impute_block(
    G: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Replace NaN entries by the mean of the observed entries of their column.

    Returns the imputed block (the input itself when nothing is missing), the count of
    missing entries per column and the mean of the observed entries per column (NaN for a
    column with none; such a column is set to 0 and callers report it as untestable).
    Infinite values raise ValueError.
    """
    G = np.asarray(G, dtype=float)
    n = G.shape[0]
    colsum = G.sum(axis=0)
    suspect = np.flatnonzero(~np.isfinite(colsum))
    nmiss = np.zeros(G.shape[1], dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = colsum / n
    if suspect.size == 0:
        return G, nmiss, means
    # Most columns of a genotype block usually have a missing call: then the whole block is
    # imputed at once (fewer passes over it than picking the columns out and back).
    whole = 2 * suspect.size > G.shape[1]
    sub = G if whole else G[:, suspect]
    miss = np.isnan(sub)
    filled = np.where(miss, 0.0, sub)
    sums = filled.sum(axis=0)
    bad = ~np.isfinite(sums)  # NaN set to 0: only an infinite value is left to blame
    if np.any(bad):
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"candidate column {j if whole else int(suspect[j])} contains an infinite value"
        )
    counts = miss.sum(axis=0)
    nobs = n - counts
    sub_means = np.divide(sums, nobs, out=np.full_like(sums, np.nan), where=nobs > 0)
    np.copyto(filled, np.nan_to_num(sub_means)[None, :], where=miss)
    if whole:
        nmiss[:] = counts
        means[:] = np.where(np.isfinite(colsum), means, sub_means)
        return filled, nmiss, means
    nmiss[suspect] = counts
    means[suspect] = sub_means
    G = G.copy()
    G[:, suspect] = filled
    return G, nmiss, means
