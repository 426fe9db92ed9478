"""Data projections of the Kron2Sum model, computed once.

Model (Y: n × p, column-major vec)::

    vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

With ``GGᵀ = U diag(S2) Uᵀ`` (U: n × k), every quantity of the likelihood and its gradient
is a function of ``UᵀY``, ``UᵀX`` and the Gram matrices of the parts of Y and X orthogonal
to U (:class:`KronProjections`), plus p × p eigen-problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from .linalg import column_basis

__all__ = ["KronProjections", "remove_design_fit"]


@dataclass(frozen=True)
class KronProjections:
    """Data projections of the Kron2Sum model, computed once in O(n·k·(p + c)).

    ``Xr = X Vx`` and ``Ar = A Va`` are full-column-rank reparameterisations of the
    designs (``Vx``, ``Va`` orthonormal bases of their row spaces), so that
    ``rank(A ⊗ X) = a′·c′`` and ``B = Vx B′ Vaᵀ`` is the minimum-norm solution.
    Subscript ⊥ marks the part orthogonal to U: ``Y⊥ = Y − U UᵀY``.

    ``Y`` enters only through ``Y₀ = Y − Xr B_off Arᵀ``, Y minus its least-squares fit in
    the span of ``Ar ⊗ Xr`` (see :func:`remove_design_fit`). GLS residuals and likelihoods
    are unchanged by that shift, the estimates shift by ``B_off``, and the Gram matrices
    stay accurate for traits with a large mean (no cancellation of ``n·mean²`` terms).
    """

    n: int
    p: int
    S2: NDArray[np.float64]  # (k,)
    UY: NDArray[np.float64]  # UᵀY (k, p)
    UX: NDArray[np.float64]  # UᵀXr (k, c′)
    Syy: NDArray[np.float64]  # Y⊥ᵀY⊥ (p, p)
    Sxy: NDArray[np.float64]  # Xr⊥ᵀY⊥ (c′, p)
    Sxx: NDArray[np.float64]  # Xr⊥ᵀXr⊥ (c′, c′)
    Ar: NDArray[np.float64]  # A Va (p, a′)
    Vx: NDArray[np.float64]  # (c, c′)
    Va: NDArray[np.float64]  # (a, a′)
    logdet_MtM: float  # log|(Ar ⊗ Xr)ᵀ(Ar ⊗ Xr)|
    XtX: NDArray[np.float64]  # XrᵀXr (c′, c′)
    XtY: NDArray[np.float64]  # XrᵀY₀ (c′, p)
    YtY: NDArray[np.float64]  # Y₀ᵀY₀ (p, p)
    B_off: NDArray[np.float64]  # (c′, a′) least-squares fit removed from Y

    @property
    def k(self) -> int:
        return self.S2.size

    @property
    def rank_M(self) -> int:
        """rank(A ⊗ X) = rank(A)·rank(X): the REML degrees of freedom removed."""
        return self.Ar.shape[1] * self.UX.shape[1]

    @classmethod
    def build(
        cls,
        Y: NDArray[np.float64],
        A: NDArray[np.float64],
        X: NDArray[np.float64],
        U: NDArray[np.float64],
        S2: NDArray[np.float64],
    ) -> KronProjections:
        n, p = Y.shape
        Vx = column_basis(X)
        Va = column_basis(A)
        Xr = X @ Vx
        Ar = A @ Va
        Y, B_off = remove_design_fit(Y, Xr, Ar)
        UY = U.T @ Y
        UX = U.T @ Xr
        if U.shape[1] == n:  # U spans ℝⁿ: the orthogonal parts are exactly zero
            Yp = np.zeros_like(Y)
            Xp = np.zeros_like(Xr)
        else:
            Yp = Y - U @ UY
            Xp = Xr - U @ UX
        XtX = Xr.T @ Xr
        logdet_MtM = 0.0
        if Vx.shape[1] and Va.shape[1]:
            logdet_MtM = (
                Xr.shape[1] * np.linalg.slogdet(Ar.T @ Ar)[1]
                + Ar.shape[1] * np.linalg.slogdet(XtX)[1]
            )
        return cls(
            n=n,
            p=p,
            S2=S2,
            UY=UY,
            UX=UX,
            Syy=Yp.T @ Yp,
            Sxy=Xp.T @ Yp,
            Sxx=Xp.T @ Xp,
            Ar=Ar,
            Vx=Vx,
            Va=Va,
            logdet_MtM=float(logdet_MtM),
            XtX=XtX,
            XtY=Xr.T @ Y,
            YtY=Y.T @ Y,
            B_off=B_off,
        )


def remove_design_fit(
    Y: NDArray[np.float64], Xr: NDArray[np.float64], Ar: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``Y₀ = Y − Xr B Arᵀ`` with B the least-squares fit of ``vec(Y)`` on ``Ar ⊗ Xr``.

    Uses orthonormal bases (QR) and one step of refinement, so Y₀ is orthogonal to the
    design to rounding of its own (small) entries, not of Y's. Returns ``(Y₀, B)``.
    """
    c, a = Xr.shape[1], Ar.shape[1]
    B = np.zeros((c, a))
    if c == 0 or a == 0:
        return Y.copy(), B
    Qx, Rx = np.linalg.qr(Xr)
    Qa, Ra = np.linalg.qr(Ar)
    Y0 = Y
    for _ in range(2):
        coef = Qx.T @ Y0 @ Qa  # (c′, a′) in the orthonormal bases
        Y0 = Y0 - Qx @ coef @ Qa.T
        B += sla.solve_triangular(Rx, sla.solve_triangular(Ra, coef.T, lower=False).T)
    return Y0, B
