"""Tail probabilities through scipy.special (the cephes/boost kernels behind scipy.stats,
without its per-call overhead), with scipy.stats' log-space functions where a tail
underflows."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

__all__ = ["f_logsf", "f_sf", "t_sf"]

FloatArray = NDArray[np.float64]

#: Below this a tail probability is recomputed in log space.
_TINY = 1e-290


def t_sf(x: ArrayLike, df: ArrayLike) -> FloatArray:
    """P(T > x) for Student's t with ``df`` degrees of freedom (``df`` may be inf)."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(df, np.float64))
    with np.errstate(invalid="ignore"):
        out = np.asarray(special.stdtr(df, -x), dtype=np.float64)
    inf = np.isinf(df)
    if inf.any():
        out = np.where(inf, special.ndtr(-x), out)
    return out


def f_sf(x: ArrayLike, df1: ArrayLike, df2: ArrayLike) -> FloatArray:
    """P(F > x) for the F distribution (``df2`` may be inf: χ²_{df1}/df1)."""
    x, df1, df2 = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64),
        np.asarray(df1, dtype=np.float64),
        np.asarray(df2, dtype=np.float64),
    )
    out = np.empty(x.shape)
    inf = np.isinf(df2)
    with np.errstate(invalid="ignore"):
        out[inf] = special.chdtrc(df1[inf], df1[inf] * x[inf])
        out[~inf] = special.fdtrc(df1[~inf], df2[~inf], x[~inf])
    return out


def f_logsf(x: ArrayLike, df1: ArrayLike, df2: ArrayLike) -> FloatArray:
    """log P(F > x), accurate also where the probability underflows."""
    p = f_sf(x, df1, df2)
    with np.errstate(divide="ignore"):
        out = np.log(p)
    tiny = p < _TINY
    if np.any(tiny):
        x, df1, df2 = np.broadcast_arrays(
            np.asarray(x, dtype=np.float64),
            np.asarray(df1, dtype=np.float64),
            np.asarray(df2, dtype=np.float64),
        )
        out[tiny] = stats.f.logsf(x[tiny], df1[tiny], df2[tiny])
    return np.asarray(out, dtype=np.float64)
