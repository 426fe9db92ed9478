"""Finite-difference check of the analytic gradient of a kronlmm Function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["check_gradient", "GradientCheck"]


class _FlatFunction(Protocol):
    """What :func:`check_gradient` needs: a value and a flat view of the free parameters."""

    def value(self) -> ArrayLike: ...

    def get_flat(self) -> NDArray[np.float64]: ...

    def set_flat(self, x: ArrayLike) -> None: ...

    def flat_gradient(self) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class GradientCheck:
    r"""Result of :func:`check_gradient`.

    With ``f`` the function's value, ``x`` its flat vector of P free parameters,
    ``a[..., k]`` the analytic ``∂f/∂x[k]`` and ``d[..., k]`` the central finite
    difference ``(f(x + hₖeₖ) − f(x − hₖeₖ)) / (2hₖ)``:

    - ``abs_errors[k] = max |a[..., k] − d[..., k]|``,
    - ``rel_errors[k] = abs_errors[k] / max(max|a[..., k]|, max|d[..., k]|, floor[k])``
      where ``floor[k]`` keeps a parameter whose derivative is exactly zero from failing
      on round-off (see :func:`check_gradient`).

    Attributes
    ----------
    max_rel_error : float
        ``max_k rel_errors[k]`` (0 when there are no free parameters).
    max_abs_error : float
        ``max_k abs_errors[k]``.
    analytic : ndarray
        ``a``, shape ``value().shape + (P,)`` (the function's ``flat_gradient()``).
    numeric : ndarray
        ``d``, same shape.
    rel_errors, abs_errors : ndarray
        Per flat parameter, shape ``(P,)``.
    labels : tuple of str
        Name of each flat parameter: ``"C0.Lu[3]"`` (flat index into the parameter) or
        ``"logscale"`` for a scalar.
    rtol : float
        Tolerance used for :attr:`passed`.

    Examples
    --------
    >>> from kronlmm.cov import LRFreeFormCov
    >>> from kronlmm.testing import check_gradient
    >>> check = check_gradient(LRFreeFormCov(3, 2))
    >>> check.passed, check.labels[:2]
    (True, ('Lu[0]', 'Lu[1]'))
    >>> check.analytic.shape == check.numeric.shape == (3, 3, 6)
    True
    """

    max_rel_error: float
    max_abs_error: float
    analytic: NDArray[np.float64] = field(repr=False)
    numeric: NDArray[np.float64] = field(repr=False)
    rel_errors: NDArray[np.float64] = field(repr=False)
    abs_errors: NDArray[np.float64] = field(repr=False)
    labels: tuple[str, ...] = field(repr=False)
    rtol: float = 1e-5

    @property
    def passed(self) -> bool:
        """Whether ``max_rel_error ≤ rtol``."""
        return bool(self.max_rel_error <= self.rtol)

    @property
    def worst(self) -> str | None:
        """Label of the flat parameter with the largest relative error (None if P = 0)."""
        if not self.labels:
            return None
        return self.labels[int(np.argmax(self.rel_errors))]

    def raise_if_failed(self) -> None:
        """Raise AssertionError naming the worst parameter unless :attr:`passed`."""
        if not self.passed:
            k = int(np.argmax(self.rel_errors))
            raise AssertionError(
                f"gradient check failed: relative error {self.max_rel_error:.3g} > "
                f"rtol={self.rtol:g}, worst at {self.labels[k]} (absolute error "
                f"{self.abs_errors[k]:.3g})"
            )


class _ModelView:
    """A model whose ``value()`` is a scalar (its log-likelihood) and whose ``gradient()``
    is a dict keyed by the dotted names of the free parameters of ``model.cov``, seen as a
    flat function of those parameters (e.g. :class:`~kronlmm.lmm.Kron2Sum`)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._params = model.cov

    def value(self) -> NDArray[np.float64]:
        return np.asarray(self._model.value(), dtype=float)

    def get_flat(self) -> NDArray[np.float64]:
        return np.asarray(self._params.get_flat(), dtype=float)

    def set_flat(self, x: ArrayLike) -> None:
        self._params.set_flat(x)

    def free_parameters(self) -> dict[str, Any]:
        return dict(self._params.free_parameters())

    def flat_gradient(self) -> NDArray[np.float64]:
        grad = self._model.gradient()
        parts = [np.asarray(grad[name], dtype=float).ravel() for name in self.free_parameters()]
        return np.concatenate(parts) if parts else np.empty(0)


def _as_flat_function(func: Any) -> Any:
    """``func`` itself if it has the flat interface, else a :class:`_ModelView` of it."""
    if callable(getattr(func, "flat_gradient", None)):
        return func
    cov = getattr(func, "cov", None)
    if callable(getattr(func, "gradient", None)) and callable(getattr(cov, "get_flat", None)):
        return _ModelView(func)
    raise TypeError(
        f"check_gradient needs a kronlmm Function (value(), get_flat(), set_flat(), "
        f"flat_gradient()) or a model (value(), gradient() and a Function cov holding the "
        f"parameters); got {type(func).__name__}"
    )


def _flat_labels(func: object) -> tuple[str, ...]:
    free = getattr(func, "free_parameters", None)
    if free is None:
        n = np.asarray(func.get_flat()).size  # type: ignore[attr-defined]
        return tuple(f"x[{k}]" for k in range(n))
    labels: list[str] = []
    for name, p in free().items():
        if p.shape == ():
            labels.append(name)
        else:
            labels.extend(f"{name}[{i}]" for i in range(p.size))
    return tuple(labels)


def check_gradient(
    func: _FlatFunction | Any,
    step: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 0.0,
) -> GradientCheck:
    r"""Compare a function's analytic gradient with central finite differences.

    The check runs in the flat space of the *free* parameters (``func.get_flat()``,
    ``func.set_flat()``, ``func.flat_gradient()``), so it works for every kronlmm
    covariance, mean or model object, including composites and objects with fixed
    parameters, and for user-defined subclasses of :class:`kronlmm.core.parameters.Function`.
    Models take part too: :class:`~kronlmm.lmm.LMM` is a Function (its ``value()`` is the
    log-likelihood), and a model whose ``value()`` is a scalar and whose ``gradient()`` is
    a dict keyed by the free parameters of its covariance ``model.cov`` (a Function), such
    as :class:`~kronlmm.lmm.Kron2Sum`, is checked in the flat space of ``model.cov``.
    The parameters are restored afterwards, also on error.

    For each flat parameter ``x[k]`` the step is ``hₖ = step·max(1, |x[k]|)`` and the
    numeric derivative ``(f(x + hₖeₖ) − f(x − hₖeₖ)) / (2hₖ)``; bounds are ignored (the
    function must be defined within ``hₖ`` of ``x``). Errors are measured per
    parameter, relative to the larger of the two derivatives' magnitudes but to no less
    than ``floor[k] = max(atol, 10⁶·ε·max|f|/hₖ)`` (ε the machine epsilon;
    ``ε·max|f|/hₖ`` is the round-off level of the difference quotient).

    Parameters
    ----------
    func : Function or model
        Object with ``value()``, ``get_flat()``, ``set_flat(x)`` and
        ``flat_gradient()`` (shape ``value().shape + (P,)``), or a model as above.
    step : float, optional
        Relative finite-difference step. Default 1e-6.
    rtol : float, optional
        Relative tolerance for :attr:`GradientCheck.passed`. Default 1e-5.
    atol : float, optional
        Lower bound of the denominator of the relative error. Default 0.

    Returns
    -------
    GradientCheck
        ``max_rel_error``, ``max_abs_error``, the ``analytic`` and ``numeric`` arrays,
        per-parameter errors and ``passed``.

    Examples
    --------
    >>> from kronlmm.cov import FreeFormCov
    >>> from kronlmm.testing import check_gradient
    >>> cov = FreeFormCov(3)
    >>> cov.Lu = [1.0, 0.5, 2.0, -0.3, 0.1, 1.5]
    >>> check_gradient(cov).passed
    True

    A model (the gradient of its log-likelihood):

    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum
    >>> rng = np.random.default_rng(0)
    >>> model = Kron2Sum(rng.normal(size=(20, 2)), None, None, rng.normal(size=(20, 5)))
    >>> check = check_gradient(model)
    >>> check.passed, check.labels
    (True, ('C0.Lu[0]', 'C0.Lu[1]', 'C1.Llow[0]', 'C1.Llogd[0]', 'C1.Llogd[1]'))
    """
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a finite number > 0, got {step!r}")
    func = _as_flat_function(func)
    x0 = np.array(func.get_flat(), dtype=float)
    labels = _flat_labels(func)
    f0 = np.asarray(func.value(), dtype=float)
    analytic = np.asarray(func.flat_gradient(), dtype=float)
    expected = f0.shape + (x0.size,)
    if analytic.shape != expected:
        raise ValueError(
            f"flat_gradient() has shape {analytic.shape}, expected value().shape + "
            f"(nparams,) = {expected}"
        )
    numeric = np.empty_like(analytic)
    fscale = float(np.max(np.abs(f0))) if f0.size else 0.0
    floors = np.empty(x0.size)
    try:
        for k in range(x0.size):
            h = step * max(1.0, abs(x0[k]))
            x = x0.copy()
            x[k] = x0[k] + h
            func.set_flat(x)
            fp = np.asarray(func.value(), dtype=float)
            x[k] = x0[k] - h
            func.set_flat(x)
            fm = np.asarray(func.value(), dtype=float)
            numeric[..., k] = (fp - fm) / (2 * h)
            floors[k] = max(atol, 1e6 * np.finfo(float).eps * fscale / h)
    finally:
        func.set_flat(x0)

    a = analytic.reshape(f0.size, x0.size)
    d = numeric.reshape(f0.size, x0.size)
    if a.size == 0:
        abs_err = np.zeros(x0.size)
        rel_err = np.zeros(x0.size)
    else:
        abs_err = np.max(np.abs(a - d), axis=0)
        scale = np.maximum(np.max(np.abs(a), axis=0), np.max(np.abs(d), axis=0))
        denom = np.maximum(scale, np.maximum(floors, np.finfo(float).tiny))
        rel_err = abs_err / denom
        rel_err[~np.isfinite(a).all(axis=0) | ~np.isfinite(d).all(axis=0)] = np.inf
    return GradientCheck(
        max_rel_error=float(rel_err.max()) if rel_err.size else 0.0,
        max_abs_error=float(abs_err.max()) if abs_err.size else 0.0,
        analytic=analytic,
        numeric=numeric,
        rel_errors=rel_err,
        abs_errors=abs_err,
        labels=labels,
        rtol=rtol,
    )
