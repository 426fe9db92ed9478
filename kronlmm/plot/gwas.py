"""Manhattan and QQ plots of a GWAS result table (matplotlib, imported only when plotting)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..gwas.genomic_control import genomic_control_lambda
from ..gwas.result import GwasResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["manhattan", "qq", "save_plots", "chromosome_order", "chromosome_label",
           "require_matplotlib", "scan_title", "GENOME_WIDE"]  # fmt: skip

GENOME_WIDE = 5e-8
"""Conventional genome-wide significance threshold."""

_CHROM_ALIASES = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}
_PLINK_CODES = {"23": "X", "24": "Y", "25": "XY", "26": "MT"}

AUTO = "auto"
"""``title="auto"``: describe the scan (test, traits, n, λ) when the input says it."""


def chromosome_label(name: object) -> str:
    """How a chromosome is shown: PLINK's numeric codes 23–26 as X, Y, XY and MT.

    Parameters
    ----------
    name : object
        Chromosome as written in the ``.bim`` (``"23"``, ``"X"``, ``"chr7"``, …).

    Returns
    -------
    str

    Examples
    --------
    >>> from kronlmm.plot import chromosome_label
    >>> [chromosome_label(c) for c in ["1", "23", "24", "25", "26", "X", "chr7"]]
    ['1', 'X', 'Y', 'XY', 'MT', 'X', 'chr7']
    """
    text = str(name)
    return _PLINK_CODES.get(text, text)


def scan_title(table: pd.DataFrame | GwasResult) -> str | None:
    """A one-line description of a scan: test, traits, samples and genomic-control λ.

    Parameters
    ----------
    table : pandas.DataFrame or GwasResult
        A result (everything is described) or a result table (λ, from ``chi2``/``dof``).

    Returns
    -------
    str or None
        ``None`` for a table without ``chi2`` and ``dof``.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan
    >>> from kronlmm.plot import scan_title
    >>> paths = example_paths()
    >>> result = scan(paths.prefix, paths.pheno, covar=paths.covar, test="common")
    >>> scan_title(result)
    "'common' test (1 dof) of trait1, trait2, trait3; n = 395 samples, 2970 variants; λ_GC = ..."
    """
    if isinstance(table, GwasResult):
        null = table.null
        return (
            f"{table.test!r} test ({table.dof} dof) of {', '.join(null.trait_names)}; "
            f"n = {null.nsamples} samples, {table.n_tested} variants; "
            f"λ_GC = {table.lambda_gc:.3f}"
        )
    if {"chi2", "dof"} <= set(table.columns):
        return f"λ_GC = {genomic_control_lambda(table['chi2'], table['dof']):.3f}"
    return None


def _title(table: pd.DataFrame | GwasResult, title: str | None) -> str | None:
    return scan_title(table) if title == AUTO else title


def require_matplotlib() -> Any:
    """Import and return :mod:`matplotlib`, or fail with how to install it.

    Returns
    -------
    module
        :mod:`matplotlib`.

    Raises
    ------
    ImportError
        ``"... pip install 'kronlmm[plot]'"`` when matplotlib is not installed.

    Examples
    --------
    >>> from kronlmm.plot import require_matplotlib
    >>> require_matplotlib().__name__
    'matplotlib'
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, which is not installed: pip install 'kronlmm[plot]'"
        ) from None
    return matplotlib


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    require_matplotlib()
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _table(table: pd.DataFrame | GwasResult) -> pd.DataFrame:
    if isinstance(table, GwasResult):
        return table.assoc
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a result table (DataFrame) or GwasResult, got {type(table)}")
    return table


def _chrom_key(name: str) -> tuple[int, int, str]:
    s = re.sub(r"^chr", "", str(name), flags=re.IGNORECASE)
    if s.isdigit():
        return (0, int(s), str(name))
    if s.upper() in _CHROM_ALIASES:
        return (0, _CHROM_ALIASES[s.upper()], str(name))
    return (1, 0, str(name))


