"""A fixed (given) trait covariance with no free parameter."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.validation import check_square_symmetric
from .base import Covariance

__all__ = ["FixedCov"]


class FixedCov(Covariance):
    r"""A covariance ``C`` that is given and not estimated.

    Use it for C₀ or C₁ known from elsewhere (e.g. a residual covariance estimated on a
    larger sample, or ``C₀ = 0``). ``C`` is checked to be symmetric and positive
    semi-definite; it is copied and read-only.

    Parameters
    ----------
    C : array_like, shape (p, p)
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.cov import FixedCov
    >>> cov = FixedCov(np.array([[1.0, 0.3], [0.3, 2.0]]))
    >>> cov.nparams, cov.positive_definite, cov.gradient()
    (0, True, {})
    """

    def __init__(self, C: ArrayLike, name: str | None = None) -> None:
        super().__init__(name)
        C = check_square_symmetric("C", C)
        C = (C + C.T) / 2
        w = np.linalg.eigvalsh(C) if C.size else np.zeros(0)
        top = float(np.max(np.abs(w))) if w.size else 0.0
        if w.size and w[0] < -1e-10 * max(top, 1e-300):
            raise ValueError(
                f"C must be positive semi-definite; its smallest eigenvalue is {w[0]:.3g}"
            )
        self._C = C.copy()
        self._C.setflags(write=False)
        self.positive_definite = bool(w.size and w[0] > 1e-12 * top)
        self._rank = int(np.sum(w > 1e-12 * top)) if top > 0 else 0

    @property
    def dim(self) -> int:
        """p, the dimension of ``C``."""
        return int(self._C.shape[0])

    @property
    def max_rank(self) -> int:
        """The rank of ``C``."""
        return self._rank

    def value(self) -> NDArray[np.float64]:
        """The given ``C`` (read-only)."""
        return self._C

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """No free parameter: ``{}``."""
        return {}

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """A fixed covariance keeps its value: this does nothing (starting values do not
        apply to it)."""

    def _repr_fields(self) -> str:
        return f"dim={self.dim}, rank={self._rank}"
