"""Summary statistics of the per-feature linear mixed model (the FLASH-MM sufficient statistics).

For responses Y (features × cells), fixed design X (cells × p) and random design
Z = [Z₁ … Z_K] (cells × q, blocks of d₁ … d_K columns), the model of every feature (row) y,

    y ~ N(X β,  Σ_k θ_k Z_k Z_kᵀ + σ² I),

depends on the data only through

    XX = XᵀX (p × p),  XY = XᵀYᵀ (p × m),  ZX = ZᵀX (q × p),  ZY = ZᵀYᵀ (q × m),
    ZZ = ZᵀZ (q × q),  Ynorm = (‖y_f‖²)_f (m),  n (cells),

so one pass over Y is enough: :func:`summary_statistics` streams Y in blocks of rows and
keeps only these arrays (memory O(block) beyond them), and
:func:`~kronlmm.features.lmm_from_summary` fits every feature from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._lmm_inputs import Response, is_sparse, resolve_designs, resolve_response, to_csr
from ._lmm_reduce import FloatArray
from .result import FeatureResult

__all__ = ["LMMSummary", "summary_statistics"]

#: Entries of Y densified at a time by default (a block of rows of at most this many values).
DEFAULT_BLOCK_ENTRIES = 1 << 24


class LMMSummary(FeatureResult):
    """Summary statistics of the per-feature LMM (a :class:`FeatureResult`).

    Fields ``XX`` (p × p), ``XY`` (p × m), ``ZX`` (q × p), ``ZY`` (q × m), ``ZZ`` (q × q),
    ``Ynorm`` (m), ``n`` and ``d`` as in FLASHMM's ``sslmm`` (XY and ZY have one column per
    feature), plus ``feature_names``, ``coef_names`` (the columns of X), ``component_names``
    (one per random component) and ``random_names`` (the q columns of Z).

    Being a mapping whose keys are the arguments of
    :func:`~kronlmm.features.lmm_from_summary`, it unpacks into it:
    ``lmm_from_summary(**stats)``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import summary_statistics
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(40), rng.normal(size=40)])
    >>> Z = np.eye(4)[np.repeat(np.arange(4), 10)]     # 4 subjects, 10 cells each
    >>> stats = summary_statistics(X, rng.normal(size=(3, 40)), Z)
    >>> stats.XY.shape, stats.ZY.shape, stats.n, stats.d
    ((2, 3), (4, 3), 40, (4,))
    """


def summary_statistics(
    X: Any,
    Y: Any,
    Z: Any,
    d: Sequence[int] | int | None = None,
    *,
    data: Any = None,
    layer: str | None = None,
    block_size: int | None = None,
) -> LMMSummary:
    """Compute the summary statistics of the per-feature LMM in one pass over Y.

    Parameters
    ----------
    X : array (cells × p), DataFrame or str
        Fixed-effect design, or a formula such as ``"~ trt + cls"`` evaluated by formulaic
        on the cells table ``data`` (or ``Y.obs`` for AnnData).
    Y : array (features × cells), scipy.sparse matrix, DataFrame or AnnData
        Responses; a DataFrame's index names the features. An AnnData object is
        cells × genes (its ``.X``, or ``.layers[layer]``; backed objects are read block by
        block) and names the features by ``var_names``.
    Z : array (cells × q), scipy.sparse matrix, str, or a list of these
        Random-effect designs: one matrix (with ``d``) or one per component, or formulas
        such as ``["~ 0 + subject", "~ 0 + batch"]`` (one component each; indicator
        columns are kept sparse).
    d : sequence of int, optional
        Columns of each random component (d₁ + … + d_K = q). Inferred from a list of designs
        or formulas; a single matrix is one component unless ``d`` splits it.
    data : DataFrame or AnnData, optional
        Cells table for formulas (one row per cell, in Y's order).
    layer : str, optional
        AnnData layer to use instead of ``.X``.
    block_size : int, optional
        Rows of Y (features, or cells for AnnData) per block; default: blocks of at most
        2²⁴ values.

    Returns
    -------
    LMMSummary
        ``XX = XᵀX``, ``XY = XᵀYᵀ``, ``ZX = ZᵀX``, ``ZY = ZᵀYᵀ``, ``ZZ = ZᵀZ``,
        ``Ynorm = (‖y_f‖²)``, ``n``, ``d`` and the names.

    Raises
    ------
    ValueError
        Shapes that do not match (X, Z against Y's cells; d against Z's columns), NaN or
        infinite values in X, Y or Z, more fixed-effect columns than cells.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from kronlmm.features import summary_statistics
    >>> rng = np.random.default_rng(1)
    >>> cells = pd.DataFrame({"trt": np.repeat(["A", "B"], 30),
    ...                       "subject": np.repeat([f"s{i}" for i in range(6)], 10)})
    >>> Y = pd.DataFrame(rng.normal(size=(2, 60)), index=["geneA", "geneB"])
    >>> stats = summary_statistics("~ trt", Y, "~ 0 + subject", data=cells)
    >>> stats.coef_names, stats.component_names, stats.d
    (['Intercept', 'trt[T.B]'], ['subject'], (6,))
    >>> bool(np.allclose(stats.Ynorm, (Y.to_numpy() ** 2).sum(axis=1)))
    True
    """
    response = resolve_response(Y, layer)
    designs = resolve_designs(X, Z, d, data, response)
    Xd = designs.X
    Zd = designs.Z
    XX = _gram(Xd)
    ZX = np.asarray(Zd.T @ Xd, dtype=np.float64)
    ZZ = _dense(Zd.T @ Zd) if is_sparse(Zd) else _gram(Zd)
    XY, ZY, Ynorm = _stream(response, Xd, Zd, block_size)
    return LMMSummary(
        XX=XX,
        XY=XY,
        ZX=ZX,
        ZY=ZY,
        ZZ=ZZ,
        Ynorm=Ynorm,
        n=int(Xd.shape[0]),
        d=designs.d,
        feature_names=response.feature_names,
        coef_names=designs.coef_names,
        component_names=designs.component_names,
        random_names=designs.random_names,
    )


def _block_rows(total_cols: int, block_size: int | None) -> int:
    if block_size is not None:
        if int(block_size) != block_size or block_size < 1:
            raise ValueError(f"block_size={block_size!r} must be a positive integer")
        return int(block_size)
    return max(1, DEFAULT_BLOCK_ENTRIES // max(total_cols, 1))


def _as_block(raw: Any) -> Any:
    """A block of Y as float64: a scipy sparse CSR array or a dense ndarray."""
    if is_sparse(raw):
        return to_csr(raw)
    return np.asarray(raw, dtype=np.float64)


def _check_block(block: Any, start: int, cells_first: bool) -> None:
    values = block.data if is_sparse(block) else block
    if np.isfinite(values).all():
        return
    if is_sparse(block):
        coo = block.tocoo()
        bad = ~np.isfinite(coo.data)
        row, col = int(coo.row[bad][0]), int(coo.col[bad][0])
        count = int(bad.sum())
    else:
        where = np.argwhere(~np.isfinite(block))
        row, col = (int(v) for v in where[0])
        count = len(where)
    row += start
    feature, cell = (col, row) if cells_first else (row, col)
    raise ValueError(
        f"Y has non-finite values (NaN or inf): {count} in rows {start}–"
        f"{start + block.shape[0] - 1} of Y, the first at feature {feature}, cell {cell}. "
        "Remove those features or impute the values before fitting"
    )


def _stream(
    response: Response, X: FloatArray, Z: Any, block_size: int | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """XᵀYᵀ, ZᵀYᵀ and the row norms of Y, one block of Y's rows at a time."""
    mat = response.matrix
    m, n = response.nfeatures, response.ncells
    p, q = X.shape[1], Z.shape[1]
    XY = np.zeros((p, m))
    ZY = np.zeros((q, m))
    Ynorm = np.zeros(m)
    nrows = n if response.cells_first else m
    step = _block_rows(m if response.cells_first else n, block_size)
    for start in range(0, nrows, step):
        stop = min(start + step, nrows)
        block = _as_block(mat[start:stop])
        _check_block(block, start, response.cells_first)
        if response.cells_first:  # block: cells × features
            Xb, Zb = X[start:stop], Z[start:stop]
            XY += np.asarray(block.T @ Xb).T
            ZY += _dense(block.T @ Zb).T
            sq = block.multiply(block).sum(axis=0) if is_sparse(block) else (block**2).sum(0)
            Ynorm += np.asarray(sq).ravel()
        else:  # block: features × cells
            XY[:, start:stop] = np.asarray(block @ X).T
            ZY[:, start:stop] = _dense(block @ Z).T
            if is_sparse(block):
                Ynorm[start:stop] = np.asarray(block.multiply(block).sum(axis=1)).ravel()
            else:
                Ynorm[start:stop] = np.einsum("ij,ij->i", block, block)
    return XY, ZY, Ynorm


def _gram(A: FloatArray) -> FloatArray:
    """AᵀA through a general matrix product: OpenBLAS's syrk (which NumPy picks for A.T @ A)
    was measured 100× slower for a 5000 × 20 A right after a large product."""
    out: FloatArray = A.T @ A.copy()
    return out


def _dense(x: Any) -> FloatArray:
    return np.asarray(x.toarray() if is_sparse(x) else x, dtype=np.float64)
