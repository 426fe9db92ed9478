"""Smoothers with R's conventions: natural cubic splines (``splines::ns``), lowess
(``stats::lowess``, through statsmodels) and linear interpolation with averaged ties
(``approx(..., ties = mean)``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import BSpline

__all__ = ["NaturalSpline", "approx_mean_ties", "lowess_r"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class NaturalSpline:
    """The space of natural cubic splines of R's ``ns(x, df, intercept = TRUE)``.

    Interior knots at the quantiles ``j/(df-1)``, j = 1..df-2, of x (R's type-7
    quantiles), boundary knots at the range of x; cubic B-splines constrained to have a
    zero second derivative at both boundary knots, extrapolated linearly outside. The
    basis spans the same space as R's (fitted values agree; the columns may differ by a
    rotation).
    """

    knots: FloatArray  # full knot vector of the cubic B-splines
    boundary: tuple[float, float]
    null: FloatArray  # (nb × (nb-2)): B-spline coefficients satisfying the constraints

    @classmethod
    def from_data(cls, x: FloatArray, df: int) -> NaturalSpline:
        lo, hi = float(np.min(x)), float(np.max(x))
        ninterior = df - 2
        probs = np.linspace(0.0, 1.0, ninterior + 2)[1:-1]
        interior = np.quantile(x, probs) if ninterior > 0 else np.zeros(0)
        knots = np.sort(np.r_[[lo] * 4, interior, [hi] * 4])
        nb = knots.size - 4
        spline = BSpline(knots, np.eye(nb), 3, extrapolate=False)
        const = spline.derivative(2)(np.array([lo, hi]))  # 2 × nb
        Q, _ = np.linalg.qr(const.T, mode="complete")
        return cls(knots, (lo, hi), Q[:, 2:])

    def basis(self, x: FloatArray) -> FloatArray:
        """The n × df basis at ``x`` (linear beyond the boundary knots)."""
        nb = self.knots.size - 4
        spline = BSpline(self.knots, np.eye(nb), 3, extrapolate=False)
        lo, hi = self.boundary
        B = np.zeros((x.size, nb))
        inside = (x >= lo) & (x <= hi)
        if inside.any():
            B[inside] = spline(x[inside])
        for side, mask in ((lo, x < lo), (hi, x > hi)):
            if mask.any():
                at = np.array([side])
                value = spline(at)[0]
                slope = spline.derivative(1)(at)[0]
                B[mask] = value[None, :] + (x[mask] - side)[:, None] * slope[None, :]
        return B @ self.null


def lowess_r(x: FloatArray, y: FloatArray, span: float, iterations: int = 3) -> FloatArray:
    """R's ``lowess(x, y, f = span, iter = iterations)`` fitted values, in the order of
    ``x`` (statsmodels' implementation of the same algorithm, with R's default
    ``delta = 0.01 · range(x)``)."""
    from statsmodels.nonparametric.smoothers_lowess import (
        lowess,
    )

    delta = 0.01 * float(np.ptp(x))
    fitted = lowess(y, x, frac=span, it=iterations, delta=delta, return_sorted=False)
    out: FloatArray = np.asarray(fitted, dtype=np.float64)
    return out


def approx_mean_ties(x: FloatArray, y: FloatArray, xout: FloatArray) -> FloatArray:
    """R's ``approx(x, y, xout, rule = 2, ties = mean)``: linear interpolation through
    the points (tied x averaged), constant beyond the ends."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    ux, start = np.unique(xs, return_index=True)
    sums = np.add.reduceat(ys, start)
    counts = np.diff(np.r_[start, xs.size])
    out: FloatArray = np.interp(xout, ux, sums / counts)
    return out
