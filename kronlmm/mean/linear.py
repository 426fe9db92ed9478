"""Linear mean ``m = Xβ``."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Function, Parameter
from ..core.validation import as_matrix, as_vector

__all__ = ["LinearMean"]


class LinearMean(Function):
    r"""Linear mean ``m = Xβ``.

    ``X`` (n × c) is the covariate matrix and ``β`` (parameter ``effsizes``, length c) the
    effect sizes, initially zero.

    Parameters
    ----------
    X : array_like
        ``X``, n × c (a 1-D array is one column). It is copied; the copy is read-only.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.mean import LinearMean
    >>> mean = LinearMean(np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]))
    >>> mean.effsizes = [1.0, 0.5]
    >>> mean.value()
    array([1. , 1.5, 2. ])
    >>> mean.gradient()["effsizes"].shape
    (3, 2)
    """

    def __init__(self, X: ArrayLike, name: str | None = None) -> None:
        super().__init__(name)
        self._X = np.array(as_matrix("X", X), dtype=float)
        self._X.setflags(write=False)
        self._effsizes = self._add_parameter("effsizes", Parameter(np.zeros(self._X.shape[1])))

    @property
    def X(self) -> NDArray[np.float64]:
        """The covariates ``X`` (n × c, read-only)."""
        return self._X

    @property
    def size(self) -> int:
        """n, the length of ``m``."""
        return int(self._X.shape[0])

    @property
    def effsizes(self) -> NDArray[np.float64]:
        """The effect sizes ``β`` (length c)."""
        return self._effsizes.value.copy()

    @effsizes.setter
    def effsizes(self, value: ArrayLike) -> None:
        self._effsizes.set(as_vector("effsizes", value, size=self._X.shape[1]))

    def value(self) -> NDArray[np.float64]:
        """Return ``m = Xβ`` (shape ``(n,)``)."""
        return self._X @ self._effsizes.value

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        return {"effsizes": self._X.copy()}

    def contract_gradient(self, v: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Return ``Σᵢ v[i] ∂m[i]/∂θ`` for each free parameter θ (here ``Xᵀv``)."""
        v = as_vector("v", v, size=self._X.shape[0])
        if self._effsizes.fixed:
            return {}
        return {"effsizes": self._X.T @ v}

    def _repr_fields(self) -> str:
        return f"X.shape={self._X.shape}"
