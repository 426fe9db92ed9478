"""Per-trait effects of the top variants of a multi-trait scan, with confidence intervals.

What a multi-trait user looks at after the Manhattan plot: for each of the most significant
variants, its estimated effect on every trait (``β``, per copy of the effect allele, in the
trait's units) with a ``level`` confidence interval ``β ± z·se`` (``z`` the normal
quantile). One panel per trait (each on its own scale, since traits have their own units),
the variants as rows, a vertical line at 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ..gwas.result import GwasResult
from .gwas import require_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["effects_plot", "top_effects"]


def top_effects(result: GwasResult, k: int = 5, *, level: float = 0.95) -> pd.DataFrame:
    """The per-trait effects of the ``k`` most significant tested variants, with CIs.

    Parameters
    ----------
    result : GwasResult
        A scan.
    k : int, default 5
        Variants (the most significant with a test result).
    level : float, default 0.95
        Confidence level of the intervals ``β ± z·se``.

    Returns
    -------
    pandas.DataFrame
        One row per variant and trait (most significant first, traits inner): ``variant_id``,
        ``chrom``, ``pos``, ``effect_allele``, ``p_value``, ``trait``, ``beta``, ``se``,
        ``lower``, ``upper``.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan
    >>> from kronlmm.plot import top_effects
    >>> paths = example_paths()
    >>> result = scan(paths.prefix, paths.pheno, covar=paths.covar, kinship=None)
    >>> table = top_effects(result, k=2)
    >>> table[["variant_id", "trait"]].values.tolist()[:3]
    [['rs26858614', 'trait1'], ['rs26858614', 'trait2'], ['rs26858614', 'trait3']]
    >>> bool(((table["lower"] < table["beta"]) & (table["beta"] < table["upper"])).all())
    True
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if not isinstance(result, GwasResult):
        raise TypeError(f"result must be a GwasResult, got {type(result).__name__}")
    assoc = result.assoc
    tested = assoc[assoc["reason"] == ""]
    order = tested["neg_log10_p_value"].sort_values(ascending=False, kind="stable").index[:k]
    top = tested.loc[order, ["variant_id", "chrom", "pos", "effect_allele", "p_value"]]
    q = len(result.effects) // max(len(assoc), 1)
    rows: NDArray[np.int64] = (
        np.concatenate([np.arange(i * q, (i + 1) * q) for i in order])
        if len(order)
        else np.zeros(0, dtype=np.int64)
    )
    effects = result.effects.iloc[rows].reset_index(drop=True)
    out = top.loc[top.index.repeat(q)].reset_index(drop=True)
    out["trait"] = effects["trait"].to_numpy()
    out["beta"] = effects["beta"].to_numpy()
    out["se"] = effects["se"].to_numpy()
    z = float(stats.norm.ppf(0.5 + level / 2))
    out["lower"] = out["beta"] - z * out["se"]
    out["upper"] = out["beta"] + z * out["se"]
    return out


def effects_plot(
    result: GwasResult, k: int = 5, *, level: float = 0.95, fig: Figure | None = None
) -> Figure:
    """Forest plot of the per-trait effects of the ``k`` top variants (see the module notes).

    Parameters
    ----------
    result : GwasResult
        A scan.
    k : int, default 5
        Variants shown (most significant first, top to bottom).
    level : float, default 0.95
        Confidence level of the intervals.
    fig : matplotlib.figure.Figure, optional
        Where to draw (a new :class:`~matplotlib.figure.Figure`, never shown, when ``None``).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per trait, titled with the trait name.

    Examples
    --------
    >>> import io
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan
    >>> from kronlmm.plot import effects_plot
    >>> paths = example_paths()
    >>> result = scan(paths.prefix, paths.pheno, covar=paths.covar, kinship=None)
    >>> fig = effects_plot(result, k=3)
    >>> [ax.get_title() for ax in fig.axes]
    ['trait1', 'trait2', 'trait3']
    >>> [label.get_text() for label in fig.axes[0].get_yticklabels()][0]
    'rs26858614 (T), p = 9.2e-14'
    >>> fig.savefig(io.BytesIO(), format="png")
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    table = top_effects(result, k, level=level)
    traits = list(dict.fromkeys(table["trait"]))
    variants = list(dict.fromkeys(table["variant_id"]))
    if fig is None:
        fig = Figure(figsize=(2.2 + 2.6 * len(traits), 1.2 + 0.45 * max(len(variants), 1)),
                     layout="constrained")  # fmt: skip
    axes = fig.subplots(1, len(traits), sharey=True, squeeze=False)[0]
    first = table.drop_duplicates("variant_id")
    labels = [
        f"{row.variant_id} ({row.effect_allele}), p = {row.p_value:.2g}"
        for row in first.itertuples()
    ]
    y = np.arange(len(variants))[::-1]
    for ax, trait in zip(axes, traits, strict=True):
        part = table[table["trait"] == trait]
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.errorbar(
            part["beta"],
            y,
            xerr=[part["beta"] - part["lower"], part["upper"] - part["beta"]],
            fmt="o",
            color="#1f4e79",
            ecolor="#7fa7cf",
            capsize=3,
        )
        ax.set_title(str(trait), fontsize="medium")
        ax.set_xlabel("β per effect allele")
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(labels)
    axes[0].set_ylim(-0.7, len(variants) - 0.3)
    fig.suptitle(
        f"Per-trait effects (β, {level:.0%} CI) of the top {len(variants)} variants, "
        f"{result.test!r} test; n = {result.null.nsamples}",
        fontsize="medium",
    )
    return fig
