"""Batched algebra of M(γ) = I + Σ_k γ_k F_k and the profiled log-likelihood in γ.

All functions take a batch of features at once: ``gamma`` is (na, K), data arrays have the
features in their first axis. Each feature has its own r × r matrix M, factored with
NumPy's stacked routines (one call for the whole batch); for one random component M is
diagonal in the basis of :func:`~._lmm_reduce.component_basis` and everything is
elementwise.

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


class BatchFactor:
    """M(γ) = I + Σ_k γ_k F_k for a batch of features (na of them)."""

    def __init__(self, basis: ComponentBasis, gamma: FloatArray, inverse: bool = True) -> None:
        """``inverse=False``: only the log-determinant and :meth:`solve` are needed (no
        explicit M⁻¹; cheaper for the line search)."""
        self.basis = basis
        na = gamma.shape[0]
        r = basis.rank
        self.na = na
        self.mdiag: FloatArray | None = None
        self.Minv: FloatArray | None = None
        self.M: FloatArray | None = None
        if basis.diagonal is not None:
            self.mdiag = 1.0 + gamma @ basis.diagonal
            self.logdet: FloatArray = np.log(self.mdiag).sum(axis=1)
        elif r == 0:
            self.Minv = np.zeros((na, 0, 0))
            self.logdet = np.zeros(na)
        else:
            M = np.einsum("ik,krs->irs", gamma, basis.F)
            M += np.eye(r)
            chol = np.linalg.cholesky(M)
            self.logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
            if inverse:
                Minv = np.linalg.inv(M)
                self.Minv = 0.5 * (Minv + Minv.transpose(0, 2, 1))
            else:
                self.M = M

    # ---- products -----------------------------------------------------------------------
    def solve(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for x of shape (na, r)."""
        if self.mdiag is not None:
            out: FloatArray = x / self.mdiag
            return out
        if self.M is not None:
            sol = np.linalg.solve(self.M, x[:, :, None])
            return np.asarray(sol[:, :, 0], dtype=np.float64)
        assert self.Minv is not None
        return einsum("irs,is->ir", self.Minv, x)

    def solve_matrix(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for a common x of shape (r, c): (na, r, c)."""
        if self.mdiag is not None:
            out: FloatArray = x[None, :, :] / self.mdiag[:, :, None]
            return out
        assert self.Minv is not None
        prod: FloatArray = np.matmul(self.Minv, x)
        return prod

    def solve_matrix_batched(self, x: FloatArray) -> FloatArray:
        """M⁻¹x for per-feature x of shape (na, r, c): (na, r, c)."""
        if self.mdiag is not None:
            out: FloatArray = x / self.mdiag[:, :, None]
            return out
        assert self.Minv is not None
        prod: FloatArray = np.matmul(self.Minv, x)
        return prod

    def times_F(self, x: FloatArray) -> FloatArray:
        """F_k x for every k, x of shape (na, r): (na, K, r)."""
        if self.basis.diagonal is not None:
            out: FloatArray = x[:, None, :] * self.basis.diagonal[None, :, :]
            return out
        return einsum("krs,is->ikr", self.basis.F, x)

    def quad(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """xᵢᵀ M⁻¹ yⱼ for stacks x (na, I, r), y (na, J, r): (na, I, J)."""
        if self.mdiag is not None:
            return einsum("iar,ibr->iab", x / self.mdiag[:, None, :], y)
        assert self.Minv is not None
        return einsum("iar,irs,ibs->iab", x, self.Minv, y)

    # ---- traces -----------------------------------------------------------------------------
    def _A(self) -> FloatArray:
        """A_k = M⁻¹F_k, (na, K, r, r) (general case only)."""
        assert self.Minv is not None
        na, r = self.na, self.basis.rank
        K = self.basis.ncomponents
        if K == 0:
            return np.zeros((na, 0, r, r))
        flat = self.Minv.reshape(na * r, r)
        return np.stack([(flat @ self.basis.F[k]).reshape(na, r, r) for k in range(K)], axis=1)

    def traces(self, second: bool) -> tuple[FloatArray, FloatArray | None]:
        """t_k = tr(M⁻¹F_k) (na, K) and, if ``second``, T_kl = tr(M⁻¹F_k M⁻¹F_l)."""
        if self.mdiag is not None:
            assert self.basis.diagonal is not None
            ratio = self.basis.diagonal[None, :, :] / self.mdiag[:, None, :]  # (na, K, r)
            t: FloatArray = ratio.sum(axis=2)
            T = np.einsum("ikr,ilr->ikl", ratio, ratio) if second else None
            return t, T
        assert self.Minv is not None
        na, r, K = self.na, self.basis.rank, self.basis.ncomponents
        # t_k = tr(M⁻¹F_k) = Σ M⁻¹ ∘ F_k (F_k symmetric): one matrix-vector product
        t = self.Minv.reshape(na, r * r) @ self.basis.F.reshape(K, r * r).T
        if not second:
            return t, None
        A = self._A()
        return t, np.einsum("ikrs,ilsr->ikl", A, A)

    def identity_traces(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """tr(M⁻¹) (na,), tr(M⁻²) (na,) and tr(M⁻²F_k) (na, K)."""
        if self.mdiag is not None:
            assert self.basis.diagonal is not None
            inv = 1.0 / self.mdiag
            tr1: FloatArray = inv.sum(axis=1)
            tr2: FloatArray = (inv * inv).sum(axis=1)
            trk: FloatArray = np.einsum("ir,kr->ik", inv * inv, self.basis.diagonal)
            return tr1, tr2, trk
        assert self.Minv is not None
        tr1 = np.einsum("irr->i", self.Minv)
        tr2 = np.einsum("irs,irs->i", self.Minv, self.Minv)
        trk = np.einsum("irs,iksr->ik", self.Minv, self._A())
        return tr1, tr2, trk


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
    fac = BatchFactor(prob.reml, gamma, inverse=order > 0)
    b = fac.solve(a)
    s = prob.e[idx] + np.einsum("ir,ir->i", a, b)
    tfac = fac if reml else BatchFactor(prob.ml, gamma, inverse=order > 0)
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
