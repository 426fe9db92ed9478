"""``lm_fit``: one linear model per feature, as limma's ``lmFit``.

For feature g (a row of the features × samples matrix) with observed samples O_g:

    y_g = X β_g + e_g,   Cov(e_g) = σ_g² W_g^{-1/2} C W_g^{-1/2},

where X is the n × k design (samples × coefficients), β_g the k coefficients, σ_g² the
residual variance, W_g = diag(w_g) the observation weights (1 without weights) and C the
correlation of the samples: the identity, or ``(1-ρ) I + ρ ZZᵀ`` with a common
correlation ρ between samples of the same block (Z: block indicator). The fit reports
β̂_g, the unscaled standard errors ``√diag((X_gᵀ V_g⁻¹ X_g)⁻¹)`` (multiply by σ_g for the
standard errors), σ̂_g² = residual sum of squares / df_g with df_g the number of
observed samples minus the rank, and the average expression (``amean``) of each feature.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._dups import check_dups, unwrap_dups, unwrap_names
from ._inputs import (
    as_expression,
    check_block,
    check_full_rank,
    check_weights,
    resolve_design,
)
from ._lstsq import BlockCorrelation, feature_blocks, fit_least_squares
from ._robust import huber_fit
from .result import FeatureResult

__all__ = ["LinearModelFit", "lm_fit", "row_means"]

FloatArray = NDArray[np.float64]


def row_means(values: FloatArray) -> FloatArray:
    """Mean of each row over its finite entries (NaN for a row with none), without
    warnings; computed in blocks of rows (no full-size temporary)."""
    m, n = values.shape
    out = np.empty(m)
    for block in feature_blocks(m, n, 1):
        chunk = values[block]
        observed = np.isfinite(chunk)
        counts = observed.sum(axis=1)
        sums = np.where(observed, chunk, 0.0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[block] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out


class LinearModelFit(FeatureResult):
    """Per-feature linear model fits (limma's ``MArrayLM``).

    Fields (m features, k coefficients):

    - ``coefficients`` (m × k), ``stdev_unscaled`` (m × k): β̂ and the unscaled standard
      errors (standard error = ``stdev_unscaled · sigma``); NaN where not estimable;
    - ``sigma`` (m), ``df_residual`` (m): residual standard deviation and degrees of
      freedom (NaN and 0 for a feature without residual degrees of freedom);
    - ``cov_coefficients`` (k × k): the unscaled covariance of the coefficients of the
      design (as limma reports it), used by contrasts and F-tests;
    - ``amean`` (m): average of each feature's observed values;
    - ``design`` (n × k), ``coef_names`` (k), ``feature_names`` (m or None), ``method``,
      ``block``, ``correlation``, ``ndups``, ``spacing``.

    :func:`~kronlmm.features.e_bayes`, :func:`~kronlmm.features.treat` and
    :func:`~kronlmm.features.contrasts_fit` return a copy with more fields.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import lm_fit
    >>> rng = np.random.default_rng(0)
    >>> fit = lm_fit(rng.normal(size=(5, 6)), np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> type(fit).__name__, fit.coefficients.shape, float(fit.df_residual[0])
    ('LinearModelFit', (5, 2), 4.0)
    """

    def coef_index(self, coef: Any, *, argument: str = "coef") -> list[int]:
        """Column indices of ``coef`` (a name, an index, or a list of them).

        Raises ValueError naming the unknown coefficient and the available names.

        Examples
        --------
        >>> import numpy as np
        >>> from kronlmm.features import lm_fit
        >>> design = np.c_[np.ones(4), [0, 0, 1, 1]]
        >>> fit = lm_fit(np.arange(8.0).reshape(2, 4) ** 2, design)
        >>> fit.coef_names, fit.coef_index("x2"), fit.coef_index([1, "x1"])
        (['x1', 'x2'], [1], [1, 0])
        """
        names = list(self["coef_names"])
        items = coef if isinstance(coef, (list, tuple, np.ndarray, pd.Index)) else [coef]
        out = []
        for item in items:
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                if not -len(names) <= int(item) < len(names):
                    raise ValueError(
                        f"{argument}={item} is out of range: the fit has {len(names)} "
                        f"coefficients {names} (0-based indices)"
                    )
                out.append(int(item) % len(names))
            elif isinstance(item, str) and item in names:
                out.append(names.index(item))
            else:
                raise ValueError(
                    f"{argument}={item!r} is not a coefficient of the fit; its coefficients "
                    f"are {names}: pass one of these names or a 0-based index"
                )
        return out


def _store(adata: Any, key: str, result: FeatureResult) -> None:
    if adata is not None:
        adata.uns[key] = result


def lm_fit(
    data: Any,
    design: Any = None,
    *,
    samples: pd.DataFrame | None = None,
    block: Sequence[Any] | NDArray[Any] | None = None,
    correlation: float | None = None,
    weights: Any = None,
    method: str = "ls",
    ndups: int = 1,
    spacing: int = 1,
    layer: str | None = None,
    weights_layer: str | None = None,
    key: str = "kronlmm",
) -> LinearModelFit:
    """Fit a linear model to every feature (limma's ``lmFit``).

    Model (feature g, samples with observed values):
    ``y_g = X β_g + e_g``, ``Cov(e_g) = σ_g² W_g^{-1/2} C W_g^{-1/2}``, where X is the
    design (samples × k coefficients), W_g the observation weights and C the intra-block
    correlation matrix (``(1-ρ)I + ρZZᵀ``, or I without blocks). See
    :class:`LinearModelFit` for the fields.

    Parameters
    ----------
    data : array, DataFrame, AnnData or voom result
        Log-expression values. Arrays and DataFrames are features × samples (limma's
        orientation; a DataFrame's index gives the feature names). AnnData is samples ×
        features: ``.X`` or ``layer``; results are also stored in ``adata.uns[key]``.
        The result of :func:`~kronlmm.features.voom` brings its weights and design.
        NaN marks a missing value: that feature is fitted on its observed samples.
    design : array, DataFrame or str, optional
        The design matrix (samples × coefficients; a DataFrame keeps its column names,
        an array's columns are called ``x1, x2, …``) or a formula such as
        ``"~ group + batch"`` built with formulaic from ``samples`` (or ``adata.obs``).
        Default: an intercept only. It must have full column rank.
    samples : DataFrame, optional
        One row per sample (in the data's column order) for a formula ``design``.
    block : sequence, optional
        Block label of each sample (e.g. patient, batch); samples of the same block are
        correlated with ``correlation`` (limma's ``gls.series``).
    correlation : float, optional
        The common intra-block (or intra-duplicate) correlation ρ, needed with
        ``block`` or ``ndups > 1``; estimate it with
        :func:`~kronlmm.features.duplicate_correlation`.
    weights : array, optional
        Observation weights (inverse relative variances): one per sample (length n) or
        one per feature and sample (features × samples). Finite and > 0 where observed.
    method : {"ls", "robust"}
        Least squares, or Huber M-estimation (limma's ``mrlm``, MASS::rlm).
    ndups, spacing : int
        Duplicate spots: each gene occupies ``ndups`` rows, ``spacing`` rows apart
        (limma's layout); the duplicates are fitted together, correlated by
        ``correlation`` (``method="ls"``).
    layer, weights_layer : str, optional
        AnnData only: read the values (and weights) from these layers; for
        ``layer="<name>_E"`` the weights come from ``"<name>_weights"`` when present.
    key : str
        AnnData only: ``adata.uns[key]`` receives the fit.

    Returns
    -------
    LinearModelFit

    Raises
    ------
    ValueError
        For a design with more columns than samples, a rank-deficient design (the
        redundant columns are named), weights of the wrong shape or ≤ 0, block labels of
        the wrong length, a missing ``correlation``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from kronlmm.features import lm_fit
    >>> rng = np.random.default_rng(1)
    >>> samples = pd.DataFrame({"group": ["a", "a", "a", "b", "b", "b"]})
    >>> expr = pd.DataFrame(rng.normal(8, 1, (4, 6)), index=["g1", "g2", "g3", "g4"])
    >>> fit = lm_fit(expr, "~ group", samples=samples)
    >>> fit.coef_names
    ['Intercept', 'group[T.b]']
    >>> fit.to_dataframe(["sigma", "df_residual"]).round(3)
        sigma  df_residual
    g1  0.847          4.0
    g2  0.458          4.0
    g3  0.378          4.0
    g4  0.656          4.0
    """
    expr = as_expression(data, layer=layer, weights_layer=weights_layer)
    values = expr.values
    nspots, n = values.shape
    if nspots == 0:
        raise ValueError("data has no features (0 rows): nothing to fit")
    if method not in ("ls", "robust"):
        raise ValueError(f"method must be 'ls' or 'robust', got {method!r}")
    check_dups(nspots, ndups, spacing)
    if design is None and isinstance(data, FeatureResult) and "design" in data:
        design = pd.DataFrame(data["design"], columns=data.get("coef_names"))
    table = samples if samples is not None else expr.samples
    X, coef_names = resolve_design(design, n, table)
    check_full_rank(X, coef_names)
    if weights is None:
        weights = expr.weights
    w = check_weights(weights, values.shape, values)
    block_codes = None
    if block is not None:
        if ndups > 1:
            raise ValueError(
                f"block= and ndups={ndups} were both given: limma's model has either "
                "blocks of samples or duplicate spots; pass one of them"
            )
        block_codes = check_block(block, n)
    needs_correlation = method == "ls" and (block is not None or ndups > 1)
    if needs_correlation:
        if correlation is None:
            raise ValueError(
                "correlation must be given with block= or ndups > 1: estimate it with "
                "duplicate_correlation(data, design, block=...) and pass its "
                "consensus_correlation"
            )
        correlation = float(correlation)
        if not -1.0 < correlation < 1.0:
            raise ValueError(
                f"correlation must lie in (-1, 1), got {correlation}: the model is degenerate at ±1"
            )

    amean = row_means(values)
    feature_names = expr.feature_names
    if ndups > 1:
        amean = row_means(unwrap_dups(amean[:, None], ndups, spacing))
        values = unwrap_dups(values, ndups, spacing)
        if w is not None and w.ndim == 2:
            w = unwrap_dups(w, ndups, spacing)
        elif w is not None:
            w = np.repeat(w, ndups)
        X_fit = np.repeat(X, ndups, axis=0)
        if feature_names is not None:
            feature_names = unwrap_names(feature_names, ndups, spacing)
        if method == "ls":
            block_codes = np.repeat(np.arange(n), ndups)
    else:
        X_fit = X

    if method == "robust":
        coef, stdev, sigma, df, failed = huber_fit(values, X_fit, weights=w)
        if failed:
            from kronlmm.lmm import FitWarning

            warnings.warn(
                f"robust regression (Huber M-estimation) did not converge in 20 iterations "
                f"for {failed} of {values.shape[0]} features; their estimates are those "
                "of the 20th iteration, as in MASS::rlm",
                FitWarning,
                stacklevel=2,
            )
        Rinv = np.linalg.inv(np.linalg.qr(X_fit)[1])
        cov = Rinv @ Rinv.T
        used_corr: float | None = None
    else:
        corr = None
        if needs_correlation:
            assert block_codes is not None and correlation is not None
            sizes = np.bincount(block_codes)
            if 1.0 + (sizes.max() - 1.0) * correlation <= 0.0:
                raise ValueError(
                    f"correlation={correlation} is too negative for a block of "
                    f"{sizes.max()} samples (needs > {-1.0 / (sizes.max() - 1.0):.4g}): the "
                    "correlation matrix would not be positive definite"
                )
            corr = BlockCorrelation(block_codes, correlation)
        ls = fit_least_squares(values, X_fit, weights=w, correlation=corr)
        coef, stdev, sigma, df, cov = (
            ls.coefficients,
            ls.stdev_unscaled,
            ls.sigma,
            ls.df_residual,
            ls.cov_coefficients,
        )
        used_corr = correlation if needs_correlation else None

    fit = LinearModelFit(
        coefficients=coef,
        stdev_unscaled=stdev,
        sigma=sigma,
        df_residual=df,
        cov_coefficients=cov,
        amean=amean,
        design=X,
        coef_names=coef_names,
        feature_names=feature_names,
        method=method,
        block=None if block is None else np.asarray(block),
        correlation=used_corr,
        ndups=ndups,
        spacing=spacing,
    )
    _store(expr.adata, key, fit)
    return fit
