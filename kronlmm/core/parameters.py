"""Named parameters and the base class of every covariance and mean object.

A *function* here is a covariance ``K(θ)`` or a mean ``m(θ)`` that depends on named
array parameters ``θ``. Every function exposes

- ``value()``: the dense value (an array),
- ``gradient()``: a dict mapping the dotted name of each *free* (unfixed) parameter to
  ``∂value/∂θ`` with the parameter axis last, i.e. an array of shape
  ``value().shape + (θ.size,)`` whose last index runs over ``θ.ravel()``,
- a flat view of the free parameters (``get_flat``/``set_flat``/``flat_bounds``) for
  optimisers,
- ``fix(name)``/``unfix(name)`` and ``version`` (changes whenever any parameter value
  changes; caches compare it instead of registering listeners).

Composite functions (sums, Kronecker sums) own *children*; a child's parameter ``Lu``
below the child named ``C0`` is called ``"C0.Lu"``.

Gradients are returned as :class:`Gradient` dicts: their keys are the optimised parameters,
and they also answer *alias* keys, a name for several parameters read together (e.g.
glimix-core's ``"C1.Lu"`` for ``"C1.Llow"`` followed by ``"C1.Llogd"``).
``_check_grad()`` compares the analytic gradient with finite differences (glimix-core's
name; :func:`kronlmm.testing.check_gradient` is the detailed public check).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Parameter",
    "Function",
    "Gradient",
    "composite_keys",
    "check_children",
    "merged_gradient",
    "finite_difference_gap",
]


class Gradient(dict[str, NDArray[np.float64]]):
    """A gradient: one array per free parameter (dotted name), parameter axis last.

    Besides its keys (the optimised parameters) it answers *alias* keys: an alias names
    several parameters read together, and its value is their arrays concatenated along
    the last axis. Aliases are read with ``[]`` and :meth:`get`; they are not keys (they
    are not iterated, counted or reported by ``in``), so code that sums over the
    gradient sees every parameter once.

    Parameters
    ----------
    data : mapping
        The arrays, keyed by parameter name.
    aliases : mapping of str to tuple of str, optional
        Alias name → the parameter names it stands for, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.parameters import Gradient
    >>> g = Gradient({"Llow": np.array([1.0]), "Llogd": np.array([2.0, 3.0])},
    ...              {"Lu": ("Llow", "Llogd")})
    >>> list(g), g["Lu"].tolist()
    (['Llow', 'Llogd'], [1.0, 2.0, 3.0])
    """

    def __init__(
        self,
        data: Mapping[str, NDArray[np.float64]] | None = None,
        aliases: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        super().__init__(data or {})
        self.aliases: dict[str, tuple[str, ...]] = dict(aliases or {})

    def __missing__(self, key: str) -> NDArray[np.float64]:
        parts = self.aliases.get(key)
        if parts is None or not all(dict.__contains__(self, p) for p in parts):
            raise KeyError(key)
        return np.concatenate([np.asarray(self[p]) for p in parts], axis=-1)

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]`` (aliases included), or ``default`` when it cannot be read."""
        try:
            return self[key]
        except KeyError:
            return default


