"""Inputs of the per-feature LMM: responses (arrays, sparse, DataFrames, AnnData), designs
(arrays or formulas evaluated by formulaic on a cells table) and their checks.

Every check raises ``ValueError`` naming the argument, the shapes or values involved and the
fix; nothing is dropped, reordered or rescaled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._lmm_checks import check_d
from ._lmm_reduce import FloatArray


def is_sparse(x: Any) -> bool:
    """A scipy.sparse matrix or array (plain bool: no type narrowing)."""
    return bool(sp.issparse(x))


def to_csr(x: Any) -> Any:
    """A float64 scipy CSR array of x (sparse or dense)."""
    return sp.csr_array(x, dtype=np.float64)


def is_anndata(obj: object) -> bool:
    """Duck-typed AnnData: ``obs``, ``var_names``, ``X`` and ``layers``."""
    return all(hasattr(obj, a) for a in ("obs", "var_names", "X", "layers"))


@dataclass
class Response:
    """Y and its orientation. ``cells_first``: rows are cells (AnnData), else features."""

    matrix: Any
    cells_first: bool
    feature_names: list[str] | None
    cell_names: list[str] | None
    obs: pd.DataFrame | None

    @property
    def nfeatures(self) -> int:
        return int(self.matrix.shape[1] if self.cells_first else self.matrix.shape[0])

    @property
    def ncells(self) -> int:
        return int(self.matrix.shape[0] if self.cells_first else self.matrix.shape[1])


def resolve_response(Y: Any, layer: str | None) -> Response:
    """Y as features × cells (array, sparse, DataFrame) or AnnData (cells × genes)."""
    if is_anndata(Y):
        if layer is None:
            matrix = Y.X
        else:
            if layer not in Y.layers:
                names = sorted(str(k) for k in Y.layers.keys() if k is not None)
                raise ValueError(
                    f"layer={layer!r} is not a layer of the AnnData object; its layers are "
                    f"{names} (layer=None uses adata.X)"
                )
            matrix = Y.layers[layer]
        if matrix is None:
            raise ValueError("Y (AnnData) has no matrix in .X: pass layer= naming one")
        return Response(
            matrix=matrix,
            cells_first=True,
            feature_names=[str(v) for v in Y.var_names],
            cell_names=[str(o) for o in Y.obs_names],
            obs=Y.obs,
        )
    if layer is not None:
        raise ValueError(f"layer={layer!r} is only meaningful when Y is an AnnData object")
    if isinstance(Y, pd.DataFrame):
        return Response(
            matrix=Y.to_numpy(dtype=np.float64),
            cells_first=False,
            feature_names=[str(i) for i in Y.index],
            cell_names=[str(c) for c in Y.columns],
            obs=None,
        )
    if is_sparse(Y):
        if Y.ndim != 2:
            raise ValueError(f"Y must be 2-D (features × cells), got shape {Y.shape}")
        # rows are read block by block: keep a CSR matrix as it is (blocks become float64
        # one at a time); other formats are converted to CSR once
        matrix = Y if getattr(Y, "format", None) == "csr" else sp.csr_array(Y)
        return Response(matrix, False, None, None, None)
    arr = np.asarray(Y, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"Y must be features × cells (2-D), got shape {arr.shape}")
    return Response(arr, False, None, None, None)


@dataclass
class Designs:
    X: FloatArray
    coef_names: list[str]
    Z: Any  # (n, q) dense ndarray or scipy sparse
    d: tuple[int, ...]
    component_names: list[str]
    random_names: list[str]


def _formula_text(spec: str) -> str:
    return spec.strip().lstrip("~").strip()


def _component_name(spec: str) -> str:
    """'~ 0 + subject' → 'subject' (the formula without its intercept terms)."""
    text = _formula_text(spec)
    parts = [part.strip() for part in re.split(r"(?<![:*/])\+", text)]
    kept = [part for part in parts if part not in ("0", "1", "-1", "")]
    text = " + ".join(kept) if kept else text
    return re.sub(r"\s*-\s*1\s*$", "", text)


def _model_matrix(spec: str, data: pd.DataFrame, arg: str, sparse: bool) -> tuple[Any, list[str]]:
    import formulaic

    try:
        mm = formulaic.model_matrix(
            _formula_text(spec), data, na_action="raise", output="sparse" if sparse else "pandas"
        )
    except Exception as err:  # formulaic raises several types; name the argument
        raise ValueError(
            f"{arg}={spec!r} could not be evaluated on the cells table (columns: "
            f"{list(data.columns)[:20]}): {err}"
        ) from err
    names = [str(c) for c in mm.model_spec.column_names]
    if sparse:
        return to_csr(mm.__wrapped__ if hasattr(mm, "__wrapped__") else mm), names
    return np.asarray(mm, dtype=np.float64), names


def _cells_table(data: Any, response: Response | None, arg: str) -> pd.DataFrame:
    if data is None and response is not None and response.obs is not None:
        data = response.obs
    if data is None:
        raise ValueError(
            f"{arg} is a formula but no cells table was given: pass data= (a DataFrame "
            "with one row per cell) or an AnnData object as Y (its .obs is used)"
        )
    if is_anndata(data):
        data = data.obs
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame of cells, got {type(data).__name__}")
    if response is not None and len(data) != response.ncells:
        raise ValueError(
            f"data has {len(data)} rows but Y has {response.ncells} cells: pass the cells "
            "table with one row per cell, in the order of Y's cells"
        )
    if response is not None and response.cell_names is not None:
        labels = [str(i) for i in data.index]
        if not isinstance(data.index, pd.RangeIndex) and labels != response.cell_names:
            raise ValueError(
                "data's index does not list Y's cells in Y's order (first difference at "
                f"position {_first_difference(labels, response.cell_names)}): reorder data "
                "with data.loc[cell_names] so the rows match Y's cells"
            )
    return data


def _first_difference(a: Sequence[str], b: Sequence[str]) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _dense_design(value: Any, arg: str) -> tuple[FloatArray, list[str] | None]:
    names = None
    if isinstance(value, pd.DataFrame):
        names = [str(c) for c in value.columns]
    elif hasattr(value, "model_spec"):
        names = [str(c) for c in value.model_spec.column_names]
    if is_sparse(value):
        value = value.toarray()
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{arg} must be a 2-D cells × columns matrix, got shape {arr.shape}")
    return arr, names


def _check_finite(arr: Any, arg: str) -> None:
    values = arr.data if is_sparse(arr) else arr
    bad = ~np.isfinite(values)
    if bad.any():
        if is_sparse(arr):
            raise ValueError(
                f"{arg} has {int(bad.sum())} non-finite entries (NaN or inf): remove or "
                "impute them before fitting"
            )
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{arg} has {int(bad.sum())} non-finite entries (NaN or inf), the first at row "
            f"{row}, column {col}: remove or impute them before fitting"
        )


def resolve_designs(
    X: Any,
    Z: Any,
    d: Sequence[int] | int | None,
    data: Any,
    response: Response | None,
) -> Designs:
    """Fixed and random designs from matrices or formulas; checks shapes against Y and d."""
    # ---- fixed --------------------------------------------------------------------------
    if isinstance(X, str):
        table = _cells_table(data, response, "X")
        Xmat, coef_names = _model_matrix(X, table, "X", sparse=False)
    else:
        Xmat, names = _dense_design(X, "X")
        coef_names = names or [f"x{j}" for j in range(Xmat.shape[1])]
    _check_finite(Xmat, "X")
    n, p = Xmat.shape
    if response is not None and n != response.ncells:
        raise ValueError(
            f"X has {n} rows but Y has {response.ncells} cells: X must be cells × "
            f"covariates with one row per cell of Y (Y is "
            f"{'cells × features' if response.cells_first else 'features × cells'})"
        )
    if p == 0:
        raise ValueError("X has no columns: give at least one fixed effect (e.g. '~ 1')")
    if p >= n:
        raise ValueError(
            f"X has {p} columns but only {n} cells (rows): the fixed effects need fewer "
            "columns than cells; drop columns or add cells"
        )
    # ---- random -------------------------------------------------------------------------
    specs: list[Any] = list(Z) if isinstance(Z, (list, tuple)) else [Z]
    if not specs:
        raise ValueError("Z is empty: give at least one random component")
    blocks: list[Any] = []
    comp_names: list[str] = []
    random_names: list[str] = []
    for k, spec in enumerate(specs):
        arg = "Z" if len(specs) == 1 else f"Z[{k}]"
        if isinstance(spec, str):
            table = _cells_table(data, response, arg)
            block, names = _model_matrix(spec, table, arg, sparse=True)
            comp_names.append(_component_name(spec))
        elif is_sparse(spec):
            block = to_csr(spec)
            names = [f"z{k}_{j}" for j in range(block.shape[1])]
            comp_names.append(f"Z{k + 1}")
        else:
            block, maybe = _dense_design(spec, arg)
            names = maybe or [f"z{k}_{j}" for j in range(block.shape[1])]
            comp_names.append(str(getattr(spec, "name", None) or f"Z{k + 1}"))
        _check_finite(block, arg)
        if block.shape[0] != n:
            raise ValueError(
                f"{arg} has {block.shape[0]} rows but X has {n}: random designs are cells × "
                "levels with one row per cell"
            )
        if block.shape[1] == 0:
            raise ValueError(f"{arg} has no columns: each random component needs ≥ 1 column")
        blocks.append(block)
        random_names.extend(names)
    if any(is_sparse(b) for b in blocks):
        Zmat: Any = to_csr(sp.hstack([to_csr(b) for b in blocks]))
    else:
        Zmat = np.hstack(blocks)
    q = Zmat.shape[1]
    if d is None:
        dd = tuple(int(b.shape[1]) for b in blocks)
    else:
        dd = tuple(int(x) for x in np.atleast_1d(np.asarray(d)))
        if len(specs) > 1 and dd != tuple(int(b.shape[1]) for b in blocks):
            raise ValueError(
                f"d={list(dd)} does not match the column counts of the {len(specs)} random "
                f"designs {[int(b.shape[1]) for b in blocks]}: omit d (it is inferred from "
                "a list of designs) or correct it"
            )
        check_d(dd, q, "Z")
        if len(specs) == 1 and len(dd) > 1:
            comp_names = [f"Z{k + 1}" for k in range(len(dd))]
    return Designs(Xmat, list(coef_names), Zmat, dd, comp_names, random_names)
