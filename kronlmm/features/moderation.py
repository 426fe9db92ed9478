"""Empirical Bayes moderation of many variances (limma's ``squeezeVar``, ``fitFDist``,
``fitFDistRobustly``).

Model: each feature's residual variance s_g² on d_g degrees of freedom is drawn as

    s_g² | σ_g² ~ σ_g² χ²_{d_g} / d_g,    1/σ_g² ~ χ²_{d₀} / (d₀ s₀²),

so that s_g² / s₀² follows an F distribution on (d_g, d₀) degrees of freedom. The prior
(s₀², d₀) is estimated from all features by matching the moments of log s_g² (Smyth
2004); s₀² may follow a trend in a covariate (natural cubic spline, as limma), and the
robust version (Phipson et al. 2016) estimates d₀ from Winsorized moments and gives
outlying features a smaller d₀. The posterior variance is

    s̃_g² = (d₀ s₀² + d_g s_g²) / (d₀ + d_g).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats
from scipy.optimize import brentq

from ._dist import f_logsf
from ._smooth import NaturalSpline, approx_mean_ties, lowess_r

__all__ = ["fit_f_dist", "fit_f_dist_robustly", "squeeze_var", "trigamma_inverse"]

FloatArray = NDArray[np.float64]


def trigamma_inverse(x: ArrayLike) -> FloatArray:
    """Solve ``trigamma(y) = x`` for y > 0 (Newton's method, as limma's
    ``trigammaInverse``).

    Examples
    --------
    >>> from scipy.special import polygamma
    >>> from kronlmm.features import trigamma_inverse
    >>> y = trigamma_inverse([0.5, 2.0])
    >>> polygamma(1, y).round(12).tolist()
    [0.5, 2.0]
    """
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.full_like(x, np.nan)
    big = x > 1e7
    small = (x < 1e-6) & (x >= 0)
    mid = (x >= 1e-6) & ~big
    y[big] = 1.0 / np.sqrt(x[big])
    y[small] = 1.0 / x[small]
    if mid.any():
        xm = x[mid]
        ym = 0.5 + 1.0 / xm
        for _ in range(50):
            tri = special.polygamma(1, ym)
            dif = tri * (1.0 - tri / xm) / special.polygamma(2, ym)
            ym = ym + dif
            if np.max(-dif / ym) < 1e-8:
                break
        y[mid] = ym
    return y


def _spline_df(nok: int, covariate: FloatArray) -> int:
    splinedf = 1 + (nok >= 3) + (nok >= 6) + (nok >= 30)
    return int(min(splinedf, np.unique(covariate).size))


def fit_f_dist(x: ArrayLike, df1: ArrayLike, covariate: ArrayLike | None = None) -> dict[str, Any]:
    """Moment estimates of a scaled F distribution (limma's ``fitFDist``).

    ``x`` are variances on ``df1`` degrees of freedom, modelled as ``x ~ scale · F(df1,
    df2)``. Returns ``{"scale": s₀², "df2": d₀}``; ``scale`` has one value per feature
    when ``covariate`` is given (log s₀² is then a natural cubic spline in it, with 1–4
    degrees of freedom as limma chooses). Variances that are not finite or whose ``df1``
    is 0 do not enter the estimate.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import fit_f_dist
    >>> rng = np.random.default_rng(0)
    >>> sigma2 = 0.5 * 8 / rng.chisquare(8, 5000)            # prior: s0² = 0.5, d0 = 8
    >>> s2 = sigma2 * rng.chisquare(4, 5000) / 4              # residual df 4
    >>> prior = fit_f_dist(s2, 4)
    >>> round(float(prior["scale"]), 1), bool(6 < prior["df2"] < 10)
    (0.5, True)
    """
    x = np.asarray(x, dtype=np.float64).ravel().copy()
    n = x.size
    if n == 0:
        return {"scale": np.nan, "df2": np.nan}
    if n == 1:
        return {"scale": x.copy(), "df2": 0.0}
    df1 = np.asarray(df1, dtype=np.float64)
    scalar_df = df1.ndim == 0 or df1.size == 1
    if scalar_df:
        d = float(df1.ravel()[0])
        if not (np.isfinite(d) and d > 1e-15):
            return {"scale": np.nan, "df2": np.nan}
        ok = np.ones(n, dtype=bool)
        df1v = np.full(n, d)
    else:
        df1v = df1.ravel()
        if df1v.size != n:
            raise ValueError(
                f"x has {n} values but df1 has {df1v.size}: give one df per value or a scalar"
            )
        ok = np.isfinite(df1v) & (df1v > 1e-15)
    cov: FloatArray | None = None
    if covariate is not None:
        cov = np.asarray(covariate, dtype=np.float64).ravel().copy()
        if cov.size != n:
            raise ValueError(
                f"covariate has {cov.size} values but x has {n}: give one per variance"
            )
        if np.isnan(cov).any():
            raise ValueError("covariate has NaN values: every feature needs a covariate value")
        fin = np.isfinite(cov)
        if not fin.all():
            if fin.any():
                lo, hi = cov[fin].min(), cov[fin].max()
                cov[cov == -np.inf] = lo - 1
                cov[cov == np.inf] = hi + 1
            else:
                cov = np.sign(cov)
    with np.errstate(invalid="ignore"):
        ok = ok & np.isfinite(x) & (x > -1e-15)
    nok = int(ok.sum())
    if nok == 1:
        return {"scale": x[ok].copy(), "df2": 0.0}
    notallok = nok < n
    xo = x[ok]
    d1 = df1v[ok]
    if cov is not None:
        cov_ok = cov[ok]
        splinedf = _spline_df(nok, cov_ok)
        if splinedf < 2:
            out = fit_f_dist(xo, d1 if not scalar_df else d1[0])
            out["scale"] = np.full(n, out["scale"])
            return out
    xo = np.maximum(xo, 0.0)
    med = float(np.median(xo))
    if med == 0:
        warnings.warn(
            "more than half of the residual variances are exactly zero: the empirical "
            "Bayes estimates are unreliable",
            UserWarning,
            stacklevel=2,
        )
        med = 1.0
    elif np.any(xo == 0):
        warnings.warn(
            "zero sample variances detected; they have been offset away from zero",
            UserWarning,
            stacklevel=2,
        )
    xo = np.maximum(xo, 1e-5 * med)
    z = np.log(xo)
    e = z - special.digamma(d1 / 2) + np.log(d1 / 2)
    if cov is None:
        emean: FloatArray | float = float(np.mean(e))
        evar = float(np.sum((e - np.mean(e)) ** 2) / (nok - 1))
    else:
        spline = NaturalSpline.from_data(cov_ok, splinedf)
        B = spline.basis(cov_ok)
        Q, R = np.linalg.qr(B)
        coef = np.linalg.solve(R, Q.T @ e)
        fitted = B @ coef
        evar = float(np.sum((e - fitted) ** 2) / (nok - B.shape[1]))
        if notallok:
            full = np.zeros(n)
            full[ok] = fitted
            full[~ok] = spline.basis(cov[~ok]) @ coef
            emean = full
        else:
            emean = fitted
    evar -= float(np.mean(special.polygamma(1, d1 / 2)))
    if evar > 0:
        df2 = float(2 * trigamma_inverse(evar)[0])
        s20 = np.exp(np.asarray(emean) + special.digamma(df2 / 2) - np.log(df2 / 2))
    else:
        df2 = np.inf
        s20 = np.asarray(float(np.mean(xo))) if cov is None else np.exp(np.asarray(emean))
    scale: Any = float(s20) if s20.ndim == 0 else s20
    return {"scale": scale, "df2": df2}


# ---- robust -------------------------------------------------------------------------------
_GAUSS_NODES, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(128)
_GAUSS_NODES = (_GAUSS_NODES + 1.0) / 2.0  # on [0, 1], weights summing to 1
_GAUSS_WEIGHTS = _GAUSS_WEIGHTS / 2.0


def _f_ppf(p: FloatArray, df1: float, df2: float) -> FloatArray:
    if np.isinf(df2):
        return np.asarray(stats.chi2.ppf(p, df1) / df1, dtype=np.float64)
    return np.asarray(stats.f.ppf(p, df1, df2), dtype=np.float64)


def _f_pdf(x: FloatArray, df1: float, df2: float) -> FloatArray:
    if np.isinf(df2):
        return np.asarray(df1 * stats.chi2.pdf(df1 * x, df1), dtype=np.float64)
    return np.asarray(stats.f.pdf(x, df1, df2), dtype=np.float64)


def _winsorized_moments(df1: float, df2: float, tail: FloatArray) -> tuple[float, float]:
    """Mean and variance of log F(df1, df2) Winsorized at the tail probabilities."""
    fq = _f_ppf(np.array([tail[0], 1.0 - tail[1]]), df1, df2)
    zq = np.log(fq)
    q = fq / (1.0 + fq)
    nodes = q[0] + (q[1] - q[0]) * _GAUSS_NODES
    fnodes = nodes / (1.0 - nodes)
    znodes = np.log(fnodes)
    dens = _f_pdf(fnodes, df1, df2) / (1.0 - nodes) ** 2
    q21 = q[1] - q[0]
    mean = q21 * float(np.sum(_GAUSS_WEIGHTS * dens * znodes)) + float(np.sum(zq * tail))
    var = q21 * float(np.sum(_GAUSS_WEIGHTS * dens * (znodes - mean) ** 2)) + float(
        np.sum((zq - mean) ** 2 * tail)
    )
    return mean, var


def fit_f_dist_robustly(
    x: ArrayLike,
    df1: ArrayLike,
    covariate: ArrayLike | None = None,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
) -> dict[str, Any]:
    """Robust estimates of a scaled F distribution (limma's ``fitFDistRobustly``).

    As :func:`fit_f_dist`, but d₀ is estimated from the variance of Winsorized
    log-variances (tails ``winsor_tail_p``), and each feature gets its own prior df
    ``df2_shrunk``, smaller for features whose variance is an outlier. A trend in
    ``covariate`` is followed by lowess (span 0.4) for the Winsorization.

    Returns ``scale``, ``df2``, ``df2_shrunk`` (one per feature) and, where computed,
    ``tail_p_value``, ``prob_outlier``, ``df2_outlier``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import fit_f_dist_robustly
    >>> rng = np.random.default_rng(1)
    >>> s2 = 0.5 * 8 / rng.chisquare(8, 2000) * rng.chisquare(4, 2000) / 4
    >>> s2[:5] *= 50                                  # five outlying variances
    >>> fit = fit_f_dist_robustly(s2, 4)
    >>> bool(fit["df2_shrunk"][:5].max() < np.median(fit["df2_shrunk"]))
    True
    """
    x = np.asarray(x, dtype=np.float64).ravel().copy()
    n = x.size
    if n < 2:
        return {"scale": np.nan, "df2": np.nan, "df2_shrunk": np.full(n, np.nan)}
    if n == 2:
        out = fit_f_dist(x, df1, covariate)
        out["df2_shrunk"] = np.full(n, out["df2"])
        return out
    d1 = np.asarray(df1, dtype=np.float64).ravel()
    if d1.size not in (1, n):
        raise ValueError(f"x has {n} values but df1 has {d1.size}: give one per value or a scalar")
    cov: FloatArray | None = None
    if covariate is not None:
        cov = np.asarray(covariate, dtype=np.float64).ravel()
        if cov.size != n:
            raise ValueError(f"covariate has {cov.size} values but x has {n}")
        if not np.all(np.isfinite(cov)):
            raise ValueError("covariate has NaN or infinite values: every feature needs one")
    d1v = np.broadcast_to(d1, (n,)) if d1.size == 1 else d1
    ok = ~np.isnan(x) & np.isfinite(d1v) & (d1v > 1e-6)
    if not ok.all():
        df2_shrunk = x.copy()
        sub = fit_f_dist_robustly(
            x[ok],
            d1v[ok] if d1.size > 1 else d1,
            None if cov is None else cov[ok],
            winsor_tail_p,
        )
        df2_shrunk[ok] = sub["df2_shrunk"]
        df2_shrunk[~ok] = sub["df2"]
        if cov is None:
            scale = sub["scale"]
        else:
            scale = x.copy()
            scale[ok] = sub["scale"]
            scale[~ok] = np.exp(approx_mean_ties(cov[ok], np.log(sub["scale"]), cov[~ok]))
        return {"scale": scale, "df2": sub["df2"], "df2_shrunk": df2_shrunk}

    med = float(np.median(x))
    if med <= 0:
        raise ValueError("the variances are mostly ≤ 0: cannot fit their distribution")
    tiny = x < med * 1e-12
    if tiny.any():
        warnings.warn(
            f"{int(tiny.sum())} very small variance(s) detected; offset away from zero",
            UserWarning,
            stacklevel=2,
        )
        x[tiny] = med * 1e-12
    nonrobust = fit_f_dist(x, d1 if d1.size > 1 else d1[0], cov)
    tail = np.broadcast_to(np.asarray(winsor_tail_p, dtype=np.float64), (2,)).copy()
    prob = np.array([tail[0], 1.0 - tail[1]])
    if np.all(tail < 1.0 / n):
        nonrobust["df2_shrunk"] = np.full(n, nonrobust["df2"])
        return nonrobust

    if d1.size > 1:
        df1max = float(np.max(d1))
        lower = d1 < df1max - 1e-14
        if lower.any():
            s = nonrobust["scale"] if cov is None else nonrobust["scale"][lower]
            f = x[lower] / np.asarray(s, dtype=np.float64)
            df2 = nonrobust["df2"]
            pupper = np.asarray(stats.f.logsf(f, d1[lower], df2), dtype=np.float64)
            plower = np.asarray(stats.f.logcdf(f, d1[lower], df2), dtype=np.float64)
            up = pupper < plower
            fnew = np.empty_like(np.asarray(f, dtype=np.float64))
            fnew[up] = stats.f.isf(np.exp(pupper[up]), df1max, df2)
            fnew[~up] = stats.f.ppf(np.exp(plower[~up]), df1max, df2)
            x[lower] = fnew * np.asarray(s, dtype=np.float64)
        df1s = df1max
    else:
        df1s = float(d1[0])

    z = np.log(x)
    if cov is None:
        ztrend: Any = float(stats.trim_mean(z, tail[1]))
        zresid = z - ztrend
    else:
        ztrend = lowess_r(cov, z, span=0.4, iterations=3)
        zresid = z - ztrend
    zrq = np.quantile(zresid, prob)
    zwins = np.clip(zresid, zrq[0], zrq[1])
    zwmean = float(np.mean(zwins))
    zwvar = float(np.mean((zwins - zwmean) ** 2) * n / (n - 1))

    mom_mean, mom_var = _winsorized_moments(df1s, np.inf, tail)
    funval_inf = np.log(zwvar / mom_var)
    if funval_inf <= 0:
        df2 = np.inf
        ztrend_corr = ztrend + zwmean - mom_mean
        s20 = np.exp(ztrend_corr)
        fstat = np.exp(z - ztrend_corr)
        tailp = stats.chi2.sf(fstat * df1s, df1s)
        rank = stats.rankdata(fstat)
        emp = (n - rank + 0.5) / n
        not_outlier = np.minimum(tailp / emp, 1.0)
        df_pooled = n * df1s
        shrunk = np.full(n, df2)
        out_mask = not_outlier < 1
        if out_mask.any():
            shrunk[out_mask] = not_outlier[out_mask] * df_pooled
            order = np.argsort(tailp, kind="stable")
            shrunk[order] = np.maximum.accumulate(shrunk[order])
        return {"scale": s20, "df2": df2, "tail_p_value": tailp, "df2_shrunk": shrunk}

    def fun(v: float) -> float:
        d2 = v / (1.0 - v) if v < 1.0 else np.inf
        return float(np.log(zwvar / _winsorized_moments(df1s, d2, tail)[1]))

    if np.isinf(nonrobust["df2"]):
        nonrobust["df2_shrunk"] = np.full(n, nonrobust["df2"])
        return nonrobust
    rbx = nonrobust["df2"] / (1.0 + nonrobust["df2"])
    funval_low = fun(rbx)
    if funval_low >= 0:
        df2 = float(nonrobust["df2"])
    else:
        root = brentq(fun, rbx, 1.0, xtol=1e-12, rtol=4 * np.finfo(float).eps)
        df2 = root / (1.0 - root)
    mom_mean, _ = _winsorized_moments(df1s, df2, tail)
    ztrend_corr = ztrend + zwmean - mom_mean
    s20 = np.exp(ztrend_corr)
    zresid = z - ztrend_corr
    fstat = np.exp(zresid)
    log_tailp = f_logsf(fstat, df1s, df2)
    tailp = np.exp(log_tailp)
    rank = stats.rankdata(fstat)
    log_emp = np.log(n - rank + 0.5) - np.log(n)
    log_not_outlier = np.minimum(log_tailp - log_emp, 0.0)
    not_outlier = np.exp(log_not_outlier)
    outlier = -np.expm1(log_not_outlier)
    if np.any(log_not_outlier < 0):
        min_log = float(np.min(log_tailp))
        if min_log == -np.inf:
            df2_outlier = 0.0
            shrunk = not_outlier * df2
        else:
            df2_outlier = np.log(0.5) / min_log * df2
            new_log = float(stats.f.logsf(np.max(fstat), df1s, df2_outlier))
            df2_outlier = np.log(0.5) / new_log * df2_outlier
            shrunk = not_outlier * df2 + outlier * df2_outlier
        order = np.argsort(log_tailp, kind="stable")
        ordered = shrunk[order]
        running = np.cumsum(ordered) / np.arange(1, n + 1)
        imin = int(np.argmin(running))
        ordered[: imin + 1] = running[imin]
        shrunk[order] = np.maximum.accumulate(ordered)
    else:
        df2_outlier = df2
        shrunk = np.full(n, df2)
    return {
        "scale": s20,
        "df2": df2,
        "tail_p_value": tailp,
        "prob_outlier": outlier,
        "df2_outlier": df2_outlier,
        "df2_shrunk": shrunk,
    }


def squeeze_var(
    var: ArrayLike,
    df: ArrayLike,
    covariate: ArrayLike | None = None,
    robust: bool = False,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
) -> dict[str, Any]:
    """Posterior variances: shrink each variance towards a fitted prior (limma's
    ``squeezeVar``).

    ``s̃² = (d₀ s₀² + d s²) / (d₀ + d)`` with (s₀², d₀) from :func:`fit_f_dist` (or
    :func:`fit_f_dist_robustly` when ``robust``, where d₀ is per feature). Returns
    ``var_post``, ``var_prior`` (s₀², scalar or per feature) and ``df_prior`` (d₀).
    Variances with ``df == 0`` are set to 0 and take the prior.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import squeeze_var
    >>> out = squeeze_var([0.1, 0.5, 2.0, 0.4, 0.3, 0.8], 3)
    >>> sorted(out)
    ['df_prior', 'var_post', 'var_prior']
    >>> bool(np.ptp(out["var_post"]) < np.ptp([0.1, 0.5, 2.0, 0.4, 0.3, 0.8]))
    True
    """
    v = np.asarray(var, dtype=np.float64).ravel().copy()
    n = v.size
    if n == 0:
        raise ValueError("var is empty: need at least one variance")
    d = np.asarray(df, dtype=np.float64)
    if n == 1:
        return {"var_post": v, "var_prior": v, "df_prior": 0.0}
    if d.size > 1:
        v[d.ravel() == 0] = 0.0
    if robust:
        fit = fit_f_dist_robustly(v, d, covariate, winsor_tail_p)
        df_prior = fit["df2_shrunk"]
    else:
        fit = fit_f_dist(v, d, covariate)
        df_prior = fit["df2"]
    if np.any(np.isnan(df_prior)):
        raise ValueError("could not estimate the prior df: too few finite variances")
    var_prior = fit["scale"]
    dfp = np.asarray(df_prior, dtype=np.float64)
    dd = np.broadcast_to(d.ravel() if d.size > 1 else d.ravel()[0], (n,))
    vp = np.broadcast_to(np.asarray(var_prior, dtype=np.float64), (n,))
    finite = np.broadcast_to(np.isfinite(dfp), (n,))
    dfb = np.broadcast_to(dfp, (n,))
    with np.errstate(invalid="ignore"):
        post = np.where(
            finite,
            (dd * v + np.where(finite, dfb, 0.0) * vp) / (dd + np.where(finite, dfb, 1.0)),
            vp,
        )
    return {"var_post": post, "var_prior": var_prior, "df_prior": df_prior}
