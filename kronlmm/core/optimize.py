"""L-BFGS-B driver over an affinely rescaled flat parameter vector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize


@dataclass
class FitResult:
    """What a fit did.

    Attributes
    ----------
    success : bool
        Whether the optimiser met its convergence criteria.
    message : str
        The optimiser's message.
    niter, nfev : int
        Iterations and function evaluations of the best run.
    lml : float
        Final (restricted) log-likelihood.
    grad_norm : float
        Euclidean norm of the final projected gradient of ``lml`` with respect to the
        free parameters (in the units of the parameters).
    starts : list of float
        Final ``lml`` of every start tried (the best one is kept).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum
    >>> rng = np.random.default_rng(1)
    >>> G = rng.standard_normal((60, 10)) / np.sqrt(10)
    >>> Y = G @ rng.standard_normal((10, 2)) + rng.standard_normal((60, 2))
    >>> model = Kron2Sum(Y, np.eye(2), np.ones((60, 1)), G)
    >>> result = model.fit(verbose=False, restarts=2)
    >>> result.success, len(result.starts)  # the moments start and 2 restarts
    (True, 3)
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

    def __str__(self) -> str:
        state = "converged" if self.success else "NOT converged"
        return (
            f"{state} after {self.niter} iterations ({self.nfev} evaluations): "
            f"lml = {self.lml:.10g}, |gradient| = {self.grad_norm:.3g}; {self.message}"
        )


def projected_gradient_norm(
    x: NDArray[np.float64], g: NDArray[np.float64], bounds: list[tuple[float, float]]
) -> float:
    """Norm of the gradient of a maximisation after removing components that push out of bounds."""
    g = g.copy()
    for i, (lo, hi) in enumerate(bounds):
        if (x[i] <= lo and g[i] < 0) or (x[i] >= hi and g[i] > 0):
            g[i] = 0.0
    return float(np.linalg.norm(g))


def maximize_lbfgsb(
    value_and_grad: Callable[[NDArray[np.float64]], tuple[float, NDArray[np.float64]]],
    x0: NDArray[np.float64],
    bounds: list[tuple[float, float]],
    *,
    scale: NDArray[np.float64],
    shift: NDArray[np.float64],
    normaliser: float,
    maxiter: int,
    ftol: float,
    gtol: float,
) -> tuple[NDArray[np.float64], object]:
    """Maximise ``f(θ)`` with L-BFGS-B over ``z = (θ − shift) / scale``.

    The objective seen by the optimiser is ``−f / normaliser`` so that its gradient is of
    order one whatever the units and size of the data; nothing about the data changes.
    Returns the best θ and SciPy's ``OptimizeResult``.
    """

    def fun(z: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        f, g = value_and_grad(shift + scale * z)
        return -f / normaliser, -(g * scale) / normaliser

    zb = [
        ((lo - s0) / s if np.isfinite(lo) else None, (hi - s0) / s if np.isfinite(hi) else None)
        for (lo, hi), s, s0 in zip(bounds, scale, shift, strict=True)
    ]
    z0 = (x0 - shift) / scale
    res = minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        bounds=zb,
        options={"maxiter": maxiter, "ftol": ftol, "gtol": gtol, "maxcor": 20},
    )
    return shift + scale * res.x, res
