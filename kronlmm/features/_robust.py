"""Robust regression of many features: Huber M-estimation by iteratively reweighted least
squares, as MASS::rlm (``psi.huber``, k = 1.345, MAD scale, least-squares start, at most
20 iterations, relative residual change ≤ 1e-4) — what limma's ``mrlm`` runs per gene.

All features of a block iterate together; a feature stops changing once it has converged.
For feature g with prior weights w (rows scaled by √w):

    s = median|r| / 0.6745,   ψ-weights u_i = min(1, k s / |r_i|),
    β = argmin Σ u_i (y_i − x_iᵀβ)²,   r = y − Xβ,

repeated until ‖r_new − r_old‖ ≤ 1e-4 ‖r_old‖. Reported: β, the unscaled standard errors
√diag((XᵀUX)⁻¹) of the last weighted fit, σ = s of the last iteration and
df = n_obs − k.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._lstsq import batched_lstsq, feature_blocks

__all__ = ["HUBER_K", "huber_fit"]

FloatArray = NDArray[np.float64]

#: Huber's tuning constant (95% efficiency at the normal), MASS::psi.huber's default.
HUBER_K = 1.345


def _masked_median(x: FloatArray, observed: NDArray[np.bool_]) -> FloatArray:
    """Median of each row over the observed entries (NaN for rows with none)."""
    values = np.where(observed, x, np.inf)
    values.sort(axis=1)
    counts = observed.sum(axis=1)
    out = np.full(x.shape[0], np.nan)
    ok = counts > 0
    lo = (counts[ok] - 1) // 2
    hi = counts[ok] // 2
    rows = np.flatnonzero(ok)
    out[ok] = 0.5 * (values[rows, lo] + values[rows, hi])
    return out


def huber_fit(
    Y: FloatArray,
    X: FloatArray,
    *,
    weights: FloatArray | None = None,
    maxit: int = 20,
    acc: float = 1e-4,
    k: float = HUBER_K,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, int]:
    """Huber M-estimates for every row of ``Y`` (m × n, NaN = missing) on ``X`` (n × p).

    Returns (coefficients m × p, stdev_unscaled m × p, sigma m, df_residual m, number of
    features that did not converge in ``maxit`` iterations). Features with no more
    observations than coefficients get NaN and df 0, as in limma's ``mrlm``.
    """
    m, n = Y.shape
    p = X.shape[1]
    coef = np.full((m, p), np.nan)
    stdev = np.full((m, p), np.nan)
    sigma = np.full(m, np.nan)
    df = np.zeros(m)
    not_converged = 0
    for block in feature_blocks(m, n, p):
        obs = np.isfinite(Y[block])
        nobs = obs.sum(axis=1)
        fit_rows = np.flatnonzero(nobs > p)
        if fit_rows.size == 0:
            continue
        obs = obs[fit_rows]
        nobs = nobs[fit_rows]
        Yb = Y[block][fit_rows]
        if weights is None:
            sw = obs.astype(float)
        elif weights.ndim == 1:
            sw = np.where(obs, np.sqrt(weights)[None, :], 0.0)
        else:
            sw = np.sqrt(np.where(obs, weights[block][fit_rows], 0.0))
        y = np.where(obs, Yb, 0.0) * sw
        Xs = sw[:, :, None] * X[None, :, :]
        b, s_unscaled, _, rank = batched_lstsq(Xs, y, nobs)
        resid = y - np.einsum("cnk,ck->cn", Xs, b)
        c = fit_rows.size
        scale = np.full(c, np.nan)
        active = rank == p
        done = ~active
        for _ in range(maxit):
            idx = np.flatnonzero(~done)
            if idx.size == 0:
                break
            r_old = resid[idx]
            s = _masked_median(np.abs(r_old), obs[idx]) / 0.6745
            zero = s == 0
            if zero.any():  # MASS stops with the previous fit
                scale[idx[zero]] = 0.0
                done[idx[zero]] = True
                idx, r_old, s = idx[~zero], r_old[~zero], s[~zero]
                if idx.size == 0:
                    break
            scale[idx] = s
            with np.errstate(divide="ignore"):
                u = np.minimum(1.0, k * s[:, None] / np.abs(r_old))
            su = np.sqrt(np.where(obs[idx], u, 0.0))
            Xi = Xs[idx]
            bi, si, _, _ = batched_lstsq(su[:, :, None] * Xi, su * y[idx], nobs[idx])
            r_new = y[idx] - np.einsum("cnk,ck->cn", Xi, bi)
            b[idx] = bi
            s_unscaled[idx] = si
            resid[idx] = r_new
            change = np.sqrt(
                np.sum((r_old - r_new) ** 2, axis=1) / np.maximum(1e-20, np.sum(r_old**2, axis=1))
            )
            done[idx] = change <= acc
        not_converged += int(np.sum(active & ~done))
        rows = np.arange(m)[block][fit_rows]
        coef[rows] = b
        stdev[rows] = s_unscaled
        df[rows] = nobs - rank
        sigma[rows] = np.where(df[rows] > 0, scale, np.nan)
    return coef, stdev, sigma, df, not_converged
