"""Moderated statistics: limma's ``eBayes`` and ``treat``.

For feature g and coefficient j, with posterior variance s̃_g² (see
:mod:`kronlmm.features.moderation`), d₀ prior and d_g residual degrees of freedom:

- moderated t: ``t_gj = β̂_gj / (u_gj s̃_g)`` with u_gj the unscaled standard error, on
  ``d₀ + d_g`` degrees of freedom (capped at the pooled residual df Σ d_g);
- B-statistic (``lods``): the log posterior odds that β_gj ≠ 0, given a proportion
  ``proportion`` of non-null features whose β ~ N(0, v₀ σ_g²) (v₀ estimated per
  coefficient from the top t-statistics, limited by ``stdev_coef_lim``):
  ``log(p/(1-p)) - ½ log r + (1+d)/2 · log((t²+d)/(t²/r+d))``, r = (u² + v₀)/u²;
- moderated F: the t-statistics of all coefficients together,
  ``F = tᵀ R⁻¹ t / rank(R)`` with R the correlation of the coefficient estimates, on
  (rank R, d₀ + d_g) degrees of freedom.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ._access import fit_from, store_fit
from ._dist import f_sf, t_sf
from .linear_model import LinearModelFit
from .moderation import squeeze_var

__all__ = ["e_bayes", "f_statistic", "treat"]

FloatArray = NDArray[np.float64]


def _check_fit(fit: LinearModelFit) -> None:
    for field in ("sigma", "df_residual"):
        if field not in fit:
            raise ValueError(f"the fit lacks {field!r}: pass the result of lm_fit")
    df = np.asarray(fit.df_residual, dtype=float)
    if df.size == 0 or np.nanmax(df) == 0:
        raise ValueError(
            "no residual degrees of freedom in any feature's fit (df_residual is 0 "
            "everywhere): moderated statistics need replicates; use fewer coefficients "
            "or more samples"
        )
    if not np.any(np.isfinite(fit.sigma)):
        raise ValueError("no finite residual standard deviation in the fit (sigma)")


def _covariate(fit: LinearModelFit, trend: bool | ArrayLike) -> FloatArray | None:
    if isinstance(trend, (bool, np.bool_)):
        if not trend:
            return None
        if fit.get("amean") is None:
            raise ValueError("trend=True needs the fit's amean (average expression)")
        return np.asarray(fit.amean, dtype=np.float64)
    cov = np.asarray(trend, dtype=np.float64).ravel()
    m = np.asarray(fit.sigma).size
    if cov.size != m:
        raise ValueError(
            f"trend has {cov.size} values but the fit has {m} features: give True (trend "
            "in amean), False, or one covariate value per feature"
        )
    return cov


def _squeeze(
    fit: LinearModelFit,
    trend: bool | ArrayLike,
    robust: bool,
    winsor_tail_p: tuple[float, float],
) -> dict[str, Any]:
    sigma = np.asarray(fit.sigma, dtype=np.float64)
    df = np.asarray(fit.df_residual, dtype=np.float64)
    out = squeeze_var(sigma**2, df, _covariate(fit, trend), robust, winsor_tail_p)
    df_total = np.minimum(df + out["df_prior"], np.nansum(df))
    return {
        "df_prior": out["df_prior"],
        "s2_prior": out["var_prior"],
        "s2_post": out["var_post"],
        "df_total": df_total,
    }


def _tmixture(
    tstat: FloatArray,
    stdev: FloatArray,
    df: FloatArray,
    proportion: float,
    v0_lim: FloatArray | None,
) -> float:
    """limma's ``tmixture.vector``: the prior variance v₀ of non-null coefficients."""
    keep = ~np.isnan(tstat)
    tstat, stdev, df = tstat[keep], stdev[keep], df[keep]
    ngenes = tstat.size
    ntarget = int(np.ceil(proportion / 2 * ngenes))
    if ntarget < 1:
        return np.nan
    p = max(ntarget / ngenes, proportion)
    tstat = np.abs(tstat)
    maxdf = float(np.max(df))
    low = df < maxdf
    if low.any():
        tailp = stats.t.logsf(tstat[low], df[low])
        tstat = tstat.copy()
        tstat[low] = stats.t.isf(np.exp(tailp), maxdf)
    order = np.argsort(-tstat, kind="stable")[:ntarget]
    top = tstat[order]
    v1 = stdev[order] ** 2
    r = np.arange(1, ntarget + 1)
    p0 = 2 * t_sf(top, maxdf)
    ptarget = ((r - 0.5) / ngenes - (1 - p) * p0) / p
    v0 = np.zeros(ntarget)
    pos = ptarget > p0
    if pos.any():
        qtarget = stats.t.isf(ptarget[pos] / 2, maxdf)
        v0[pos] = v1[pos] * ((top[pos] / qtarget) ** 2 - 1)
    if v0_lim is not None:
        v0 = np.clip(v0, v0_lim[0], v0_lim[1])
    return float(np.mean(v0))


