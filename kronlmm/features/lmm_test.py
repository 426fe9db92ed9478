"""Tests of per-feature LMM fits: fixed-effect contrasts (t-tests with Satterthwaite,
Kenward–Roger or residual df) and variance components (likelihood-ratio tests with the
boundary mixture)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from ._lmm_contrasts import contrast_matrix
from ._lmm_engine import fit_reduced
from ._lmm_inference import satterthwaite
from ._lmm_kenward_roger import kenward_roger
from ._lmm_reduce import FloatArray, ReducedProblem, reduce_summary
from .lmm_fit import LMMFit
from .result import FeatureResult

__all__ = ["lmm_component_test", "lmm_test"]

_DF_METHODS = ("satterthwaite", "kenward-roger", "residual")
_ALTERNATIVES = ("two-sided", "greater", "less")


def lmm_test(
    fit: LMMFit,
    index: Any = None,
    contrast: Any = None,
    alternative: str = "two-sided",
    df: str = "satterthwaite",
) -> FeatureResult:
    """t-tests of fixed effects or contrasts Lβ in every feature of a per-feature LMM fit.

    For each contrast l (a row of L) and feature: estimate lβ̂, standard error
    √(l cov(β̂) lᵀ), t = lβ̂ / se and its p-value from Student's t with

    - ``df="satterthwaite"`` (default): 2 (l C lᵀ)² / (gᵀ A g), g_i = l ∂C/∂θ_i lᵀ, A the
      inverse observed information of θ = (θ₁ … θ_K, σ²) — lmerTest's computation. At a
      component estimated as 0 the df are those of the model without it (as lmerTest's).
    - ``df="kenward-roger"`` (REML fits): pbkrtest's adjusted covariance Φ_A (the standard
      error becomes √(l Φ_A lᵀ)) and Kenward–Roger's df.
    - ``df="residual"``: n − p, FLASHMM's cell-level df (anti-conservative when effects vary
      between subjects; for comparison only).

    Parameters
    ----------
    fit : LMMFit
        Result of :func:`~kronlmm.features.lmm_fit` or
        :func:`~kronlmm.features.lmm_from_summary`.
    index : int, str or sequence of them, optional
        Coefficients to test (positions or names); default: all. Ignored with ``contrast``.
    contrast : str, sequence of str, array or DataFrame, optional
        Contrasts: strings linear in the coefficient names such as ``"trt[T.B] - trt[T.A]"``
        or ``"B - A"`` (factor levels alone when unambiguous), a vector of length p, a
        p × c matrix (one column per contrast), or a DataFrame indexed by coefficient name.
    alternative : {"two-sided", "greater", "less"}
        Alternative hypothesis for lβ (against 0).
    df : {"satterthwaite", "kenward-roger", "residual"}
        Denominator degrees of freedom.

    Returns
    -------
    FeatureResult
        Fields ``estimate``, ``se``, ``t``, ``df``, ``p`` (features × contrasts), ``contrast``
        (c × p, the rows of L), ``coef_names`` (the contrast names, which label the columns
        of ``to_dataframe()``), ``feature_names``, ``alternative`` and ``df_method``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from kronlmm.features import lmm_fit, lmm_test
    >>> rng = np.random.default_rng(4)
    >>> cells = pd.DataFrame({"subject": np.repeat(np.arange(12), 10)})
    >>> cells["trt"] = np.array(["A", "B", "C"])[cells.subject % 3]
    >>> u = rng.normal(size=(6, 12))
    >>> Y = rng.normal(size=(6, 120)) + u[:, cells.subject]
    >>> fit = lmm_fit(Y, "~ 0 + trt", "~ 0 + subject", data=cells.astype({"subject": str}))
    >>> res = lmm_test(fit, contrast=["B - A", "C - (A + B)/2"])
    >>> res.coef_names, res.t.shape
    (['B - A', 'C - (A + B)/2'], (6, 2))
    >>> bool(np.all(res.df < 12))   # subject-level df, not 120 - 3
    True
    >>> lmm_test(fit, index="trt[B]", df="residual").df[0]
    array([117.])
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative={alternative!r} is not one of {list(_ALTERNATIVES)}")
    method = str(df).lower()
    if method not in _DF_METHODS:
        raise ValueError(f"df={df!r} is not one of {list(_DF_METHODS)}")
    coef_names = list(fit["coef_names"])
    L, names = contrast_matrix(index, contrast, coef_names)
    coef = np.asarray(fit["coef"])
    estimate = coef @ L.T
    if method == "satterthwaite":
        var, dof = satterthwaite(fit["cov"], fit["cov_jacobian"], fit["vcov_theta"], L)
    elif method == "residual":
        var = np.einsum("cp,ipq,cq->ic", L, fit["cov"], L)
        dof = np.full(var.shape, float(fit["n"] - len(coef_names)))
    else:
        if fit["method"] != "REML":
            raise ValueError(
                "df='kenward-roger' needs a REML fit (as in pbkrtest and lmerTest); refit "
                "with method='REML' or use df='satterthwaite'"
            )
        var, dof = _kenward_roger(fit, L)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(var)
        t = estimate / se
    if alternative == "two-sided":
        p = 2.0 * stats.t.sf(np.abs(t), dof)
    elif alternative == "greater":
        p = stats.t.sf(t, dof)
    else:
        p = stats.t.cdf(t, dof)
    return FeatureResult(
        estimate=estimate,
        se=se,
        t=t,
        df=dof,
        p=p,
        contrast=L,
        coef_names=names,
        feature_names=fit.get("feature_names"),
        alternative=alternative,
        df_method=method,
    )


