"""The Kron2Sum likelihood engine for missing phenotypes: the exact observed-data likelihood.

Model (Y: n × p, column-major vec, some entries of Y missing)::

    vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

Let O and M be the observed and missing positions of vec(Y) (N_o and m of them), ``y_O``
the observed values, ``M_O = (A ⊗ X)_O`` the rows of the design at O and
``K_OO`` the block of K at O × O. The likelihood of the observed values, with B
profiled (``β̂`` the GLS estimate on O, ``r = y_O − M_O β̂``, r_O = rank(M_O)):

- ML:   ``lml = −½ [N_o log 2π + log|K_OO| + rᵀK_OO⁻¹r]``;
- REML: ``lml = −½ [(N_o − r_O) log 2π − log|M_OᵀM_O|₊ + log|K_OO| + log|M_OᵀK_OO⁻¹M_O|₊
  + rᵀK_OO⁻¹r]``

(the constants of :mod:`kronlmm.core.likelihood`; with nothing missing they are that
module's likelihoods).

**Method.** K_OO has no Kronecker structure, but K does: with ``P = K⁻¹`` (a structured
product through the joint whitening of :mod:`kronlmm.core.whitening`, O(n·k·p) per
n × p matrix) and ``S = P_MM`` (m × m), the Schur-complement identities

    ``K_OO⁻¹ = P_OO − P_OM S⁻¹ P_MO``,      ``log|K_OO| = log|K| + log|S|``

reduce the observed-data likelihood to structured products and one m × m Cholesky
factorisation. For a vector v filled arbitrarily on M, ``K_OO⁻¹ v_O`` is ``P w``
restricted to O, where w is v with ``v_M`` replaced by ``v_M − S⁻¹(P v)_M`` (then
``(P w)_M = 0``): two structured products. The gradient follows from
``d log|K_OO| = tr(K_OO⁻¹ dK_OO) = tr(P dK) − tr(S⁻¹ (P dK P)_MM)``, whose second term is
evaluated block by block per pair of traits in the whitened coordinates, and from the
derivative of the quadratic forms (``d(K_OO⁻¹) = −K_OO⁻¹ dK_OO K_OO⁻¹``).

**Cost.** With k the rank of G: S costs O(k·m²) to form and O(m³) to factorise, its
inverse enters the gradient at O(k·m² + m³); the structured products cost O(n·k·p) per
column of ``[y, M]``. Memory O(m² + n·p·r_O). Exact, but quadratic/cubic in the number
of missing values, so meant for up to a few thousand missing entries.

All computations are in the internal units of
:class:`~kronlmm.core.projections.TraitScaling` (trait t divided by dₜ, GGᵀ by g²);
the likelihood changes by the known constant ``−Σₜ nₜ log dₜ`` (nₜ the observed values of
trait t) and, for REML, ``−½ log|Q_Oᵀ D_O⁻² Q_O|`` (Q_O an orthonormal basis of the
columns of M_O, D_O the trait scales at O), which are added back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from .likelihood import LikelihoodTerms
from .linalg import EconomicSVD, orthonormal_basis, spd_factor
from .numerics import LOG2PI
from .projections import TraitScaling
from .whitening import SingularCovarianceError, WhitenedKron2Sum, joint_whitening

__all__ = ["ObservedData", "ObservedLikelihood", "observed_trait_sd"]

#: Most missing values the exact engine takes: its m × m matrix S = (K⁻¹)_MM then needs
#: 3.2 GB (a few copies of it are alive during an evaluation).
MAX_MISSING = 20_000

#: Eigenvalues of the observed design's Gram matrix at or below this fraction of the
#: largest count as zero (the observed design is then rank deficient).
DESIGN_RTOL = 1e-10


def observed_trait_sd(
    Y: NDArray[np.float64], X: NDArray[np.float64], observed: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Root mean square of each trait's observed values after their least-squares fit on
    the rows of X where the trait is observed (1 when nothing is left).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.missing_likelihood import observed_trait_sd
    >>> Y = np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0]])
    >>> observed_trait_sd(Y, np.ones((3, 1)), ~np.isnan(Y)).round(6).tolist()
    [1.632993, 1.0]
    """
    p = Y.shape[1]
    sd = np.ones(p)
    for t in range(p):
        rows = observed[:, t]
        y, x = Y[rows, t], X[rows]
        if y.size == 0:
            continue
        q = orthonormal_basis(x).Q
        r = y
        for _ in range(2):
            r = r - q @ (q.T @ r)
        v = float(np.sqrt(np.mean(r * r)))
        sd[t] = v if v > 0 else 1.0
    return sd