def f_statistic(t: FloatArray, cov_coefficients: FloatArray | None) -> tuple[FloatArray, int]:
    """Moderated F statistics from t-statistics (m × k) and the unscaled covariance of
    the coefficients (limma's ``classifyTestsF(fstat.only = TRUE)``).

    ``F = ‖t Q‖²`` with ``Q = V Λ^{-1/2} / √r`` from the eigen-decomposition of the
    correlation matrix of the coefficients, keeping the r eigenvalues above 1e-8 of the
    largest. Returns (F, r).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import f_statistic
    >>> F, r = f_statistic(np.array([[2.0, -1.0]]), np.eye(2))
    >>> F.round(12).tolist(), r
    ([2.5], 2)
    """
    t = np.atleast_2d(np.asarray(t, dtype=np.float64))
    k = t.shape[1]
    if k == 1:
        return t[:, 0] ** 2, 1
    if cov_coefficients is None:
        r = k
        Q = np.eye(k) / np.sqrt(r)
    else:
        cov = np.array(cov_coefficients, dtype=np.float64)
        d = np.diag(cov).copy()
        d[d == 0] = 1.0
        np.fill_diagonal(cov, d)
        sd = np.sqrt(d)
        cor = cov / np.outer(sd, sd)
        values, vectors = np.linalg.eigh(cor)
        values, vectors = values[::-1], vectors[:, ::-1]
        r = int(np.sum(values / values[0] > 1e-8))
        Q = vectors[:, :r] / np.sqrt(values[:r]) / np.sqrt(r)
    return np.sum((t @ Q) ** 2, axis=1), r


def _f_sf(F: FloatArray, df1: int, df2: FloatArray) -> FloatArray:
    return f_sf(F, df1, df2)


