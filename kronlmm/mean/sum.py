"""Sum of means ``m = m₀ + m₁ + ⋯``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Function, check_children, composite_keys, merged_gradient
from ..core.validation import as_vector

__all__ = ["SumMean"]


class SumMean(Function):
    r"""Sum of means ``m = m₀ + m₁ + ⋯ + mₜ₋₁``.

    Every term ``mᵢ`` is a mean object (any kronlmm Function whose ``value()`` is a
    vector) and all must have the same length n. ``SumMean`` has no parameters of its
    own: a child's parameter is named ``"<key>.<parameter>"`` where the key is the child's
    ``.name`` if given and unique, else its position ``"0"``, ``"1"``, ….

    Parameters
    ----------
    means : iterable of Function
        The terms ``m₀, m₁, …`` (at least one; each object at most once).
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.mean import LinearMean, OffsetMean, SumMean
    >>> mean = SumMean([OffsetMean(3), LinearMean(np.arange(3.0))])
    >>> list(mean.parameters())
    ['0.offset', '1.effsizes']
    >>> mean.set_flat([1.0, 2.0])  # offset, then effsizes
    >>> mean.value()
    array([1., 3., 5.])
    """

    def __init__(self, means: Iterable[Function], name: str | None = None) -> None:
        super().__init__(name)
        terms = check_children("means", means)
        shapes = [np.shape(m.value()) for m in terms]
        if not (all(len(s) == 1 for s in shapes) and len(set(shapes)) == 1):
            listing = ", ".join(
                f"means[{i}] ({type(m).__name__}): {s}"
                for i, (m, s) in enumerate(zip(terms, shapes, strict=True))
            )
            raise ValueError(
                f"all means of a SumMean must be vectors of the same length; got shapes {listing}"
            )
        self._size = shapes[0][0]
        for key, term in zip(composite_keys(terms), terms, strict=True):
            self._add_child(key, term)

    @property
    def size(self) -> int:
        """n, the length of ``m``."""
        return int(self._size)

    @property
    def means(self) -> list[Function]:
        """The terms, in order."""
        return list(self._children.values())

    def value(self) -> NDArray[np.float64]:
        """Return ``m = Σᵢ mᵢ`` (shape ``(n,)``)."""
        terms = iter(self._children.values())
        m = np.array(next(terms).value(), dtype=float)
        for t in terms:
            m += t.value()
        return m

    def gradient(self) -> dict[str, NDArray[np.float64]]:
        """``∂m/∂θ`` for each free parameter θ of every term, keyed ``"<key>.<name>"``."""
        return merged_gradient(self)

    def contract_gradient(self, v: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Return ``Σᵢ v[i] ∂m[i]/∂θ`` for each free parameter θ, keyed as :meth:`gradient`."""
        v = as_vector("v", v, size=self._size)
        out: dict[str, NDArray[np.float64]] = {}
        for key, child in self._children.items():
            contract = getattr(child, "contract_gradient", None)
            if contract is not None:
                part = contract(v)
            else:
                part = {k: np.tensordot(v, g, axes=(0, 0)) for k, g in child.gradient().items()}
            for name, g in part.items():
                out[f"{key}.{name}"] = np.asarray(g, dtype=float)
        return out

    def _repr_fields(self) -> str:
        terms = ", ".join(f"{k}={type(m).__name__}" for k, m in self._children.items())
        return f"size={self._size}, means=[{terms}]"
