"""The optimiser wrapper every model uses, and :class:`FitResult`.

Models maximise a log-likelihood over a flat vector ``z`` of *scaled* parameters (the
parameters of the problem in units where every trait has variance one; see
:mod:`kronlmm.core.projections`). The optimisers here minimise the objective
``f(z) = −lml / N`` (N the number of observations), whose gradient is of order one
whatever the size and units of the data, so one tolerance means the same thing for every
problem:

- :func:`minimize_lbfgsb`: SciPy's L-BFGS-B through :func:`scipy.optimize.minimize`
  (SciPy 1.11–1.18);
- :func:`newton_polish`: a few Newton steps with a finite-difference Hessian of the
  analytic gradient, restricted to the free (not-at-bound) coordinates, which takes an
  L-BFGS-B solution to the last digits and confirms it is a local minimum;
- :func:`maximize_scalar`: a grid and Brent's method for one bounded parameter (the
  single-trait model's δ);
- :func:`projected_gradient`: the gradient with the components that point out of the box
  at active bounds removed — zero exactly at a Karush–Kuhn–Tucker point. A fit is
  reported as converged only when the norm of this vector at the returned point is below
  the stated tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import OptimizeResult, minimize

__all__ = [
    "FitResult",
    "Objective",
    "projected_gradient",
    "minimize_lbfgsb",
    "newton_polish",
    "maximize_scalar",
    "ScalarSearch",
    "DEFAULT_GTOL",
]

#: Default tolerance on the norm of the projected gradient of ``−lml/N`` (scaled
#: parameters) for a fit to count as converged.
DEFAULT_GTOL = 1e-6

#: ``f(z) -> (value, gradient)`` over the scaled parameters.
Objective = Callable[[NDArray[np.float64]], tuple[float, NDArray[np.float64]]]


@dataclass
class FitResult:
    """What a fit did.

    Attributes
    ----------
    success : bool
        Whether the fit converged: the norm of the final projected gradient
        (``grad_norm``) is at most ``grad_tol``, and nothing else went wrong (then
        ``message`` says what).
    message : str
        What happened, in words.
    niter, nfev : int
        Iterations and function evaluations, all starts together.
    lml : float
        Final (restricted) log-likelihood.
    grad_norm : float
        Euclidean norm of the final projected gradient of ``−lml/N`` with respect to the
        free parameters in scaled units (units-free, see :mod:`kronlmm.core.optimize`).
    starts : list of float
        Final ``lml`` of every start tried (the best one is kept; escapes from the
        boundary that follow may raise ``lml`` above all of them).
    grad_tol : float
        The tolerance ``grad_norm`` was held to.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum
    >>> rng = np.random.default_rng(1)
    >>> G = rng.standard_normal((60, 10)) / np.sqrt(10)
    >>> Y = G @ rng.standard_normal((10, 2)) + rng.standard_normal((60, 2))
    >>> model = Kron2Sum(Y, np.eye(2), np.ones((60, 1)), G)
    >>> result = model.fit(verbose=False)
    >>> result.success, result.grad_norm <= result.grad_tol
    (True, True)
    >>> result.lml == max(result.starts)
    True
    """

    success: bool
    message: str
    niter: int
    nfev: int
    lml: float
    grad_norm: float
    starts: list[float] = field(default_factory=list)
    grad_tol: float = DEFAULT_GTOL

    def __str__(self) -> str:
        state = "converged" if self.success else "NOT converged"
        return (
            f"{state} after {self.niter} iterations ({self.nfev} evaluations): "
            f"lml = {self.lml:.10g}, |projected gradient| = {self.grad_norm:.3g} "
            f"(tolerance {self.grad_tol:.3g}); {self.message}"
        )


def projected_gradient(
    z: NDArray[np.float64], g: NDArray[np.float64], bounds: Sequence[tuple[float, float]]
) -> NDArray[np.float64]:
    """The gradient of a *minimisation* with outward components at active bounds removed.

    A coordinate at its lower bound with a positive gradient (or at its upper bound with a
    negative one) cannot move downhill, so its component is dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.optimize import projected_gradient
    >>> projected_gradient(np.array([0.0, 0.5]), np.array([2.0, 1.0]), [(0, 1), (0, 1)])
    array([0., 1.])
    """
    g = np.array(g, dtype=float)
    lo = np.array([b[0] for b in bounds], dtype=float)
    hi = np.array([b[1] for b in bounds], dtype=float)
    g[(z <= lo) & (g > 0)] = 0.0
    g[(z >= hi) & (g < 0)] = 0.0
    return g


def _scipy_bounds(bounds: Sequence[tuple[float, float]]) -> list[tuple[float | None, float | None]]:
    return [
        (float(lo) if np.isfinite(lo) else None, float(hi) if np.isfinite(hi) else None)
        for lo, hi in bounds
    ]


def minimize_lbfgsb(
    fun: Objective,
    z0: NDArray[np.float64],
    bounds: Sequence[tuple[float, float]],
    *,
    maxiter: int = 2000,
    ftol: float = 1e-12,
    gtol: float = 1e-9,
) -> tuple[NDArray[np.float64], OptimizeResult]:
    """Minimise ``fun`` (value and gradient) by L-BFGS-B within ``bounds``.

    Non-finite values (e.g. a singular covariance) are returned to the optimiser as a
    large value with a zero gradient, which makes it backtrack.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.optimize import minimize_lbfgsb
    >>> fun = lambda z: (float((z[0] - 2) ** 2), np.array([2 * (z[0] - 2)]))
    >>> z, res = minimize_lbfgsb(fun, np.array([0.0]), [(-1.0, 1.0)])
    >>> z.tolist()
    [1.0]
    """
    z0 = np.clip(z0, [b[0] for b in bounds], [b[1] for b in bounds])

    def safe(z: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        f, g = fun(z)
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            return 1e100, np.zeros_like(z)
        return f, g

    res = minimize(
        safe,
        z0,
        jac=True,
        method="L-BFGS-B",
        bounds=_scipy_bounds(bounds),
        options={"maxiter": maxiter, "ftol": ftol, "gtol": gtol, "maxcor": 30},
    )
    return np.asarray(res.x, dtype=float), res


def newton_polish(
    fun: Objective,
    z: NDArray[np.float64],
    bounds: Sequence[tuple[float, float]],
    *,
    max_steps: int = 8,
    step: float = 1e-5,
    gtol: float = 1e-12,
    max_params: int = 150,
) -> tuple[NDArray[np.float64], int]:
    """Refine a local minimum by Newton steps with a finite-difference Hessian.

    Coordinates at an active bound (projected gradient component zero) stay fixed. The
    Hessian of the free coordinates is the central difference of the analytic gradient
    (``2·#free`` evaluations); directions of (near-)zero curvature — e.g. the rotations
    of a low-rank factor, which leave the likelihood unchanged — are left alone. A step is
    kept only if it lowers the objective (with backtracking) and the polish stops where
    the Hessian is not positive semi-definite (not a minimum: the caller's optimiser must
    move on) or after ``max_steps``. Problems with more than ``max_params`` free
    parameters are returned unchanged.

    Returns the refined point and the number of function evaluations used.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.optimize import newton_polish
    >>> fun = lambda z: (float(np.sum(np.cosh(z - 1.0))), np.sinh(z - 1.0))
    >>> z, _ = newton_polish(fun, np.array([0.9, 1.2]), [(-5, 5), (-5, 5)])
    >>> bool(np.abs(z - 1.0).max() < 1e-12)
    True
    """
    lo = np.array([b[0] for b in bounds], dtype=float)
    hi = np.array([b[1] for b in bounds], dtype=float)
    nfev = 0
    f, g = fun(z)
    nfev += 1
    if not np.isfinite(f):
        return z, nfev
    for _ in range(max_steps):
        pg = projected_gradient(z, g, bounds)
        free = ~(((z <= lo) & (g > 0)) | ((z >= hi) & (g < 0)))
        idx = np.flatnonzero(free)
        if idx.size == 0 or idx.size > max_params or np.linalg.norm(pg) <= gtol:
            break
        H = np.empty((idx.size, idx.size))
        for j, i in enumerate(idx):
            h = step * max(1.0, abs(z[i]))
            zp, zm = z.copy(), z.copy()
            zp[i] = min(z[i] + h, hi[i])
            zm[i] = max(z[i] - h, lo[i])
            gp, gm = fun(zp)[1], fun(zm)[1]
            nfev += 2
            H[:, j] = (gp[idx] - gm[idx]) / (zp[i] - zm[i])
        H = (H + H.T) / 2
        if not np.all(np.isfinite(H)):
            break
        w, V = np.linalg.eigh(H)
        scale = max(float(np.max(np.abs(w))), 1e-300)
        if w[0] < -1e-6 * scale:
            break  # not a minimum
        keep = w > 1e-9 * scale
        gi = g[idx]
        s = -(V[:, keep] @ ((V[:, keep].T @ gi) / w[keep]))
        t = 1.0
        improved = False
        for _ in range(12):
            zn = z.copy()
            zn[idx] = np.clip(z[idx] + t * s, lo[idx], hi[idx])
            fn, gn = fun(zn)
            nfev += 1
            # near the optimum f changes below its own rounding: then a step that does
            # not raise f beyond rounding and shrinks the gradient is progress too
            flat = abs(fn - f) <= 1e-14 * max(1.0, abs(f))
            smaller = np.linalg.norm(projected_gradient(zn, gn, bounds)) < 0.5 * np.linalg.norm(pg)
            if np.isfinite(fn) and (fn < f or (flat and smaller)):
                z, f, g = zn, fn, gn
                improved = True
                break
            t /= 2
        if not improved:
            break
    return z, nfev


@dataclass
class ScalarSearch:
    """Outcome of :func:`maximize_scalar`.

    Attributes
    ----------
    x : float
        The best point found in ``[lo, hi]``.
    value : float
        The objective there.
    niter, nfev : int
        Brent iterations and evaluations.
    candidates : list of float
        The values of the end points and of every refined local maximum.
    slope : float
        The projected derivative of ``value / normaliser`` with respect to the logit of
        ``x`` at an interior optimum (central difference), or with respect to ``x`` at an
        end point (zero when it points out of ``[lo, hi]``).
    messages : list of str
        Problems met (Brent not converging in a bracket, non-finite values).
    """

    x: float
    value: float
    niter: int
    nfev: int
    candidates: list[float]
    slope: float
    messages: list[str]


def maximize_scalar(
    f: Callable[[float], float],
    lo: float = 0.0,
    hi: float = 1.0,
    *,
    normaliser: float = 1.0,
    grid: int = 101,
    t_max: float = 20.0,
    refine: int = 3,
    tol: float = 1e-9,
    maxiter: int = 500,
) -> ScalarSearch:
    """Maximise a function of one bounded variable: a grid, then Brent's method.

    The grid covers ``t = logit((x − lo)/(hi − lo)) ∈ [−t_max, t_max]`` plus the exact end
    points; the ``refine`` best local maxima of the grid are refined by Brent's method on
    t inside their grid brackets (brent-search), and the best value found is kept. A
    multimodal objective is therefore searched globally at the grid's resolution.

    Examples
    --------
    >>> from kronlmm.core.optimize import maximize_scalar
    >>> res = maximize_scalar(lambda x: -(x - 0.3) ** 2)
    >>> round(res.x, 8), abs(res.slope) < 1e-6
    (0.3, True)
    >>> maximize_scalar(lambda x: x).x  # the maximum is an end point
    1.0
    """
    from brent_search import brent

    width = hi - lo
    nfev = 0

    def at(t: float) -> float:
        e = math.exp(-abs(t))
        u = 1.0 / (1.0 + e) if t >= 0 else e / (1.0 + e)
        return lo + width * u

    def value(x: float) -> float:
        nonlocal nfev
        nfev += 1
        v = float(f(x))
        return v if not math.isnan(v) else -math.inf

    messages: list[str] = []
    ts = np.linspace(-t_max, t_max, grid)
    vals = np.array([value(at(float(t))) for t in ts])
    cands: list[tuple[float, float]] = [(lo, value(lo)), (hi, value(hi))]
    niter = 0
    if np.all(np.isneginf(vals)):
        if not any(math.isfinite(v) for _, v in cands):
            raise RuntimeError(f"the objective is not finite anywhere in [{lo}, {hi}]")
    else:
        padded = np.concatenate([[-np.inf], vals, [-np.inf]])
        is_max = (padded[1:-1] >= padded[:-2]) & (padded[1:-1] > padded[2:])
        order = [int(j) for j in np.argsort(-vals) if is_max[j] and np.isfinite(vals[j])]
        for j in (order or [int(np.argmax(vals))])[:refine]:
            cands.append((at(float(ts[j])), float(vals[j])))
            a, b = ts[max(j - 1, 0)], ts[min(j + 1, grid - 1)]
            t, fneg, it = brent(
                lambda t: -value(at(t)) if math.isfinite(value(at(t))) else math.inf,
                a, b, x0=float(ts[j]), f0=-float(vals[j]), rtol=tol, atol=tol, maxiter=maxiter,
            )  # fmt: skip
            niter += int(it)
            if it >= maxiter or not math.isfinite(fneg):
                messages.append(
                    f"Brent's method did not converge in [{at(a):.3g}, {at(b):.3g}] "
                    f"({it} iterations)"
                )
            cands.append((at(float(t)), -float(fneg)))
    x, best = max(cands, key=lambda c: c[1])
    # projected slope at the optimum
    if x in (lo, hi):
        h = 1e-7 * width
        inner = value(x + h) if x == lo else value(x - h)
        d = (inner - best) / h  # derivative pointing into the interval
        slope = max(d, 0.0) / normaliser
    else:
        u = (x - lo) / width
        t0 = math.log(u / (1 - u))
        h = 1e-4
        slope = (value(at(t0 + h)) - value(at(t0 - h))) / (2 * h) / normaliser
    return ScalarSearch(
        x=float(x),
        value=float(best),
        niter=niter,
        nfev=nfev,
        candidates=[v for _, v in cands],
        slope=float(slope),
        messages=messages,
    )