def _problem(fit: LMMFit, drop: int | None = None) -> ReducedProblem:
    """The reduced problem of the fit's summary statistics (without component ``drop``)."""
    s = fit["summary"]
    d = tuple(s["d"])
    ZX, ZY, ZZ = np.asarray(s["ZX"]), np.asarray(s["ZY"]), np.asarray(s["ZZ"])
    if drop is not None:
        start = int(sum(d[:drop]))
        keep = np.r_[0:start, start + d[drop] : sum(d)]
        ZX, ZY, ZZ = ZX[keep], ZY[keep], ZZ[np.ix_(keep, keep)]
        d = d[:drop] + d[drop + 1 :]
    return reduce_summary(
        np.asarray(s["XX"]), np.asarray(s["XY"]), ZX, ZY, ZZ, np.asarray(s["Ynorm"]), s["n"], d
    )


def _kenward_roger(fit: LMMFit, L: FloatArray) -> tuple[FloatArray, FloatArray]:
    theta = np.asarray(fit["theta"])
    m, K1 = theta.shape
    sigma2 = theta[:, K1 - 1]
    ok = np.flatnonzero(np.isfinite(theta).all(axis=1) & (sigma2 > 0))
    var = np.full((m, L.shape[0]), np.nan)
    dof = np.full((m, L.shape[0]), np.nan)
    if ok.size:
        prob = _problem(fit).subset(ok)
        gamma = theta[ok, : K1 - 1] / sigma2[ok, None]
        psi = np.asarray(fit["cov"])[ok] / sigma2[ok, None, None]
        var[ok], dof[ok] = kenward_roger(prob, gamma, sigma2[ok], psi, L)
    return var, dof


def lmm_component_test(fit: LMMFit, component: Any = None) -> FeatureResult:
    """Likelihood-ratio tests of variance components: θ_k = 0 against θ_k > 0.

    For each tested component k the model is refitted without it (same method, REML or ML,
    same fixed effects) and LR = 2(ℓ − ℓ₋ₖ) ≥ 0. Under θ_k = 0 the estimate lies on the
    boundary half of the time, so LR follows the mixture ½χ²₀ + ½χ²₁ (Self & Liang 1987;
    Stram & Lee 1994): p = ½ P(χ²₁ ≥ LR) for LR > 0 and p = 1 for LR = 0. Where θ̂_k = 0
    in the full fit both fits reach the same maximum and LR is exactly 0. (The mixture
    assumes the other components are interior; with several at 0 it is conservative.)

    Parameters
    ----------
    fit : LMMFit
        A per-feature LMM fit.
    component : int, str or sequence of them, optional
        Components to test (positions or ``component_names``); default: all.

    Returns
    -------
    FeatureResult
        ``statistic`` (LR), ``p`` and ``loglik_reduced`` (features × tested components),
        ``converged_reduced``, ``coef_names`` (the component names, labelling the columns),
        ``feature_names``, ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import lmm_component_test, lmm_fit
    >>> rng = np.random.default_rng(5)
    >>> subject = np.repeat(np.arange(10), 20)
    >>> X = np.ones((200, 1))
    >>> Z = np.eye(10)[subject]
    >>> Y = rng.normal(size=(2, 200))
    >>> Y[0] += 0.8 * rng.normal(size=10)[subject]   # feature 0 varies between subjects
    >>> res = lmm_component_test(lmm_fit(Y, X, Z))
    >>> bool(res.p[0, 0] < 1e-6), bool(res.p[1, 0] > 0.01)
    (True, True)
    """
    names = list(fit["component_names"])
    K = len(names)
    if component is None:
        which = list(range(K))
    else:
        items = [component] if isinstance(component, (int, np.integer, str)) else component
        which = [_component_index(c, names) for c in items]
    reml = fit["method"] == "REML"
    loglik = np.asarray(fit["loglik"])
    m = loglik.shape[0]
    stat = np.full((m, len(which)), np.nan)
    reduced_ll = np.full((m, len(which)), np.nan)
    conv = np.zeros((m, len(which)), dtype=bool)
    for j, k in enumerate(which):
        prob = _problem(fit, drop=k)
        core = fit_reduced(prob, reml, None, int(fit["max_iter"]), float(fit["epsilon"]), False)
        ll0 = core.estimates.loglik
        lr = 2.0 * (loglik - ll0)
        tol = 1e-8 * (1.0 + np.abs(loglik))
        stat[:, j] = np.where(lr >= -tol, np.maximum(lr, 0.0), np.nan)
        # θ_k = 0 at the full maximum: both fits are the same model's maximum, LR = 0 exactly
        stat[np.asarray(fit["at_boundary"])[:, k], j] = 0.0
        reduced_ll[:, j] = ll0
        conv[:, j] = core.converged
    with np.errstate(invalid="ignore"):
        p = np.where(stat > 0, 0.5 * stats.chi2.sf(stat, 1), 1.0)
    p = np.where(np.isnan(stat), np.nan, p)
    return FeatureResult(
        statistic=stat,
        p=p,
        loglik_reduced=reduced_ll,
        converged_reduced=conv,
        coef_names=[names[k] for k in which],
        feature_names=fit.get("feature_names"),
        method=fit["method"],
    )


def _component_index(item: Any, names: Sequence[str]) -> int:
    if isinstance(item, str):
        if item not in names:
            raise ValueError(f"component {item!r} is not one of {list(names)}")
        return names.index(item)
    k = int(item)
    if not 0 <= k < len(names):
        raise ValueError(f"component {k} is out of range for {len(names)} components {names}")
    return k
