"""The Kron2Sum likelihood engine: ML and REML log-likelihood and gradient, n-free.

Model (Y: n × p, column-major vec)::

    vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

with B profiled (its GLS estimate). With N = n·p, ``M = A ⊗ X`` of rank m, ``r`` the GLS
residual and ``|·|₊`` the product of non-zero eigenvalues:

- ML:   ``lml = −½ [N log 2π + log|K| + rᵀK⁻¹r]``;
- REML: ``lml = −½ [(N − m) log 2π − log|MᵀM|₊ + log|K| + log|MᵀK⁻¹M|₊ + rᵀK⁻¹r]``

(the constants of GEMMA and glimix-core, so values compare directly). ML projects out the
covariate directions that K cannot see, if any (:mod:`kronlmm.core.projections`).

A *likelihood engine* owns the data of one problem and evaluates the likelihood at any
trait covariances (C₀, C₁) in the units of the data. :class:`WhitenedLikelihood` is the
engine for complete data: after :class:`~kronlmm.core.projections.KronProjections` it
works in the whitened coordinates of :mod:`kronlmm.core.whitening`, where K is diagonal,
and one evaluation costs O(k·p·(p + c²a²)) with no n-sized array (k: rank of G, c and a:
ranks of X and A). Other engines (e.g. for missing values) implement the same
:class:`LikelihoodEngine` protocol, so models and optimisers need not know which they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .linalg import SPDFactor, spd_factor
from .numerics import LOG2PI
from .projections import KronProjections
from .whitening import SingularCovarianceError, WhitenedKron2Sum, joint_whitening

__all__ = ["LikelihoodTerms", "LikelihoodEngine", "WhitenedLikelihood"]


@dataclass
class LikelihoodTerms:
    """One evaluation of a likelihood engine.

    Attributes
    ----------
    lml : float
        Log-likelihood (ML) or restricted log-likelihood (REML), in the units of the data;
        ``-inf`` where K is singular.
    B : ndarray (c, a)
        GLS estimate of B (minimum-norm where A or X is rank deficient; NaN where K is
        singular).
    quad : float
        ``rᵀK⁻¹r`` at the GLS estimate.
    H : SPDFactor
        ``MᵀK⁻¹M`` in the internal orthonormal basis (its rank is ``H.rank``).
    Ta, Tx : ndarray or None
        The maps from internal basis coefficients to those of A and X
        (``vec B = (Ta ⊗ Tx) vec B′``).
    Br : ndarray (c′, a′) or None
        The GLS estimate in the internal basis (for the data minus its least-squares fit).
    M0, M1 : ndarray (p, p) or None
        ``∂lml/∂C₀`` and ``∂lml/∂C₁`` as matrices (``d lml = tr(M0 dC₀) + tr(M1 dC₁)``),
        when the gradient was requested.
    """

    lml: float
    B: NDArray[np.float64]
    quad: float
    H: SPDFactor
    Ta: NDArray[np.float64] | None = None
    Tx: NDArray[np.float64] | None = None
    Br: NDArray[np.float64] | None = None
    M0: NDArray[np.float64] | None = None
    M1: NDArray[np.float64] | None = None

    def beta_covariance(self) -> NDArray[np.float64]:
        """``Cov(vec B̂) = T (MᵀK⁻¹M)⁻¹ Tᵀ`` (column-major vec, c·a × c·a), with T the map
        from the internal basis to the coefficients of X and A (a pseudo-inverse where
        the design is rank deficient)."""
        if self.Ta is None or self.Tx is None:
            m = self.B.size
            return np.full((m, m), np.nan)
        T = np.kron(self.Ta, self.Tx)
        return T @ self.H.inverse() @ T.T


class LikelihoodEngine(Protocol):
    """What a model needs from a likelihood engine."""

    @property
    def restricted(self) -> bool:
        """REML (True) or ML (False)."""
        ...

    def evaluate(
        self, C0: NDArray[np.float64], C1: NDArray[np.float64], gradient: bool = False
    ) -> LikelihoodTerms:
        """The (restricted) log-likelihood at C₀, C₁ (units of the data), B profiled."""
        ...


class WhitenedLikelihood:
    """Complete-data likelihood engine in whitened coordinates.

    Parameters
    ----------
    proj : KronProjections
        The data, reduced once.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.likelihood import WhitenedLikelihood
    >>> from kronlmm.core.linalg import economic_svd
    >>> from kronlmm.core.projections import KronProjections
    >>> from kronlmm.testing import dense_ml_lml
    >>> rng = np.random.default_rng(0)
    >>> n, p = 6, 2
    >>> Y, X, G = rng.normal(size=(n, p)), np.ones((n, 1)), rng.normal(size=(n, 3))
    >>> proj, _, _ = KronProjections.build(Y, np.eye(p), X, economic_svd(G), restricted=False)
    >>> engine = WhitenedLikelihood(proj)
    >>> C0, C1 = np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[1.0, 0.1], [0.1, 2.0]])
    >>> K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))
    >>> dense = dense_ml_lml(Y.ravel(order="F"), np.kron(np.eye(p), X), K)
    >>> bool(np.isclose(engine.evaluate(C0, C1).lml, dense, rtol=1e-12))
    True
    """

    def __init__(self, proj: KronProjections) -> None:
        self.proj = proj

    @property
    def restricted(self) -> bool:
        """REML (True) or ML (False): fixed by the projections."""
        return self.proj.restricted

    def whiten(self, C0: NDArray[np.float64], C1: NDArray[np.float64]) -> WhitenedKron2Sum:
        """Whitened covariance at C₀, C₁ given in the units of the data."""
        pr = self.proj
        C0u, C1u = pr.scaling.to_unit(C0, C1)
        return WhitenedKron2Sum(pr.S2, pr.n, joint_whitening(C0u, C1u), nperp=pr.nperp)

    def evaluate(
        self, C0: NDArray[np.float64], C1: NDArray[np.float64], gradient: bool = False
    ) -> LikelihoodTerms:
        """Evaluate at C₀, C₁ (units of the data); see the module docstring."""
        pr = self.proj
        try:
            wt = self.whiten(C0, C1)
        except SingularCovarianceError:
            wt = None
        if wt is None or wt.singular:
            nan = np.full((pr.Tx.shape[0], pr.Ta.shape[0]), np.nan)
            return LikelihoodTerms(lml=-np.inf, B=nan, quad=np.nan, H=spd_factor(np.zeros((0, 0))))
        return _evaluate(pr, wt, gradient)


def _evaluate(pr: KronProjections, wt: WhitenedKron2Sum, gradient: bool) -> LikelihoodTerms:
    n, p, S2 = pr.n, pr.p, pr.S2
    Lh = wt.Lh
    invD = wt.invD
    il1 = wt.inv_lam1
    At = Lh @ pr.Aq  # (p, a)
    a, c = At.shape[1], pr.UX.shape[1]
    Yt = pr.UY @ Lh.T  # (k, p)
    # GLS system H β = b with H = Σₜ (ãₜãₜᵀ) ⊗ Wₜ, Wₜ = UXᵀ diag(1/Dₜ) UX + Sxx/λ₁ₜ
    k = pr.k
    # Wₜ = UXᵀ diag(1/Dₜ) UX for every t at once: one product (c × k)(k × c·p)
    W = (pr.UX.T @ (pr.UX[:, :, None] * invD[:, None, :]).reshape(k, c * p)).reshape(c, c, p)
    W = W.transpose(2, 0, 1)
    if pr.nperp:
        W = W + il1[:, None, None] * pr.Sxx[None, :, :]
    # H[(a, c), (b, d)] = Σₜ Ãₜₐ Ãₜ_b Wₜ[c, d]: one product (a·a × p)(p × c·c)
    AA = (At[:, :, None] * At[:, None, :]).reshape(p, a * a)
    H = (AA.T @ W.reshape(p, c * c)).reshape(a, a, c, c).transpose(0, 2, 1, 3).reshape(a * c, a * c)
    Z = pr.UX.T @ (Yt * invD)
    if pr.nperp:
        Z += (pr.Sxy @ Lh.T) * il1[None, :]
    b = (Z @ At).ravel(order="F")
    Hf = spd_factor(H)
    beta = Hf.solve(b)
    Br = beta.reshape(a, c).T  # (c, a)
    E = Br @ At.T  # (c, p): whitened fitted effect per trait
    Rt = Yt - pr.UX @ E  # whitened residual, U part
    Zt = Rt * invD  # K⁻¹r in whitened coordinates, U part
    quad = float(np.vdot(Zt, Rt))
    if pr.nperp:
        SyyW = Lh @ pr.Syy @ Lh.T
        SxyW = pr.Sxy @ Lh.T
        Rgram = SyyW - SxyW.T @ E - E.T @ SxyW + E.T @ pr.Sxx @ E
        Rgram = (Rgram + Rgram.T) / 2
        quad += float(Rgram.diagonal() @ il1)
    else:
        Rgram = np.zeros((p, p))
    if pr.restricted:
        N, m = pr.n * p, Hf.rank
        lml_u = -0.5 * ((N - m) * LOG2PI + wt.logdet + Hf.logdet + quad)
    else:
        lml_u = -0.5 * (n * p * LOG2PI + wt.logdet + quad)
    B = pr.Tx @ (Br + pr.B_off) @ pr.Ta.T
    out = LikelihoodTerms(
        lml=float(lml_u + pr.lml_offset),
        B=B,
        quad=quad,
        H=Hf,
        Ta=pr.Ta,
        Tx=pr.Tx,
        Br=Br,
    )
    if not gradient:
        return out

    P0 = Zt.T @ (S2[:, None] * Zt)
    P1 = Zt.T @ Zt
    if pr.nperp:
        P1 += il1[:, None] * Rgram * il1[None, :]
    w0, w1 = wt.trace_weights(S2)
    P0.flat[:: p + 1] -= w0
    P1.flat[:: p + 1] -= w1
    Phi0 = 0.5 * P0
    Phi1 = 0.5 * P1
    if pr.restricted and Hf.rank:
        R0, R1 = _reml_trace_terms(pr, At, invD, il1, Hf.inverse())
        Phi0 += 0.5 * R0
        Phi1 += 0.5 * R1
    M0u = Lh.T @ Phi0 @ Lh
    M1u = Lh.T @ Phi1 @ Lh
    out.M0, out.M1 = pr.scaling.gradient_from_unit((M0u + M0u.T) / 2, (M1u + M1u.T) / 2)
    return out


def _reml_trace_terms(
    pr: KronProjections,
    At: NDArray[np.float64],
    invD: NDArray[np.float64],
    il1: NDArray[np.float64],
    Hinv: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Whitened ``∂ log|MᵀK⁻¹M| / ∂(Lh C Lhᵀ)`` terms with the sign of ``−tr(H⁻¹ ∂H)``.

    ``R0ₜₛ = Σᵢ S2ᵢ Fᵢₜ H⁻¹ Fᵢₛᵀ`` and ``R1ₜₛ = Σᵢ Fᵢₜ H⁻¹ Fᵢₛᵀ + (⊥ part)`` with
    ``Fᵢₜ = ãₜ ⊗ UXᵢ / Dᵢₜ``: formed as ``Σ_cd J[t,c,s,d] Σᵢ wᵢ Vᵢₜ꜀ Vᵢₛd`` where
    ``J = Ã H⁻¹ Ãᵀ`` per covariate pair and ``Vᵢₜ꜀ = UXᵢ꜀ / Dᵢₜ``, which never builds the
    k × p × (a·c) tensor F.
    """
    p, a = At.shape
    c = pr.UX.shape[1]
    k = pr.k
    Hr = Hinv.reshape(a, c, a, c)
    # J[t, c, s, d] = Σ_ab Ãₜₐ H⁻¹[(a,c),(b,d)] Ãₛ_b
    J = np.tensordot(np.tensordot(At, Hr, axes=(1, 0)), At, axes=(2, 1))  # (p, c, c, p)
    J = J.transpose(0, 1, 3, 2)
    V = (pr.UX[:, None, :] * invD[:, :, None]).reshape(k, p * c)  # (k, p·c)
    G1 = (V.T @ V).reshape(p, c, p, c)
    G0 = (V.T @ (pr.S2[:, None] * V)).reshape(p, c, p, c)
    R0 = np.einsum("tcsd,tcsd->ts", J, G0)
    R1 = np.einsum("tcsd,tcsd->ts", J, G1)
    if pr.nperp:
        Q = np.einsum("acbd,cd->ab", Hr, pr.Sxx)
        R1 += il1[:, None] * (At @ Q @ At.T) * il1[None, :]
    return R0, R1