def e_bayes(
    fit: Any,
    proportion: float = 0.01,
    stdev_coef_lim: tuple[float, float] = (0.1, 4.0),
    trend: bool | ArrayLike = False,
    robust: bool = False,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
    *,
    key: str = "kronlmm",
) -> LinearModelFit:
    """Empirical Bayes moderated t, F and B statistics (limma's ``eBayes``).

    Model and statistics: see :mod:`kronlmm.features.ebayes`; the prior (s₀², d₀) comes
    from :func:`~kronlmm.features.squeeze_var`.

    Parameters
    ----------
    fit : LinearModelFit, mapping or AnnData
        From :func:`~kronlmm.features.lm_fit` or
        :func:`~kronlmm.features.contrasts_fit` (AnnData: ``uns[key]``, updated).
    proportion : float
        Assumed proportion of features with a non-zero coefficient (for ``lods``).
    stdev_coef_lim : (float, float)
        Limits of the prior standard deviation of non-zero coefficients, relative to σ.
    trend : bool or array
        ``True``: s₀² follows a trend in ``amean`` (limma-trend); an array: a trend in
        that covariate (one value per feature).
    robust : bool
        Robust estimation of the prior, protecting against outlying variances.
    winsor_tail_p : (float, float)
        Tail proportions Winsorized when ``robust``.

    Returns
    -------
    LinearModelFit
        A copy of the fit with ``t``, ``p_value``, ``lods`` (m × k), ``s2_prior``,
        ``df_prior`` (scalars, or per feature with ``trend``/``robust``), ``s2_post``,
        ``df_total``, ``var_prior`` (k), ``proportion``, and ``F``, ``F_p_value`` (m).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import e_bayes, lm_fit
    >>> rng = np.random.default_rng(2)
    >>> y = rng.normal(size=(200, 6))
    >>> y[:10, 3:] += 3.0                                  # ten features respond
    >>> fit = e_bayes(lm_fit(y, np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]]))
    >>> np.flatnonzero(fit.p_value[:, 1] < 1e-3).tolist(), fit.t.shape
    ([0, 1, 2, 3, 6, 7, 8], (200, 2))
    """
    fit, adata = fit_from(fit, key)
    _check_fit(fit)
    coefficients = np.asarray(fit.coefficients, dtype=np.float64)
    stdev = np.asarray(fit.stdev_unscaled, dtype=np.float64)
    if coefficients.ndim == 1:
        coefficients, stdev = coefficients[:, None], stdev[:, None]
    sq = _squeeze(fit, trend, robust, winsor_tail_p)
    s2_post = np.asarray(sq["s2_post"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coefficients / stdev / np.sqrt(s2_post)[:, None]
    df_total = np.asarray(sq["df_total"], dtype=np.float64)
    p_value = 2 * t_sf(np.abs(t), df_total[:, None])

    s2_prior = np.asarray(sq["s2_prior"], dtype=np.float64)
    lim = np.asarray(stdev_coef_lim, dtype=np.float64) ** 2 / np.median(s2_prior)
    var_prior = np.array(
        [_tmixture(t[:, j], stdev[:, j], df_total, proportion, lim) for j in range(t.shape[1])]
    )
    if np.isnan(var_prior).any():
        var_prior[np.isnan(var_prior)] = 1.0 / np.ravel(s2_prior)[0]
        warnings.warn(
            "estimation of var_prior failed; set to the default 1/s2_prior",
            UserWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (stdev**2 + var_prior[None, :]) / stdev**2
        t2 = t**2
        dft = df_total[:, None]
        kernel = (1 + dft) / 2 * np.log((t2 + dft) / (t2 / r + dft))
        df_prior = np.broadcast_to(np.asarray(sq["df_prior"], dtype=np.float64), df_total.shape)
        infdf = df_prior > 1e6
        if infdf.any():
            kernel = np.where(infdf[:, None], t2 * (1 - 1 / r) / 2, kernel)
        lods = np.log(proportion / (1 - proportion)) - np.log(r) / 2 + kernel

    out = fit
    out.update(
        t=t,
        p_value=p_value,
        lods=lods,
        s2_prior=sq["s2_prior"],
        df_prior=sq["df_prior"],
        s2_post=s2_post,
        df_total=df_total,
        var_prior=var_prior,
        proportion=proportion,
    )
    F, df1 = f_statistic(t, fit.get("cov_coefficients"))
    df2 = np.asarray(fit.df_residual, dtype=np.float64) + np.asarray(sq["df_prior"])
    out["F"] = F
    out["F_p_value"] = _f_sf(F, df1, df2)
    out.pop("treat_lfc", None)
    store_fit(adata, key, out)
    result: LinearModelFit = out
    return result


def treat(
    fit: Any,
    fc: float = 1.2,
    lfc: float | None = None,
    trend: bool | ArrayLike = False,
    robust: bool = False,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
    *,
    key: str = "kronlmm",
) -> LinearModelFit:
    """Moderated t-tests relative to a threshold (limma's ``treat``, McCarthy & Smyth
    2009).

    Tests H₀: abs(β_gj) ≤ τ against abs(β_gj) > τ with τ = ``lfc`` (default log2(``fc``)):
    ``p = P(T > (abs(β̂) − τ)/se) + P(T > (abs(β̂) + τ)/se)`` with T ~ t on ``df_total``
    degrees of freedom and se from the moderated variance (as :func:`e_bayes`). ``t`` is
    ``sign(β̂)·max(abs(β̂) − τ, 0)/se`` where abs(β̂) > τ and 0 otherwise; no ``lods``.

    Returns
    -------
    LinearModelFit
        A copy of the fit with ``t``, ``p_value``, ``s2_prior``, ``df_prior``,
        ``s2_post``, ``df_total`` and ``treat_lfc``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import lm_fit, treat
    >>> rng = np.random.default_rng(3)
    >>> y = rng.normal(scale=0.2, size=(100, 8))
    >>> y[0, 4:] += 0.3                                    # small effect
    >>> y[1, 4:] += 3.0                                    # large effect
    >>> fit = treat(lm_fit(y, np.c_[np.ones(8), [0] * 4 + [1] * 4]), lfc=1.0)
    >>> bool(fit.p_value[1, 1] < 0.01), bool(fit.p_value[0, 1] > 0.5)
    (True, True)
    """
    fit, adata = fit_from(fit, key)
    _check_fit(fit)
    coefficients = np.asarray(fit.coefficients, dtype=np.float64)
    stdev = np.asarray(fit.stdev_unscaled, dtype=np.float64)
    if coefficients.ndim == 1:
        coefficients, stdev = coefficients[:, None], stdev[:, None]
    sq = _squeeze(fit, trend, robust, winsor_tail_p)
    tau = abs(float(np.log2(fc) if lfc is None else lfc))
    se = stdev * np.sqrt(np.asarray(sq["s2_post"]))[:, None]
    acoef = np.abs(coefficients)
    df_total = np.asarray(sq["df_total"], dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        right = (acoef - tau) / se
        left = (acoef + tau) / se
    p_value = t_sf(right, df_total) + t_sf(left, df_total)
    right = np.maximum(right, 0.0)
    t = np.zeros_like(coefficients)
    up = coefficients > tau
    down = coefficients < -tau
    t[up] = right[up]
    t[down] = -right[down]
    t[np.isnan(coefficients)] = np.nan
    out = fit
    for field in ("lods", "F", "F_p_value", "var_prior", "proportion"):
        out.pop(field, None)
    out.update(
        t=t,
        p_value=p_value,
        s2_prior=sq["s2_prior"],
        df_prior=sq["df_prior"],
        s2_post=np.asarray(sq["s2_post"]),
        df_total=np.asarray(sq["df_total"]),
        treat_lfc=tau,
    )
    store_fit(adata, key, out)
    result: LinearModelFit = out
    return result