class _StructureEpoch:
    """A counter bumped whenever the free/fixed layout of any parameter tree may change
    (a parameter fixed or unfixed, a parameter or child registered): functions cache their
    flat layout against it instead of walking their tree on every flat-vector access."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


_STRUCTURE = _StructureEpoch()


class Parameter:
    """An array-valued parameter with element-wise bounds and a fixed flag.

    Parameters
    ----------
    value : array_like
        Initial value; its shape is the parameter's shape for life.
    bounds : tuple of (array_like, array_like), optional
        Lower and upper bounds, broadcast to the value's shape. Defaults to
        ``(-inf, inf)``.

    Examples
    --------
    >>> from kronlmm.core.parameters import Parameter
    >>> par = Parameter([1.0, 2.0], bounds=(0.0, 10.0))
    >>> par.shape, par.fixed
    ((2,), False)
    >>> par.set([3.0, 4.0])
    >>> par.value
    array([3., 4.])
    >>> par.bounds[1]
    array([10., 10.])
    """

    def __init__(
        self,
        value: ArrayLike,
        bounds: tuple[ArrayLike, ArrayLike] = (-np.inf, np.inf),
    ) -> None:
        arr = np.array(value, dtype=float)
        self._value = arr
        self._value.setflags(write=False)
        self._fixed = False
        self.version = 0
        self.set_bounds(*bounds)
        self.set(arr)

    @property
    def fixed(self) -> bool:
        """Whether the parameter is held at its value (left out of the flat vector)."""
        return self._fixed

    @fixed.setter
    def fixed(self, value: bool) -> None:
        self._fixed = bool(value)
        _STRUCTURE.bump()

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the value (fixed at construction)."""
        return self._value.shape

    @property
    def size(self) -> int:
        """Number of entries of the value (its length in a flat parameter vector)."""
        return self._value.size

    @property
    def value(self) -> NDArray[np.float64]:
        """The current value (read-only array)."""
        return self._value

    @property
    def bounds(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(lower, upper)``: element-wise bounds, arrays of the parameter's shape."""
        return self._lower, self._upper

    def set_bounds(self, lower: ArrayLike, upper: ArrayLike) -> None:
        """Set element-wise bounds (broadcast to the parameter's shape)."""
        lo = np.broadcast_to(np.asarray(lower, float), self.shape).copy()
        hi = np.broadcast_to(np.asarray(upper, float), self.shape).copy()
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
            raise ValueError(f"invalid bounds: lower={lo!r}, upper={hi!r}")
        self._lower, self._upper = lo, hi

    def set(self, value: ArrayLike) -> None:
        """Set a new value; shape must match and every entry must be finite."""
        arr = np.array(value, dtype=float)
        if arr.shape != self.shape:
            if arr.size == self.size and arr.ndim <= 1 and len(self.shape) <= 1:
                arr = arr.reshape(self.shape)
            else:
                raise ValueError(f"parameter value has shape {arr.shape}, expected {self.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("parameter value must be finite")
        arr.setflags(write=False)
        self._value = arr
        self.version += 1

    def __repr__(self) -> str:
        state = "fixed" if self.fixed else "free"
        return f"Parameter(shape={self.shape}, {state})"


class _Layout:
    """A function's parameters in flat-vector order, as of one structure epoch."""

    __slots__ = ("epoch", "every", "free", "nfree")

    def __init__(self, epoch: int, every: list[tuple[str, Parameter]]) -> None:
        self.epoch = epoch
        self.every = every
        self.free = [(k, p) for k, p in every if not p.fixed]
        self.nfree = sum(p.size for _, p in self.free)


class Function:
    """Base class of covariance and mean objects.

    Subclasses register parameters with :meth:`_add_parameter` and children with
    :meth:`_add_child`, and implement :meth:`value` and :meth:`_own_gradient` (the
    gradient with respect to *all* of their own parameters, fixed or not; children's
    gradients are merged by :meth:`gradient`, which composites override).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.parameters import Function, Parameter
    >>> class ScaledOnes(Function):  # K = s·11ᵀ, s = exp(logscale)
    ...     def __init__(self, dim, name=None):
    ...         super().__init__(name)
    ...         self._dim = dim
    ...         self._logscale = self._add_parameter("logscale", Parameter(0.0))
    ...
    ...     def value(self):
    ...         return np.exp(self._logscale.value) * np.ones((self._dim, self._dim))
    ...
    ...     def _own_gradient(self):
    ...         return {"logscale": self.value()[..., None]}
    >>> cov = ScaledOnes(2)
    >>> cov.set_flat([np.log(3.0)])
    >>> cov.value()
    array([[3., 3.],
           [3., 3.]])
    >>> cov.gradient()["logscale"].shape
    (2, 2, 1)
    >>> cov.fix("logscale")
    >>> cov.nparams, cov.gradient()
    (0, {})
    """

    def __init__(self, name: str | None = None) -> None:
        self._parameters: dict[str, Parameter] = {}
        self._children: dict[str, Function] = {}
        self.name = name
        self._layout: _Layout | None = None

    # ---- registration ------------------------------------------------------------
    def _add_parameter(self, name: str, parameter: Parameter) -> Parameter:
        if "." in name or name in self._parameters or name in self._children:
            raise ValueError(f"invalid or duplicate parameter name {name!r}")
        self._parameters[name] = parameter
        _STRUCTURE.bump()
        return parameter

    def _add_child(self, name: str, child: Function) -> Function:
        if not isinstance(child, Function):
            raise TypeError(f"child {name!r} must be a kronlmm Function, got {type(child)!r}")
        if "." in name or name in self._parameters or name in self._children:
            raise ValueError(f"invalid or duplicate child name {name!r}")
        self._children[name] = child
        _STRUCTURE.bump()
        return child

    # ---- parameter access --------------------------------------------------------
    def _iter_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, par in self._parameters.items():
            yield prefix + name, par
        for cname, child in self._children.items():
            yield from child._iter_parameters(prefix + cname + ".")

    def _current_layout(self) -> _Layout:
        layout = getattr(self, "_layout", None)
        if layout is None or layout.epoch != _STRUCTURE.value:
            layout = _Layout(_STRUCTURE.value, list(self._iter_parameters()))
            self._layout = layout
        return layout

    def parameters(self) -> dict[str, Parameter]:
        """All parameters (fixed and free), keyed by dotted name, in flat-vector order."""
        return dict(self._current_layout().every)

    def free_parameters(self) -> dict[str, Parameter]:
        """The parameters that are not fixed, in flat-vector order."""
        return dict(self._current_layout().free)

    def _lookup(self, name: str) -> list[Parameter]:
        params = self.parameters()
        if name in params:
            return [params[name]]
        prefix = name + "."
        hits = [p for k, p in params.items() if k.startswith(prefix)]
        if not hits:
            raise ValueError(
                f"{type(self).__name__} has no parameter or child {name!r}; "
                f"parameters are {sorted(params)}"
            )
        return hits

    def fix(self, name: str | None = None) -> None:
        """Fix a parameter (dotted name), every parameter of a child, or all (``None``)."""
        for p in self.parameters().values() if name is None else self._lookup(name):
            p.fixed = True

    def unfix(self, name: str | None = None) -> None:
        """Undo :meth:`fix` for a parameter, a child, or all (``None``)."""
        for p in self.parameters().values() if name is None else self._lookup(name):
            p.fixed = False

    @property
    def version(self) -> tuple[int, ...]:
        """Changes whenever any parameter value changes (for cache invalidation)."""
        return tuple(p.version for _, p in self._current_layout().every)

    # ---- flat view -----------------------------------------------------------------
    @property
    def nparams(self) -> int:
        """Length of the flat vector of free parameters."""
        return self._current_layout().nfree

    def get_flat(self) -> NDArray[np.float64]:
        """Concatenation of the free parameters' values (each raveled in C order)."""
        vals = [p.value.ravel() for _, p in self._current_layout().free]
        return np.concatenate(vals) if vals else np.empty(0)

    def set_flat(self, x: ArrayLike) -> None:
        """Set the free parameters from a flat vector (inverse of :meth:`get_flat`)."""
        x = np.asarray(x, dtype=float).ravel()
        layout = self._current_layout()
        if x.size != layout.nfree:
            raise ValueError(f"flat vector has {x.size} entries, expected {layout.nfree}")
        i = 0
        for _, p in layout.free:
            p.set(x[i : i + p.size].reshape(p.shape))
            i += p.size

    def flat_bounds(self) -> list[tuple[float, float]]:
        """Bounds of the flat vector, as (lower, upper) pairs (``±inf`` if unbounded)."""
        out: list[tuple[float, float]] = []
        for p in self.free_parameters().values():
            lo, hi = p.bounds
            out.extend(zip(lo.ravel().tolist(), hi.ravel().tolist(), strict=True))
        return out

    # ---- values and gradients --------------------------------------------------------
    def value(self) -> NDArray[np.float64]:  # pragma: no cover - abstract
        """The dense value at the current parameters (subclasses implement it)."""
        raise NotImplementedError

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        """Gradient with respect to this object's own parameters (local names)."""
        return {}

    def _own_aliases(self) -> dict[str, tuple[str, ...]]:
        """Alias names of this object's own parameters (see :class:`Gradient`)."""
        return {}

    def gradient_aliases(self) -> dict[str, tuple[str, ...]]:
        """Alias keys that gradients of this object answer besides the parameter names,
        children's included (dotted): alias → the parameter names it concatenates."""
        out = dict(self._own_aliases())
        for cname, child in self._children.items():
            for alias, parts in child.gradient_aliases().items():
                out[f"{cname}.{alias}"] = tuple(f"{cname}.{part}" for part in parts)
        return out

    def gradient(self) -> dict[str, NDArray[np.float64]]:
        """``∂value/∂θ`` for each free parameter θ, keyed by dotted name, parameter axis last.

        A :class:`Gradient`: alias keys (e.g. glimix-core's ``"Lu"`` of
        :class:`~kronlmm.cov.FreeFormCov`) can be read too.
        """
        own = self._own_gradient()
        data = {k: own[k] for k, p in self._parameters.items() if not p.fixed}
        return Gradient(data, self.gradient_aliases())

    def _check_grad(self, step: float = 1.49e-08) -> float:
        """Distance between the analytic gradient and central finite differences.

        glimix-core's check: ``Σ_θ ‖Δ_θ − ∂value/∂θ‖`` over the free parameters θ (Frobenius
        norms), where ``Δ_θ`` holds the central differences
        ``(value(θ + h·eᵢ) − value(θ − h·eᵢ)) / 2h`` with the absolute step ``h = step``.
        Close to zero when the gradient is right; see
        :func:`kronlmm.testing.check_gradient` for a per-parameter relative check.
        """
        return finite_difference_gap(self, self.value, self.gradient, step)

    def flat_gradient(self) -> NDArray[np.float64]:
        """The gradient as one array of shape ``value().shape + (nparams,)``."""
        grad = self.gradient()
        free = self.free_parameters()
        if not free:
            return np.empty(self.value().shape + (0,))
        return np.concatenate([grad[k] for k in free], axis=-1)

    # ---- display --------------------------------------------------------------------
    def _repr_fields(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self._repr_fields()})"
        lines = [head]
        for k, p in self.parameters().items():
            state = " (fixed)" if p.fixed else ""
            val = np.array2string(p.value, precision=4, suppress_small=True, threshold=12)
            lines.append(f"  {k}{state}: {val.replace(chr(10), chr(10) + '    ')}")
        return "\n".join(lines)


# ---- helpers shared by the composite objects (SumCov, SumMean) -----------------------------
def composite_keys(children: Sequence[Function]) -> list[str]:
    """Keys of composite children: their ``.name`` where usable, else their position.

    A child's name is used when it is a non-empty string without ``"."`` that no other
    child shares; every other child is keyed by its index (``"0"``, ``"1"``, …). If that
    mix still collides (a child named ``"1"`` next to an unnamed second child), all
    children are keyed by index.
    """
    names = [c.name for c in children]
    keys: list[str] = []
    for i, name in enumerate(names):
        usable = isinstance(name, str) and name != "" and "." not in name
        keys.append(str(name) if usable and names.count(name) == 1 else str(i))
    if len(set(keys)) != len(keys):
        keys = [str(i) for i in range(len(children))]
    return keys


def check_children(argname: str, children: Iterable[object]) -> list[Function]:
    """Return ``children`` as a non-empty list of Functions sharing no parameter object."""
    given = list(children)
    if not given:
        raise ValueError(f"{argname} must contain at least one element, got none")
    out: list[Function] = []
    for i, c in enumerate(given):
        if not isinstance(c, Function):
            raise TypeError(
                f"{argname}[{i}] must be a kronlmm Function (covariance or mean object), "
                f"got {type(c).__name__}"
            )
        out.append(c)
    seen: dict[int, str] = {}
    for i, c in enumerate(out):
        for pname, p in c.parameters().items():
            where = f"{argname}[{i}].{pname}"
            if id(p) in seen:
                raise ValueError(
                    f"{where} is the same parameter object as {seen[id(p)]}; a composite "
                    "cannot hold one object twice (its flat parameter vector would repeat "
                    "it). Use separate instances."
                )
            seen[id(p)] = where
    return out


def merged_gradient(func: Function) -> dict[str, NDArray[np.float64]]:
    """Gradient of ``func``'s own free parameters merged with its children's (prefixed),
    as a :class:`Gradient` answering the children's aliases."""
    grad = Function.gradient(func)
    for key, child in func._children.items():
        for name, g in child.gradient().items():
            grad[f"{key}.{name}"] = g
    return grad


def finite_difference_gap(
    holder: Function,
    value: Callable[[], ArrayLike],
    gradient: Callable[[], Mapping[str, ArrayLike]],
    step: float = 1.49e-08,
) -> float:
    """``Σ_θ ‖Δ_θ − g_θ‖`` over the free parameters θ of ``holder``.

    ``g = gradient()`` is the analytic gradient (keyed by the dotted names of
    ``holder.free_parameters()``, parameter axis last) of ``value()``, a function of
    ``holder``'s parameters (a covariance's matrix or a model's log-likelihood);
    ``Δ_θ[..., i] = (value(θ + h·eᵢ) − value(θ − h·eᵢ)) / 2h`` with ``h = step``. The
    parameters are restored afterwards, also on error.

    Examples
    --------
    >>> from kronlmm.cov import FreeFormCov
    >>> from kronlmm.core.parameters import finite_difference_gap
    >>> cov = FreeFormCov(2)
    >>> cov.Lu = [0.5, 0.1, 0.2]
    >>> bool(finite_difference_gap(cov, cov.value, cov.gradient) < 1e-6)
    True
    """
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a finite number > 0, got {step!r}")
    analytic = {k: np.asarray(v, dtype=float) for k, v in gradient().items()}
    total = 0.0
    for name, par in holder.free_parameters().items():
        if name not in analytic:
            raise ValueError(f"the gradient has no entry for the free parameter {name!r}")
        if par.size == 0:
            continue
        x0 = np.array(par.value, dtype=float)
        columns = []
        try:
            for i in range(par.size):
                x = x0.copy()
                x.flat[i] += step
                par.set(x)
                up = np.asarray(value(), dtype=float)
                x.flat[i] = x0.flat[i] - step
                par.set(x)
                down = np.asarray(value(), dtype=float)
                columns.append((up - down) / (2 * step))
        finally:
            par.set(x0)
        numeric = np.stack(columns, axis=-1)
        total += float(np.linalg.norm((numeric - analytic[name].reshape(numeric.shape)).ravel()))
    return total
