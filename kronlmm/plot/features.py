"""Plots of many-feature results (:mod:`kronlmm.features`): volcano plots and
mean–variance trends (matplotlib, imported only when plotting)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..features import LinearModelFit, VoomResult, top_table
from .gwas import require_matplotlib

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["mean_variance", "volcano"]


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    require_matplotlib()
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize)
    return new


def volcano(
    result: LinearModelFit | pd.DataFrame,
    coef: Any = None,
    ax: Axes | None = None,
    *,
    p_value: float = 0.05,
    lfc: float = 0.0,
    label_top: int = 10,
    point_size: float = 8.0,
    title: str | None = None,
) -> Axes:
    """Volcano plot: −log10 p-value against log2 fold change, one point per feature.

    Features with adjusted p-value ≤ ``p_value`` and absolute log fold change ≥ ``lfc`` are
    drawn in red; the ``label_top`` features with the smallest p-values are labelled by
    name.

    Parameters
    ----------
    result : LinearModelFit or DataFrame
        A fit after :func:`~kronlmm.features.e_bayes` (or :func:`~kronlmm.features.treat`),
        or a :func:`~kronlmm.features.top_table` table with ``log_fc``, ``p_value`` and
        ``adj_p_value``.
    coef : name or index, optional
        The coefficient of a fit (default: as :func:`~kronlmm.features.top_table`).
    ax : matplotlib.axes.Axes, optional
        Where to draw (a new figure from :mod:`matplotlib.pyplot` when ``None``).
    p_value, lfc : float
        Thresholds for the highlighted features (adjusted p-value, absolute log fold change).
    label_top : int
        How many of the most significant features get their name written.
    point_size : float
        Marker area.
    title : str, optional
        Axes title (default: ``"Volcano plot: <coef>"``).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from kronlmm.features import e_bayes, lm_fit
    >>> from kronlmm.plot import volcano
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=(300, 6))
    >>> y[:5, 3:] += 3
    >>> fit = e_bayes(lm_fit(y, np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]]))
    >>> ax = volcano(fit, coef="x2", ax=Figure().add_subplot(), label_top=3)
    >>> ax.get_title(), ax.get_xlabel(), len(ax.texts)
    ('Volcano plot: x2', 'log2 fold change', 3)
    """
    if isinstance(result, pd.DataFrame):
        table = result
        name = "" if coef is None else str(coef)
    else:
        table = top_table(result, coef=coef, number=np.inf, sort_by="none")
        if "log_fc" not in table:
            raise ValueError(
                f"volcano plots one coefficient: pass coef= naming one of {list(result.coef_names)}"
            )
        if coef is not None:
            name = str(result.coef_names[result.coef_index(coef)[0]])
        else:
            name = [c for c in result.coef_names if c not in ("Intercept", "(Intercept)")][0]
    missing = [c for c in ("log_fc", "p_value", "adj_p_value") if c not in table]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing}: pass a top_table result")
    ax = _new_axes(ax, (6.0, 5.0))
    x = table["log_fc"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore"):
        y = -np.log10(table["p_value"].to_numpy(dtype=np.float64))
    adj = table["adj_p_value"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        hit = (adj <= p_value) & (np.abs(x) >= lfc)
    ax.scatter(x[~hit], y[~hit], s=point_size, c="#7f8c8d", linewidths=0, label="not significant")
    ax.scatter(
        x[hit], y[hit], s=point_size, c="#c0392b", linewidths=0, label=f"adj. p ≤ {p_value:g}"
    )
    finite = np.flatnonzero(np.isfinite(y))
    top = finite[np.argsort(-y[finite], kind="stable")[:label_top]]
    for i in top:
        ax.annotate(
            str(table.index[i]), (x[i], y[i]), fontsize=7, xytext=(2, 2), textcoords="offset points"
        )
    ax.set_xlabel("log2 fold change")
    ax.set_ylabel(r"$-\log_{10}$ p-value")
    ax.set_title(title if title is not None else f"Volcano plot: {name}".rstrip(": "))
    ax.legend(loc="best", frameon=False, fontsize=8)
    return ax


def mean_variance(
    result: VoomResult | LinearModelFit,
    ax: Axes | None = None,
    *,
    point_size: float = 4.0,
    title: str | None = None,
) -> Axes:
    """Mean–variance trend of many features.

    - A :func:`~kronlmm.features.voom` result: √(residual standard deviation) against the
      average log2 count of each gene, with voom's lowess trend (limma's voom plot).
    - A fit after :func:`~kronlmm.features.e_bayes`: √σ_g against the average expression,
      with the prior √s₀ (a line for ``trend=True``; limma's ``plotSA``).

    Parameters
    ----------
    result : VoomResult or LinearModelFit
    ax : matplotlib.axes.Axes, optional
        Where to draw (a new figure from :mod:`matplotlib.pyplot` when ``None``).
    point_size : float
        Marker area.
    title : str, optional
        Axes title (default: ``"voom: mean-variance trend"`` or
        ``"Mean-variance trend"``).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from kronlmm.features import voom
    >>> from kronlmm.plot import mean_variance
    >>> counts = np.random.default_rng(1).negative_binomial(5, 0.02, size=(200, 6))
    >>> v = voom(counts, np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> ax = mean_variance(v, Figure().add_subplot())
    >>> ax.get_title(), ax.get_ylabel()
    ('voom: mean-variance trend', 'sqrt(standard deviation)')
    """
    ax = _new_axes(ax, (6.0, 5.0))
    if isinstance(result, VoomResult) or "voom_xy" in result:
        if "voom_xy" not in result:
            raise ValueError("this voom result has no trend (the design had no replication)")
        xy, line = result["voom_xy"], result["voom_line"]
        ax.scatter(xy["x"], xy["y"], s=point_size, c="#34495e", linewidths=0)
        ax.plot(line["x"], line["y"], color="#c0392b", linewidth=1.5, label="lowess trend")
        ax.set_xlabel("log2(count size + 0.5)")
        ax.set_ylabel("sqrt(standard deviation)")
        ax.set_title(title if title is not None else "voom: mean-variance trend")
    else:
        if "s2_prior" not in result:
            raise ValueError("the fit has no variance prior: run e_bayes on it first")
        x = np.asarray(result["amean"], dtype=np.float64)
        y = np.sqrt(np.asarray(result["sigma"], dtype=np.float64))
        ax.scatter(x, y, s=point_size, c="#34495e", linewidths=0)
        prior = np.sqrt(np.sqrt(np.broadcast_to(result["s2_prior"], x.shape)))
        order = np.argsort(x, kind="stable")
        ax.plot(x[order], prior[order], color="#c0392b", linewidth=1.5, label="prior")
        ax.set_xlabel("average log-expression")
        ax.set_ylabel("sqrt(sigma)")
        ax.set_title(title if title is not None else "Mean-variance trend")
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    return ax
