"""``voom``: RNA-seq counts to log-CPM values with precision weights (Law et al. 2014),
as limma 3.54's ``voom``.

For gene g and sample i with count c_gi and library size L_i (default: column sums):

    E_gi = log2((c_gi + 0.5) / (L_i + 1) · 10⁶).

A linear model of E on the design gives each gene's residual standard deviation s_g and
fitted values; the trend of √s_g against the average log count
``x_g = mean_i(E_gi) + mean_i(log2(L_i + 1)) − log2(10⁶)`` is fitted by lowess (span
0.5; genes with all counts 0 left out). Each observation's weight is
``1 / f(fitted log count)⁴`` with f the trend (linear interpolation, constant beyond
the ends), i.e. the inverse of its predicted variance.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._inputs import check_full_rank, is_anndata, resolve_design
from ._smooth import approx_mean_ties, lowess_r
from .linear_model import lm_fit
from .result import FeatureResult

__all__ = ["VoomResult", "voom"]

FloatArray = NDArray[np.float64]


class VoomResult(FeatureResult):
    """log-CPM values and precision weights (limma's ``EList`` from ``voom``).

    Fields: ``E`` and ``weights`` (genes × samples), ``design``, ``coef_names``,
    ``lib_size`` (per sample), ``feature_names``, ``sample_names``, and the mean–variance
    trend: ``voom_xy`` (``x``: average log2 count, ``y``: √ residual sd, per gene used)
    and ``voom_line`` (the lowess fit at the sorted x). Pass it to
    :func:`~kronlmm.features.lm_fit`, which takes its values, weights and design.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import voom
    >>> counts = np.random.default_rng(0).poisson(50, size=(30, 4))
    >>> v = voom(counts, np.c_[np.ones(4), [0, 0, 1, 1]])
    >>> type(v).__name__, v.E.shape, bool((v.weights > 0).all())
    ('VoomResult', (30, 4), True)
    """


def _counts(counts: Any) -> tuple[Any, list[str] | None, list[str] | None, Any]:
    """(genes × samples counts, dense or scipy.sparse; gene names; sample names; adata)."""
    if is_anndata(counts):
        X = counts.X
        return X.T, [str(x) for x in counts.var_names], [str(x) for x in counts.obs_names], counts
    if isinstance(counts, pd.DataFrame):
        return (
            counts.to_numpy(dtype=np.float64),
            [str(x) for x in counts.index],
            [str(x) for x in counts.columns],
            None,
        )
    if hasattr(counts, "tocsr") and not isinstance(counts, np.ndarray):
        return counts, None, None, None
    return np.asarray(counts, dtype=np.float64), None, None, None


def voom(
    counts: Any,
    design: Any = None,
    lib_size: Any = None,
    span: float = 0.5,
    *,
    samples: pd.DataFrame | None = None,
    block: Any = None,
    correlation: float | None = None,
    weights: Any = None,
    key: str = "voom",
) -> VoomResult:
    """Transform counts to log-CPM and estimate precision weights (limma's ``voom``).

    Model and weights: see :mod:`kronlmm.features.voom`.

    Parameters
    ----------
    counts : array, scipy.sparse matrix, DataFrame or AnnData
        Non-negative counts, genes × samples (AnnData: samples × genes in ``.X``).
    design : array, DataFrame or formula, optional
        As for :func:`~kronlmm.features.lm_fit` (formulas use ``samples`` or
        ``adata.obs``). Default: an intercept only.
    lib_size : array, optional
        Library size per sample; default: the column sums of ``counts``.
    span : float
        Lowess span of the mean–variance trend (limma 3.54's default 0.5; pylimma's
        adaptive span is not used).
    samples, block, correlation, weights :
        Passed to :func:`~kronlmm.features.lm_fit` for the trend's linear model.
    key : str
        AnnData only: ``layers["<key>_E"]``, ``layers["<key>_weights"]`` (samples ×
        genes) receive E and the weights, ``uns[key]`` the result.

    Returns
    -------
    VoomResult

    Raises
    ------
    ValueError
        For negative or missing counts, fewer than two genes, or a ``lib_size`` of the
        wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from kronlmm.features import voom
    >>> rng = np.random.default_rng(1)
    >>> counts = rng.negative_binomial(5, 0.05, size=(200, 6))
    >>> dense = voom(counts, np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> sparse = voom(sp.csr_matrix(counts), np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> bool(np.allclose(dense.weights, sparse.weights))
    True
    """
    C, gene_names, sample_names, adata = _counts(counts)
    sparse = hasattr(C, "tocsr") and not isinstance(C, np.ndarray)
    m, n = C.shape
    if m < 2:
        raise ValueError(f"counts has {m} gene(s): a mean-variance trend needs at least two")
    if sparse:
        data = np.asarray(C.tocsr().data, dtype=np.float64)
        has_nan = bool(np.isnan(data).any())
        lowest = float(data.min()) if data.size else 0.0
        col_sums = np.asarray(C.sum(axis=0), dtype=np.float64).ravel()
        row_sums = np.asarray(C.sum(axis=1), dtype=np.float64).ravel()
    else:
        has_nan = bool(np.isnan(C).any())
        lowest = float(np.nanmin(C)) if C.size else 0.0
        col_sums = C.sum(axis=0)
        row_sums = C.sum(axis=1)
    if has_nan:
        raise ValueError("counts has NaN values: voom needs every count (use 0 for none)")
    if lowest < 0:
        raise ValueError(f"counts has negative values (minimum {lowest}): counts must be ≥ 0")
    if lib_size is None:
        lib = col_sums
    else:
        lib = np.asarray(lib_size, dtype=np.float64).ravel()
        if lib.size != n:
            raise ValueError(
                f"lib_size has {lib.size} values but counts has {n} samples (shape "
                f"{C.shape}): give one library size per sample"
            )
    table = samples if samples is not None else (pd.DataFrame(adata.obs) if adata else None)
    X, coef_names = resolve_design(design, n, table)
    if design is None:
        coef_names = ["GrandMean"]
    check_full_rank(X, coef_names)
    dense = np.asarray(C.toarray() if sparse else C, dtype=np.float64)
    E = np.log2((dense + 0.5) / (lib[None, :] + 1.0) * 1e6)
    del dense
    design_frame = pd.DataFrame(X, columns=coef_names)
    fit = lm_fit(E, design_frame, block=block, correlation=correlation, weights=weights)
    with_reps = int(np.sum(fit.df_residual > 0))
    result = VoomResult(
        E=E,
        design=X,
        coef_names=coef_names,
        lib_size=lib,
        feature_names=gene_names,
        sample_names=sample_names,
    )
    if with_reps < 2:
        warnings.warn(
            "the design has no replication (or only one gene has any): weights set to 1",
            UserWarning,
            stacklevel=2,
        )
        result["weights"] = np.ones_like(E)
    else:
        sx = fit.amean + float(np.mean(np.log2(lib + 1.0))) - np.log2(1e6)
        sy = np.sqrt(fit.sigma)
        keep = row_sums != 0
        sx, sy = sx[keep], sy[keep]
        fitted_sy = lowess_r(sx, sy, span=span, iterations=3)
        order = np.argsort(sx, kind="stable")
        line_x, line_y = sx[order], fitted_sy[order]
        fitted_values = fit.coefficients @ X.T
        fitted_count = 1e-6 * np.exp2(fitted_values) * (lib[None, :] + 1.0)
        fitted_logcount = np.log2(fitted_count)
        trend = approx_mean_ties(line_x, line_y, fitted_logcount.ravel()).reshape(E.shape)
        result["weights"] = 1.0 / trend**4
        result["voom_xy"] = {"x": sx, "y": sy}
        result["voom_line"] = {"x": line_x, "y": line_y}
    if adata is not None:
        adata.layers[f"{key}_E"] = np.ascontiguousarray(E.T)
        adata.layers[f"{key}_weights"] = np.ascontiguousarray(result["weights"].T)
        adata.uns[key] = result
    return result
