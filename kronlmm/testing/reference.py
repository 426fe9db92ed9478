"""An independent brute-force reference for Kron2Sum fits: block-dense likelihood, many starts.

The reference shares no code with the model. It rotates the data once by the full
eigendecomposition of GGᵀ (``GGᵀ = Q diag(s) Qᵀ``, all n eigenvectors, from
:func:`numpy.linalg.eigh`), which makes ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ`` block diagonal with
p × p blocks ``Vᵢ = sᵢ C₀ + C₁``; it then evaluates the Gaussian log-likelihood (ML or
REML, GEMMA's constants) and its gradient with batched dense p × p algebra, and maximises
it with SciPy's L-BFGS-B from many random starts over ``C₀ = L₀L₀ᵀ`` and
``C₁ = L₁L₁ᵀ + diag(f)`` (L₁ lower triangular with a log diagonal kept within e^±20 of the
trait's standard deviation, as the model does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

__all__ = ["BlockLikelihood", "ReferenceFit", "reference_kron2sum_fit"]

_LOG2PI = float(np.log(2 * np.pi))


class BlockLikelihood:
    """The Kron2Sum (restricted) log-likelihood in the eigenbasis of GGᵀ.

    Parameters
    ----------
    Y, A, X, G : array_like
        As in :class:`kronlmm.lmm.Kron2Sum`.
    restricted : bool
        REML (True) or ML.
    span_u_only : bool, optional
        Keep only the rotated samples with ``sᵢ > 0`` (the data projected onto span(U),
        the model's likelihood where the one of all the data has no maximum).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.testing import BlockLikelihood, dense_ml_lml
    >>> rng = np.random.default_rng(0)
    >>> Y, G = rng.normal(size=(8, 2)), rng.normal(size=(8, 3))
    >>> X, A = np.ones((8, 1)), np.eye(2)
    >>> C0, C1 = np.array([[1.0, 0.2], [0.2, 0.5]]), np.eye(2)
    >>> K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(8))
    >>> ref = dense_ml_lml(Y.ravel(order="F"), np.kron(A, X), K)
    >>> bool(np.isclose(BlockLikelihood(Y, A, X, G, False).value(C0, C1)[0], ref))
    True
    """

    def __init__(
        self,
        Y: ArrayLike,
        A: ArrayLike,
        X: ArrayLike,
        G: ArrayLike,
        restricted: bool,
        span_u_only: bool = False,
    ) -> None:
        Y = np.asarray(Y, float)
        A = np.asarray(A, float)
        X = np.asarray(X, float)
        G = np.asarray(G, float)
        n, p = Y.shape
        K = G @ G.T
        s, Q = np.linalg.eigh((K + K.T) / 2)
        top = max(float(s[-1]), 0.0) if s.size else 0.0
        s = np.where(s > n * 1e3 * np.finfo(float).eps * top, s, 0.0)
        keep = s > 0 if span_u_only else np.ones(n, dtype=bool)
        self.s = s[keep]
        self.Yr = (Q.T @ Y)[keep]  # (n′, p)
        Xr = (Q.T @ X)[keep]
        # per-sample design rows: M_i[t, (a, c)] = A[t, a] Xr[i, c] (a outer, c inner)
        self.M = np.einsum("ta,ic->itac", A, Xr).reshape(len(self.s), p, -1)
        Mfull = self.M.reshape(-1, self.M.shape[2])
        sv = np.linalg.svd(Mfull, compute_uv=False)
        tol = max(Mfull.shape) * np.finfo(float).eps * (sv[0] if sv.size else 0.0)
        self.rank = int(np.sum(sv > max(tol, 1e-8 * (sv[0] if sv.size else 0.0))))
        self.log_pdet_MtM = float(2 * np.sum(np.log(sv[: self.rank])))
        self.restricted = bool(restricted)
        self.p = p

    def value(
        self, C0: NDArray[np.float64], C1: NDArray[np.float64], gradient: bool = False
    ) -> tuple[float, NDArray[np.float64] | None, NDArray[np.float64] | None]:
        """``(lml, ∂lml/∂C₀, ∂lml/∂C₁)`` (gradients None unless requested)."""
        V = self.s[:, None, None] * C0[None] + C1[None]
        sign, logdets = np.linalg.slogdet(V)
        if np.any(sign <= 0):
            return -np.inf, None, None
        Vi = np.linalg.inv(V)
        M, y = self.M, self.Yr
        ViM = Vi @ M
        H = np.einsum("itm,itk->mk", M, ViM)
        b = np.einsum("itm,it->m", ViM, y)
        w, E = np.linalg.eigh((H + H.T) / 2)
        keep = w > max(w[-1], 0.0) * 1e-12 if w.size else w > 0
        Hp = (E[:, keep] / w[keep]) @ E[:, keep].T
        beta = Hp @ b
        r = y - M @ beta
        z = np.einsum("itk,ik->it", Vi, r)
        quad = float(np.sum(r * z))
        N = y.size
        if self.restricted:
            m = int(np.sum(keep))
            lml = -0.5 * (
                (N - m) * _LOG2PI
                - self.log_pdet_MtM
                + float(np.sum(logdets))
                + float(np.sum(np.log(w[keep])))
                + quad
            )
        else:
            lml = -0.5 * (N * _LOG2PI + float(np.sum(logdets)) + quad)
        if not gradient:
            return float(lml), None, None
        P = Vi - np.einsum("it,is->its", z, z)
        if self.restricted:
            P = P - ViM @ Hp @ ViM.transpose(0, 2, 1)
        g0 = -0.5 * np.einsum("i,its->ts", self.s, P)
        g1 = -0.5 * P.sum(axis=0)
        return float(lml), (g0 + g0.T) / 2, (g1 + g1.T) / 2


@dataclass
class ReferenceFit:
    """The best of many starts.

    Attributes
    ----------
    lml : float
    C0, C1 : ndarray (p, p)
    lmls : list of float
        The optimum of every start.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.testing import ReferenceFit
    >>> fit = ReferenceFit(-10.0, np.eye(2), np.eye(2), [-12.0, -10.0])
    >>> fit.lml == max(fit.lmls)
    True
    """

    lml: float
    C0: NDArray[np.float64]
    C1: NDArray[np.float64]
    lmls: list[float]


def reference_kron2sum_fit(
    Y: ArrayLike,
    A: ArrayLike,
    X: ArrayLike,
    G: ArrayLike,
    rank: int,
    restricted: bool,
    *,
    floor: ArrayLike,
    span_u_only: bool = False,
    nstarts: int = 20,
    seed: int = 0,
) -> ReferenceFit:
    """Maximise the likelihood of :class:`BlockLikelihood` from ``nstarts`` random starts.

    Starts: ``L₀`` with N(0, v/2) entries and ``L₁`` with log-diagonal ``log(v·u)/2``,
    ``u ~ U(0.2, 1)``, and N(0, 0.1·v) lower entries, where v is a trait's variance;
    trait units are handled by optimising over ``D⁻¹L`` (D the trait standard deviations).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.testing import reference_kron2sum_fit
    >>> rng = np.random.default_rng(1)
    >>> G = rng.normal(size=(30, 6))
    >>> Y = G @ rng.normal(size=(6, 2)) + rng.normal(size=(30, 2))
    >>> fit = reference_kron2sum_fit(Y, np.eye(2), np.ones((30, 1)), G, 1, False,
    ...                              floor=np.zeros(2), nstarts=3)
    >>> len(fit.lmls), fit.lml == max(fit.lmls)
    (3, True)
    """
    lik = BlockLikelihood(Y, A, X, G, restricted, span_u_only)
    Y = np.asarray(Y, float)
    p = Y.shape[1]
    d = np.std(Y, axis=0)
    d = np.where(d > 0, d, 1.0)
    gscale = float(np.sqrt(max(np.mean(lik.s), 1e-300)))
    floor = np.broadcast_to(np.asarray(floor, float), (p,))
    il = np.tril_indices(p, -1)
    nL0, nlow = p * rank, il[0].size

    def unpack(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        L0 = x[:nL0].reshape(p, rank) * d[:, None] / gscale
        L1 = np.zeros((p, p))
        L1[il] = x[nL0 : nL0 + nlow]
        L1 = L1 * d[:, None]
        L1[np.diag_indices(p)] = d * np.exp(x[nL0 + nlow :])
        return L0, L1

    def objective(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        L0, L1 = unpack(x)
        C0, C1 = L0 @ L0.T, L1 @ L1.T + np.diag(floor)
        f, g0, g1 = lik.value(C0, C1, gradient=True)
        if not np.isfinite(f) or g0 is None or g1 is None:
            return 1e100, np.zeros_like(x)
        dL0 = 2 * g0 @ L0 * d[:, None] / gscale
        dL1 = 2 * g1 @ L1
        grad = np.concatenate([dL0.ravel(), (dL1 * d[:, None])[il], np.diag(dL1) * np.diag(L1)])
        return -f / Y.size, -grad / Y.size

    rng = np.random.default_rng(seed)
    bounds: list[tuple[float | None, float | None]] = [(None, None)] * (nL0 + nlow)
    bounds += [(-20.0, 20.0)] * p
    with threadpool_limits(1):  # tiny dense blocks: threads only add overhead
        return _multistart(objective, unpack, lik, floor, bounds, nstarts, rng, nL0, nlow, p)


def _multistart(
    objective: Callable[[NDArray[np.float64]], tuple[float, NDArray[np.float64]]],
    unpack: Callable[[NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64]]],
    lik: BlockLikelihood,
    floor: NDArray[np.float64],
    bounds: list[tuple[float | None, float | None]],
    nstarts: int,
    rng: np.random.Generator,
    nL0: int,
    nlow: int,
    p: int,
) -> ReferenceFit:
    best: ReferenceFit | None = None
    lmls: list[float] = []
    for _ in range(nstarts):
        x0 = np.concatenate(
            [
                rng.normal(size=nL0) * np.sqrt(0.5),
                rng.normal(size=nlow) * np.sqrt(0.1),
                0.5 * np.log(rng.uniform(0.2, 1.0, p)),
            ]
        )
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 1500, "ftol": 1e-13, "gtol": 1e-9})  # fmt: skip
        L0, L1 = unpack(res.x)
        C0, C1 = L0 @ L0.T, L1 @ L1.T + np.diag(floor)
        lml = lik.value(C0, C1)[0]
        lmls.append(lml)
        if best is None or lml > best.lml:
            best = ReferenceFit(lml, C0, C1, lmls)
    assert best is not None
    best.lmls = lmls
    return best
