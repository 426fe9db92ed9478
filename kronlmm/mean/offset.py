"""Constant mean ``m = o·1ₙ``."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Function, Parameter
from ..core.validation import as_vector, check_positive_int

__all__ = ["OffsetMean"]


class OffsetMean(Function):
    r"""Constant mean ``m = o·1ₙ``.

    ``o`` (parameter ``offset``, a scalar) is the common value and ``1ₙ`` the vector of n
    ones.

    Parameters
    ----------
    n : int
        n, the length of ``m``.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> from kronlmm.mean import OffsetMean
    >>> mean = OffsetMean(3)
    >>> mean.offset = 2.0
    >>> mean.value()
    array([2., 2., 2.])
    >>> mean.gradient()["offset"].shape
    (3, 1)
    """

    def __init__(self, n: int, name: str | None = None) -> None:
        super().__init__(name)
        self._n = check_positive_int("n", n)
        self._offset = self._add_parameter("offset", Parameter(0.0))

    @property
    def size(self) -> int:
        """n, the length of ``m``."""
        return self._n

    @property
    def offset(self) -> float:
        """The offset ``o``."""
        return float(self._offset.value)

    @offset.setter
    def offset(self, value: float) -> None:
        self._offset.set(float(value))

    def fix_offset(self) -> None:
        """Fix ``offset`` (same as ``fix("offset")``; glimix-core name)."""
        self.fix("offset")

    def unfix_offset(self) -> None:
        """Unfix ``offset`` (same as ``unfix("offset")``; glimix-core name)."""
        self.unfix("offset")

    def value(self) -> NDArray[np.float64]:
        """Return ``m = o·1ₙ`` (shape ``(n,)``)."""
        return np.full(self._n, self.offset)

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        return {"offset": np.ones((self._n, 1))}

    def contract_gradient(self, v: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Return ``Σᵢ v[i] ∂m[i]/∂θ`` for each free parameter θ (``v``: length n)."""
        v = as_vector("v", v, size=self._n)
        if self._offset.fixed:
            return {}
        return {"offset": np.array([v.sum()])}

    def _repr_fields(self) -> str:
        return f"n={self._n}"
