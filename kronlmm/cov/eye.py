"""Scaled identity covariance ``K = s·I`` (and the shared base of scaled covariances)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Parameter
from ..core.validation import as_matrix, check_positive_int, check_square_symmetric
from .base import Covariance

__all__ = ["EyeCov"]

#: Bounds of the ``logscale`` parameter: s = exp(logscale) stays within about 1e±21.
LOGSCALE_BOUNDS = (-50.0, 50.0)


class _ScaledCov(Covariance):
    r"""Base of covariances ``K = s·K₀`` with one parameter ``logscale``.

    ``s = exp(logscale)`` is the scale and ``K₀`` (``dim × dim``) a fixed matrix supplied by
    the subclass through :meth:`_base` (the dense ``K₀``) and :meth:`_base_contract`
    (``Σᵢⱼ M[i, j] K₀[i, j]`` without forming ``K₀`` where cheaper).
    """

    def __init__(self, dim: int, name: str | None = None) -> None:
        super().__init__(name)
        self._dim = dim
        self._logscale = self._add_parameter("logscale", Parameter(0.0, bounds=LOGSCALE_BOUNDS))

    # ---- subclass hooks ----------------------------------------------------------------
    def _base(self) -> NDArray[np.float64]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _base_contract(self, M: NDArray[np.float64]) -> float:
        return float(np.sum(M * self._base()))

    # ---- public ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Dimension of ``K`` (``K`` is ``dim × dim``)."""
        return self._dim

    @property
    def scale(self) -> float:
        """The scale ``s = exp(logscale) > 0``."""
        return float(np.exp(self._logscale.value))

    @scale.setter
    def scale(self, value: float) -> None:
        value = float(value)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"scale must be a finite number > 0, got {value!r}")
        self._logscale.set(np.log(value))

    def value(self) -> NDArray[np.float64]:
        """Return ``K = s·K₀`` (``dim × dim``)."""
        return self.scale * self._base()

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        # ∂(s·K₀)/∂logscale = s·K₀ because s = exp(logscale).
        return {"logscale": self.value()[..., None]}

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Return ``Σᵢⱼ M[i, j] ∂K[i, j]/∂θ`` for each free parameter θ.

        Parameters
        ----------
        M : array_like
            ``dim × dim`` matrix.

        Returns
        -------
        dict
            ``{"logscale": array of shape (1,)}``, or ``{}`` when ``logscale`` is fixed.
        """
        M = as_matrix("M", M, nrows=self._dim, ncols=self._dim, allow_vector=False)
        if self._logscale.fixed:
            return {}
        return {"logscale": np.array([self.scale * self._base_contract(M)])}

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """Set ``s`` to the least-squares fit of ``C`` by ``s·K₀`` (at least 1e-300)."""
        C = check_square_symmetric(name, C, size=self._dim)
        K0 = self._base()
        s = float(np.vdot(C, K0) / max(float(np.vdot(K0, K0)), 1e-300))
        self.scale = max(s, 1e-300)

    def _repr_fields(self) -> str:
        return f"dim={self._dim}"


class EyeCov(_ScaledCov):
    r"""Scaled identity covariance ``K = s·Iₙ``.

    ``s = exp(logscale)`` is the only parameter (``logscale`` bounded to ``(-50, 50)``),
    n is ``dim`` and ``Iₙ`` the n × n identity.

    Parameters
    ----------
    dim : int
        n, the dimension of ``K``.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> from kronlmm.cov import EyeCov
    >>> cov = EyeCov(2)
    >>> cov.scale = 1.5
    >>> cov.value()
    array([[1.5, 0. ],
           [0. , 1.5]])
    """

    positive_definite = True

    def __init__(self, dim: int, name: str | None = None) -> None:
        super().__init__(check_positive_int("dim", dim), name)

    def _base(self) -> NDArray[np.float64]:
        return np.eye(self._dim)

    def _base_contract(self, M: NDArray[np.float64]) -> float:
        return float(np.trace(M))
