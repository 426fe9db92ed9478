"""Least squares for many features at once: OLS, WLS and GLS with a common intra-block
correlation.

For each feature g with values y_g (n samples), weights w_g and observed set O_g:

    y_g[O_g] = X[O_g] β_g + e_g,   Cov(e_g) = σ_g² D_g^{-1/2} C D_g^{-1/2},

with D_g = diag(w_g) and C the intra-block correlation matrix (C = I without blocks).
Whitening with C^{-1/2} D_g^{1/2} turns each problem into ordinary least squares.

- Features with every value observed and weights shared by all features (none, or one
  per sample) share one whitened design: one QR factorisation, then matrix products on
  blocks of features.
- The others (missing values, or a weight per feature and sample) are solved in blocks
  with batched QR factorisations of their own whitened designs (no Python loop per
  feature). Only a feature whose observed design is rank deficient is solved on its own,
  dropping the non-estimable columns as R's ``lm.fit`` does.

Memory beyond the input is O(c·n·k) for a block of c features.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._inputs import estimable_columns

__all__ = ["BlockCorrelation", "LeastSquares", "batched_lstsq", "fit_least_squares"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Doubles per block of the batched path (c · n · k); 2**21 doubles = 16 MiB.
_BLOCK_DOUBLES = 2**21


def feature_blocks(m: int, n: int, k: int, budget: int = _BLOCK_DOUBLES) -> Iterator[slice]:
    """Slices of at most ``budget / (n·k)`` features (at least one)."""
    size = max(1, budget // max(1, n * max(k, 1)))
    for start in range(0, m, size):
        yield slice(start, min(m, start + size))


@dataclass(frozen=True)
class BlockCorrelation:
    """A common correlation ``rho`` between samples of the same block.

    ``labels`` are integer codes 0..B-1 (one per sample). ``C = (1-ρ) I + ρ Z Zᵀ`` with Z
    the block indicator; within a block of b observed samples C has eigenvalues ``1-ρ``
    and ``1-ρ+bρ``, so ``C^{-1/2} u = u/√(1-ρ) + (1/√(1-ρ+bρ) - 1/√(1-ρ)) · mean_b(u)``.
    """

    labels: NDArray[np.intp]
    rho: float

    @property
    def nblocks(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0

    def _sorted(self) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        perm = np.argsort(self.labels, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(self.labels[perm]) != 0])
        return perm, starts

    def whiten(self, u: FloatArray, observed: BoolArray | None) -> FloatArray:
        """Apply ``C_O^{-1/2}`` to ``u`` (c × n, or c × n × k) over the observed samples
        of each feature (``observed``: c × n, None = all); unobserved entries of ``u``
        must be 0 and stay 0."""
        perm, starts = self._sorted()
        a = 1.0 / np.sqrt(1.0 - self.rho)
        sums = np.add.reduceat(u[:, perm], starts, axis=1)
        if observed is None:
            counts = np.bincount(self.labels, minlength=self.nblocks).astype(float)[None, :]
        else:
            counts = np.add.reduceat(observed[:, perm].astype(float), starts, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            cb = 1.0 / np.sqrt(1.0 - self.rho + counts * self.rho)
            factor = np.where(counts > 0, (cb - a) / np.maximum(counts, 1.0), 0.0)
        if u.ndim == 3:
            correction = sums * factor[:, :, None]
        else:
            correction = sums * factor
        out = a * u + correction[:, self.labels]
        if observed is not None:
            mask = observed if u.ndim == 2 else observed[:, :, None]
            out = np.where(mask, out, 0.0)
        return np.asarray(out, dtype=np.float64)


@dataclass
class LeastSquares:
    """Per-feature results (m rows) and the unscaled covariance of the coefficients."""

    coefficients: FloatArray
    stdev_unscaled: FloatArray
    sigma: FloatArray
    df_residual: FloatArray
    cov_coefficients: FloatArray


def _qr_parts(Xw: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Q (n × k) and R⁻¹ (k × k) of a full-rank whitened design."""
    Q, R = np.linalg.qr(Xw)
    return Q, np.linalg.inv(R)


