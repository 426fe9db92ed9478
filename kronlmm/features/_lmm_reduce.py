"""Summary statistics → the small per-feature problems that the LMM fit works on.

Model, for every feature (row) ``y`` of Y::

    y ~ N(X β,  σ² H(γ)),   H(γ) = Iₙ + Σ_k γ_k Z_k Z_kᵀ,   θ_k = σ² γ_k ≥ 0.

Two factorisations of q × q Gram matrices carry everything (``E`` has full column rank)::

    REML basis:  C = ZᵀRZ = E Eᵀ     (R = I − X(XᵀX)⁻¹Xᵀ, the residual projection of X)
    ML basis:    ZᵀZ = E₀ E₀ᵀ

With ``F_k = E_kᵀ E_k`` (E_k: the rows of E belonging to component k) the r × r matrix
``M(γ) = I + Σ_k γ_k F_k`` is linear in γ and, projected on an orthonormal basis Q of the
span of RZ, each feature's REML problem is exactly::

    a = QᵀRy ~ N(0, σ² M(γ)),    e = ‖Ry‖² − ‖a‖² ~ σ² χ²_{n−p−r}

so that yᵀPy = e + aᵀM⁻¹a (P: the REML projection of H) and
log|H| + log|XᵀH⁻¹X| = log|XᵀX| + log|M|. The ML log-determinant log|H| = log|M₀| uses the
ML basis, and so do the fixed effects: with X̃ = Q₀ᵀX, ỹ = Q₀ᵀy (Q₀ an orthonormal basis of
the span of Z), XᵀH⁻¹X = X⊥ᵀX⊥ + X̃ᵀM₀⁻¹X̃ and XᵀH⁻¹y = X⊥ᵀy + X̃ᵀM₀⁻¹ỹ.

Nothing here touches n-sized arrays; the per-feature data are a (r numbers), e, ỹ (r₀
numbers) and X⊥ᵀy (p numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Eigenvalues of a Gram matrix at or below this fraction of the largest one are taken as
#: exact zeros (directions of Z explained by X, or linear dependence between the columns of Z).
RANK_RTOL = 1e-9

#: A sum of squares at or below this fraction of ‖y‖² is rounding noise of the summary
#: statistics (they are computed from ‖y‖², XᵀY, ZᵀY: cancellation leaves ~ε‖y‖²).
SUMMARY_RTOL = 1e3 * np.finfo(float).eps


def einsum(spec: str, *operands: FloatArray) -> FloatArray:
    """``np.einsum`` typed as returning a float array."""
    out: FloatArray = np.einsum(spec, *operands)
    return out


@dataclass(frozen=True)
class ComponentBasis:
    """A factor ``E`` (q × r, full column rank) of a q × q Gram matrix, rotated so that the
    block of the largest component (``lead``) gives a diagonal ``F_lead = diag(lam)``.

    ``F`` (K, r, r) holds every ``F_k = E_kᵀE_k``; ``coords`` (q × r) maps a vector g in the
    span of the Gram matrix to its coordinates ``coordsᵀ g``. ``W`` (s × r) stacks the rows
    of E of the other components (``owner[i]``: the component of row i), so that

        M(γ) = I + Σ_k γ_k F_k = diag(1 + γ_lead lam) + Wᵀ diag(γ_owner) W,

    a diagonal plus a rank-s update. ``lowrank`` says to use that form (s ≤ r/2; always for
    one component, where s = 0).
    """

    E: FloatArray
    F: FloatArray
    coords: FloatArray
    lead: int
    lam: FloatArray
    W: FloatArray
    owner: NDArray[np.intp]

    @property
    def rank(self) -> int:
        return int(self.E.shape[1])

    @property
    def ncomponents(self) -> int:
        return int(self.F.shape[0])

    @property
    def lowrank(self) -> bool:
        return bool(2 * self.W.shape[0] <= self.rank)


def component_basis(gram: FloatArray, d: tuple[int, ...]) -> ComponentBasis:
    """Factor a q × q positive semi-definite ``gram`` = E Eᵀ and split E by the blocks ``d``."""
    gram = 0.5 * (gram + gram.T)
    w, U = np.linalg.eigh(gram)
    top = float(w.max()) if w.size else 0.0
    keep = w > RANK_RTOL * top if top > 0 else np.zeros(w.shape, dtype=bool)
    root = np.sqrt(w[keep])
    E = U[:, keep] * root
    coords = U[:, keep] / root
    r = E.shape[1]
    bounds = np.cumsum(d)[:-1]
    if not d:
        return ComponentBasis(
            E, np.zeros((0, r, r)), coords, -1, np.zeros(r), np.zeros((0, r)), np.zeros(0, int)
        )
    lead = int(np.argmax(d))
    lead_rows = np.split(E, bounds, axis=0)[lead]
    if len(d) == 1:
        lam = w[keep].copy()  # E = U√w: F = EᵀE = diag(w) already
    else:
        lam, V = np.linalg.eigh(lead_rows.T @ lead_rows)
        lam = np.maximum(lam, 0.0)
        E, coords = E @ V, coords @ V
    blocks = np.split(E, bounds, axis=0)
    F = np.stack([b.T @ b for b in blocks])
    F[lead] = np.diag(lam)
    others = [k for k in range(len(d)) if k != lead]
    W = np.vstack([blocks[k] for k in others]) if others else np.zeros((0, r))
    owner = np.repeat(np.array(others, dtype=np.intp), [d[k] for k in others])
    return ComponentBasis(E, F, coords, lead, lam, W, owner)


@dataclass(frozen=True)
class ReducedProblem:
    """Everything the fit needs, per feature and common; see the module docstring."""

    n: int
    p: int
    d: tuple[int, ...]
    reml: ComponentBasis
    ml: ComponentBasis
    a: FloatArray  # (m, r) REML coordinates QᵀRy
    e: FloatArray  # (m,) ‖Ry‖² − ‖a‖², the residual sum of squares after X and Z
    rho: FloatArray  # (m,) ‖Ry‖², the residual sum of squares after X
    ynorm: FloatArray  # (m,) ‖y‖²
    Xt: FloatArray  # (r0, p) Q₀ᵀX
    Gperp: FloatArray  # (p, p) X⊥ᵀX⊥
    yt: FloatArray  # (m, r0) Q₀ᵀy
    Xperp_y: FloatArray  # (m, p) X⊥ᵀy
    logdet_XX: float

    @property
    def nfeatures(self) -> int:
        return int(self.a.shape[0])

    @property
    def ncomponents(self) -> int:
        return len(self.d)

    def subset(self, idx: NDArray[np.intp]) -> ReducedProblem:
        """The same problem for the features ``idx`` only."""
        return replace(
            self,
            a=self.a[idx],
            e=self.e[idx],
            rho=self.rho[idx],
            ynorm=self.ynorm[idx],
            yt=self.yt[idx],
            Xperp_y=self.Xperp_y[idx],
        )

    def no_variance(self) -> NDArray[np.bool_]:
        """Features with nothing left after X (constant, all zero, or in the span of X)."""
        return self.rho <= SUMMARY_RTOL * self.ynorm

    def no_residual(self) -> NDArray[np.bool_]:
        """Features explained exactly by X and Z (σ² → 0, γ → ∞)."""
        return (self.e <= SUMMARY_RTOL * self.ynorm) & ~self.no_variance()


def reduce_summary(
    XX: FloatArray,
    XY: FloatArray,
    ZX: FloatArray,
    ZY: FloatArray,
    ZZ: FloatArray,
    Ynorm: FloatArray,
    n: int,
    d: tuple[int, ...],
) -> ReducedProblem:
    """Build the :class:`ReducedProblem` (inputs already validated: XX positive definite)."""
    p = XX.shape[0]
    chol = np.linalg.cholesky(XX)
    logdet_XX = 2.0 * float(np.log(np.diagonal(chol)).sum())

    def xx_solve(b: FloatArray) -> FloatArray:
        out: FloatArray = np.linalg.solve(chol.T, np.linalg.solve(chol, b))
        return out

    beta_ols = xx_solve(XY)  # (p, m)
    rho = Ynorm - np.einsum("pm,pm->m", XY, beta_ols)
    rho = np.maximum(rho, 0.0)
    if ZZ.shape[0]:
        C = ZZ - ZX @ xx_solve(ZX.T)
        c = ZY - ZX @ beta_ols  # (q, m)
    else:
        C = np.zeros((0, 0))
        c = np.zeros((0, XY.shape[1]))
    reml = component_basis(C, d)
    a = np.ascontiguousarray((reml.coords.T @ c).T)
    e = np.maximum(rho - np.einsum("mr,mr->m", a, a), 0.0)
    ml = component_basis(ZZ, d)
    yt = np.ascontiguousarray((ml.coords.T @ ZY).T)
    Xt = ml.coords.T @ ZX
    Gperp = XX - Xt.T @ Xt
    Gperp = 0.5 * (Gperp + Gperp.T)
    Xperp_y = np.ascontiguousarray((XY - Xt.T @ yt.T).T)
    return ReducedProblem(
        n=int(n),
        p=int(p),
        d=tuple(int(x) for x in d),
        reml=reml,
        ml=ml,
        a=a,
        e=e,
        rho=rho,
        ynorm=np.asarray(Ynorm, dtype=float),
        Xt=Xt,
        Gperp=Gperp,
        yt=yt,
        Xperp_y=Xperp_y,
        logdet_XX=logdet_XX,
    )