@dataclass(frozen=True)
class ObservedData:
    """The data of a Kron2Sum problem with missing values, reduced once (internal units).

    Attributes
    ----------
    n, p : int
    observed : ndarray (n, p) of bool
    Yu : ndarray (n, p)
        ``Y diag(d)⁻¹`` minus its least-squares fit on the observed design, 0 where missing.
    U : ndarray (n, k)
        Left singular vectors of G.
    S2 : ndarray (k,)
        Non-zero eigenvalues of GGᵀ divided by g².
    miss_rows, miss_traits : ndarray (m,)
        Sample and trait of each missing entry, ordered by trait (column-major vec).
    miss_bounds : ndarray (p + 1,)
        The missing entries of trait t are ``miss_bounds[t]:miss_bounds[t + 1]``.
    UM : ndarray (m, k)
        Rows of U at the missing entries.
    perp_MM : ndarray (m, m) or None
        ``(I − UUᵀ)`` at the missing entries' samples (None when k = n).
    MT : ndarray (n, p, r)
        An orthonormal basis (over O) of the observed design, as n × p matrices, 0 where
        missing: ``MT = (Aq ⊗ Xq) T`` in internal units.
    W : ndarray (a′c′, r)
        ``(Aq ⊗ Xq)ᵀ``-coordinates of the basis (``Hfull = W H_T Wᵀ``).
    T : ndarray (a′c′, r)
        Basis coefficients to those of ``Aq ⊗ Xq`` (minimum norm).
    beta0 : ndarray (r,)
        The least-squares fit removed from Yu, in basis coefficients.
    Tx, Ta : ndarray
        From coefficients of ``Xq``, ``Aq`` to those of X, A (as in KronProjections).
    nobs : ndarray (p,)
        Observed values per trait.
    scaling : TraitScaling
    lml_offset : float
        Added to the internal lml (see the module docstring).
    restricted : bool
        REML (True) or ML (False).
    n_restricted : int
        Number of leading basis columns (of MT) whose REML term enters the likelihood:
        all of them for REML, 0 for ML, and those spanning ``(Iₚ ⊗ U⊥)_O`` for ML with
        ``perp_restricted``.
    perp_restricted : bool
        Whether the likelihood is that of the observed contrasts orthogonal to
        ``(Iₚ ⊗ U⊥)_O`` (U⊥ a basis of the null space of GGᵀ), the observed-data
        counterpart of :class:`~kronlmm.core.projections.KronProjections`' projection onto
        span(U); the first ``n_restricted`` columns of MT then span ``(Iₚ ⊗ U⊥)_O`` and B
        is not estimated by this engine (NaN).
    """

    n: int
    p: int
    observed: NDArray[np.bool_]
    Yu: NDArray[np.float64]
    U: NDArray[np.float64]
    S2: NDArray[np.float64]
    miss_rows: NDArray[np.intp]
    miss_traits: NDArray[np.intp]
    miss_bounds: NDArray[np.intp]
    UM: NDArray[np.float64]
    perp_MM: NDArray[np.float64] | None
    MT: NDArray[np.float64]
    W: NDArray[np.float64]
    T: NDArray[np.float64]
    beta0: NDArray[np.float64]
    Tx: NDArray[np.float64]
    Ta: NDArray[np.float64]
    nobs: NDArray[np.intp]
    scaling: TraitScaling
    lml_offset: float
    restricted: bool
    n_restricted: int = 0
    perp_restricted: bool = False

    @property
    def k(self) -> int:
        """Rank of G."""
        return int(self.S2.size)

    @property
    def m(self) -> int:
        """Number of missing entries."""
        return int(self.miss_rows.size)

    @property
    def rank_M(self) -> int:
        """r_O = rank(M_O), the rank of the observed design."""
        return int(self.MT.shape[2])

    @classmethod
    def build(
        cls,
        Y: NDArray[np.float64],
        A: NDArray[np.float64],
        X: NDArray[np.float64],
        svd: EconomicSVD,
        restricted: bool,
        trait_sd: NDArray[np.float64] | None = None,
        perp_restricted: bool = False,
    ) -> ObservedData:
        """Reduce Y (n × p, NaN where missing), A (p × a), X (n × c) and G's SVD.

        ``perp_restricted``: the likelihood of the observed contrasts orthogonal to
        ``(Iₚ ⊗ U⊥)_O`` (see the class docstring); with complete data it is the (ML or
        REML) likelihood of the data projected onto span(U).

        Raises
        ------
        ValueError
            If the observed design has rank 0, or Y has more than :data:`MAX_MISSING`
            missing values.
        """
        n, p = Y.shape
        observed = ~np.isnan(Y)
        m = int(np.sum(~observed))
        if m > MAX_MISSING:
            raise ValueError(
                f"Y has {m} missing values: the exact observed-data likelihood works with an "
                f"m × m matrix ({8 * m * m / 1e9:.3g} GB), more than the {MAX_MISSING} missing "
                "values it is meant for; use missing='complete-case' (workflow: "
                "--missing-traits complete-case), or fewer traits or samples"
            )
        if trait_sd is None:
            trait_sd = observed_trait_sd(Y, X, observed)
        d = np.asarray(trait_sd, dtype=float)
        S2 = np.asarray(svd.S2, dtype=float)
        U = np.asarray(svd.U, dtype=float)
        k = S2.size
        g = float(np.sqrt(np.sum(S2) / n)) if k else 1.0
        xb = orthonormal_basis(X)
        ab = orthonormal_basis(A / d[:, None])
        Xq, Aq = xb.Q, ab.Q
        a, c = Aq.shape[1], Xq.shape[1]
        obsf = observed.astype(float)
        design = np.einsum("ic,ta->itac", Xq, Aq).reshape(n, p, a * c) * obsf[:, :, None]
        R = np.zeros((n, p, 0))
        if perp_restricted:
            Up = _complement_basis(U)
            R = np.einsum("ij,ts->itsj", Up, np.eye(p)).reshape(n, p, -1) * obsf[:, :, None]
            QR, _ = _observed_basis(R)
            resid = design - QR @ np.einsum("itj,itq->jq", QR, design)
            Q2, _ = _observed_basis(resid)
            MT = np.concatenate([QR, Q2], axis=2)
            n_restr = MT.shape[2] if restricted else QR.shape[2]
            T = np.zeros((a * c, MT.shape[2]))  # B is not estimated in this mode
            Wc = np.zeros_like(T)
        else:
            MT, T = _observed_basis(design)
            if MT.shape[2] == 0:
                raise ValueError(
                    "the observed mean design (A ⊗ X at the observed values) has rank 0"
                )
            Wc = design.reshape(n * p, -1).T @ MT.reshape(n * p, -1)  # design = MT Wcᵀ
            n_restr = MT.shape[2] if restricted else 0
        r = MT.shape[2]
        Yd = np.where(observed, Y, 0.0) / d[None, :]
        Yu = Yd
        beta0 = np.zeros(r)
        for _ in range(2):
            coef = np.einsum("itj,it->j", MT, Yu)
            Yu = Yu - np.einsum("itj,j->it", MT, coef)
            beta0 = beta0 + coef
        mask = np.isnan(Y).ravel(order="F")
        flat = np.flatnonzero(mask)
        miss_rows = (flat % n).astype(np.intp)
        miss_traits = (flat // n).astype(np.intp)
        bounds = np.searchsorted(miss_traits, np.arange(p + 1)).astype(np.intp)
        UM = U[miss_rows]
        perp = None
        if k < n:
            perp = (miss_rows[:, None] == miss_rows[None, :]).astype(float) - UM @ UM.T
        nobs = observed.sum(axis=0).astype(np.intp)
        offset = -float(np.sum(nobs * np.log(d)))
        if restricted or perp_restricted:
            # −½ log|Q_Oᵀ D_O⁻² Q_O| for an orthonormal basis Q_O (data units) of what the
            # REML term is over: (A ⊗ X)_O, (Iₚ ⊗ U⊥)_O, or both
            parts = [R]
            if restricted:
                Ab = orthonormal_basis(A).Q
                dd = np.einsum("ic,ta->itac", Xq, Ab).reshape(n, p, -1) * obsf[:, :, None]
                parts.append(dd)
            Qd, _ = _observed_basis(np.concatenate(parts, axis=2))
            inner = np.einsum("itj,t,itl->jl", Qd, 1.0 / d**2, Qd)
            offset -= 0.5 * float(np.linalg.slogdet((inner + inner.T) / 2)[1])
        return cls(
            n=n,
            p=p,
            observed=observed,
            Yu=Yu,
            U=U,
            S2=S2 / g**2,
            miss_rows=miss_rows,
            miss_traits=miss_traits,
            miss_bounds=bounds,
            UM=UM,
            perp_MM=perp,
            MT=MT,
            W=Wc,
            T=T,
            beta0=beta0,
            Tx=xb.T,
            Ta=ab.T,
            nobs=nobs,
            scaling=TraitScaling(d, g),
            lml_offset=offset,
            restricted=bool(restricted),
            n_restricted=int(n_restr),
            perp_restricted=bool(perp_restricted),
        )


def _observed_basis(
    C: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """An orthonormal basis (as n × p matrices, Σ over all entries) of the span of the
    columns ``C[:, :, j]`` (already 0 where missing), and the map T with ``Q = C T``
    (eigenvalues of the Gram at or below :data:`DESIGN_RTOL` of the largest dropped)."""
    n, p, q = C.shape
    if q == 0:
        return np.zeros((n, p, 0)), np.zeros((0, 0))
    Cf = C.reshape(n * p, q)
    gram = Cf.T @ Cf
    w, V = np.linalg.eigh((gram + gram.T) / 2)
    top = float(w[-1])
    keep = w > DESIGN_RTOL * top if top > 0 else np.zeros(q, dtype=bool)
    T = V[:, keep] / np.sqrt(w[keep])[None, :]
    Q = (Cf @ T).reshape(n, p, -1)
    # one re-orthonormalisation step against rounding
    Qf = Q.reshape(n * p, -1)
    g2 = Qf.T @ Qf
    L = np.linalg.cholesky((g2 + g2.T) / 2)
    Linv = sla.solve_triangular(L, np.eye(L.shape[0]), lower=True).T
    return (Qf @ Linv).reshape(n, p, -1), T @ Linv


def _complement_basis(U: NDArray[np.float64]) -> NDArray[np.float64]:
    """An orthonormal basis (n × (n − k)) of the orthogonal complement of span(U), U with
    orthonormal columns (n × k)."""
    n, k = U.shape
    if k >= n:
        return np.zeros((n, 0))
    full = np.linalg.qr(U, mode="complete")[0]  # first k columns span U
    return np.ascontiguousarray(full[:, k:])


class ObservedLikelihood:
    """Observed-data likelihood engine (missing phenotypes); see the module docstring.

    Parameters
    ----------
    data : ObservedData
        The data, reduced once.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.linalg import economic_svd
    >>> from kronlmm.core.missing_likelihood import ObservedData, ObservedLikelihood
    >>> from kronlmm.testing import dense_ml_lml
    >>> rng = np.random.default_rng(0)
    >>> n, p = 6, 2
    >>> Y, X, G = rng.normal(size=(n, p)), np.ones((n, 1)), rng.normal(size=(n, 3))
    >>> Y[1, 0] = Y[4, 1] = np.nan
    >>> engine = ObservedLikelihood(ObservedData.build(Y, np.eye(p), X, economic_svd(G), False))
    >>> C0, C1 = np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[1.0, 0.1], [0.1, 2.0]])
    >>> K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))
    >>> O = ~np.isnan(Y.ravel(order="F"))
    >>> dense = dense_ml_lml(Y.ravel(order="F")[O], np.kron(np.eye(p), X)[O], K[np.ix_(O, O)])
    >>> bool(np.isclose(engine.evaluate(C0, C1).lml, dense, rtol=1e-12))
    True
    """

    def __init__(self, data: ObservedData) -> None:
        self.data = data

    @property
    def restricted(self) -> bool:
        """REML (True) or ML (False)."""
        return self.data.restricted

    @property
    def nobs(self) -> int:
        """N_o, the number of observed values."""
        return int(np.sum(self.data.nobs))

    def whiten(self, C0: NDArray[np.float64], C1: NDArray[np.float64]) -> WhitenedKron2Sum:
        """Whitened covariance of the full K at C₀, C₁ given in the units of the data."""
        dt = self.data
        C0u, C1u = dt.scaling.to_unit(C0, C1)
        return WhitenedKron2Sum(dt.S2, dt.n, joint_whitening(C0u, C1u))

    def evaluate(
        self, C0: NDArray[np.float64], C1: NDArray[np.float64], gradient: bool = False
    ) -> LikelihoodTerms:
        """Evaluate at C₀, C₁ (units of the data); see the module docstring."""
        dt = self.data
        try:
            wt = self.whiten(C0, C1)
        except SingularCovarianceError:
            wt = None
        if wt is None or wt.singular:
            return self._singular()
        ops = _Operators(dt, wt)
        if ops.Sf is None:
            return self._singular()
        return _evaluate(dt, wt, ops, gradient)

    def _singular(self) -> LikelihoodTerms:
        dt = self.data
        nan = np.full((dt.Tx.shape[0], dt.Ta.shape[0]), np.nan)
        return LikelihoodTerms(lml=-np.inf, B=nan, quad=np.nan, H=spd_factor(np.zeros((0, 0))))

    def solve_observed(
        self, C0: NDArray[np.float64], C1: NDArray[np.float64], V: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``K_OO⁻¹ v_O`` for each n × p matrix ``V[:, :, j]`` (internal units), returned as
        n × p matrices, 0 where missing (what the scanners need)."""
        wt = self.whiten(C0, C1)
        ops = _Operators(self.data, wt)
        if ops.Sf is None:
            raise SingularCovarianceError("K is singular at the observed values")
        return ops.q_apply(V)

    def missing_precision_factor(
        self, C0: NDArray[np.float64], C1: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], float]:
        """The lower Cholesky factor of ``S = (K⁻¹)_MM`` (m × m, internal units) and
        ``log|K_OO|`` in the units of the data, at C₀, C₁."""
        wt = self.whiten(C0, C1)
        ops = _Operators(self.data, wt)
        if ops.Sf is None or wt.singular:
            raise SingularCovarianceError("K is singular at the observed values")
        d = self.data.scaling.trait_sd
        logdet = wt.logdet + ops.Sf.logdet + 2.0 * float(np.sum(self.data.nobs * np.log(d)))
        return ops.Sf.L, float(logdet)


class _Operators:
    """``P = K⁻¹`` as a structured product and ``S = P_MM``, at one whitening."""

    def __init__(self, dt: ObservedData, wt: WhitenedKron2Sum) -> None:
        self.dt, self.wt = dt, wt
        self.invD = 1.0 / wt.D  # (k, p)
        self.il1 = wt.inv_lam1
        Lh = wt.Lh
        self.Sf: _Cholesky | None = None
        if dt.m == 0:
            self.Sf = _Cholesky(np.zeros((0, 0)))
            return
        b = dt.miss_bounds
        p = dt.p
        # c[l, t, s] = Σᵤ Lhᵤₜ Lhᵤₛ / Dₗᵤ;  e[t, s] = Σᵤ Lhᵤₜ Lhᵤₛ / λ₁ᵤ
        cw = np.einsum("ut,us,lu->lts", Lh, Lh, self.invD)
        e = (Lh.T * self.il1[None, :]) @ Lh
        S = np.empty((dt.m, dt.m))
        for t in range(p):
            st = slice(b[t], b[t + 1])
            if b[t] == b[t + 1]:
                continue
            for s in range(t, p):
                ss = slice(b[s], b[s + 1])
                if b[s] == b[s + 1]:
                    continue
                blk = (dt.UM[st] * cw[:, t, s][None, :]) @ dt.UM[ss].T
                if dt.perp_MM is not None:
                    blk += e[t, s] * dt.perp_MM[st, ss]
                S[st, ss] = blk
                if s != t:
                    S[ss, st] = blk.T
        try:
            self.Sf = _Cholesky(S)
        except np.linalg.LinAlgError:
            self.Sf = None

    def p_apply(self, V: NDArray[np.float64]) -> NDArray[np.float64]:
        """``P V`` for a stack of n × p matrices ``V`` (n, p, b)."""
        dt, wt = self.dt, self.wt
        n, p, nb = V.shape
        Wm = np.matmul(wt.Lh, V)  # (n, p, b): Wᵢ = Lh Vᵢ, i.e. V Lhᵀ per sample
        Wf = Wm.reshape(n, p * nb)
        UW = dt.U.T @ Wf  # (k, p·b)
        out = dt.U @ (UW.reshape(-1, p, nb) * self.invD[:, :, None]).reshape(-1, p * nb)
        if wt.nperp:
            out += (Wf - dt.U @ UW) * np.repeat(self.il1, nb)[None, :]
        res: NDArray[np.float64] = np.matmul(wt.Lh.T, out.reshape(n, p, nb))
        return res

    def q_apply(self, V: NDArray[np.float64]) -> NDArray[np.float64]:
        """``K_OO⁻¹ V_O`` as n × p matrices (0 where missing), for a stack (n, p, b)."""
        dt = self.dt
        if dt.m == 0:
            return self.p_apply(V)
        assert self.Sf is not None
        PV = self.p_apply(V)
        alpha = self.Sf.solve(PV[dt.miss_rows, dt.miss_traits])  # (m, b)
        Wv = V.copy()
        Wv[dt.miss_rows, dt.miss_traits] -= alpha
        out = self.p_apply(Wv)
        out[dt.miss_rows, dt.miss_traits] = 0.0  # zero up to rounding: make it exact
        return out


class _Cholesky:
    """Cholesky factor of an SPD matrix with its log-determinant and inverse."""

    def __init__(self, S: NDArray[np.float64]) -> None:
        self.m = S.shape[0]
        if self.m == 0:
            self.L = S
            self.logdet = 0.0
            return
        self.L = sla.cholesky(S, lower=True, check_finite=False)
        ld = np.diag(self.L)
        if not np.all(ld > 0) or not np.all(np.isfinite(ld)):
            raise np.linalg.LinAlgError("S is not positive definite")
        self.logdet = 2.0 * float(np.sum(np.log(ld)))

    def solve(self, b: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = sla.cho_solve((self.L, True), b, check_finite=False)
        return out

    def inverse(self) -> NDArray[np.float64]:
        return self.solve(np.eye(self.m))


def _evaluate(
    dt: ObservedData, wt: WhitenedKron2Sum, ops: _Operators, gradient: bool
) -> LikelihoodTerms:
    assert ops.Sf is not None
    n, p, r = dt.n, dt.p, dt.rank_M
    V = np.concatenate([dt.Yu[:, :, None], dt.MT], axis=2)
    QV = ops.q_apply(V)
    Qy, QM = QV[:, :, 0], QV[:, :, 1:]
    HT = dt.MT.reshape(n * p, r).T @ QM.reshape(n * p, r)
    HT = (HT + HT.T) / 2
    Hf = spd_factor(HT)
    bvec = np.einsum("itj,it->j", dt.MT, Qy)
    beta = Hf.solve(bvec)
    Qr = Qy - QM @ beta
    resid = dt.Yu - dt.MT @ beta
    quad = float(np.sum(resid * Qr))
    logdet = wt.logdet + ops.Sf.logdet
    nobs = float(np.sum(dt.nobs))
    nr = dt.n_restricted
    HR = Hf if nr == r else spd_factor(HT[:nr, :nr])
    if nr:
        lml_u = -0.5 * ((nobs - HR.rank) * LOG2PI + logdet + HR.logdet + quad)
    else:
        lml_u = -0.5 * (nobs * LOG2PI + logdet + quad)
    a, c = dt.Ta.shape[1], dt.Tx.shape[1]
    coef = dt.T @ (beta + dt.beta0)  # coefficients of Aq ⊗ Xq (a outer, c inner)
    Br = coef.reshape(a, c).T
    B = dt.Tx @ Br @ dt.Ta.T
    if dt.perp_restricted:
        B = np.full_like(B, np.nan)
    Hfull = dt.W @ HT @ dt.W.T
    out = LikelihoodTerms(
        lml=float(lml_u + dt.lml_offset),
        B=B,
        quad=quad,
        H=spd_factor((Hfull + Hfull.T) / 2),
        Ta=dt.Ta,
        Tx=dt.Tx,
        Br=Br,
    )
    if not gradient:
        return out
    Lh = wt.Lh
    S2 = dt.S2
    UZ = dt.U.T @ Qr  # (k, p)
    P0 = UZ.T @ (S2[:, None] * UZ)
    P1 = Qr.T @ Qr
    w0, w1 = wt.trace_weights(S2)
    Phi0, Phi1 = _missing_trace_terms(dt, wt, ops)
    T0 = Lh.T @ (np.diag(w0) - Phi0) @ Lh
    T1 = Lh.T @ (np.diag(w1) - Phi1) @ Lh
    M0u = 0.5 * (P0 - T0)
    M1u = 0.5 * (P1 - T1)
    if nr:
        Hinv = HR.inverse()
        QR = np.ascontiguousarray(QM[:, :, :nr])
        UQ = (dt.U.T @ QR.reshape(n, p * nr)).reshape(-1, p, nr)  # (k, p, nr)
        UQH = UQ @ Hinv
        M0u += 0.5 * np.einsum("ltj,l,lsj->ts", UQ, S2, UQH)
        M1u += 0.5 * np.einsum("itj,isj->ts", QR, QR @ Hinv)
    M0u = (M0u + M0u.T) / 2
    M1u = (M1u + M1u.T) / 2
    out.M0, out.M1 = dt.scaling.gradient_from_unit(M0u, M1u)
    return out


def _missing_trace_terms(
    dt: ObservedData, wt: WhitenedKron2Sum, ops: _Operators
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Whitened ``Φ₀, Φ₁`` with ``tr(S⁻¹ (P dK P)_MM) = tr(dĈ₀ Φ₀) + tr(dĈ₁ Φ₁)``,
    ``dĈ = Lh dC Lhᵀ`` (internal units).

    With ``g[t, s, l] = Σ_{j∈Mₜ, j′∈Mₛ} UM_jl (S⁻¹)_jj′ UM_j′l`` and
    ``Hₗ = Lh gₗ Lhᵀ``: ``Φ₀ᵤᵥ = Σₗ S2ₗ Hₗᵤᵥ / (DₗᵤDₗᵥ)``, ``Φ₁ᵤᵥ = Σₗ Hₗᵤᵥ / (DₗᵤDₗᵥ)
    + (Lh gp Lhᵀ)ᵤᵥ / (λ₁ᵤλ₁ᵥ)`` with ``gp[t, s] = Σ (S⁻¹ ∘ (I − UUᵀ)_MM)`` over the block.
    """
    p, k = dt.p, dt.k
    if dt.m == 0:
        return np.zeros((p, p)), np.zeros((p, p))
    assert ops.Sf is not None
    Sinv = ops.Sf.inverse()
    b = dt.miss_bounds
    g = np.zeros((p, p, k))
    gp = np.zeros((p, p))
    for s in range(p):
        ss = slice(b[s], b[s + 1])
        if b[s] == b[s + 1]:
            continue
        Zs = Sinv[:, ss] @ dt.UM[ss]  # (m, k)
        prod = dt.UM * Zs
        for t in range(p):
            st = slice(b[t], b[t + 1])
            if b[t] == b[t + 1]:
                continue
            g[t, s] = prod[st].sum(axis=0)
            if dt.perp_MM is not None:
                gp[t, s] = float(np.sum(Sinv[st, ss] * dt.perp_MM[st, ss]))
    Lh = wt.Lh
    H = np.einsum("ut,tsl,vs->luv", Lh, g, Lh)  # (k, p, p)
    invD = ops.invD
    Hs = H * invD[:, :, None] * invD[:, None, :]
    Phi0 = np.einsum("l,luv->uv", dt.S2, Hs)
    Phi1 = Hs.sum(axis=0)
    if wt.nperp:
        il1 = ops.il1
        Phi1 = Phi1 + il1[:, None] * (Lh @ gp @ Lh.T) * il1[None, :]
    return (Phi0 + Phi0.T) / 2, (Phi1 + Phi1.T) / 2
