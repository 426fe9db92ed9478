"""``duplicate_correlation``: the common correlation between samples of a block (or
duplicate spots), as limma's ``duplicateCorrelation``.

For each feature, the model ``y = Xβ + Zb + e`` with block effects b ~ N(0, σ_b² I) and
e ~ N(0, σ² W⁻¹) is fitted by REML (statmod's ``mixedModel2Fit``): with Q₂ an orthonormal
basis of the residual space of X and Q₂ᵀZZᵀQ₂ = U diag(d) Uᵀ, the squared components
``(Uᵀ Q₂ᵀ y)²`` have expectations ``σ² + σ_b² d_i`` and are fitted by a gamma GLM with
identity link (damped Fisher scoring, at most ``maxit`` iterations). The feature's
correlation is ρ = σ_b² / (σ² + σ_b²), clipped to [1/(1 − max block size) + 0.01, 0.99];
the consensus is tanh of the trimmed mean (``trim``) of atanh ρ over features.

limma runs 20 iterations per feature and some features stop short of their REML
optimum; ``maxit=20`` reproduces R's numbers, a larger ``maxit`` gives the fully
converged estimates (the consensus typically moves by ~1e-4).

Features sharing their missing-value pattern (and weights) are fitted together: one QR
and SVD per pattern, the GLM iterations vectorised over features.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ._dups import check_dups, unwrap_dups, unwrap_names
from ._inputs import (
    as_expression,
    check_block,
    check_weights,
    estimable_columns,
    resolve_design,
)
from .result import FeatureResult

__all__ = ["DuplicateCorrelation", "duplicate_correlation"]

FloatArray = NDArray[np.float64]


class DuplicateCorrelation(FeatureResult):
    """Result of :func:`duplicate_correlation`.

    Fields: ``consensus_correlation`` (float; also ``cor``), ``atanh_correlations`` (one
    per feature, NaN where it could not be estimated), ``feature_names``, ``maxit``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import duplicate_correlation
    >>> rng = np.random.default_rng(0)
    >>> block = np.repeat(np.arange(6), 3)                    # 6 blocks of 3 samples
    >>> y = rng.normal(size=(300, 18)) + rng.normal(size=(300, 6))[:, block]
    >>> dc = duplicate_correlation(y, block=block)
    >>> type(dc).__name__, round(dc.consensus_correlation, 1)
    ('DuplicateCorrelation', 0.5)
    """


def _gamma_deviance(y: FloatArray, mu: FloatArray) -> FloatArray:
    """statmod's gamma deviance per row (inf where any mu < 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        both_zero = (y < 1e-15) & (mu < 1e-15)
        terms = (y - mu) / mu - np.log(y / mu)
        dev = 2 * np.sum(np.where(both_zero, 0.0, terms), axis=1)
    return np.where(np.any(mu < 0, axis=1), np.inf, dev)


