"""Factor-analytic trait covariance ``C = ΛΛᵀ + diag(ψ)``."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Parameter
from ..core.validation import as_matrix, check_positive_int, check_square_symmetric
from .base import Covariance
from .diagonal import UNIT_LOGV_BOUNDS

__all__ = ["FactorAnalyticCov"]


class FactorAnalyticCov(Covariance):
    r"""Factor-analytic covariance ``C = ΛΛᵀ + diag(ψ)`` with k factors.

    ``Λ`` (p × k, parameter ``Lambda``: Λ raveled row by row) holds the loadings of the
    traits on k common factors and ``ψ = exp(logpsi)`` (p) the trait-specific variances.
    With k ≪ p it describes many correlated traits with ``p·(k + 1)`` parameters instead of
    ``p(p + 1)/2``; it is positive definite for every parameter value. The loadings are
    identified only up to an orthogonal rotation (``ΛQ`` gives the same C); ``C`` is.

    Parameters
    ----------
    dim : int
        p, the dimension of ``C``.
    k : int
        Number of factors, ``1 ≤ k ≤ p``.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.cov import FactorAnalyticCov
    >>> cov = FactorAnalyticCov(3, 1)
    >>> cov.Lambda = [[1.0], [0.5], [0.0]]
    >>> cov.psi = [0.1, 0.2, 0.3]
    >>> cov.value()
    array([[1.1 , 0.5 , 0.  ],
           [0.5 , 0.45, 0.  ],
           [0.  , 0.  , 0.3 ]])
    >>> sorted(cov.gradient())
    ['Lambda', 'logpsi']
    """

    positive_definite = True
    follows_units = True

    def __init__(self, dim: int, k: int, name: str | None = None) -> None:
        super().__init__(name)
        self._dim = check_positive_int("dim", dim)
        self._k = check_positive_int("k", k)
        if self._k > self._dim:
            raise ValueError(f"k (the number of factors) must be ≤ dim = {dim}, got {k}")
        start = np.eye(self._dim, self._k) * np.sqrt(0.5)
        self._L = self._add_parameter("Lambda", Parameter(start.ravel()))
        self._logpsi = self._add_parameter(
            "logpsi", Parameter(np.full(self._dim, np.log(0.5)), bounds=(-50, 50))
        )

    @property
    def dim(self) -> int:
        """p, the dimension of ``C``."""
        return self._dim

    @property
    def nfactors(self) -> int:
        """k, the number of factors."""
        return self._k

    @property
    def Lambda(self) -> NDArray[np.float64]:
        """The loadings ``Λ`` (p × k)."""
        return self._L.value.reshape(self._dim, self._k).copy()

    @Lambda.setter
    def Lambda(self, value: ArrayLike) -> None:
        self._L.set(as_matrix("Lambda", value, nrows=self._dim, ncols=self._k).ravel())

    @property
    def psi(self) -> NDArray[np.float64]:
        """``ψ``, the trait-specific variances (p)."""
        return np.exp(self._logpsi.value)

    @psi.setter
    def psi(self, value: ArrayLike) -> None:
        v = np.asarray(value, dtype=float).ravel()
        if v.shape != (self._dim,) or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"psi must be {self._dim} finite numbers > 0, got {value!r}")
        self._logpsi.set(np.log(v))

    def value(self) -> NDArray[np.float64]:
        """``C = ΛΛᵀ + diag(ψ)`` (p × p)."""
        L = self.Lambda
        return L @ L.T + np.diag(self.psi)

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        p, k = self._dim, self._k
        L = self.Lambda
        gL = np.zeros((p, p, p, k))
        idx = np.arange(p)
        gL[idx, :, idx, :] += L[None, :, :]
        gL[:, idx, idx, :] += L[:, None, :]
        gpsi = np.zeros((p, p, p))
        gpsi[idx, idx, idx] = self.psi
        return {"Lambda": gL.reshape(p, p, p * k), "logpsi": gpsi}

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """``Σᵢⱼ M[i, j] ∂C[i, j]/∂θ``: ``(M + Mᵀ)Λ`` for the loadings and ``diag(M)·ψ``
        for the log-variances (O(p²k))."""
        M = np.asarray(M, dtype=float)
        out: dict[str, NDArray[np.float64]] = {}
        if not self._L.fixed:
            out["Lambda"] = ((M + M.T) @ self.Lambda).ravel()
        if not self._logpsi.fixed:
            out["logpsi"] = np.diag(M) * self.psi
        return out

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """Fit ``ΛΛᵀ + diag(ψ)`` to ``C`` by iterated principal factors.

        Starting from ``ψ = diag(C)/2``, the loadings are the top k eigenpairs of
        ``C − diag(ψ)`` and ``ψ = diag(C − ΛΛᵀ)``, kept at least 1e-6 of ``diag(C)``, until
        ψ changes by less than 1e-12 relative (at most 2000 rounds; each costs one p × p
        eigendecomposition). Exact when ``C`` has that form (with identifiable factors).
        """
        C = check_square_symmetric(name, C, size=self._dim)
        diag = np.maximum(np.diag(C), 1e-300)
        psi = diag / 2
        L = np.zeros((self._dim, self._k))
        for _ in range(2000):
            w, V = np.linalg.eigh(C - np.diag(psi))
            top = np.argsort(w)[::-1][: self._k]
            L = V[:, top] * np.sqrt(np.clip(w[top], 0.0, None))[None, :]
            new = np.maximum(diag - np.sum(L * L, axis=1), 1e-6 * diag)
            done = np.max(np.abs(new - psi) / diag) < 1e-12
            psi = new
            if done:
                break
        self.Lambda = L
        self._logpsi.set(np.log(psi))

    def unit_scaling(
        self, d: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Row i of ``Λ`` scales with ``dᵢ``; ``logψᵢ`` shifts by ``2 log dᵢ``."""
        d = np.asarray(d, dtype=float)
        scale: list[NDArray[np.float64]] = []
        shift: list[NDArray[np.float64]] = []
        if not self._L.fixed:
            scale.append(np.repeat(d, self._k))
            shift.append(np.zeros(self._dim * self._k))
        if not self._logpsi.fixed:
            scale.append(np.ones(self._dim))
            shift.append(2.0 * np.log(d))
        if not scale:
            return np.empty(0), np.empty(0)
        return np.concatenate(scale), np.concatenate(shift)

    def unit_bounds(self) -> list[tuple[float, float]]:
        """Loadings unbounded; each ψ between 1e-8 and 1e4 times its trait's variance."""
        out: list[tuple[float, float]] = []
        if not self._L.fixed:
            out.extend([(-np.inf, np.inf)] * (self._dim * self._k))
        if not self._logpsi.fixed:
            out.extend([UNIT_LOGV_BOUNDS] * self._dim)
        return out

    def _repr_fields(self) -> str:
        return f"dim={self._dim}, k={self._k}"
