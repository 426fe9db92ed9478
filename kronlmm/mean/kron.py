"""Kronecker mean ``m = (A ⊗ X) vec(B)`` of the multi-trait model."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Function, Parameter
from ..core.validation import as_matrix, as_vector

__all__ = ["KronMean"]


class KronMean(Function):
    r"""Kronecker mean ``m = (A ⊗ X) vec(B) = vec(X B Aᵀ)``.

    ``vec`` stacks columns (column-major). With n samples, p traits, c covariates and
    a trait-design columns:

    - ``X`` (n × c): sample covariates,
    - ``A`` (p × a): trait design (``Iₚ``: one effect per trait; ``1ₚ``: one shared
      effect; any p × a matrix, square or not),
    - ``B`` (c × a): effect sizes, stored as the parameter ``vecB`` = vec(B) of length
      c·a, initially zero. Assigning ``B`` accepts the c × a matrix and, as glimix-core
      does, any array of c·a entries whose column-major vec is vec(B) (a flat vec(B),
      or e.g. an a × c array of those entries),
    - ``m`` (length n·p): vec of the n × p mean matrix ``X B Aᵀ``.

    Parameters
    ----------
    A : array_like
        ``A``, p × a (a 1-D array is one column). Copied, read-only.
    X : array_like
        ``X``, n × c (a 1-D array is one column). Copied, read-only.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.mean import KronMean
    >>> X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])  # n = 3 samples, c = 2
    >>> mean = KronMean(np.eye(2), X)  # p = 2 traits, A = I₂
    >>> mean.B = [[1.0, -1.0], [0.5, 0.0]]  # c × a
    >>> mean.value()  # vec of the 3 × 2 matrix X B Aᵀ, column by column
    array([ 1. ,  1.5,  2. , -1. , -1. , -1. ])
    >>> bool(np.allclose(mean.value(), mean.AX @ mean.B.ravel(order="F")))
    True
    >>> mean.B = [1.0, 0.5, -1.0, 0.0]  # vec(B), as glimix-core accepts
    >>> mean.B.tolist()
    [[1.0, -1.0], [0.5, 0.0]]
    """

    def __init__(self, A: ArrayLike, X: ArrayLike, name: str | None = None) -> None:
        super().__init__(name)
        self._A = np.array(as_matrix("A", A), dtype=float)
        self._X = np.array(as_matrix("X", X), dtype=float)
        self._A.setflags(write=False)
        self._X.setflags(write=False)
        ncov, ndes = self._X.shape[1], self._A.shape[1]
        self._vecB = self._add_parameter("vecB", Parameter(np.zeros(ncov * ndes)))

    @property
    def A(self) -> NDArray[np.float64]:
        """The trait design ``A`` (p × a, read-only)."""
        return self._A

    @property
    def X(self) -> NDArray[np.float64]:
        """The sample covariates ``X`` (n × c, read-only)."""
        return self._X

    @property
    def AX(self) -> NDArray[np.float64]:
        """``A ⊗ X`` (n·p × c·a), formed densely."""
        return np.kron(self._A, self._X)

    @property
    def size(self) -> int:
        """n·p, the length of ``m``."""
        return self._X.shape[0] * self._A.shape[0]

    @property
    def B(self) -> NDArray[np.float64]:
        """The effect sizes ``B`` (c × a)."""
        return self._vecB.value.reshape(self._X.shape[1], self._A.shape[1], order="F")

    @B.setter
    def B(self, value: ArrayLike) -> None:
        c, a = self._X.shape[1], self._A.shape[1]
        arr = np.asarray(value, dtype=float)
        if arr.shape == (c, a):
            self._vecB.set(arr.ravel(order="F"))
            return
        if arr.ndim in (1, 2) and arr.size == c * a:
            # glimix-core's rule: any array of c·a entries is read as its column-major
            # vec, i.e. a flat vec(B) or, e.g., an (a, c)-shaped array of those entries.
            self._vecB.set(arr.ravel(order="F"))
            return
        raise ValueError(
            f"B has shape {arr.shape}, expected (c, a) = ({c}, {a}) or c·a = {c * a} "
            "entries read as vec(B) (column-major)"
        )

    def value(self) -> NDArray[np.float64]:
        """Return ``m = vec(X B Aᵀ)`` (length n·p), without forming ``A ⊗ X``."""
        return (self._X @ self.B @ self._A.T).ravel(order="F")

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        return {"vecB": self.AX}

    def contract_gradient(self, v: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Return ``Σᵢ v[i] ∂m[i]/∂θ`` for each free parameter θ.

        For ``vecB`` this is ``(A ⊗ X)ᵀ v = vec(Xᵀ V A)`` with ``V`` the n × p matrix
        whose vec is ``v``; it costs O(npc + pca) instead of forming ``A ⊗ X``.
        """
        n, p = self._X.shape[0], self._A.shape[0]
        v = as_vector("v", v, size=n * p)
        if self._vecB.fixed:
            return {}
        V = v.reshape(n, p, order="F")
        return {"vecB": (self._X.T @ V @ self._A).ravel(order="F")}

    def _repr_fields(self) -> str:
        return f"A.shape={self._A.shape}, X.shape={self._X.shape}"
