"""Joint whitening of a pair of trait covariances and the whitened Kron2Sum covariance.

For ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ`` with ``GGᵀ = U diag(S2) Uᵀ`` (U: n × k), a p × p matrix
``Lh`` that diagonalises C₀ and C₁ together (``Lh C₀ Lhᵀ = diag(λ₀)``,
``Lh C₁ Lhᵀ = diag(λ₁)``) turns K into a diagonal matrix (Casale et al. 2015): with
``Uₓ = [U, U⊥]`` orthonormal,

    (Lh ⊗ Uₓᵀ) K (Lh ⊗ Uₓᵀ)ᵀ = diag(D),   D[i, t] = S2ᵢ λ₀ₜ + λ₁ₜ  (i ≤ k),   λ₁ₜ  (i > k).

``Lh`` is normalised against a reference ``C_ref`` (``Lh C_ref Lhᵀ = I``): C₁ itself when it
is well conditioned (then λ₁ = 1, the usual case and the most accurate one), else
``C₀ + C₁``, which keeps the whitening defined when C₁ is singular but K is not — e.g. a
single-trait model at δ = 0 with a full-rank kinship (then λ₀ + λ₁ = 1).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .linalg import small_eigh

__all__ = ["Whitening", "joint_whitening", "WhitenedKron2Sum", "SingularCovarianceError"]

#: C₁ is used as the whitening reference when its smallest eigenvalue exceeds this fraction
#: of its largest; otherwise ``C₀ + C₁`` is.
C1_REFERENCE_RCOND = 1e-12


class SingularCovarianceError(np.linalg.LinAlgError, ValueError):
    """K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ is singular at the given C₀, C₁ (the message says why).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.whitening import SingularCovarianceError, joint_whitening
    >>> try:
    ...     joint_whitening(np.zeros((2, 2)), np.diag([1.0, 0.0]))
    ... except SingularCovarianceError as err:
    ...     print("singular")
    singular
    """


class Whitening(NamedTuple):
    """Joint diagonalisation of a pair of trait covariances (C₀ ⪰ 0, C₁ ⪰ 0).

    Attributes
    ----------
    Lh : ndarray, shape (p, p)
        ``Lh C_ref Lhᵀ = I``, ``Lh C₀ Lhᵀ = diag(lam0)``, ``Lh C₁ Lhᵀ = diag(lam1)``.
    lam0, lam1 : ndarray, shape (p,)
        The diagonals, ≥ 0.
    logdet_ref : float
        ``log|C_ref|`` (C_ref = C₁, or C₀ + C₁ when C₁ is near singular).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.whitening import joint_whitening
    >>> C0, C1 = np.array([[2.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 0.2], [0.2, 2.0]])
    >>> wh = joint_whitening(C0, C1)
    >>> bool(np.allclose(wh.Lh @ C1 @ wh.Lh.T, np.diag(wh.lam1)))
    True
    >>> bool(np.allclose(wh.Lh @ C0 @ wh.Lh.T, np.diag(wh.lam0)))
    True
    """

    Lh: NDArray[np.float64]
    lam0: NDArray[np.float64]
    lam1: NDArray[np.float64]
    logdet_ref: float


def joint_whitening(C0: NDArray[np.float64], C1: NDArray[np.float64]) -> Whitening:
    """Return ``Lh`` with ``Lh C₀ Lhᵀ`` and ``Lh C₁ Lhᵀ`` diagonal (see the module docstring).

    Raises
    ------
    SingularCovarianceError
        If ``C₀ + C₁`` is singular (then K is singular for any G), or C₁ is not positive
        semi-definite.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.whitening import joint_whitening
    >>> wh = joint_whitening(np.array([[3.0]]), np.array([[0.0]]))  # δ = 0: C₁ = 0
    >>> wh.lam0.tolist(), wh.lam1.tolist()
    ([1.0], [0.0])
    """
    C0 = (C0 + C0.T) / 2
    C1 = (C1 + C1.T) / 2
    w1, E1 = small_eigh(C1)
    top = float(w1[-1]) if w1.size else 0.0
    if w1.size and w1[0] > C1_REFERENCE_RCOND * top and w1[0] > 0:
        W = E1 / np.sqrt(w1)[None, :]  # Wᵀ C₁ W = I
        M = W.T @ C0 @ W
        lam, E = small_eigh((M + M.T) / 2)
        return Whitening(
            E.T @ W.T, np.maximum(lam, 0.0), np.ones_like(lam), float(np.log(w1).sum())
        )
    if w1.size and w1[0] < -1e-8 * max(abs(top), 1e-300):
        raise SingularCovarianceError(
            f"C1 is not positive semi-definite (smallest eigenvalue {w1[0]:.3g})"
        )
    wr, Er = small_eigh(C0 + C1)
    if not wr.size or wr[0] <= C1_REFERENCE_RCOND * max(float(wr[-1]), 0.0) or wr[0] <= 0:
        raise SingularCovarianceError(
            "C0 + C1 is singular: some combination of traits has no variance, so K = C0 ⊗ GGᵀ "
            "+ C1 ⊗ I is singular"
        )
    W = Er / np.sqrt(wr)[None, :]  # Wᵀ (C₀ + C₁) W = I
    M = W.T @ C0 @ W
    lam, E = small_eigh((M + M.T) / 2)
    lam0 = np.clip(lam, 0.0, 1.0)
    return Whitening(E.T @ W.T, lam0, 1.0 - lam0, float(np.sum(np.log(wr))))


class WhitenedKron2Sum:
    """The covariance K in its whitened coordinates.

    Parameters
    ----------
    S2 : ndarray (k,)
        Non-zero eigenvalues of GGᵀ.
    n : int
        Number of samples (rows of K per trait); ``n − k`` rows lie in the complement of U.
    wh : Whitening
        From :func:`joint_whitening`.
    nperp : int, optional
        Dimension of the complement of U that the data occupy (default ``n − k``; smaller
        when directions were projected out of the data, see
        :class:`~kronlmm.core.projections.KronProjections`).

    Attributes
    ----------
    Lh : ndarray (p, p)
    lam0, lam1 : ndarray (p,)
    D : ndarray (k, p)
        ``S2ᵢ λ₀ₜ + λ₁ₜ``.
    n, nperp : int
    logdet : float
        ``log|K| = Σ log D + nperp·Σ log λ₁ + (k + nperp)·log|C_ref|`` (−inf if singular).
    singular : bool

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.whitening import WhitenedKron2Sum, joint_whitening
    >>> S2 = np.array([2.0, 0.5])  # GGᵀ = diag(2, 0.5, 0) for n = 3
    >>> C0, C1 = np.array([[1.0]]), np.array([[0.5]])
    >>> wt = WhitenedKron2Sum(S2, 3, joint_whitening(C0, C1))
    >>> K = np.diag([2.0 * 1.0 + 0.5, 0.5 * 1.0 + 0.5, 0.5])
    >>> bool(np.isclose(wt.logdet, np.linalg.slogdet(K)[1]))
    True
    """

    def __init__(
        self, S2: NDArray[np.float64], n: int, wh: Whitening, nperp: int | None = None
    ) -> None:
        k = S2.size
        self.Lh = wh.Lh
        self.lam0 = wh.lam0
        self.lam1 = wh.lam1
        self.D = S2[:, None] * wh.lam0[None, :] + wh.lam1[None, :]
        self.n = n
        self.nperp = n - k if nperp is None else int(nperp)
        # D ≥ 0 and λ₁ ≥ 0 by construction: K is singular where one is zero (or NaN)
        lam1_pos = bool(wh.lam1.min() > 0) if wh.lam1.size else True
        d_pos = bool(self.D.min() > 0) if self.D.size else True
        self.singular = not (d_pos and (lam1_pos or not self.nperp))
        logd = float(np.log(self.D).sum()) if self.D.size and not self.singular else 0.0
        log1 = float(np.log(wh.lam1).sum()) if self.nperp and not self.singular else 0.0
        if lam1_pos:
            self._inv_lam1 = 1.0 / wh.lam1
        else:
            pos = wh.lam1 > 0
            self._inv_lam1 = np.where(pos, 1.0 / np.where(pos, wh.lam1, 1.0), 0.0)
        self._invD: NDArray[np.float64] | None = None
        self.logdet = (
            -np.inf
            if self.singular
            else logd + self.nperp * log1 + (k + self.nperp) * wh.logdet_ref
        )

    @property
    def inv_lam1(self) -> NDArray[np.float64]:
        """``1/λ₁`` (the whitened precision of the complement of U; 0 where λ₁ = 0, which
        only happens when the data have no component there)."""
        return self._inv_lam1

    @property
    def invD(self) -> NDArray[np.float64]:
        """``1/D`` (computed once)."""
        if self._invD is None:
            self._invD = 1.0 / self.D
        return self._invD

    def trace_weights(
        self, S2: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Diagonals ``w0, w1`` of the trace of ``K⁻¹ dK`` in whitened coordinates.

        ``tr(K⁻¹ dK) = tr(Lh dC₀ Lhᵀ diag w0) + tr(Lh dC₁ Lhᵀ diag w1)`` with
        ``w0ₜ = Σᵢ S2ᵢ / Dᵢₜ`` and ``w1ₜ = Σᵢ 1 / Dᵢₜ + nperp / λ₁ₜ``.
        """
        invD = self.invD
        w0 = S2 @ invD
        w1 = invD.sum(axis=0) + self.nperp * self.inv_lam1
        return w0, w1
