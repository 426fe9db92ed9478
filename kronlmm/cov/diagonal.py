"""Diagonal trait covariance ``C = diag(v)``: independent traits."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Parameter
from ..core.validation import check_positive_int, check_square_symmetric
from .base import Covariance

__all__ = ["DiagonalCov"]

#: Bounds of the log-variances in unit-variance units: 1e-8 to 1e4 times a trait's variance.
UNIT_LOGV_BOUNDS = (float(np.log(1e-8)), float(np.log(1e4)))


class DiagonalCov(Covariance):
    r"""Diagonal covariance ``C = diag(v)``, ``v = exp(logv)`` (one variance per trait).

    As C₁ it says that the residuals of the traits are uncorrelated; as C₀ that each trait
    has its own genetic variance and no genetic correlation. Positive definite for every
    parameter value.

    Parameters
    ----------
    dim : int
        p, the dimension of ``C``.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.cov import DiagonalCov
    >>> cov = DiagonalCov(3)
    >>> cov.variances = [1.0, 2.0, 0.5]
    >>> cov.value().diagonal().tolist()
    [1.0, 2.0, 0.5]
    >>> cov.gradient()["logv"].shape  # ∂C/∂logv, parameter axis last
    (3, 3, 3)
    """

    positive_definite = True
    follows_units = True

    def __init__(self, dim: int, name: str | None = None) -> None:
        super().__init__(name)
        self._dim = check_positive_int("dim", dim)
        self._logv = self._add_parameter("logv", Parameter(np.zeros(self._dim), bounds=(-50, 50)))

    @property
    def dim(self) -> int:
        """p, the dimension of ``C``."""
        return self._dim

    @property
    def variances(self) -> NDArray[np.float64]:
        """``v``, the diagonal of ``C``."""
        return np.exp(self._logv.value)

    @variances.setter
    def variances(self, value: ArrayLike) -> None:
        v = np.asarray(value, dtype=float).ravel()
        if v.shape != (self._dim,) or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(
                f"variances must be {self._dim} finite numbers > 0, got {np.asarray(value)!r}"
            )
        self._logv.set(np.log(v))

    def value(self) -> NDArray[np.float64]:
        """``C = diag(v)`` (p × p)."""
        return np.diag(self.variances)

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        g = np.zeros((self._dim, self._dim, self._dim))
        idx = np.arange(self._dim)
        g[idx, idx, idx] = self.variances
        return {"logv": g}

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """``Σᵢⱼ M[i, j] ∂C[i, j]/∂logv = diag(M)·v`` (O(p))."""
        if self._logv.fixed:
            return {}
        return {"logv": np.diag(np.asarray(M, dtype=float)) * self.variances}

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """Set ``v`` to the diagonal of ``C`` (entries below 1e-300 are raised to it)."""
        C = check_square_symmetric(name, C, size=self._dim)
        self._logv.set(np.log(np.maximum(np.diag(C), 1e-300)))

    def unit_scaling(
        self, d: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``logv`` shifts by ``2 log d`` when trait t is measured in units ``dₜ``."""
        if self._logv.fixed:
            return np.empty(0), np.empty(0)
        return np.ones(self._dim), 2.0 * np.log(np.asarray(d, dtype=float))

    def unit_bounds(self) -> list[tuple[float, float]]:
        """Each variance between 1e-8 and 1e4 times its trait's variance."""
        return [] if self._logv.fixed else [UNIT_LOGV_BOUNDS] * self._dim

    def _repr_fields(self) -> str:
        return f"dim={self._dim}"
