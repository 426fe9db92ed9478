"""Distribution tails that stay finite where the probability underflows."""

from __future__ import annotations

import numpy as np
import scipy.special as sc
from numpy.typing import ArrayLike, NDArray

__all__ = ["chi2_logsf"]


def chi2_logsf(x: ArrayLike, dof: ArrayLike) -> NDArray[np.float64]:
    """``log P(χ²_dof > x)``, finite far beyond where ``P`` underflows (p < 1e-308).

    Where SciPy's ``chi2.sf`` is comfortably representable its log is used. Elsewhere the
    regularised upper incomplete gamma ``Q(a, z)`` (a = dof/2, z = x/2) is evaluated in log
    space from its continued fraction (modified Lentz), which converges fast for z > a + 1::

        log Q(a, z) = a log z − z − log Γ(a) − log(z + 1 − a − 1·(1 − a)/(z + 3 − a − …))
    """
    x = np.asarray(x, dtype=float)
    dof = np.broadcast_to(np.asarray(dof, dtype=float), x.shape)
    with np.errstate(divide="ignore"):
        sf = sc.chdtrc(dof, x)
        # near sf = 1, log1p of the (small) cdf keeps full relative precision
        out = np.where(sf > 0.5, np.log1p(-sc.chdtr(dof, x)), np.log(sf))
    tail = np.isfinite(x) & (x > 0) & ~(out > -700.0)
    if np.any(tail):
        a, z = dof[tail] / 2.0, x[tail] / 2.0
        tiny = 1e-300
        b = z + 1.0 - a
        c = np.full_like(z, 1.0 / tiny)
        d = 1.0 / b
        h = d.copy()
        for i in range(1, 300):
            an = -i * (i - a)
            b = b + 2.0
            d = an * d + b
            d = np.where(np.abs(d) < tiny, tiny, d)
            c = b + an / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            d = 1.0 / d
            delta = d * c
            h = h * delta
            if np.all(np.abs(delta - 1.0) < 1e-15):
                break
        out[tail] = a * np.log(z) - z - sc.gammaln(a) + np.log(h)
    return out