def batched_lstsq(
    U: FloatArray, u: FloatArray, nobs: NDArray[np.intp]
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.intp]]:
    """Least squares for a block of c features with their own (whitened) designs.

    ``U`` is c × n × k, ``u`` is c × n (rows of unobserved samples are 0 in both),
    ``nobs`` the observed count per feature. Returns (coefficients c × k, stdev_unscaled
    c × k, residual sum of squares c, rank c); non-estimable coefficients are NaN.
    """
    c, n, k = U.shape
    coef = np.full((c, k), np.nan)
    stdev = np.full((c, k), np.nan)
    rss = np.full(c, np.nan)
    rank = np.zeros(c, dtype=np.intp)
    if c == 0:
        return coef, stdev, rss, rank
    norms = np.sqrt(np.einsum("cnk,cnk->ck", U, U))
    Q, R = np.linalg.qr(U)
    diag = np.abs(np.diagonal(R, axis1=1, axis2=2))
    full = np.all(diag > 1e-7 * norms, axis=1) & (nobs >= k)
    idx = np.flatnonzero(full)
    if idx.size:
        Rinv = np.linalg.inv(R[idx])
        eff = np.einsum("cnk,cn->ck", Q[idx], u[idx])
        b = np.einsum("cij,cj->ci", Rinv, eff)
        coef[idx] = b
        stdev[idx] = np.sqrt(np.einsum("cij,cij->ci", Rinv, Rinv))
        resid = u[idx] - np.einsum("cnk,ck->cn", U[idx], b)
        rss[idx] = np.einsum("cn,cn->c", resid, resid)
        rank[idx] = k
    for g in np.flatnonzero(~full):
        rows = np.flatnonzero(np.any(U[g] != 0.0, axis=1) | (u[g] != 0.0))
        Xg = U[g][rows]
        if Xg.shape[0] == 0:
            continue
        keep = estimable_columns(Xg)
        r = int(keep.sum())
        rank[g] = r
        if r == 0:
            rss[g] = float(u[g] @ u[g])
            continue
        Qg, Rinv_g = _qr_parts(Xg[:, keep])
        bg = Rinv_g @ (Qg.T @ u[g][rows])
        coef[g, keep] = bg
        stdev[g, keep] = np.sqrt(np.sum(Rinv_g**2, axis=1))
        resid = u[g][rows] - Xg[:, keep] @ bg
        rss[g] = float(resid @ resid)
    return coef, stdev, rss, rank


def _sigma(rss: FloatArray, df: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(df > 0, np.sqrt(rss / np.where(df > 0, df, 1.0)), np.nan)


def fit_least_squares(
    Y: FloatArray,
    X: FloatArray,
    *,
    weights: FloatArray | None = None,
    correlation: BlockCorrelation | None = None,
) -> LeastSquares:
    """OLS / WLS / GLS of every row of ``Y`` (m × n, NaN = missing) on ``X`` (n × k).

    ``weights`` is None, per sample (n) or per feature and sample (m × n, 0 where Y is
    NaN). ``X`` must have full column rank. ``cov_coefficients`` follows R's limma: the
    whitened weighted design when no value is missing and weights are per sample,
    otherwise the design whitened for the correlation only.
    """
    m, n = Y.shape
    k = X.shape[1]
    coef = np.full((m, k), np.nan)
    stdev = np.full((m, k), np.nan)
    sigma = np.full(m, np.nan)
    df = np.zeros(m)

    complete = np.empty(m, dtype=bool)
    for block in feature_blocks(m, n, 1):
        complete[block] = np.isfinite(Y[block]).all(axis=1)
    per_feature_weights = weights is not None and weights.ndim == 2
    common = np.flatnonzero(complete) if not per_feature_weights else np.array([], np.intp)
    other = np.setdiff1d(np.arange(m), common, assume_unique=True)

    sw = np.sqrt(weights) if weights is not None and weights.ndim == 1 else np.ones(n)
    Xs = X * sw[:, None]
    Xw = correlation.whiten(Xs[None], None)[0] if correlation is not None else Xs
    Q, Rinv = _qr_parts(Xw)
    if common.size:
        stdev_common = np.sqrt(np.sum(Rinv**2, axis=1))
        for block in feature_blocks(common.size, n, 1, budget=_BLOCK_DOUBLES // 2):
            rows = common[block]
            Yc = Y[rows] * sw
            if correlation is not None:
                Yc = correlation.whiten(Yc, None)
            b = (Yc @ Q) @ Rinv.T
            resid = Yc - b @ Xw.T
            coef[rows] = b
            stdev[rows] = stdev_common
            df[rows] = n - k
            sigma[rows] = _sigma(np.einsum("ij,ij->i", resid, resid), df[rows])

    if other.size:
        for block in feature_blocks(other.size, n, k):
            rows = other[block]
            obs = np.isfinite(Y[rows])
            if per_feature_weights:
                assert weights is not None
                sqw = np.sqrt(np.where(obs, weights[rows], 0.0))
            else:
                sqw = np.where(obs, sw[None, :], 0.0)
            u = np.where(obs, Y[rows], 0.0) * sqw
            U = sqw[:, :, None] * X[None, :, :]
            if correlation is not None:
                u = correlation.whiten(u, obs)
                U = correlation.whiten(U, obs)
            nobs = obs.sum(axis=1)
            b, s, rss, rank = batched_lstsq(U, u, nobs)
            coef[rows] = b
            stdev[rows] = s
            df[rows] = nobs - rank
            sigma[rows] = _sigma(rss, df[rows])

    if other.size == 0:
        cov = Rinv @ Rinv.T
    else:
        Xc = correlation.whiten(X[None], None)[0] if correlation is not None else X
        _, Rinv_c = _qr_parts(Xc)
        cov = Rinv_c @ Rinv_c.T
    return LeastSquares(coef, stdev, sigma, df, cov)
