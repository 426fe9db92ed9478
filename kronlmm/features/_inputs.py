"""Turn what users pass (arrays, DataFrames, AnnData, voom results, formulas) into checked
NumPy arrays in limma's orientation: features × samples.

Every check raises ValueError naming the argument, the shapes or values involved and the
fix. Nothing is dropped, reordered or rescaled silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "ExpressionData",
    "as_expression",
    "check_block",
    "check_weights",
    "estimable_columns",
    "is_anndata",
    "resolve_design",
]

FloatArray = NDArray[np.float64]


def is_anndata(obj: object) -> bool:
    """Duck-typed AnnData: ``.X``, ``.obs``, ``.var_names``, ``.uns`` and ``.layers``."""
    return all(hasattr(obj, name) for name in ("X", "obs", "var_names", "uns", "layers"))


def _dense(value: Any) -> FloatArray:
    """A float64 NumPy array from a dense or scipy.sparse matrix (sparse: densified)."""
    if hasattr(value, "toarray") and not isinstance(value, np.ndarray):
        value = value.toarray()
    return np.asarray(value, dtype=np.float64)


@dataclass
class ExpressionData:
    """Expression values (features × samples) with their labels and companions."""

    values: FloatArray
    feature_names: list[str] | None
    sample_names: list[str] | None
    samples: pd.DataFrame | None
    weights: FloatArray | None
    adata: Any


def _names(index: Any) -> list[str]:
    return [str(x) for x in index]


def as_expression(
    data: Any,
    *,
    argument: str = "data",
    layer: str | None = None,
    weights_layer: str | None = None,
) -> ExpressionData:
    """Read ``data`` into an :class:`ExpressionData`.

    Accepted: a 2-D array (features × samples), a DataFrame (index: features, columns:
    samples, all numeric), an AnnData object (samples × features; ``.X`` or ``layer``;
    observation weights from ``weights_layer``, or from ``<name>_weights`` when ``layer``
    is ``<name>_E`` as written by :func:`~kronlmm.features.voom`), or a mapping with an
    ``E`` field (a :func:`~kronlmm.features.voom` result, limma's EList) whose ``weights``
    come along.
    """
    if is_anndata(data):
        # (newer anndata lists .X as a layer named None)
        layer_names = sorted(str(k) for k in data.layers.keys() if k is not None)
        if layer is not None and layer not in data.layers:
            raise ValueError(
                f"layer={layer!r} is not a layer of the AnnData (layers: {layer_names}); pass "
                "one of those or layer=None for .X"
            )
        matrix = data.layers[layer] if layer is not None else data.X
        if matrix is None:
            raise ValueError(f"{argument}.X is None: pass layer= naming a layer with the values")
        values = _dense(matrix).T  # a view for dense float64 input
        if weights_layer is None and layer is not None and layer.endswith("_E"):
            companion = layer[:-2] + "_weights"
            weights_layer = companion if companion in data.layers else None
        weights = None
        if weights_layer is not None:
            if weights_layer not in data.layers:
                raise ValueError(
                    f"weights_layer={weights_layer!r} is not a layer of the AnnData "
                    f"(layers: {layer_names})"
                )
            weights = np.ascontiguousarray(_dense(data.layers[weights_layer]).T)
        return ExpressionData(
            values,
            _names(data.var_names),
            _names(data.obs_names),
            pd.DataFrame(data.obs),
            weights,
            data,
        )
    if isinstance(data, pd.DataFrame):
        nonnumeric = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
        if nonnumeric:
            raise ValueError(
                f"{argument} is a DataFrame with non-numeric column(s) {nonnumeric[:5]}: "
                "pass features as rows and samples as columns, all numeric (move feature "
                "annotations to the index)"
            )
        return ExpressionData(
            data.to_numpy(dtype=np.float64),
            _names(data.index),
            _names(data.columns),
            None,
            None,
            None,
        )
    if isinstance(data, Mapping) and "E" in data:
        inner = as_expression(data["E"], argument=f"{argument}['E']")
        names = data.get("feature_names") or inner.feature_names
        w = data.get("weights")
        return ExpressionData(
            inner.values,
            list(names) if names is not None else None,
            data.get("sample_names") or inner.sample_names,
            data.get("samples"),
            None if w is None else _dense(w),
            None,
        )
    values = _dense(data)
    if values.ndim != 2:
        raise ValueError(
            f"{argument} must be a 2-D array of features × samples, got shape {values.shape}"
        )
    return ExpressionData(values, None, None, None, None, None)


def _design_names(ncol: int) -> list[str]:
    return [f"x{j + 1}" for j in range(ncol)]


def resolve_design(
    design: Any, nsamples: int, samples: pd.DataFrame | None, *, argument: str = "design"
) -> tuple[FloatArray, list[str]]:
    """The design matrix (samples × coefficients) and its column names.

    ``None``: an intercept only. A formula string (``"~ group + batch"``) is built with
    formulaic from ``samples`` (one row per sample). Arrays and DataFrames are checked for
    shape and finiteness; a DataFrame keeps its column names.
    """
    if design is None:
        return np.ones((nsamples, 1)), ["Intercept"]
    if isinstance(design, str):
        if samples is None:
            raise ValueError(
                f"{argument}={design!r} is a formula, but there is no sample table to "
                "resolve it against: pass samples= (a DataFrame with one row per sample) "
                "or AnnData input (its .obs is used)"
            )
        if len(samples) != nsamples:
            raise ValueError(
                f"samples has {len(samples)} rows but the data have {nsamples} samples: "
                "pass one row per sample, in the order of the data's columns"
            )
        from formulaic import model_matrix

        try:
            mm = model_matrix(design, samples.reset_index(drop=True), na_action="raise")
        except Exception as err:  # formulaic raises several types; report them all alike
            raise ValueError(
                f"{argument}={design!r} could not be built from the sample table "
                f"(columns {list(samples.columns)[:10]}): {err}"
            ) from None
        frame = pd.DataFrame(mm)
        return frame.to_numpy(dtype=np.float64), [str(c) for c in frame.columns]
    if isinstance(design, pd.DataFrame):
        names = [str(c) for c in design.columns]
        try:
            X = design.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{argument} must be numeric (a DataFrame of numbers or a formula): {err}"
            ) from None
    else:
        try:
            X = np.asarray(design, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{argument} must be a numeric matrix or a formula: {err}") from None
        if X.ndim == 1:
            X = X[:, None]
        names = _design_names(X.shape[1]) if X.ndim == 2 else []
    if X.ndim != 2:
        raise ValueError(f"{argument} must be 2-D (samples × coefficients), got {X.shape}")
    if X.shape[0] != nsamples:
        raise ValueError(
            f"{argument} has {X.shape[0]} rows but the data have {nsamples} samples "
            f"({argument} shape {X.shape}): give the design one row per sample (data are "
            "features × samples; transpose the data if samples are its rows)"
        )
    if not np.all(np.isfinite(X)):
        bad = sorted({names[j] for j in np.nonzero(~np.isfinite(X))[1]})
        raise ValueError(
            f"{argument} has non-finite values in column(s) {bad}: remove or impute them"
        )
    return X, names


def estimable_columns(X: FloatArray, tol: float = 1e-7) -> NDArray[np.bool_]:
    """Which columns are estimable, in order, as R's ``lm.fit`` decides (a column is
    dropped when, after projecting out the kept columns before it, less than ``tol`` of
    its norm is left)."""
    n, k = X.shape
    keep = np.zeros(k, dtype=bool)
    basis = np.zeros((n, 0))
    for j in range(k):
        col = X[:, j]
        norm = float(np.sqrt(col @ col))
        if norm == 0.0:
            continue
        resid = col - basis @ (basis.T @ col)
        left = float(np.sqrt(resid @ resid))
        if left > tol * norm:
            keep[j] = True
            basis = np.column_stack([basis, resid / left])
    return keep


def check_full_rank(X: FloatArray, names: Sequence[str], *, argument: str = "design") -> None:
    """ValueError unless ``X`` (samples × coefficients) has full column rank."""
    n, k = X.shape
    if k == 0:
        raise ValueError(f"{argument} has no columns: it needs at least one coefficient")
    if k > n:
        raise ValueError(
            f"{argument} has {k} columns but only {n} samples (shape {X.shape}): a linear "
            "model needs at least as many samples as coefficients; drop columns or add "
            "samples"
        )
    keep = estimable_columns(X)
    if not keep.all():
        dropped = [names[int(j)] for j in np.nonzero(~keep)[0]]
        raise ValueError(
            f"{argument} (shape {X.shape}) is rank deficient: column(s) {dropped} are "
            "linear combinations of the columns before them (or zero); drop them, or "
            "merge factor levels that are never observed apart"
        )


def check_weights(
    weights: Any, shape: tuple[int, int], values: FloatArray, *, argument: str = "weights"
) -> FloatArray | None:
    """Weights as a 1-D (per sample) or 2-D (features × samples) float array.

    Must be finite and positive wherever the data are observed (entries where the data
    are NaN are ignored and set to 0).
    """
    if weights is None:
        return None
    w = _dense(weights)
    m, n = shape
    if w.ndim == 2 and w.shape[0] == 1 and w.shape[1] == n:
        w = w[0]
    if w.ndim == 1:
        if w.shape[0] != n:
            raise ValueError(
                f"{argument} has length {w.shape[0]} but the data have {n} samples "
                f"(data shape {shape}): give one weight per sample, or a features × "
                f"samples matrix of shape {shape}"
            )
        bad = ~np.isfinite(w) | (w <= 0)
        if bad.any():
            idx = np.nonzero(bad)[0][:5].tolist()
            raise ValueError(
                f"{argument} must be finite and > 0; sample(s) {idx} have {w[idx].tolist()}: "
                "remove those samples from the data instead of giving them weight 0"
            )
        return w
    if w.ndim != 2 or w.shape != shape:
        raise ValueError(
            f"{argument} has shape {w.shape} but the data have shape {shape}: give one "
            f"weight per sample (length {n}) or a features × samples matrix {shape} (for "
            "AnnData, weights_layer= reads a samples × features layer)"
        )
    step = max(1, 2**20 // max(n, 1))
    for start in range(0, m, step):  # checked in blocks of rows: no full-size temporary
        rows = slice(start, min(m, start + step))
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(values[rows]) & ~(np.isfinite(w[rows]) & (w[rows] > 0))
        if bad.any():
            cells = [(int(i) + start, int(j)) for i, j in np.argwhere(bad)[:5]]
            raise ValueError(
                f"{argument} must be finite and > 0 where the data are observed; some "
                f"entries are not, e.g. (feature, sample) {cells}: set those data values to "
                "NaN to leave them out instead of giving them weight 0"
            )
    return w  # entries where the data are NaN are never read


def check_block(block: Any, nsamples: int, *, argument: str = "block") -> NDArray[np.intp]:
    """Block labels (one per sample) as integer codes 0..B-1, in order of appearance."""
    labels = np.asarray(pd.Series(block).to_numpy() if not np.isscalar(block) else [block])
    if labels.ndim != 1 or labels.shape[0] != nsamples:
        raise ValueError(
            f"{argument} has {labels.size} label(s) (shape {labels.shape}) but the data have "
            f"{nsamples} samples: give one block label per sample, in the order of the "
            "data's columns"
        )
    if pd.isna(labels).any():
        idx = np.nonzero(pd.isna(labels))[0][:5].tolist()
        raise ValueError(f"{argument} has missing labels at sample(s) {idx}: label every sample")
    codes, _ = pd.factorize(labels)
    return codes.astype(np.intp)
