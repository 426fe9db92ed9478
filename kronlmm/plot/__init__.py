"""Plots of GWAS and many-feature results.

:func:`manhattan` and :func:`qq` (titled with the test, traits, n and genomic-control λ;
threshold and highlights labelled; chromosomes named) draw on an axes; :func:`effects_plot`
draws the per-trait effects of the top variants with confidence intervals;
:func:`save_plots` writes them as PNG files. :func:`volcano` and :func:`mean_variance`
draw results of :mod:`kronlmm.features`. Needs matplotlib
(``pip install 'kronlmm[plot]'``), imported only when a plot is drawn, so
``import kronlmm.plot`` works without it. Each function takes a result table
(:attr:`kronlmm.gwas.GwasResult.assoc`, or the result itself) and an optional
:class:`matplotlib.axes.Axes`, and returns the axes drawn on.
"""

from .effects import effects_plot, top_effects
from .features import mean_variance, volcano
from .gwas import (
    GENOME_WIDE,
    chromosome_label,
    chromosome_order,
    manhattan,
    qq,
    require_matplotlib,
    save_plots,
    scan_title,
)

__all__ = [
    "GENOME_WIDE",
    "chromosome_label",
    "chromosome_order",
    "effects_plot",
    "manhattan",
    "mean_variance",
    "qq",
    "require_matplotlib",
    "save_plots",
    "scan_title",
    "top_effects",
    "volcano",
]