def _glmgam(
    dx: FloatArray, y: FloatArray, start: FloatArray, maxit: int, tol: float = 1e-6
) -> FloatArray:
    """statmod's ``glmgam.fit`` (gamma GLM, identity link, Levenberg damping) for G
    problems at once: dx (G × N × 2), y (G × N), start (G × 2). NaN where R errors."""
    G = y.shape[0]
    beta = start.copy()
    mu = np.einsum("gnp,gp->gn", dx, beta)
    failed = np.any(mu < 0, axis=1)
    beta[failed] = np.nan
    dev = _gamma_deviance(y, mu)
    lam = np.zeros(G)
    active = ~failed
    eye = np.eye(2)
    it = 0
    while active.any():
        it += 1
        a = np.flatnonzero(active)
        mu_a = mu[a]
        v = mu_a**2
        v = np.maximum(v, np.max(v, axis=1, keepdims=True) / 1e3)
        xa = dx[a]
        xvx = np.einsum("gnp,gn,gnq->gpq", xa, 1.0 / v, xa)
        diag = np.diagonal(xvx, axis1=1, axis2=2)
        maxinfo = diag.max(axis=1)
        if it == 1:
            lam[a] = np.abs(diag.mean(axis=1)) / 2
        dl = np.einsum("gnp,gn->gp", xa, (y[a] - mu_a) / v)
        beta_old = beta[a].copy()
        dev_old = dev[a].copy()
        lev = np.zeros(a.size, dtype=int)
        inner = np.ones(a.size, dtype=bool)
        dbeta = np.zeros((a.size, 2))
        damped_out = np.zeros(a.size, dtype=bool)
        new_beta = beta_old.copy()
        new_mu = mu_a.copy()
        new_dev = dev_old.copy()
        while inner.any():
            i = np.flatnonzero(inner)
            lev[i] += 1
            step = np.linalg.solve(xvx[i] + lam[a[i], None, None] * eye, dl[i][:, :, None])[:, :, 0]
            dbeta[i] = step
            new_beta[i] = beta_old[i] + step
            new_mu[i] = np.einsum("gnp,gp->gn", xa[i], new_beta[i])
            new_dev[i] = _gamma_deviance(y[a[i]], new_mu[i])
            with np.errstate(divide="ignore", invalid="ignore"):
                small = new_dev[i] / new_mu[i].max(axis=1) < 1e-15
            accept = (new_dev[i] <= dev_old[i]) | small
            too_much = ~accept & (lam[a[i]] / maxinfo[i] > 1e15)
            new_beta[i[too_much]] = beta_old[i[too_much]]
            damped_out[i[too_much]] = True
            grow = ~accept & ~too_much
            lam[a[i[grow]]] *= 2
            inner[i[~grow]] = False
        beta[a] = new_beta
        mu[a] = new_mu
        dev[a] = new_dev
        stop = damped_out.copy()
        reduce = (lev == 1) & ~damped_out
        lam[a[reduce]] /= 10
        with np.errstate(divide="ignore", invalid="ignore"):
            small = new_dev / new_mu.max(axis=1) < 1e-15
        converged = (np.einsum("gp,gp->g", dl, dbeta) < tol) | small
        stop |= converged | (it > maxit)
        active[a[stop]] = False
    return beta


def _rho_for_group(
    y: FloatArray,
    X: FloatArray,
    Zcodes: NDArray[np.intp],
    sw: FloatArray | None,
    maxit: int,
) -> FloatArray:
    """ρ for the G features of one missing-value pattern: y (G × n_obs), X (n_obs × k),
    block codes (n_obs), sqrt-weights (G × n_obs, or None)."""
    G, nobs = y.shape
    codes, _ = pd.factorize(Zcodes)
    nblocks = int(codes.max()) + 1
    Z = np.zeros((nobs, nblocks))
    Z[np.arange(nobs), codes] = 1.0
    if sw is None:
        keep = estimable_columns(X)
        Q, _ = np.linalg.qr(X[:, keep], mode="complete")
        Q2 = Q[:, int(keep.sum()) :]
        U, s, _ = np.linalg.svd(Q2.T @ Z, full_matrices=True)
        mq = Q2.shape[1]
        d = np.zeros(mq)
        d[: s.size] = s**2
        uqy = (y @ Q2) @ U
        dvec = np.broadcast_to(d, (G, mq))
    else:
        Xs = sw[:, :, None] * X[None, :, :]
        keep = estimable_columns(Xs[0])
        Q, _ = np.linalg.qr(Xs[:, :, keep], mode="complete")
        Q2 = Q[:, :, int(keep.sum()) :]
        QtZ = np.einsum("gnm,nb->gmb", Q2, Z)
        U, s, _ = np.linalg.svd(QtZ, full_matrices=True)
        mq = Q2.shape[2]
        dvec = np.zeros((G, mq))
        dvec[:, : s.shape[1]] = s**2
        uqy = np.einsum("gnm,gn,gmj->gj", Q2, y * sw, U)
    dy = uqy**2
    dx = np.stack([np.ones_like(dvec), dvec], axis=2)
    # least-squares start (statmod: lm.fit(dx, dy))
    xtx = np.einsum("gnp,gnq->gpq", dx, dx)
    xty = np.einsum("gnp,gn->gp", dx, dy)
    with np.errstate(invalid="ignore"):
        ls = (
            np.linalg.lstsq(xtx[0], xty.T, rcond=None)[0].T
            if sw is None
            else np.stack([np.linalg.lstsq(xtx[g], xty[g], rcond=None)[0] for g in range(G)])
        )
    # lm.fit drops the block column when d is (nearly) constant: no estimate
    centred = dvec - dvec.mean(axis=1, keepdims=True)
    collinear = np.sqrt(np.sum(centred**2, axis=1)) <= 1e-7 * np.sqrt(np.sum(dvec**2, axis=1))
    ls[collinear] = np.nan
    varcomp = ls
    fitted = np.einsum("gnp,gp->gn", dx, ls)
    d0 = dvec[0] if sw is None else None
    if d0 is not None:
        use_glm = np.full(
            G, mq > 2 and np.sum(np.abs(d0) > 1e-15) > 1 and np.var(d0, ddof=1) > 1e-15
        )
    else:
        use_glm = (
            (mq > 2)
            & (np.sum(np.abs(dvec) > 1e-15, axis=1) > 1)
            & (np.var(dvec, axis=1, ddof=1) > 1e-15)
        )
    if use_glm.any():
        g = np.flatnonzero(use_glm)
        start = np.where(
            np.all(fitted[g] >= 0, axis=1)[:, None],
            ls[g],
            np.column_stack([dy[g].mean(axis=1), np.zeros(g.size)]),
        )
        out = np.full((g.size, 2), np.nan)
        nonzero = dy[g].max(axis=1) > 0
        out[~nonzero] = 0.0
        if nonzero.any():
            out[nonzero] = _glmgam(dx[g][nonzero], dy[g][nonzero], start[nonzero], maxit)
        varcomp = ls.copy()
        varcomp[g] = out
    with np.errstate(divide="ignore", invalid="ignore"):
        rho: FloatArray = varcomp[:, 1] / varcomp.sum(axis=1)
    return rho


