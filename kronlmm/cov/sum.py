"""Sum of covariances ``K = K₀ + K₁ + ⋯``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Function, check_children, composite_keys, merged_gradient
from ..core.validation import as_matrix, check_square_symmetric
from .base import Covariance

__all__ = ["SumCov"]


class SumCov(Covariance):
    r"""Sum of covariances ``K = K₀ + K₁ + ⋯ + Kₜ₋₁``.

    Every term ``Kᵢ`` is a covariance object (any kronlmm Function whose ``value()`` is
    an n × n matrix) and all must share the dimension n. ``SumCov`` has no parameters of
    its own: its parameters are the children's, named ``"<key>.<parameter>"`` where the
    key of a child is its ``.name`` if given and unique, else its position ``"0"``,
    ``"1"``, … (e.g. ``"0.logscale"``).

    Parameters
    ----------
    covariances : iterable of Function
        The terms ``K₀, K₁, …`` (at least one; each object at most once).
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.cov import EyeCov, LinearCov, SumCov
    >>> cov = SumCov([LinearCov(np.ones((3, 1))), EyeCov(3)])
    >>> sorted(cov.gradient())
    ['0.logscale', '1.logscale']
    """

    def __init__(self, covariances: Iterable[Function], name: str | None = None) -> None:
        super().__init__(name)
        covs = check_children("covariances", covariances)
        shapes = [np.shape(c.value()) for c in covs]
        ok = all(len(s) == 2 and s[0] == s[1] for s in shapes) and len(set(shapes)) == 1
        if not ok:
            listing = ", ".join(
                f"covariances[{i}] ({type(c).__name__}): {s}"
                for i, (c, s) in enumerate(zip(covs, shapes, strict=True))
            )
            raise ValueError(
                "all covariances of a SumCov must be square with the same dimension; "
                f"got shapes {listing}"
            )
        self._dim = shapes[0][0]
        for key, cov in zip(composite_keys(covs), covs, strict=True):
            self._add_child(key, cov)

    @property
    def dim(self) -> int:
        """Dimension n of ``K`` (``K`` is n × n)."""
        return self._dim

    @property
    def covariances(self) -> list[Function]:
        """The terms, in order."""
        return list(self._children.values())

    def value(self) -> NDArray[np.float64]:
        """Return ``K = Σᵢ Kᵢ`` (n × n)."""
        children = iter(self._children.values())
        K = np.array(next(children).value(), dtype=float)
        for c in children:
            K += c.value()
        return K

    def gradient(self) -> dict[str, NDArray[np.float64]]:
        """``∂K/∂θ`` for each free parameter θ of every term, keyed ``"<key>.<name>"``."""
        return merged_gradient(self)

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Return ``Σᵢⱼ M[i, j] ∂K[i, j]/∂θ`` for each free parameter θ.

        Terms with a ``contract_gradient`` method use it; for the others the dense
        gradient is contracted.

        Parameters
        ----------
        M : array_like
            n × n matrix.

        Returns
        -------
        dict
            One array of shape ``(θ.size,)`` per free parameter, keyed as
            :meth:`gradient`.
        """
        M = as_matrix("M", M, nrows=self._dim, ncols=self._dim, allow_vector=False)
        out: dict[str, NDArray[np.float64]] = {}
        for key, child in self._children.items():
            contract = getattr(child, "contract_gradient", None)
            if contract is not None:
                part = contract(M)
            else:
                part = {
                    k: np.tensordot(M, g, axes=([0, 1], [0, 1]))
                    for k, g in child.gradient().items()
                }
            for name, g in part.items():
                out[f"{key}.{name}"] = np.asarray(g, dtype=float)
        return out

    # ---- trait-covariance protocol -------------------------------------------------------
    set_value_exact = False

    @property
    def follows_units(self) -> bool:  # type: ignore[override]
        """True if every term follows a change of trait units."""
        return all(bool(getattr(c, "follows_units", False)) for c in self.covariances)

    @property
    def positive_definite(self) -> bool:  # type: ignore[override]
        """True if a term is positive definite (every term is positive semi-definite)."""
        return any(bool(getattr(c, "positive_definite", False)) for c in self.covariances)

    @property
    def max_rank(self) -> int:
        """The dimension, or the sum of the terms' ranks if smaller."""
        ranks = [int(getattr(c, "max_rank", self._dim)) for c in self.covariances]
        return min(self._dim, sum(ranks))

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """Give each of the t terms the value closest to ``C/t`` (a starting point that
        shares C equally; terms that cannot be set from a matrix keep their value)."""
        C = check_square_symmetric(name, C, size=self._dim)
        share = C / len(self._children)
        for child in self.covariances:
            setter = getattr(child, "set_value", None)
            if setter is None:
                continue
            try:
                setter(share, name=name)
            except NotImplementedError:
                pass

    def unit_scaling(
        self, d: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The terms' scalings, concatenated in flat-vector order (a sum of covariances
        that each follow the trait units does too)."""
        scales: list[NDArray[np.float64]] = []
        shifts: list[NDArray[np.float64]] = []
        for child in self.covariances:
            n = child.nparams
            fn = getattr(child, "unit_scaling", None)
            sc, sh = fn(d) if fn is not None else (np.ones(n), np.zeros(n))
            scales.append(np.asarray(sc, dtype=float))
            shifts.append(np.asarray(sh, dtype=float))
        if not scales:
            return np.empty(0), np.empty(0)
        return np.concatenate(scales), np.concatenate(shifts)

    def unit_bounds(self) -> list[tuple[float, float]]:
        """The terms' unit bounds, concatenated in flat-vector order."""
        out: list[tuple[float, float]] = []
        for child in self.covariances:
            fn = getattr(child, "unit_bounds", None)
            out.extend(fn() if fn is not None else child.flat_bounds())
        return out

    def _repr_fields(self) -> str:
        terms = ", ".join(f"{k}={type(c).__name__}" for k, c in self._children.items())
        return f"dim={self._dim}, covariances=[{terms}]"