def chromosome_order(chroms: Iterable[object]) -> list[str]:
    """Distinct chromosome names in natural order: 1…22, X, Y, XY, MT, then others sorted.

    Parameters
    ----------
    chroms : iterable
        Chromosome names (``"chr"`` prefixes are ignored for sorting).

    Returns
    -------
    list of str

    Examples
    --------
    >>> from kronlmm.plot import chromosome_order
    >>> chromosome_order(["2", "X", "10", "1", "chr3", "MT", "scaffold_7", "2"])
    ['1', '2', 'chr3', '10', 'X', 'MT', 'scaffold_7']
    """
    return sorted({str(c) for c in chroms}, key=_chrom_key)


def _neg_log10_p(df: pd.DataFrame) -> NDArray[np.float64]:
    if "neg_log10_p_value" in df:
        return df["neg_log10_p_value"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore"):
        out: NDArray[np.float64] = -np.log10(df["p_value"].to_numpy(dtype=np.float64))
        return out


def manhattan(
    table: pd.DataFrame | GwasResult,
    ax: Axes | None = None,
    *,
    threshold: float | None = GENOME_WIDE,
    highlight: Sequence[str] | None = None,
    highlight_label: str = "highlighted variants",
    colors: Sequence[str] = ("#1f4e79", "#7fa7cf"),
    point_size: float = 6.0,
    title: str | None = AUTO,
) -> Axes:
    """Manhattan plot: ``−log10 p`` against genomic position, chromosomes side by side.

    Everything a reader needs is on the figure: a title describing the scan, the
    significance line labelled with its p-value, chromosomes named (PLINK's 23–26 as X, Y,
    XY, MT), and a legend that says what the rings mark.

    Parameters
    ----------
    table : pandas.DataFrame or GwasResult
        Result table with ``chrom``, ``pos`` and ``neg_log10_p_value`` (or ``p_value``)
        columns, e.g. :attr:`GwasResult.assoc`; rows without a p-value are skipped.
    ax : matplotlib.axes.Axes, optional
        Where to draw (a new figure from :mod:`matplotlib.pyplot` when ``None``).
    threshold : float or None, default 5e-8
        p-value of a dashed horizontal significance line, labelled in the legend
        (``None``: no line).
    highlight : sequence of str, optional
        ``variant_id`` values to ring in red (e.g. known causal variants).
    highlight_label : str, default "highlighted variants"
        What the rings mark, for the legend (e.g. ``"simulated causal variants"``).
    colors : sequence of str
        Colours alternating between chromosomes.
    point_size : float, default 6
        Marker area.
    title : str or None, default "auto"
        Axes title; ``"auto"`` describes the scan (:func:`scan_title`), ``None`` none.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    A simulated result table (:attr:`GwasResult.assoc <kronlmm.gwas.GwasResult.assoc>` has
    these columns and more), drawn on a figure that is saved, never shown:

    >>> import numpy as np
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame({
    ...     "chrom": np.repeat(["1", "2", "X"], 200),
    ...     "pos": np.tile(np.arange(200) * 1000, 3),
    ...     "variant_id": [f"rs{i}" for i in range(600)],
    ...     "p_value": rng.uniform(size=600),
    ... })
    >>> table.loc[250, "p_value"] = 1e-9  # one hit on chromosome 2
    >>> import io
    >>> from matplotlib.figure import Figure
    >>> from kronlmm.plot import manhattan
    >>> fig = Figure(figsize=(8, 3))
    >>> ax = manhattan(table, fig.add_subplot(), highlight=["rs250"],
    ...                highlight_label="known hit", title="simulated")
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['1', '2', 'X']
    >>> round(max(c.get_offsets()[:, 1].max() for c in ax.collections))  # -log10(1e-9)
    9
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['genome-wide significance, p = 5e-08', 'known hit (1)']
    >>> fig.savefig(io.BytesIO(), format="png")
    """
    df = _table(table)
    ax = _axes(ax, (10.0, 4.0))
    y = _neg_log10_p(df)
    keep = np.isfinite(y)
    chrom = df["chrom"].astype(str).to_numpy()[keep]
    pos = df["pos"].to_numpy(dtype=np.float64)[keep]
    y = y[keep]
    order = chromosome_order(chrom)
    x = np.empty_like(pos)
    ticks, labels = [], []
    offset = 0.0
    for i, name in enumerate(order):
        sel = chrom == name
        lo, hi = float(pos[sel].min()), float(pos[sel].max())
        x[sel] = pos[sel] - lo + offset
        width = max(hi - lo, 1.0)
        ticks.append(offset + width / 2)
        labels.append(chromosome_label(name))
        ax.scatter(
            x[sel], y[sel], s=point_size, c=colors[i % len(colors)], linewidths=0, rasterized=True
        )
        offset += width * 1.02 + 1.0
    if threshold is not None:
        ax.axhline(
            -np.log10(threshold),
            color="grey",
            linestyle="--",
            linewidth=0.8,
            label=f"genome-wide significance, p = {threshold:g}",
        )
    if highlight is not None and keep.any():
        ids = df["variant_id"].astype(str).to_numpy()[keep]
        mark = np.isin(ids, np.asarray(list(highlight), dtype=str))
        if mark.any():  # open rings around the points, so they do not read as hits
            ax.scatter(
                x[mark],
                y[mark],
                s=point_size * 12,
                facecolors="none",
                edgecolors="#c0392b",
                linewidths=1.2,
                zorder=3,
                label=f"{highlight_label} ({int(mark.sum())})",
            )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", frameon=False, fontsize="small")
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    ax.set_xlabel("chromosome")
    test = str(table.test) if isinstance(table, GwasResult) else None
    ax.set_ylabel(r"$-\log_{10}\,p$" + (f" ({test!r} test)" if test else ""))
    if offset > 0:
        ax.set_xlim(-0.01 * offset, offset)
    top = max(float(y.max()) if y.size else 0.0, -np.log10(threshold) if threshold else 0.0)
    ax.set_ylim(0, top * 1.08 + 0.5)
    text = _title(table, title)
    if text is not None:
        ax.set_title(text, fontsize="medium")
    return ax


def qq(
    table: pd.DataFrame | GwasResult,
    ax: Axes | None = None,
    *,
    ci: float | None = 0.95,
    point_size: float = 8.0,
    title: str | None = AUTO,
) -> Axes:
    """QQ plot of observed against expected ``−log10 p``, annotated with genomic-control λ.

    λ is computed from the test statistics, ``median(chi2) / chi2.ppf(0.5, dof)``
    (:func:`kronlmm.gwas.genomic_control_lambda`), when the table has ``chi2`` and ``dof``.

    Parameters
    ----------
    table : pandas.DataFrame or GwasResult
        Result table with ``neg_log10_p_value`` (or ``p_value``) and, for λ, ``chi2`` and
        ``dof``; rows without a p-value are skipped.
    ax : matplotlib.axes.Axes, optional
        Where to draw (a new figure from :mod:`matplotlib.pyplot` when ``None``).
    ci : float or None, default 0.95
        Pointwise confidence band of the uniform order statistics (``None``: no band).
    point_size : float, default 8
        Marker area.
    title : str or None, default "auto"
        Axes title; ``"auto"`` describes the scan (:func:`scan_title`), ``None`` none.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame({
    ...     "chrom": np.repeat(["1", "2", "X"], 200),
    ...     "pos": np.tile(np.arange(200) * 1000, 3),
    ...     "variant_id": [f"rs{i}" for i in range(600)],
    ...     "p_value": rng.uniform(size=600),
    ... })
    >>> table.loc[250, "p_value"] = 1e-9  # one hit on chromosome 2
    >>> import io
    >>> from matplotlib.figure import Figure
    >>> from scipy import stats
    >>> from kronlmm.plot import qq
    >>> table["dof"] = 1
    >>> table["chi2"] = stats.chi2.isf(table["p_value"], 1)
    >>> fig = Figure(figsize=(4, 4))
    >>> ax = qq(table, fig.add_subplot())
    >>> ax.texts[0].get_text().split("= ")[1]  # genomic-control lambda
    '0.807'
    >>> fig.savefig(io.BytesIO(), format="png")
    """
    import scipy.stats as st

    df = _table(table)
    ax = _axes(ax, (4.5, 4.5))
    obs = _neg_log10_p(df)
    obs = np.sort(obs[np.isfinite(obs)])[::-1]
    m = obs.size
    if m:
        rank = np.arange(1, m + 1)
        expected = -np.log10((rank - 0.5) / m)
        if ci is not None:
            alpha = (1.0 - ci) / 2
            lo = -np.log10(st.beta.ppf(1 - alpha, rank, m - rank + 1))
            hi = -np.log10(st.beta.ppf(alpha, rank, m - rank + 1))
            ax.fill_between(
                expected, lo, hi, color="0.85", linewidth=0,
                label=f"{ci:.0%} band of p-values under no association",
            )  # fmt: skip
        ax.scatter(expected, obs, s=point_size, c="#1f4e79", linewidths=0, rasterized=True,
                   label=f"variants ({m})")  # fmt: skip
        top = float(expected[0])
        ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=0.8,
                label="observed = expected")  # fmt: skip
        ax.legend(loc="lower right", frameon=False, fontsize="small")
    if {"chi2", "dof"} <= set(df.columns):
        lam = genomic_control_lambda(df["chi2"], df["dof"])
        ax.text(
            0.04,
            0.96,
            rf"$\lambda_{{GC}}$ = {lam:.3f}",
            transform=ax.transAxes,
            va="top",
            ha="left",
        )
    ax.set_xlabel(r"expected $-\log_{10}\,p$")
    ax.set_ylabel(r"observed $-\log_{10}\,p$")
    text = _title(table, title)
    if text is not None:
        ax.set_title(text, fontsize="medium", wrap=True)
    return ax


