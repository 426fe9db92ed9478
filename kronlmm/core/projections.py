"""Data projections of the Kron2Sum model, computed once.

Model (Y: n × p, column-major vec)::

    vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

With ``GGᵀ = U diag(S2) Uᵀ`` (U: n × k), every quantity of the likelihood and its gradient
is a function of ``UᵀY``, ``UᵀX`` and the Gram matrices of the parts of Y and X orthogonal
to U (:class:`KronProjections`), plus p × p eigen-problems.

**Internal units.** The projections describe the problem in units in which it is well
scaled, whatever the units of the data (:class:`TraitScaling`): trait t is divided by its
standard deviation dₜ after the covariates, ``GGᵀ`` by its average diagonal g², and X and
A are replaced by orthonormal bases of their column spans. The likelihood changes by an
exactly known constant (``lml_offset``) and C₀, C₁ and gradients convert in closed form,
so what the model reports is in the units of the data. This makes fits invariant to the
units of Y, G and X (a trait in mm and one in km, a kinship times 10⁶).

**When the likelihood has no maximum.** Let ⊥ be the complement of span(U) (dimension
``n − k``; the null space of GGᵀ) and q the rank of the part of X in ⊥. On ⊥ the covariance
is C₁ alone, and the mean can absorb q of its dimensions, leaving ``e = n − k − q``. If
``e < p`` (ML, with ``n > k``) or ``0 < e < p`` (REML), some trait combination has no
residual left in ⊥ and the likelihood grows without limit as C₁ becomes singular along it
— the fit would end on an artificial floor. The common case is ML with a centred genetic
relationship matrix (``1ₙ`` spans its null space) and an intercept. There the ⊥ part of
the data is projected out (``drop_perp``): the likelihood is that of
``(Iₚ ⊗ Uᵀ) vec(Y)``, the data in span(U), with mean design ``A ⊗ UᵀX`` (GEMMA's
constants computed for that design), which is bounded. Estimates of B are then computed
from all the data (the GLS estimate at the fitted C₀, C₁), not from the projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from .linalg import EconomicSVD, orthonormal_basis

__all__ = ["KronProjections", "TraitScaling", "remove_design_fit", "unbounded_likelihood"]

#: Singular values of ``UᵀXq`` (cosines between span(X) and span(U)) above ``1 − COS_ONE``
#: count as directions of X inside span(U), those below ``COS_ZERO`` as orthogonal to it.
COS_ONE = 1e-8
COS_ZERO = 1e-8


@dataclass(frozen=True)
class TraitScaling:
    """Units of the internal problem: ``Y = Yᵤ·diag(d)``, ``GGᵀ = g²·(GGᵀ)ᵤ``.

    With ``D = diag(d)``: ``C₀ = D C₀ᵤ D / g²``, ``C₁ = D C₁ᵤ D`` and the gradient
    matrices ``∂lml/∂C₀ = g² D⁻¹ M₀ᵤ D⁻¹``, ``∂lml/∂C₁ = D⁻¹ M₁ᵤ D⁻¹``.

    Attributes
    ----------
    trait_sd : ndarray (p,)
        dₜ: the standard deviation of trait t after regressing out X.
    genetic : float
        g: the square root of the average diagonal of GGᵀ (1 when G has no non-zero
        singular value).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.projections import TraitScaling
    >>> sc = TraitScaling(np.array([2.0, 10.0]), 3.0)
    >>> C0u, C1u = sc.to_unit(np.diag([36.0, 900.0]), np.diag([4.0, 100.0]))
    >>> C0u.diagonal().round(12).tolist(), C1u.diagonal().round(12).tolist()
    ([81.0, 81.0], [1.0, 1.0])
    """

    trait_sd: NDArray[np.float64]
    genetic: float

    @cached_property
    def _inverse_outer(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(g²·D⁻¹ 1 1ᵀ D⁻¹, D⁻¹ 1 1ᵀ D⁻¹)`` as p × p arrays (element-wise factors)."""
        inv = 1.0 / self.trait_sd
        outer = inv[:, None] * inv[None, :]
        return outer * self.genetic**2, outer

    def to_unit(
        self, C0: NDArray[np.float64], C1: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(C₀ᵤ, C₁ᵤ)`` from C₀, C₁ in the units of the data."""
        f0, f1 = self._inverse_outer
        return C0 * f0, C1 * f1

    def from_unit(
        self, C0u: NDArray[np.float64], C1u: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """C₀, C₁ in the units of the data from ``(C₀ᵤ, C₁ᵤ)``."""
        d = self.trait_sd
        outer = d[:, None] * d[None, :]
        return C0u * outer / self.genetic**2, C1u * outer

    def gradient_from_unit(
        self, M0u: NDArray[np.float64], M1u: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(∂lml/∂C₀, ∂lml/∂C₁)`` in the units of the data from the internal ones."""
        f0, f1 = self._inverse_outer
        return M0u * f0, M1u * f1


def remove_design_fit(
    Y: NDArray[np.float64], Xq: NDArray[np.float64], Aq: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``Y₀ = Y − Xq B Aqᵀ`` with B the least-squares fit of ``vec(Y)`` on ``Aq ⊗ Xq``.

    ``Xq`` (n × c′) and ``Aq`` (p × a′) have orthonormal columns. One step of refinement
    makes Y₀ orthogonal to the design to the rounding of its own (small) entries, not of
    Y's. Returns ``(Y₀, B)`` with B of shape (c′, a′).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.projections import remove_design_fit
    >>> Y = np.array([[1e6 + 1.0], [1e6 - 1.0]])
    >>> Xq = np.ones((2, 1)) / np.sqrt(2.0)
    >>> Y0, B = remove_design_fit(Y, Xq, np.ones((1, 1)))
    >>> Y0.ravel().tolist()
    [1.0, -1.0]
    """
    c, a = Xq.shape[1], Aq.shape[1]
    B = np.zeros((c, a))
    if c == 0 or a == 0:
        return Y.copy(), B
    Y0 = Y
    for _ in range(2):
        coef = Xq.T @ Y0 @ Aq
        Y0 = Y0 - Xq @ coef @ Aq.T
        B += coef
    return Y0, B


@dataclass(frozen=True)
class KronProjections:
    """The data of a Kron2Sum problem, reduced once to what every evaluation needs.

    All arrays are in the internal units described in the module docstring: Y is
    ``Yᵤ = Y₀ diag(d)⁻¹`` where ``Y₀`` is Y minus its least-squares fit on the mean design,
    ``S2`` is divided by g², ``Xq`` (n × c′) and ``Aq`` (p × a′) are orthonormal bases of
    the spans of X (restricted to the directions K can see, for ML; see the module
    docstring) and of ``diag(d)⁻¹A``. Subscript ⊥ marks the part orthogonal to U.

    Attributes
    ----------
    n : int
        Dimension per trait of the data the likelihood is of: the number of samples, or k
        when ``perp_dropped``.
    p : int
    S2 : ndarray (k,)
    UY, UX : ndarray (k, p), (k, c′)
        ``UᵀYᵤ``, ``UᵀXq``.
    Syy, Sxy, Sxx : ndarray (p, p), (c′, p), (c′, c′)
        ``Y⊥ᵀY⊥``, ``X⊥ᵀY⊥``, ``X⊥ᵀX⊥``.
    nperp : int
        Dimension of the complement: ``n − k``.
    Aq : ndarray (p, a′)
    XtY, YtY : ndarray (c′, p), (p, p)
        ``XqᵀYᵤ`` and ``YᵤᵀYᵤ`` (for starting values).
    Tx, Ta : ndarray (c, c′), (a, a′)
        Map basis coefficients B′ to the minimum-norm coefficients ``B = Tx B′ Taᵀ`` of
        the original X and A.
    B_off : ndarray (c′, a′)
        The least-squares fit removed from Yᵤ, in basis coefficients.
    perp_dropped : bool
        Whether the part of the data in the complement of U was projected out because the
        likelihood would have no maximum (module docstring); ``Syy``, ``Sxy``, ``Sxx`` are
        then zero, ``nperp`` is 0 and ``UX`` is an orthonormal basis of ``UᵀXq``.
    scaling : TraitScaling
    lml_offset : float
        Added to the internal log-likelihood to give the one of the data in its own
        units, with the GEMMA/glimix-core constants (see :mod:`kronlmm.core.likelihood`).
    restricted : bool
        REML (True) or ML (False).
    rank_A, rank_X : int
        a′ and c′ (the ranks of A and X, before any projection).
    """

    n: int
    p: int
    S2: NDArray[np.float64]
    UY: NDArray[np.float64]
    UX: NDArray[np.float64]
    Syy: NDArray[np.float64]
    Sxy: NDArray[np.float64]
    Sxx: NDArray[np.float64]
    nperp: int
    Aq: NDArray[np.float64]
    XtY: NDArray[np.float64]
    YtY: NDArray[np.float64]
    Tx: NDArray[np.float64]
    Ta: NDArray[np.float64]
    B_off: NDArray[np.float64]
    perp_dropped: bool
    scaling: TraitScaling
    lml_offset: float
    restricted: bool
    rank_A: int
    rank_X: int

    @property
    def k(self) -> int:
        """Number of non-zero eigenvalues of GGᵀ."""
        return int(self.S2.size)

    @property
    def rank_M(self) -> int:
        """rank(A ⊗ X) of the design of the likelihood: the REML degrees of freedom removed."""
        return int(self.Aq.shape[1] * self.UX.shape[1])

    @classmethod
    def build(
        cls,
        Y: NDArray[np.float64],
        A: NDArray[np.float64],
        X: NDArray[np.float64],
        svd: EconomicSVD,
        restricted: bool,
        trait_sd: NDArray[np.float64] | None = None,
        drop_perp: bool | None = None,
    ) -> tuple[KronProjections, NDArray[np.float64], NDArray[np.float64]]:
        """Build the projections; also return the n-sized ``Xq`` and ``Yᵤ`` (for scans).

        Parameters
        ----------
        Y : (n, p), A : (p, a), X : (n, c)
        svd : EconomicSVD of G
        restricted : bool
            REML or ML.
        trait_sd : ndarray (p,), optional
            Units of the traits (default: their standard deviation after X).
        drop_perp : bool, optional
            Project out the complement of U; default (None): exactly when the likelihood
            would have no maximum (:func:`unbounded_likelihood`).

        Returns
        -------
        (KronProjections, Xq (n × c′), Yᵤ (n × p))
        """
        n, p = Y.shape
        xb = orthonormal_basis(X)
        Xq, Tx = xb.Q, xb.T
        if trait_sd is None:
            trait_sd = _trait_sd(Y, Xq)
        d = np.asarray(trait_sd, dtype=float)
        S2 = np.asarray(svd.S2, dtype=float)
        U = svd.U
        k = S2.size
        g = float(np.sqrt(np.sum(S2) / n)) if k else 1.0
        ab = orthonormal_basis(A / d[:, None])
        Aq, Ta = ab.Q, ab.T
        Yu, B_off = remove_design_fit(Y / d[None, :], Xq, Aq)
        UY = U.T @ Yu
        UXq = U.T @ Xq
        if drop_perp is None:
            drop_perp = unbounded_likelihood(n, p, UXq, restricted)
        rank_design_X = xb.rank
        if drop_perp:
            # orthonormal basis of UᵀXq; directions of X invisible in span(U) (cosine at
            # rounding level: Xq has unit columns) carry no information and are dropped
            P, cos, Vt = np.linalg.svd(UXq, full_matrices=False)
            keep = cos > COS_ZERO
            P, cos, V = P[:, keep], cos[keep], Vt[keep].T
            UXq, Tx = P, Tx @ (V / cos[None, :])
            B_off = (cos[:, None] * V.T) @ B_off  # same fit: Xq B_off ↦ P (Σ Vᵀ B_off)
            rank_U = int(np.sum(keep))
            Syy, Sxy, Sxx = np.zeros((p, p)), np.zeros((rank_U, p)), np.zeros((rank_U, rank_U))
            n_eff, rank_design_X = k, rank_U
            XtY = UXq.T @ UY
            YtY = UY.T @ UY
        else:
            if k == n:  # U spans ℝⁿ: the orthogonal parts are exactly zero
                Yp = np.zeros_like(Yu)
                Xp = np.zeros_like(Xq)
            else:
                Yp = Yu - U @ UY
                Xp = Xq - U @ UXq
            Syy, Sxy, Sxx = Yp.T @ Yp, Xp.T @ Yp, Xp.T @ Xp
            n_eff = n
            XtY = Xq.T @ Yu
            YtY = Yu.T @ Yu
        logdet_d = float(np.sum(np.log(d)))
        offset = -n_eff * logdet_d
        if restricted:
            offset += 0.5 * rank_design_X * (orthonormal_basis(A).log_pdet_gram - ab.log_pdet_gram)
        proj = cls(
            n=n_eff,
            p=p,
            S2=S2 / g**2,
            UY=UY,
            UX=UXq,
            Syy=Syy,
            Sxy=Sxy,
            Sxx=Sxx,
            nperp=n_eff - k,
            Aq=Aq,
            XtY=XtY,
            YtY=YtY,
            Tx=Tx,
            Ta=Ta,
            B_off=B_off,
            perp_dropped=bool(drop_perp),
            scaling=TraitScaling(d, g),
            lml_offset=float(offset),
            restricted=bool(restricted),
            rank_A=ab.rank,
            rank_X=xb.rank,
        )
        return proj, Xq, Yu


def unbounded_likelihood(n: int, p: int, UXq: NDArray[np.float64], restricted: bool) -> bool:
    """Whether the (restricted) likelihood has no maximum for generic data.

    ``UXq = UᵀXq`` (k × c′) for an orthonormal basis ``Xq`` of span(X). With
    ``q = c′ − #{singular values of UXq equal to 1}`` (the rank of the part of X outside
    span(U)) and ``e = n − k − q``: ML is unbounded when ``n > k`` and ``e < p``, REML when
    ``0 < e < p`` (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.projections import unbounded_likelihood
    >>> n = 10
    >>> U = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))[0]
    >>> Uk = U[:, 1:]  # a centred kinship: span(U) is the complement of 1ₙ …
    >>> Uk = Uk - np.outer(np.ones(n) / n, np.ones(n)) @ Uk
    >>> Uk = np.linalg.qr(Uk)[0][:, : n - 1]
    >>> Xq = np.ones((n, 1)) / np.sqrt(n)  # … and X is an intercept
    >>> unbounded_likelihood(n, 2, Uk.T @ Xq, restricted=False)
    True
    >>> unbounded_likelihood(n, 2, Uk.T @ Xq, restricted=True)
    False
    """
    k, c = UXq.shape
    if c:
        sv = np.linalg.svd(UXq, compute_uv=False)
        inside = int(np.sum(sv >= 1.0 - COS_ONE))
    else:
        inside = 0
    e = n - k - (c - inside)
    if restricted:
        return bool(0 < e < p)
    return bool(n > k and e < p)


def _trait_sd(Y: NDArray[np.float64], Xq: NDArray[np.float64]) -> NDArray[np.float64]:
    """Root mean square of each trait after its least-squares fit on X (1 if it has none
    left: such traits are rejected by the models before this matters)."""
    R = Y
    for _ in range(2):
        R = R - Xq @ (Xq.T @ R)
    sd = np.sqrt(np.mean(R * R, axis=0))
    return np.where(sd > 0, sd, 1.0)
