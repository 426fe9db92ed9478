"""Scaled linear-kernel covariance ``K = s·XXᵀ``."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.validation import as_matrix
from .eye import _ScaledCov

__all__ = ["LinearCov"]


class LinearCov(_ScaledCov):
    r"""Scaled linear-kernel covariance ``K = s·XXᵀ``.

    ``X`` (n × m) is a given matrix, e.g. standardised genotypes of m variants or a
    random-effect design, and ``s = exp(logscale)`` the only parameter (``logscale``
    bounded to ``(-50, 50)``). ``K`` has rank at most m.

    Parameters
    ----------
    X : array_like
        ``X``, n × m (a 1-D array is one column). It is copied; the copy is read-only.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.cov import LinearCov
    >>> cov = LinearCov(np.array([[1.0], [2.0]]))
    >>> cov.value()
    array([[1., 2.],
           [2., 4.]])
    >>> cov.fix("logscale")
    >>> cov.gradient()  # fixed parameters drop out
    {}
    """

    def __init__(self, X: ArrayLike, name: str | None = None) -> None:
        self._X = np.array(as_matrix("X", X), dtype=float)
        self._X.setflags(write=False)
        super().__init__(self._X.shape[0], name)

    @property
    def X(self) -> NDArray[np.float64]:
        """The matrix ``X`` (n × m, read-only)."""
        return self._X

    def _base(self) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self._X @ self._X.T
        return out

    def _base_contract(self, M: NDArray[np.float64]) -> float:
        # Σᵢⱼ M[i, j] (XXᵀ)[i, j] = Σ X ∘ (M X): O(n²m) without forming XXᵀ.
        return float(np.vdot(self._X, M @ self._X))

    def _repr_fields(self) -> str:
        return f"dim={self._dim}, X.shape={self._X.shape}"