def save_plots(
    table: pd.DataFrame | GwasResult,
    manhattan_path: str | os.PathLike[str] | None,
    qq_path: str | os.PathLike[str] | None,
    *,
    highlight: Sequence[str] | None = None,
    highlight_label: str = "highlighted variants",
    title: str | None = AUTO,
    effects_path: str | os.PathLike[str] | None = None,
    top: int = 5,
    dpi: int = 150,
) -> list[Path]:
    """Draw the Manhattan and QQ plots (and the effects plot) and save them as PNG files,
    atomically.

    Uses :class:`matplotlib.figure.Figure` directly (no :mod:`matplotlib.pyplot` state, so
    nothing is shown and nothing needs a display).

    Parameters
    ----------
    table : pandas.DataFrame or GwasResult
        Result table (see :func:`manhattan` and :func:`qq`).
    manhattan_path, qq_path : str, os.PathLike or None
        Destinations (``None``: skip that plot).
    highlight : sequence of str, optional
        Variant IDs to ring on the Manhattan plot.
    highlight_label : str, default "highlighted variants"
        What they are, for its legend.
    title : str or None, default "auto"
        Title of the plots; ``"auto"`` describes the scan (:func:`scan_title`).
    effects_path : str or os.PathLike, optional
        Destination of the per-trait effects plot of the ``top`` variants
        (:func:`kronlmm.plot.effects_plot`; needs a :class:`~kronlmm.gwas.GwasResult`).
    top : int, default 5
        Variants in the effects plot.
    dpi : int, default 150
        Resolution.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Examples
    --------
    A scan of the bundled data (without a kinship, to keep the example quick):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan
    >>> from kronlmm.plot import save_plots
    >>> paths = example_paths()
    >>> result = scan(paths.prefix, paths.pheno, covar=paths.covar, kinship=None)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> written = save_plots(result, Path(tmp.name) / "manhattan.png", Path(tmp.name) / "qq.png",
    ...                      highlight=["rs20402064"], title="example", dpi=50)
    >>> [(path.name, path.read_bytes()[1:4]) for path in written]
    [('manhattan.png', b'PNG'), ('qq.png', b'PNG')]
    >>> tmp.cleanup()
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    from ..io import atomic_path
    from .effects import effects_plot

    written = []
    plots: tuple[
        tuple[str | os.PathLike[str] | None, Callable[[Any], object], tuple[float, float]], ...
    ] = (
        (
            manhattan_path,
            lambda ax: manhattan(
                table, ax, highlight=highlight, highlight_label=highlight_label, title=title
            ),
            (10, 4.5),
        ),
        (qq_path, lambda ax: qq(table, ax, title=title), (5.5, 5.5)),
    )
    for path, draw, size in plots:
        if path is None:
            continue
        fig = Figure(figsize=size, layout="constrained")
        draw(fig.add_subplot())
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
        written.append(Path(path))
    if effects_path is not None:
        if not isinstance(table, GwasResult):
            raise TypeError("the effects plot needs a GwasResult (its effects table)")
        fig = effects_plot(table, top)
        with atomic_path(effects_path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
        written.append(Path(effects_path))
    return written
