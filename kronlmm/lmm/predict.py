"""Best linear unbiased prediction of new samples from a fitted single-trait model."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike, NDArray

from ..core.validation import as_matrix, as_vector, check_square_symmetric

__all__ = ["LMMPredict"]


class LMMPredict:
    r"""Predictions for new samples under the model ``y ~ N(Xβ, v₀K + v₁I)``.

    For m new samples with covariates ``X*`` (m × c), similarity to the n training samples
    ``k*`` (m × n, the rows of K between new and training samples) and self-similarity
    ``k**`` (m, the diagonal of K among the new samples), the joint Gaussian of the training
    outcome ``y`` and the new outcomes gives

    - predictive mean ``X*β + v₀ k* Σ⁻¹ (y − m)``,
    - predictive variance ``v₀ k** + v₁ − v₀² diag(k* Σ⁻¹ k*ᵀ)``,

    where ``m`` and ``Σ`` are the training mean ``Xβ`` and covariance ``v₀K + v₁I``
    (glimix-core's ``LMMPredict``, same constructor and methods; Σ is factorised once by
    Cholesky instead of solved at every call).

    Parameters
    ----------
    y : array_like (n,)
        Training outcome.
    beta : array_like (c,)
        Fixed effects β.
    v0, v1 : float
        Variance of the K term and of the identity term (``lmm.v0``, ``lmm.v1``).
    mean : array_like (n,)
        Training mean ``Xβ`` (``lmm.mean()``).
    covariance : array_like (n, n)
        Training covariance ``v₀K + v₁I`` (``lmm.covariance()``), positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from numpy_sugar.linalg import economic_qs_linear
    >>> from kronlmm.lmm import LMM, LMMPredict
    >>> rng = np.random.default_rng(0)
    >>> G = rng.normal(size=(40, 5))
    >>> y = G @ rng.normal(size=5) + 0.3 * rng.normal(size=40)
    >>> train, new = slice(0, 30), slice(30, 40)  # fit on 30 samples, predict 10
    >>> K = G @ G.T
    >>> lmm = LMM(y[train], np.ones((30, 1)), economic_qs_linear(G[train]))
    >>> _ = lmm.fit(verbose=False)
    >>> pred = LMMPredict.from_lmm(lmm)
    >>> mean = pred.predictive_mean(np.ones((10, 1)), K[new, train], K[new, new].diagonal())
    >>> bool(np.corrcoef(mean, y[new])[0, 1] > 0.9)
    True
    >>> var = pred.predictive_covariance(np.ones((10, 1)), K[new, train], K[new, new].diagonal())
    >>> bool(np.all((var > 0) & (var < lmm.v0 * K[new, new].diagonal() + lmm.v1)))
    True
    """

    def __init__(
        self,
        y: ArrayLike,
        beta: ArrayLike,
        v0: float,
        v1: float,
        mean: ArrayLike,
        covariance: ArrayLike,
    ) -> None:
        self._y = as_vector("y", y)
        n = self._y.size
        self._beta = as_vector("beta", beta)
        for name, v in (("v0", v0), ("v1", v1)):
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and ≥ 0, got {v!r}")
        self._v0, self._v1 = float(v0), float(v1)
        self._mean = as_vector("mean", mean, size=n)
        cov = check_square_symmetric("covariance", covariance, size=n)
        try:
            self._factor = sla.cho_factor(cov, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"covariance ({n} × {n}) is not positive definite; its smallest eigenvalue is "
                f"{np.linalg.eigvalsh(cov)[0]:.3g}"
            ) from None
        self._alpha = sla.cho_solve(self._factor, self._y - self._mean, check_finite=False)

    @classmethod
    def from_lmm(cls, lmm: Any) -> LMMPredict:
        """The predictor at the current parameters of a :class:`~kronlmm.lmm.LMM`."""
        return cls(lmm.null_terms()["y"], lmm.beta, lmm.v0, lmm.v1, lmm.mean(), lmm.covariance())

    def _cross(self, ks: ArrayLike) -> NDArray[np.float64]:
        return as_matrix("ks", ks, ncols=self._y.size)

    def mean_star(self, Xstar: ArrayLike) -> NDArray[np.float64]:
        """Prior mean of the new samples, ``X*β`` (m,)."""
        return as_matrix("Xstar", Xstar, ncols=self._beta.size) @ self._beta

    def variance_star(self, kss: ArrayLike) -> NDArray[np.float64]:
        """Prior variance of the new samples, ``v₀k** + v₁`` (m,)."""
        return as_vector("kss", kss) * self._v0 + self._v1

    def covariance_star(self, ks: ArrayLike) -> NDArray[np.float64]:
        """Prior covariance between new and training samples, ``v₀k*`` (m × n)."""
        return self._cross(ks) * self._v0

    def predictive_mean(
        self, Xstar: ArrayLike, ks: ArrayLike, kss: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """``X*β + v₀ k* Σ⁻¹ (y − m)`` (m,); ``kss`` is not needed (glimix-core's
        signature)."""
        mstar = self.mean_star(Xstar)
        cross = self.covariance_star(ks)
        if cross.shape[0] != mstar.size:
            raise ValueError(
                f"Xstar has {mstar.size} rows but ks has {cross.shape[0]}; both need one row "
                "per new sample"
            )
        return np.asarray(mstar + cross @ self._alpha, dtype=float)

    def predictive_covariance(
        self, Xstar: ArrayLike, ks: ArrayLike, kss: ArrayLike
    ) -> NDArray[np.float64]:
        """Predictive variances ``v₀k** + v₁ − diag(v₀k* Σ⁻¹ v₀k*ᵀ)`` (m,), as in
        glimix-core (the diagonal only; ``Xstar`` is not needed)."""
        prior = self.variance_star(kss)
        cross = self.covariance_star(ks)
        if cross.shape[0] != prior.size:
            raise ValueError(
                f"kss has {prior.size} entries but ks has {cross.shape[0]} rows; both need "
                "one per new sample"
            )
        solved = np.asarray(sla.cho_solve(self._factor, cross.T, check_finite=False))
        return np.asarray(prior - np.einsum("ij,ji->i", cross, solved), dtype=float)
