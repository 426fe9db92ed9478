"""Batched algebra of M(γ) = I + Σ_k γ_k F_k and the profiled log-likelihood in γ.

All functions take a batch of features at once: ``gamma`` is (na, K), data arrays have the
features in their first axis. Each feature has its own r × r matrix M. In the basis of
:func:`~._lmm_reduce.component_basis` the largest component's F is diagonal, so

    M = D + Wᵀ Γ W,   D = diag(1 + γ_lead λ),   Γ = diag(γ of the other components' rows),

a diagonal plus a rank-s update (s = columns of the other components; 0 for one
component). :class:`LowRankFactor` works with that form — M⁻¹ = D⁻¹ − QQᵀ with an r × s
matrix Q from an s × s Cholesky factor, O(r s²) per feature — and :class:`DenseFactor`
with NumPy's stacked Cholesky and inverse of the r × r matrices when s is not small.

The profiled log-likelihood (σ² at its maximum for the given γ; constants dropped)::

    REML:  f(γ) = −½[(n − p) log s(γ) + log|M(γ)|]
    ML:    f(γ) = −½[n log s(γ) + log|M₀(γ)|]
    s(γ) = yᵀPy = e + aᵀM⁻¹a

with gradient and Hessian (b = M⁻¹a, u_k = bᵀF_k b, v_kl = (F_k b)ᵀM⁻¹(F_l b),
t_k = tr(M'⁻¹F'_k), T_kl = tr(M'⁻¹F'_k M'⁻¹F'_l), M' = M for REML and M₀ for ML, N the
count in front of log s)::

    ∂f/∂γ_k     = ½[N u_k / s − t_k]
    ∂²f/∂γ_k∂γ_l = −N v_kl / s + ½ N u_k u_l / s² + ½ T_kl
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._lmm_reduce import ComponentBasis, FloatArray, ReducedProblem, einsum


def _sumsq(x: FloatArray, axes: tuple[int, ...]) -> FloatArray:
    out: FloatArray = (x * x).sum(axis=axes)
    return out


class DenseFactor:
    """M(γ) = I + Σ_k γ_k F_k for a batch of features, with explicit r × r inverses."""

    def __init__(self, basis: ComponentBasis, gamma: FloatArray, inverse: bool = True) -> None:
        """``inverse=False``: only the log-determinant and :meth:`solve` are needed."""
        self.basis = basis
        na = gamma.shape[0]
        r = basis.rank
        self.na = na
        self.Minv: FloatArray | None = None
        self.M: FloatArray | None = None
        if r == 0:
            self.Minv = np.zeros((na, 0, 0))
            self.logdet: FloatArray = np.zeros(na)
            return
        M = np.einsum("ik,krs->irs", gamma, basis.F)
        M += np.eye(r)
        chol = np.linalg.cholesky(M)
        self.logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        if inverse:
            Minv = np.linalg.inv(M)
            self.Minv = 0.5 * (Minv + Minv.transpose(0, 2, 1))
        else:
            self.M = M

    def _inv(self) -> FloatArray:
        if self.Minv is None:
            assert self.M is not None
            Minv = np.linalg.inv(self.M)
            self.Minv = 0.5 * (Minv + Minv.transpose(0, 2, 1))
        return self.Minv

    def solve(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for x of shape (na, r)."""
        if self.Minv is None and self.M is not None:
            sol = np.linalg.solve(self.M, x[:, :, None])
            return np.asarray(sol[:, :, 0], dtype=np.float64)
        return einsum("irs,is->ir", self._inv(), x)

    def solve_matrix(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for a common x of shape (r, c): (na, r, c)."""
        prod: FloatArray = np.matmul(self._inv(), x)
        return prod

    def solve_matrix_batched(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for per-feature x of shape (na, r, c): (na, r, c)."""
        prod: FloatArray = np.matmul(self._inv(), x)
        return prod

    def times_F(self, x: FloatArray) -> FloatArray:
        """F_k x for every k, x of shape (na, r): (na, K, r)."""
        return einsum("krs,is->ikr", self.basis.F, x)

    def quad(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """xᵢᵀ M⁻¹ yⱼ for stacks x (na, I, r), y (na, J, r): (na, I, J)."""
        prod: FloatArray = np.matmul(np.matmul(x, self._inv()), y.transpose(0, 2, 1))
        return prod

    def _A(self) -> FloatArray:
        """A_k = M⁻¹F_k, (na, K, r, r)."""
        Minv = self._inv()
        na, r, K = self.na, self.basis.rank, self.basis.ncomponents
        if K == 0:
            return np.zeros((na, 0, r, r))
        flat = Minv.reshape(na * r, r)
        return np.stack([(flat @ self.basis.F[k]).reshape(na, r, r) for k in range(K)], axis=1)

    def traces(self, second: bool) -> tuple[FloatArray, FloatArray | None]:
        """t_k = tr(M⁻¹F_k) (na, K) and, if ``second``, T_kl = tr(M⁻¹F_k M⁻¹F_l)."""
        Minv = self._inv()
        na, r, K = self.na, self.basis.rank, self.basis.ncomponents
        # t_k = tr(M⁻¹F_k) = Σ M⁻¹ ∘ F_k (F_k symmetric): one matrix-vector product
        t: FloatArray = Minv.reshape(na, r * r) @ self.basis.F.reshape(K, r * r).T
        if not second:
            return t, None
        A = self._A()
        return t, einsum("ikrs,ilsr->ikl", A, A)

    def identity_traces(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """tr(M⁻¹) (na,), tr(M⁻²) (na,) and tr(M⁻²F_k) (na, K)."""
        Minv = self._inv()
        tr1 = einsum("irr->i", Minv)
        tr2 = einsum("irs,irs->i", Minv, Minv)
        trk = einsum("irs,iksr->ik", Minv, self._A())
        return tr1, tr2, trk


class LowRankFactor:
    """M(γ) = D + Wᵀ Γ W for a batch of features: M⁻¹ = D⁻¹ − QQᵀ, Q = D⁻¹WᵀΓ^½ L⁻ᵀ with
    L the Cholesky factor of C = I + Γ^½ W D⁻¹ Wᵀ Γ^½ (s × s); log|M| = log|D| + log|C|.

    Traces use factors F_k = Φ_kᵀΦ_k (Φ_lead = diag(√λ), Φ_k = W_k otherwise) and
    Φ_k M⁻¹ Φ_lᵀ = Φ_k D⁻¹ Φ_lᵀ − (Φ_k Q)(Φ_l Q)ᵀ."""

    def __init__(self, basis: ComponentBasis, gamma: FloatArray, inverse: bool = True) -> None:
        del inverse  # nothing explicit to skip: every product costs O(r s)
        self.basis = basis
        na, r = gamma.shape[0], basis.rank
        self.na = na
        W, lam = basis.W, basis.lam
        s = W.shape[0]
        self.Dinv = 1.0 / (1.0 + gamma[:, basis.lead : basis.lead + 1] * lam[None, :])
        logdet = -np.log(self.Dinv).sum(axis=1)
        if s:
            g = np.sqrt(gamma[:, basis.owner])  # (na, s)
            WD = W[None, :, :] * self.Dinv[:, None, :]  # (na, s, r)
            self.WDW: FloatArray = np.matmul(WD, W.T)  # W D⁻¹ Wᵀ (na, s, s)
            C = g[:, :, None] * self.WDW * g[:, None, :]
            C += np.eye(s)
            chol = np.linalg.cholesky(C)
            logdet += 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
            Linv = np.linalg.inv(chol)
            self.Q: FloatArray = np.matmul(
                WD.transpose(0, 2, 1) * g[:, None, :], Linv.transpose(0, 2, 1)
            )
        else:
            self.WDW = np.zeros((na, 0, 0))
            self.Q = np.zeros((na, r, 0))
        self.logdet: FloatArray = logdet

    # ---- products -----------------------------------------------------------------------
    def _Qt(self, x: FloatArray) -> FloatArray:
        """Qᵀx for x (na, r, c): (na, s, c)."""
        prod: FloatArray = np.matmul(self.Q.transpose(0, 2, 1), x)
        return prod

    def solve(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for x of shape (na, r)."""
        out: FloatArray = x * self.Dinv - np.matmul(self.Q, self._Qt(x[:, :, None]))[:, :, 0]
        return out

    def solve_matrix(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for a common x of shape (r, c): (na, r, c)."""
        return self.solve_matrix_batched(np.broadcast_to(x, (self.na, *x.shape)))

    def solve_matrix_batched(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for per-feature x of shape (na, r, c): (na, r, c)."""
        out: FloatArray = x * self.Dinv[:, :, None] - np.matmul(self.Q, self._Qt(x))
        return out

    def times_F(self, x: FloatArray) -> FloatArray:
        """F_k x for every k, x of shape (na, r): (na, K, r)."""
        basis = self.basis
        out = np.empty((self.na, basis.ncomponents, basis.rank))
        if basis.ncomponents == 0:
            return out
        out[:, basis.lead] = x * basis.lam[None, :]
        if basis.W.shape[0]:
            Wx = x @ basis.W.T  # (na, s)
            for k in np.unique(basis.owner):
                rows = basis.owner == k
                out[:, k] = Wx[:, rows] @ basis.W[rows]
        return out

    def quad(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """xᵢᵀ M⁻¹ yⱼ for stacks x (na, I, r), y (na, J, r): (na, I, J)."""
        xQ, yQ = np.matmul(x, self.Q), np.matmul(y, self.Q)
        out: FloatArray = np.matmul(x * self.Dinv[:, None, :], y.transpose(0, 2, 1)) - np.matmul(
            xQ, yQ.transpose(0, 2, 1)
        )
        return out

    # ---- traces -------------------------------------------------------------------------
    def traces(self, second: bool) -> tuple[FloatArray, FloatArray | None]:
        """t_k = tr(M⁻¹F_k) (na, K) and, if ``second``, T_kl = tr(M⁻¹F_k M⁻¹F_l)."""
        basis = self.basis
        K, lead, lam, W, owner = basis.ncomponents, basis.lead, basis.lam, basis.W, basis.owner
        if K == 0:
            return np.zeros((self.na, 0)), (np.zeros((self.na, 0, 0)) if second else None)
        lamD = lam[None, :] * self.Dinv  # (na, r)
        P_lead = np.sqrt(lam)[None, :, None] * self.Q  # Φ_lead Q (na, r, s)
        t = np.empty((self.na, K))
        t[:, lead] = lamD.sum(axis=1) - _sumsq(P_lead, (1, 2))
        others = np.unique(owner)
        if others.size:
            P = np.matmul(W[None], self.Q)  # W Q (na, s, s)
            B_oo = self.WDW - np.matmul(P, P.transpose(0, 2, 1))  # W M⁻¹ Wᵀ
            for k in others:
                rows = np.flatnonzero(owner == k)
                t[:, k] = np.einsum("iaa->i", B_oo[:, rows][:, :, rows])
        if not second:
            return t, None
        T = np.empty((self.na, K, K))
        PtP = np.matmul(P_lead.transpose(0, 2, 1), P_lead)
        T[:, lead, lead] = (
            _sumsq(lamD, (1,))
            - 2.0 * (lamD * _sumsq(P_lead, (2,))).sum(axis=1)
            + _sumsq(PtP, (1, 2))
        )
        if others.size:
            # Φ_lead M⁻¹ Wᵀ = diag(√λ) D⁻¹ Wᵀ − (Φ_lead Q)(W Q)ᵀ   (na, r, s)
            B_lo = (np.sqrt(lam)[None, :] * self.Dinv)[:, :, None] * W.T[None] - np.matmul(
                P_lead, P.transpose(0, 2, 1)
            )
            for k in others:
                rows = np.flatnonzero(owner == k)
                T[:, lead, k] = T[:, k, lead] = _sumsq(B_lo[:, :, rows], (1, 2))
                for j in others:
                    cols = np.flatnonzero(owner == j)
                    T[:, k, j] = _sumsq(B_oo[:, rows][:, :, cols], (1, 2))
        return t, T

    def identity_traces(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """tr(M⁻¹) (na,), tr(M⁻²) (na,) and tr(M⁻²F_k) (na, K)."""
        basis = self.basis
        Dinv, Q, lam, W, owner = self.Dinv, self.Q, basis.lam, basis.W, basis.owner
        rowsq = _sumsq(Q, (2,))  # ‖Q_i‖² (na, r)
        QtQ = np.matmul(Q.transpose(0, 2, 1), Q)
        tr1: FloatArray = Dinv.sum(axis=1) - rowsq.sum(axis=1)
        tr2: FloatArray = (
            _sumsq(Dinv, (1,)) - 2.0 * (Dinv * rowsq).sum(axis=1) + _sumsq(QtQ, (1, 2))
        )
        trk = np.empty((self.na, basis.ncomponents))
        if basis.ncomponents == 0:
            return tr1, tr2, trk
        QtLQ = np.matmul(Q.transpose(0, 2, 1) * lam[None, None, :], Q)
        trk[:, basis.lead] = (
            (lam[None, :] * Dinv * Dinv).sum(axis=1)
            - 2.0 * (lam[None, :] * Dinv * rowsq).sum(axis=1)
            + (QtLQ * QtQ).sum(axis=(1, 2))
        )
        for k in np.unique(owner):
            Wk = W[owner == k]
            WkD = Wk[None] * Dinv[:, None, :]  # W_k D⁻¹ (na, d_k, r)
            Pk = np.matmul(Wk[None], Q)  # W_k Q (na, d_k, s)
            trk[:, k] = (
                _sumsq(WkD, (1, 2))
                - 2.0 * (np.matmul(WkD, Q) * Pk).sum(axis=(1, 2))
                + (np.matmul(Pk.transpose(0, 2, 1), Pk) * QtQ).sum(axis=(1, 2))
            )
        return tr1, tr2, trk


Factor = DenseFactor | LowRankFactor


def make_factor(basis: ComponentBasis, gamma: FloatArray, inverse: bool = True) -> Factor:
    """The factor of M(γ) for a batch: low-rank form when the basis allows it."""
    if basis.lowrank:
        return LowRankFactor(basis, gamma, inverse)
    return DenseFactor(basis, gamma, inverse)


@dataclass
class Profiled:
    """Profiled log-likelihood f(γ) (constants dropped), gradient g, Hessian H, and s."""

    f: FloatArray
    s: FloatArray
    g: FloatArray | None = None
    H: FloatArray | None = None


def count(prob: ReducedProblem, reml: bool) -> int:
    """The N in front of log s: n − p (REML) or n (ML)."""
    return prob.n - prob.p if reml else prob.n


def profiled(
    prob: ReducedProblem, idx: np.ndarray, gamma: FloatArray, reml: bool, order: int
) -> Profiled:
    """f (order 0), plus g (1), plus H (2) at ``gamma`` for the features ``idx``."""
    a = prob.a[idx]
    fac = make_factor(prob.reml, gamma, inverse=order > 0)
    b = fac.solve(a)
    s = prob.e[idx] + np.einsum("ir,ir->i", a, b)
    tfac = fac if reml else make_factor(prob.ml, gamma, inverse=order > 0)
    N = count(prob, reml)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = -0.5 * (N * np.log(s) + tfac.logdet)
    if order == 0:
        return Profiled(f=f, s=s)
    Fb = fac.times_F(b)  # (na, K, r)
    u = np.einsum("ikr,ir->ik", Fb, b)
    t, T = tfac.traces(second=order >= 2)
    g = 0.5 * (N * u / s[:, None] - t)
    if order == 1:
        return Profiled(f=f, s=s, g=g)
    assert T is not None
    v = fac.quad(Fb, Fb)
    s2 = s[:, None, None]
    H = -N * v / s2 + 0.5 * N * u[:, :, None] * u[:, None, :] / s2**2 + 0.5 * T
    return Profiled(f=f, s=s, g=g, H=H)
