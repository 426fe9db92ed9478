"""Scaled fixed covariance ``K = s·K₀``."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.validation import check_square_symmetric
from .eye import _ScaledCov

__all__ = ["GivenCov"]


class GivenCov(_ScaledCov):
    r"""Scaled fixed covariance ``K = s·K₀``.

    ``K₀`` (n × n) is a given symmetric matrix, typically a kinship matrix, and
    ``s = exp(logscale)`` the only parameter (``logscale`` bounded to ``(-50, 50)``).
    ``K₀`` is checked to be square, finite and symmetric (relative tolerance 1e-8) but not
    positive semidefinite, which would cost an O(n³) eigendecomposition.

    Parameters
    ----------
    K0 : array_like
        ``K₀``, n × n. It is copied; the copy is read-only.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.cov import GivenCov
    >>> cov = GivenCov(np.array([[1.0, 0.5], [0.5, 1.0]]))
    >>> cov.scale = 2.0
    >>> cov.value()
    array([[2., 1.],
           [1., 2.]])
    >>> cov.gradient()["logscale"].shape  # ∂K/∂logscale, parameter axis last
    (2, 2, 1)
    """

    def __init__(self, K0: ArrayLike, name: str | None = None) -> None:
        shape = np.shape(K0)
        try:
            K0 = check_square_symmetric("K0", K0)
        except ValueError as err:
            msg = str(err)
            if "shape" not in msg:
                msg += f" [K0 has shape {shape}]"
            raise ValueError(msg) from None
        self._K0 = np.array(K0, dtype=float)
        self._K0.setflags(write=False)
        super().__init__(self._K0.shape[0], name)

    @property
    def K0(self) -> NDArray[np.float64]:
        """The fixed matrix ``K₀`` (read-only)."""
        return self._K0

    def _base(self) -> NDArray[np.float64]:
        return self._K0

    def _base_contract(self, M: NDArray[np.float64]) -> float:
        return float(np.vdot(M, self._K0))
