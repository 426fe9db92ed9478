"""The base class of covariance objects and the protocol of trait covariances.

A *trait covariance* is a p × p covariance ``C(θ)`` of a multi-trait model (C₀ or C₁ of
:class:`~kronlmm.lmm.Kron2Sum`). Besides ``value()`` and ``gradient()`` the model needs:

- ``contract_gradient(M)``: ``Σᵢⱼ M[i, j] ∂C[i, j]/∂θ`` for every free θ — the chain rule
  of a scalar ``f(C)`` with ``df = tr(Mᵀ dC)``, without forming the (p, p, #θ) gradient;
- ``set_value(C)``: the parameters whose value is closest to a given matrix (starting
  values);
- ``unit_scaling(d)``: how the free parameters change when the traits change units.
  With ``D = diag(d)`` it returns ``(scale, shift)`` such that the flat parameter vector
  ``shift + scale·θᵤ`` gives ``D C(θᵤ) D``. The model optimises over ``θᵤ``, the
  parameters of the problem in units where every trait has variance one, which makes fits
  independent of the units of the data;
- ``unit_bounds()``: the box searched for ``θᵤ`` (in those units);
- ``positive_definite``: whether ``C(θ)`` is positive definite for every θ (required of
  C₁) and ``max_rank``.

:class:`Covariance` provides defaults (dense contraction, identity scaling, unbounded
box), so any covariance object can serve; subclasses override them where they can do
better. :class:`TraitCovariance` is the structural protocol the model checks.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Function, Parameter

__all__ = ["Covariance", "TraitCovariance"]


@runtime_checkable
class TraitCovariance(Protocol):
    """What :class:`~kronlmm.lmm.Kron2Sum` needs of C₀ and C₁ (see the module docstring).

    Examples
    --------
    >>> from kronlmm.cov import FreeFormCov, TraitCovariance
    >>> isinstance(FreeFormCov(3), TraitCovariance)
    True
    """

    positive_definite: bool

    @property
    def dim(self) -> int:
        """p, the dimension."""
        ...

    @property
    def max_rank(self) -> int:
        """The largest rank ``value()`` can have."""
        ...

    @property
    def version(self) -> tuple[int, ...]:
        """Changes whenever a parameter value changes."""
        ...

    def value(self) -> NDArray[np.float64]:
        """The p × p matrix."""
        ...

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """``Σᵢⱼ M[i, j] ∂C[i, j]/∂θ`` for each free θ."""
        ...

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """Set the parameters so that ``value()`` is as close as possible to C."""
        ...

    def unit_scaling(
        self, d: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(scale, shift)`` of the free flat parameters for trait units ``d``."""
        ...

    def unit_bounds(self) -> list[tuple[float, float]]:
        """Bounds of the free flat parameters in unit-variance units."""
        ...

    def free_parameters(self) -> dict[str, Parameter]:
        """The free parameters, in flat-vector order."""
        ...

    def get_flat(self) -> NDArray[np.float64]:
        """The free parameters as one vector."""
        ...

    def set_flat(self, x: ArrayLike) -> None:
        """Set the free parameters from one vector."""
        ...


class Covariance(Function):
    """Base class of covariance objects, with the trait-covariance defaults.

    Subclasses implement ``value()`` and ``_own_gradient()`` (see
    :class:`~kronlmm.core.parameters.Function`) and may override the defaults below.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core import Parameter
    >>> from kronlmm.cov import Covariance
    >>> class Compound(Covariance):  # C = s·(I + 11ᵀ), s = exp(logs)
    ...     def __init__(self, p):
    ...         super().__init__()
    ...         self._p = p
    ...         self._logs = self._add_parameter("logs", Parameter(0.0))
    ...
    ...     def value(self):
    ...         return np.exp(self._logs.value) * (np.eye(self._p) + 1.0)
    ...
    ...     def _own_gradient(self):
    ...         return {"logs": self.value()[..., None]}
    >>> cov = Compound(2)
    >>> cov.dim, cov.contract_gradient(np.eye(2))["logs"].tolist()  # tr(∂C/∂logs) = 4
    (2, [4.0])
    """

    #: Whether ``value()`` is positive definite for every parameter value.
    positive_definite: bool = False
    #: Whether ``unit_scaling`` follows a change of trait units exactly (covariances of a
    #: fixed shape, like ``s·K₀``, cannot: their scaling is the identity).
    follows_units: bool = False
    #: Whether ``set_value(C)`` reproduces every C the object can represent (a sum of
    #: covariances, for one, only shares C out among its terms).
    set_value_exact: bool = True

    @property
    def dim(self) -> int:
        """The dimension of the (square) value."""
        return int(np.shape(self.value())[0])

    @property
    def max_rank(self) -> int:
        """The largest rank ``value()`` can have (default: the dimension)."""
        return self.dim

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """``Σᵢⱼ M[i, j] ∂C[i, j]/∂θ`` for each free θ (default: from the dense gradient).

        Parameters
        ----------
        M : array_like
            A matrix of the shape of ``value()``.

        Returns
        -------
        dict
            One array of shape ``(θ.size,)`` per free parameter.
        """
        M = np.asarray(M, dtype=float)
        return {k: np.tensordot(M, g, axes=([0, 1], [0, 1])) for k, g in self.gradient().items()}

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """Set the parameters so that ``value()`` is as close as possible to ``C``."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot be set from a matrix; set its parameters instead"
        )

    def unit_scaling(
        self, d: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(scale, shift)`` with ``C(shift + scale·θᵤ) = diag(d) C(θᵤ) diag(d)``.

        The default (scale 1, shift 0) is for covariances whose shape cannot follow a
        change of trait units; fits with them then depend on the units of the data.
        """
        n = sum(p.size for p in self.free_parameters().values())
        return np.ones(n), np.zeros(n)

    def unit_bounds(self) -> list[tuple[float, float]]:
        """Bounds of the free flat parameters in unit-variance units (default: those of
        the parameters themselves)."""
        return self.flat_bounds()
