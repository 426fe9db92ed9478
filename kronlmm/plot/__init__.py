"""Plots of GWAS and many-feature results.

:func:`manhattan` and :func:`qq` (annotated with genomic-control λ) draw on an axes;
:func:`save_plots` writes both as PNG files. :func:`volcano` and :func:`mean_variance`
draw results of :mod:`kronlmm.features`. Needs matplotlib
(``pip install 'kronlmm[plot]'``), imported only when a plot is drawn, so
``import kronlmm.plot`` works without it. Each function takes a result table
(:attr:`kronlmm.gwas.GwasResult.assoc`, or the result itself) and an optional
:class:`matplotlib.axes.Axes`, and returns the axes drawn on.
"""

from .features import mean_variance, volcano
from .gwas import GENOME_WIDE, chromosome_order, manhattan, qq, require_matplotlib, save_plots

__all__ = [
    "GENOME_WIDE",
    "chromosome_order",
    "manhattan",
    "mean_variance",
    "qq",
    "require_matplotlib",
    "save_plots",
    "volcano",
]