def duplicate_correlation(
    data: Any,
    design: Any = None,
    *,
    block: Any = None,
    ndups: int = 2,
    spacing: int = 1,
    trim: float = 0.15,
    weights: Any = None,
    samples: pd.DataFrame | None = None,
    layer: str | None = None,
    weights_layer: str | None = None,
    maxit: int = 20,
) -> DuplicateCorrelation:
    """Estimate the correlation within blocks (or between duplicate spots) shared by all
    features (limma's ``duplicateCorrelation``).

    Model and estimator: see :mod:`kronlmm.features.duplicate_correlation`.

    Parameters
    ----------
    data : array, DataFrame or AnnData
        As for :func:`~kronlmm.features.lm_fit` (features × samples; NaN = missing).
    design : array, DataFrame or formula, optional
        The fixed effects (default: an intercept).
    block : sequence, optional
        Block label per sample. Without it, duplicate spots: ``ndups`` rows per gene,
        ``spacing`` rows apart.
    trim : float
        Fraction trimmed from each end before averaging atanh ρ.
    weights : array, optional
        Observation weights (per sample, or features × samples).
    samples, layer, weights_layer :
        As for :func:`~kronlmm.features.lm_fit`.
    maxit : int
        Iterations of each feature's REML fit; 20 reproduces limma, larger values let
        every feature converge.

    Returns
    -------
    DuplicateCorrelation
        ``consensus_correlation`` is what :func:`~kronlmm.features.lm_fit` takes as
        ``correlation``.

    Raises
    ------
    ValueError
        For block labels of the wrong length, a design of the wrong shape or weights of
        the wrong shape or ≤ 0.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import duplicate_correlation, e_bayes, lm_fit
    >>> rng = np.random.default_rng(1)
    >>> block = np.repeat(np.arange(8), 2)
    >>> design = np.c_[np.ones(16), np.tile([0, 1], 8)]     # treatment within blocks
    >>> y = rng.normal(size=(200, 16)) + rng.normal(size=(200, 8))[:, block]
    >>> dc = duplicate_correlation(y, design, block=block)
    >>> fit = e_bayes(lm_fit(y, design, block=block, correlation=dc.consensus_correlation))
    >>> bool(0.3 < dc.consensus_correlation < 0.7), fit.correlation == dc.cor
    (True, True)
    """
    expr = as_expression(data, layer=layer, weights_layer=weights_layer)
    values = expr.values
    nspots, n = values.shape
    table = samples if samples is not None else expr.samples
    X, names = resolve_design(design, n, table)
    keep = estimable_columns(X)
    if not keep.all():
        warnings.warn(
            f"design not of full rank: column(s) {[names[j] for j in np.flatnonzero(~keep)]} "
            "are not estimable and are left out",
            UserWarning,
            stacklevel=2,
        )
    if weights is None:
        weights = expr.weights
    w = check_weights(weights, values.shape, values)
    feature_names = expr.feature_names
    zero = DuplicateCorrelation(
        consensus_correlation=0.0,
        cor=0.0,
        atanh_correlations=np.zeros(nspots),
        feature_names=feature_names,
        maxit=maxit,
    )
    if block is not None:
        codes = check_block(block, n)
        max_block = int(np.bincount(codes).max())
        if max_block == 1:
            warnings.warn(
                "blocks all of size 1: setting the intra-block correlation to zero",
                UserWarning,
                stacklevel=2,
            )
            return zero
        Zb = np.zeros((n, int(codes.max()) + 1))
        Zb[np.arange(n), codes] = 1.0
        Q, _ = np.linalg.qr(X[:, keep], mode="complete")
        resid_block = Q[:, int(keep.sum()) :].T @ Zb[:, 1:]
        if resid_block.size == 0 or np.max(np.abs(resid_block)) < 1e-8:
            warnings.warn(
                "the block factor is already encoded in the design: setting the "
                "intra-block correlation to zero",
                UserWarning,
                stacklevel=2,
            )
            return zero
        labels = codes
        rhomin = 1.0 / (1.0 - max_block) + 0.01
        Xu = X
    else:
        check_dups(nspots, ndups, spacing)
        if ndups < 2:
            warnings.warn(
                "no duplicates (ndups < 2): setting the correlation to zero",
                UserWarning,
                stacklevel=2,
            )
            return zero
        values = unwrap_dups(values, ndups, spacing)
        if w is not None:
            w = unwrap_dups(w, ndups, spacing) if w.ndim == 2 else np.repeat(w, ndups)
        if feature_names is not None:
            feature_names = unwrap_names(feature_names, ndups, spacing)
        labels = np.repeat(np.arange(n), ndups)
        rhomin = 1.0 / (1.0 - ndups) + 0.01
        Xu = np.repeat(X, ndups, axis=0)
    m, nn = values.shape
    nbeta = Xu.shape[1]
    rho = np.full(m, np.nan)
    observed = np.isfinite(values)
    patterns, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    for p, pattern in enumerate(patterns):
        rows = np.flatnonzero(inverse == p)
        obs = np.flatnonzero(pattern)
        nobs = obs.size
        nblocks = np.unique(labels[obs]).size
        if not (nobs > nbeta + 2 and 1 < nblocks < nobs - 1):
            continue
        Xo = Xu[obs]
        y = values[np.ix_(rows, obs)]
        if w is None:
            sw = None
        elif w.ndim == 1:
            sw = np.broadcast_to(np.sqrt(w[obs]), y.shape)
        else:
            sw = np.sqrt(w[np.ix_(rows, obs)])
        if sw is not None and w is not None and w.ndim == 1:
            # per-sample weights: one whitened design for the whole pattern
            s1 = np.sqrt(w[obs])
            rho[rows] = _rho_for_group(y * s1, Xo * s1[:, None], labels[obs], None, maxit)
        else:
            for chunk in np.array_split(np.arange(rows.size), max(1, rows.size // 256)):
                rho[rows[chunk]] = _rho_for_group(
                    y[chunk], Xo, labels[obs], None if sw is None else sw[chunk], maxit
                )
    finite = ~np.isnan(rho)
    rho[finite] = np.clip(rho[finite], rhomin, 0.99)
    arho = np.arctanh(rho)
    ok = arho[~np.isnan(arho)]
    if ok.size == 0:
        raise ValueError(
            "no feature had enough observations to estimate the correlation: each needs "
            "more than k + 2 observed samples in at least two blocks"
        )
    consensus = float(np.tanh(stats.trim_mean(ok, trim)))
    return DuplicateCorrelation(
        consensus_correlation=consensus,
        cor=consensus,
        atanh_correlations=arho,
        feature_names=feature_names,
        maxit=maxit,
    )
