"""Low-rank trait covariance ``C = L Lᵀ`` with ``L`` of shape p × k."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Parameter
from ..core.validation import as_matrix, check_positive_int, check_square_symmetric
from ._lowrank_helpers import dLLt_dL
from .base import Covariance

__all__ = ["LRFreeFormCov"]


class LRFreeFormCov(Covariance):
    r"""Low-rank positive-semidefinite covariance ``C = L Lᵀ``.

    ``L`` is an unconstrained n × m matrix (parameter ``Lu``: ``L`` raveled in C order),
    so ``C`` has rank at most m.

    The default start is ``L = I[:, :m]`` (the first m columns of the identity), whose
    columns differ: starting from equal columns (glimix-core uses all-ones) every column
    receives the same gradient and a rank-m fit never leaves rank 1.

    Parameters
    ----------
    n : int
        Dimension of ``C``.
    m : int
        Number of columns of ``L`` (maximum rank), ``1 ≤ m ≤ n``.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> from kronlmm.cov import LRFreeFormCov
    >>> cov = LRFreeFormCov(3, 1)
    >>> cov.L = [[1.0], [2.0], [0.0]]
    >>> cov.value()
    array([[1., 2., 0.],
           [2., 4., 0.],
           [0., 0., 0.]])
    >>> cov.gradient()["Lu"].shape
    (3, 3, 3)
    """

    follows_units = True

    def __init__(self, n: int, m: int, name: str | None = None) -> None:
        super().__init__(name)
        self._n = check_positive_int("n", n)
        self._m = check_positive_int("m", m)
        if self._m > self._n:
            raise ValueError(f"m (rank) must be ≤ n, got m={m} > n={n}")
        self._Lu = self._add_parameter("Lu", Parameter(np.eye(self._n, self._m).ravel()))

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``, the shape of ``C`` (glimix-core's meaning; the factor ``L`` is
        n × m, see ``L.shape``)."""
        return (self._n, self._n)

    @property
    def dim(self) -> int:
        """n, the dimension of ``C``."""
        return self._n

    @property
    def max_rank(self) -> int:
        """m, the number of columns of ``L``."""
        return self._m

    def unit_scaling(
        self, d: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(scale, shift)`` for trait units ``d``: row i of ``L`` scales with ``dᵢ``."""
        if self._Lu.fixed:
            return np.empty(0), np.empty(0)
        return np.repeat(np.asarray(d, dtype=float), self._m), np.zeros(self._n * self._m)

    @property
    def L(self) -> NDArray[np.float64]:
        """The factor ``L`` (n × m)."""
        return self._Lu.value.reshape(self._n, self._m).copy()

    @L.setter
    def L(self, value: ArrayLike) -> None:
        self._Lu.set(as_matrix("L", value, nrows=self._n, ncols=self._m).ravel())

    @property
    def Lu(self) -> NDArray[np.float64]:
        """``L`` raveled in C order."""
        return self._Lu.value.copy()

    @Lu.setter
    def Lu(self, value: ArrayLike) -> None:
        value = np.asarray(value, float).ravel()
        if value.size != self._n * self._m:
            raise ValueError(f"Lu has {value.size} entries, expected n·m = {self._n * self._m}")
        self._Lu.set(value)

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """Set ``L`` to the best rank-m factor of a PSD matrix ``C`` (eigen-truncation)."""
        C = check_square_symmetric(name, C, size=self._n)
        w, V = np.linalg.eigh(C)
        order = np.argsort(w)[::-1][: self._m]
        self.L = V[:, order] * np.sqrt(np.clip(w[order], 0, None))[None, :]

    def value(self) -> NDArray[np.float64]:
        """``C = L Lᵀ`` (n × n, positive semidefinite, rank at most m)."""
        L = self.L
        return L @ L.T

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        return {"Lu": dLLt_dL(self.L).reshape(self._n, self._n, self._n * self._m)}

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Return ``Σᵢⱼ M[i, j] ∂C[i, j]/∂θ`` for each free parameter θ (O(n²m))."""
        M = np.asarray(M, float)
        if self._Lu.fixed:
            return {}
        return {"Lu": ((M + M.T) @ self.L).ravel()}

    def _repr_fields(self) -> str:
        return f"n={self._n}, m={self._m}"
