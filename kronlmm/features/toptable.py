"""Tables and decisions from moderated statistics: limma's ``topTable`` and
``decideTests``.

p-values are adjusted for multiple testing within a coefficient (``adjust_method``:
Benjamini–Hochberg ``"BH"``/``"fdr"`` by default, also ``"BY"``, ``"holm"``,
``"hochberg"``, ``"hommel"``, ``"bonferroni"``, ``"none"``), NaN p-values left out of
the count and kept NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ._access import fit_from
from .ebayes import e_bayes, f_statistic
from .linear_model import LinearModelFit
from .result import FeatureResult

__all__ = ["TestResults", "decide_tests", "p_adjust", "top_table"]

FloatArray = NDArray[np.float64]

_ADJUST = {
    "BH": "fdr_bh",
    "fdr": "fdr_bh",
    "BY": "fdr_by",
    "holm": "holm",
    "hochberg": "simes-hochberg",
    "hommel": "hommel",
    "bonferroni": "bonferroni",
}


def p_adjust(p: Any, method: str = "BH") -> FloatArray:
    """Adjusted p-values (R's ``p.adjust``); NaN entries stay NaN and are not counted.

    Examples
    --------
    >>> from kronlmm.features import p_adjust
    >>> p_adjust([0.01, 0.04, 0.03, float("nan")]).round(12).tolist()
    [0.03, 0.04, 0.04, nan]
    """
    values = np.asarray(p, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    ok = ~np.isnan(values)
    if method == "none":
        out[ok] = values[ok]
        return out
    if method not in _ADJUST:
        raise ValueError(f"adjust_method={method!r} is not known; use one of {['none', *_ADJUST]}")
    if ok.any():
        from statsmodels.stats.multitest import (
            multipletests,
        )

        out[ok] = multipletests(values[ok], method=_ADJUST[method], is_sorted=False)[1]
    return out


def _is_intercept(name: str) -> bool:
    return name in ("(Intercept)", "Intercept")


def _feature_index(fit: LinearModelFit) -> pd.Index:
    names = fit.get("feature_names")
    m = np.asarray(fit.coefficients).shape[0]
    return pd.Index(list(names) if names is not None else np.arange(m))


def top_table(
    fit: Any,
    coef: Any = None,
    number: int | float = 10,
    adjust_method: str = "BH",
    sort_by: str = "B",
    resort_by: str | None = None,
    p_value: float = 1.0,
    lfc: float = 0.0,
    confint: bool | float = False,
    *,
    key: str = "kronlmm",
) -> pd.DataFrame:
    """The top features for one coefficient, or for several by the F-test (limma's
    ``topTable``).

    Parameters
    ----------
    fit : LinearModelFit or AnnData
        After :func:`~kronlmm.features.e_bayes` or :func:`~kronlmm.features.treat`.
    coef : name, index or list, optional
        One coefficient: moderated t-test table; several: F-test table. Default: all
        coefficients but the intercept (``"Intercept"``/``"(Intercept)"``); after
        ``treat``, the last one.
    number : int
        How many rows (``float("inf")`` or ``np.inf`` for all).
    adjust_method : str
        Multiple-testing adjustment (see :func:`p_adjust`).
    sort_by : {"B", "t", "p", "logFC", "log_fc", "AveExpr", "ave_expr", "none"}
        Order of the t-test table (absolute values for t and log fold change);
        F-tables sort by p-value (``"F"``/``"B"``) or not (``"none"``).
    resort_by : str, optional
        Re-sort the selected rows (signed values, decreasing; p increasing).
    p_value, lfc : float
        Keep rows with adjusted p ≤ ``p_value`` and absolute log fold change ≥ ``lfc``
        (F-table: any coefficient above ``lfc``).
    confint : bool or float
        Add ``ci_l``, ``ci_r``: a 95% (or the given level) confidence interval.

    Returns
    -------
    DataFrame
        Indexed by feature name. t-test: ``log_fc``, (``ci_l``, ``ci_r``), ``ave_expr``,
        ``t``, ``p_value``, ``adj_p_value``, ``b``. F-test: one column per coefficient,
        ``ave_expr``, ``F``, ``p_value``, ``adj_p_value``.

    Raises
    ------
    ValueError
        For an unknown coefficient (the message lists the fit's coefficients) or a fit
        without moderated statistics.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from kronlmm.features import e_bayes, lm_fit, top_table
    >>> rng = np.random.default_rng(4)
    >>> y = pd.DataFrame(rng.normal(size=(50, 6)), index=[f"g{i}" for i in range(50)])
    >>> y.iloc[7, 3:] += 4.0
    >>> fit = e_bayes(lm_fit(y, np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]]))
    >>> table = top_table(fit, coef="x2", number=3)
    >>> list(table.columns), table.index[0]
    (['log_fc', 'ave_expr', 't', 'p_value', 'adj_p_value', 'b'], 'g7')
    """
    fit, _ = fit_from(fit, key)
    if "t" not in fit and "F" not in fit:
        raise ValueError("the fit has no moderated statistics: run e_bayes (or treat) first")
    names = list(fit.get("coef_names") or [])
    if coef is None:
        if fit.get("treat_lfc") is None:
            idx = [j for j, name in enumerate(names) if not _is_intercept(name)] or [0]
        else:
            idx = [len(names) - 1]
    else:
        idx = fit.coef_index(coef)
    idx = list(dict.fromkeys(idx))
    number = np.inf if number is None else number
    if len(idx) > 1:
        if fit.get("treat_lfc") is not None:
            raise ValueError(
                "treat p-values are for single coefficients: pass coef= naming one of "
                f"{[names[j] for j in idx]}"
            )
        return _top_table_f(fit, idx, number, adjust_method, sort_by, p_value, lfc)
    return _top_table_t(
        fit, idx[0], number, adjust_method, sort_by, resort_by, p_value, lfc, confint
    )


_T_SORT = {
    "logFC": "log_fc",
    "log_fc": "log_fc",
    "M": "log_fc",
    "A": "ave_expr",
    "Amean": "ave_expr",
    "AveExpr": "ave_expr",
    "ave_expr": "ave_expr",
    "P": "p",
    "p": "p",
    "p_value": "p",
    "T": "t",
    "t": "t",
    "B": "b",
    "b": "b",
    "none": "none",
}


def _order(key: str, table: dict[str, FloatArray], *, signed: bool) -> NDArray[np.intp]:
    m = len(next(iter(table.values())))
    if key == "none":
        return np.arange(m)
    if key == "p":
        return np.argsort(table["p_value"], kind="stable")
    values = table[key]
    if not signed and key in ("log_fc", "t"):
        values = np.abs(values)
    # decreasing, NaN last, ties in original order (R's order(decreasing = TRUE))
    return np.argsort(np.where(np.isnan(values), np.inf, -values), kind="stable")


def _top_table_t(
    fit: LinearModelFit,
    j: int,
    number: float,
    adjust_method: str,
    sort_by: str,
    resort_by: str | None,
    p_value: float,
    lfc: float,
    confint: bool | float,
) -> pd.DataFrame:
    if sort_by not in _T_SORT:
        raise ValueError(f"sort_by={sort_by!r} is not one of {sorted(_T_SORT)}")
    sort_key = _T_SORT[sort_by]
    include_b = "lods" in fit
    if sort_key == "b" and not include_b:
        raise ValueError("sort_by='B' needs the B-statistic (lods): run e_bayes, or sort by 'p'")
    index = _feature_index(fit)
    coefs = np.asarray(fit.coefficients, dtype=np.float64).reshape(len(index), -1)
    M = coefs[:, j]
    cols: dict[str, FloatArray] = {"log_fc": M}
    amean = fit.get("amean")
    if confint:
        level = 0.95 if confint is True else float(confint)
        alpha = (1 + level) / 2
        stdev = np.asarray(fit.stdev_unscaled, dtype=np.float64).reshape(coefs.shape)[:, j]
        margin = (
            np.sqrt(np.asarray(fit.s2_post))
            * stdev
            * stats.t.ppf(alpha, np.asarray(fit.df_total, dtype=np.float64))
        )
        cols["ci_l"] = M - margin
        cols["ci_r"] = M + margin
    if amean is not None:
        cols["ave_expr"] = np.asarray(amean, dtype=np.float64)
    cols["t"] = np.asarray(fit.t, dtype=np.float64).reshape(coefs.shape)[:, j]
    cols["p_value"] = np.asarray(fit.p_value, dtype=np.float64).reshape(coefs.shape)[:, j]
    cols["adj_p_value"] = p_adjust(cols["p_value"], adjust_method)
    if include_b:
        cols["b"] = np.asarray(fit.lods, dtype=np.float64).reshape(coefs.shape)[:, j]
    keep = np.arange(len(index))
    if p_value < 1 or lfc > 0:
        with np.errstate(invalid="ignore"):
            sig = (cols["adj_p_value"] <= p_value) & (np.abs(M) >= lfc)
        keep = np.flatnonzero(sig)
    sub = {k: v[keep] for k, v in cols.items()}
    order = _order(sort_key, sub, signed=False)
    order = order[: int(min(number, order.size))]
    table = pd.DataFrame({k: v[order] for k, v in sub.items()}, index=index[keep][order])
    if resort_by is not None:
        if resort_by not in _T_SORT or _T_SORT[resort_by] == "none":
            raise ValueError(f"resort_by={resort_by!r} is not one of {sorted(_T_SORT)}")
        again = _order(
            _T_SORT[resort_by], {str(k): table[k].to_numpy() for k in table}, signed=True
        )
        table = table.iloc[again]
    return table


def _top_table_f(
    fit: LinearModelFit,
    idx: list[int],
    number: float,
    adjust_method: str,
    sort_by: str,
    p_value: float,
    lfc: float,
) -> pd.DataFrame:
    names = list(fit.coef_names)
    index = _feature_index(fit)
    coefs = np.asarray(fit.coefficients, dtype=np.float64)[:, idx]
    if len(idx) == len(names) and "F" in fit:
        F = np.asarray(fit.F, dtype=np.float64)
        Fp = np.asarray(fit.F_p_value, dtype=np.float64)
    else:  # a subset of the coefficients: F of that subset (as limma's fit[, coef])
        cov = fit.get("cov_coefficients")
        sub_cov = None if cov is None else np.asarray(cov)[np.ix_(idx, idx)]
        F, df1 = f_statistic(np.asarray(fit.t, dtype=np.float64)[:, idx], sub_cov)
        df2 = np.asarray(fit.df_residual, dtype=np.float64) + np.asarray(fit.df_prior)
        df2 = np.broadcast_to(df2, F.shape)
        Fp = np.where(
            df2 > 1e6,
            stats.chi2.sf(df1 * F, df1),
            stats.f.sf(F, df1, np.minimum(df2, 1e300)),
        )
    adj = p_adjust(Fp, adjust_method)
    keep = np.ones(len(index), dtype=bool)
    if lfc > 0:
        keep &= np.any(np.abs(coefs) > lfc, axis=1)
    if p_value < 1:
        with np.errstate(invalid="ignore"):
            keep &= adj <= p_value
    rows = np.flatnonzero(keep)
    if sort_by in ("F", "B", "p", "P"):
        order = rows[np.argsort(Fp[rows], kind="stable")]
    elif sort_by == "none":
        order = rows
    else:
        raise ValueError(f"sort_by={sort_by!r}: an F-test table sorts by 'F' or 'none'")
    order = order[: int(min(number, order.size))]
    cols: dict[str, Any] = {names[j]: coefs[order, c] for c, j in enumerate(idx)}
    amean = fit.get("amean")
    if amean is not None:
        cols["ave_expr"] = np.asarray(amean, dtype=np.float64)[order]
    cols.update(F=F[order], p_value=Fp[order], adj_p_value=adj[order])
    return pd.DataFrame(cols, index=index[order])


class TestResults(FeatureResult):
    """Decisions per feature and coefficient: −1 (down), 0 (not significant), 1 (up).

    Fields: ``results`` (m × k int8), ``coef_names``, ``feature_names``. ``np.asarray``
    gives ``results``; :meth:`summary` counts each decision per coefficient.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import TestResults
    >>> res = TestResults(results=np.array([[1, 0], [0, -1], [1, 0]], dtype=np.int8),
    ...                   coef_names=["a", "b"], feature_names=["g1", "g2", "g3"])
    >>> res.summary()
            a  b
    Down    0  1
    NotSig  1  2
    Up      2  0
    """

    __test__ = False  # not a pytest test class

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        arr = np.asarray(self["results"])
        return arr if dtype is None else arr.astype(dtype)

    def summary(self) -> pd.DataFrame:
        """Counts of Down (−1), NotSig (0) and Up (1) per coefficient."""
        res = np.asarray(self["results"])
        counts = {
            name: [int(np.sum(res[:, j] == v)) for v in (-1, 0, 1)]
            for j, name in enumerate(self["coef_names"])
        }
        return pd.DataFrame(counts, index=["Down", "NotSig", "Up"])


def _classify_f(t: FloatArray, cov: Any, df: FloatArray, p_value: float) -> NDArray[np.int8]:
    """limma's ``classifyTestsF``: per feature, the coefficients that make the F-test
    significant, added in order of abs(t) (vectorised over features)."""
    m, k = t.shape
    out = np.zeros((m, k), dtype=np.int8)
    F, r = f_statistic(np.nan_to_num(t), cov)
    if k == 1:
        p = 2 * stats.t.sf(np.abs(t[:, 0]), df)
        out[:, 0] = np.sign(t[:, 0]) * (p < p_value)
        return out
    if cov is None:
        Q = np.eye(k) / np.sqrt(k)
    else:
        c = np.array(cov, dtype=np.float64)
        sd = np.sqrt(np.diag(c))
        values, vectors = np.linalg.eigh(c / np.outer(sd, sd))
        values, vectors = values[::-1], vectors[:, ::-1]
        Q = vectors[:, :r] / np.sqrt(values[:r]) / np.sqrt(r)
    qF = stats.f.isf(p_value, r, df)
    order = np.argsort(-np.abs(np.nan_to_num(t)), axis=1, kind="stable")
    rows = np.arange(m)
    x = t.copy()
    active = np.sum((x @ Q) ** 2, axis=1) > qF
    active &= ~np.isnan(t).any(axis=1)
    first = order[:, 0]
    out[rows[active], first[active]] = np.sign(t[rows[active], first[active]]).astype(np.int8)
    for jj in range(1, k):
        bigger = order[:, :jj]
        cur = order[:, jj]
        level = np.abs(x[rows, cur])
        sel = np.take_along_axis(x, bigger, axis=1)
        np.put_along_axis(x, bigger, np.sign(sel) * level[:, None], axis=1)
        ok = active & (np.sum((x @ Q) ** 2, axis=1) > qF)
        out[rows[ok], cur[ok]] = np.sign(t[rows[ok], cur[ok]]).astype(np.int8)
        active = ok
    return out


def decide_tests(
    fit: Any,
    method: str = "separate",
    adjust_method: str = "BH",
    p_value: float = 0.05,
    lfc: float = 0,
    *,
    key: str = "kronlmm",
) -> TestResults:
    """Up, down or not significant, per feature and coefficient (limma's
    ``decideTests``).

    Parameters
    ----------
    fit : LinearModelFit or AnnData
        A fit; :func:`~kronlmm.features.e_bayes` is run first if it has no p-values.
    method : {"separate", "global", "nestedF"}
        ``"separate"``: adjust each coefficient's p-values on their own; ``"global"``:
        all coefficients' p-values together; ``"nestedF"``: features whose adjusted
        F-test p-value is below ``p_value``, then the coefficients that make that F-test
        significant.
    adjust_method : str
        See :func:`p_adjust`.
    p_value : float
        Significance level for the adjusted p-values.
    lfc : float
        Also require abs(coefficient) > ``lfc``.

    Returns
    -------
    TestResults

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import decide_tests, e_bayes, lm_fit
    >>> rng = np.random.default_rng(5)
    >>> y = rng.normal(size=(100, 6))
    >>> y[:5, 3:] += 4.0
    >>> y[5:8, 3:] -= 4.0
    >>> fit = e_bayes(lm_fit(y, np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]]))
    >>> decide_tests(fit).summary()["x2"].tolist()          # Down, NotSig, Up
    [3, 91, 6]
    """
    fit, _ = fit_from(fit, key)
    if "p_value" not in fit:
        fit = e_bayes(fit)
    p = np.array(fit.p_value, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    coefs = np.asarray(fit.coefficients, dtype=np.float64).reshape(p.shape)
    if adjust_method not in ("none", *_ADJUST):
        raise ValueError(
            f"adjust_method={adjust_method!r} is not known; use one of {['none', *_ADJUST]}"
        )
    if method == "separate":
        adj = np.column_stack([p_adjust(p[:, j], adjust_method) for j in range(p.shape[1])])
        with np.errstate(invalid="ignore"):
            res = (np.sign(coefs) * (adj < p_value)).astype(np.int8)
    elif method == "global":
        adj = p_adjust(p.ravel(), adjust_method).reshape(p.shape)
        with np.errstate(invalid="ignore"):
            res = (np.sign(coefs) * (adj < p_value)).astype(np.int8)
    elif method == "nestedF":
        Fp = np.asarray(fit.F_p_value, dtype=np.float64)
        if np.isnan(Fp).any():
            raise ValueError("method='nestedF' cannot handle NaN F p-values")
        sel = p_adjust(Fp, adjust_method) < p_value
        i, n = int(sel.sum()), sel.size
        factor = {
            "none": 1.0,
            "bonferroni": 1.0 / n,
            "holm": 1.0 / (n - i + 1),
            "BH": i / n,
            "fdr": i / n,
            "BY": i / n / np.sum(1.0 / np.arange(1, n + 1)),
        }.get(adjust_method)
        if factor is None:
            raise ValueError(f"method='nestedF' supports adjust_method in {list(_ADJUST)[:3]}")
        res = np.zeros(p.shape, dtype=np.int8)
        if sel.any():
            t = np.asarray(fit.t, dtype=np.float64).reshape(p.shape)[sel]
            df = np.asarray(fit.df_prior) + np.asarray(fit.df_residual, dtype=float)
            df = np.broadcast_to(df, sel.shape)[sel]
            res[sel] = _classify_f(t, fit.get("cov_coefficients"), df, p_value * factor)
    else:
        raise ValueError(
            f"method={method!r} is not supported; use 'separate', 'global' or 'nestedF'"
        )
    if lfc > 0:
        res = (res * (np.abs(coefs) > lfc)).astype(np.int8)
    return TestResults(
        results=res,
        coef_names=list(fit.get("coef_names") or range(p.shape[1])),
        feature_names=fit.get("feature_names"),
    )
