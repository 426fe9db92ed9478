"""Kinship files: reading and (atomically) writing a kinship matrix with sample IDs.

:func:`read_kinship` and :func:`write_kinship` recognise the format by the file name
(:func:`kronlmm.io.kinship_format`): GEMMA's ``.cXX.txt``/``.sXX.txt``, GCTA's
``.grm.bin`` (with ``.grm.id``), PLINK's ``.rel``/``.rel.bin`` (with ``.rel.id``) — see
:mod:`kronlmm.io.kinship_formats` — ``.npz``, or kronlmm's own ID-labelled table below.

Kinship table format
--------------------
Text (``.tsv``/``.txt``: tab or whitespace separated; ``.csv``: comma separated; sniffed): a
square matrix with a header row and an ID column. The first header cell is a label (e.g.
``IID``) and the remaining header cells are the sample IDs of the columns; every following row
starts with a sample ID followed by that sample's row of ``K``::

    IID   s1    s2    s3
    s1    1.02  0.01  -0.03
    s2    0.01  0.98  0.12
    s3    -0.03 0.12  1.05

Rows and columns are matched by ID, so the columns may be in another order than the rows, but
both must hold the same IDs. Alternatively an ``.npz`` file with the arrays ``ids`` (strings)
and ``K`` (the matrix in ``ids`` order). :func:`write_kinship` writes either.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._common import PathLike, as_ids, check_exists, duplicate_ids, format_ids
from .atomic import atomic_path
from .kinship import TOOL_PSD_TOLERANCE, Kinship, check_kinship
from .kinship_formats import (
    kinship_format,
    read_gcta_grm,
    read_gemma_kinship,
    read_plink_rel,
    write_gcta_grm,
    write_gemma_kinship,
    write_plink_rel,
)
from .tables import _parse_numbers, _read_raw

__all__ = ["read_kinship", "write_kinship"]


def read_kinship(
    path: PathLike,
    *,
    ids: Sequence[object] | ArrayLike | None = None,
    check_psd: bool = True,
) -> Kinship:
    """Read a kinship matrix with sample IDs, in any format of the module notes.

    Parameters
    ----------
    path : str or os.PathLike
        GEMMA ``P.cXX.txt``/``P.sXX.txt``; GCTA ``P.grm.bin`` (IDs from ``P.grm.id``);
        PLINK ``P.rel`` or ``P.rel.bin`` (IDs from ``P.rel.id``); ``.npz`` with arrays
        ``ids`` and ``K``; or a delimited text file with a header row (label, then column
        IDs) and one row per sample (ID, then values).
    ids : sequence, optional
        Sample IDs of the rows of a GEMMA file, which has none (the IIDs of the ``.fam`` it
        was computed from); required for GEMMA files, not used for the others.
    check_psd : bool, default True
        Check that ``K`` is positive semidefinite (costs an eigenvalue decomposition; for
        GCTA's and PLINK's GRMs, which are not exactly PSD, down to ``-1e-2 ×`` the largest
        eigenvalue, :data:`kronlmm.io.kinship.TOOL_PSD_TOLERANCE`).

    Returns
    -------
    Kinship
        IDs in row order and the symmetrised matrix.

    Raises
    ------
    InputFileNotFoundError
        (also a ValueError) if the file does not exist.
    ValueError
        Malformed file (non-numeric cell, row and column IDs differ, missing arrays), duplicate
        IDs, asymmetric or not positive semidefinite matrix.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import read_kinship, write_kinship
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "kin.tsv")
    ...     _ = write_kinship(path, ["s1", "s2"], [[1.0, 0.1], [0.1, 0.9]])
    ...     kin = read_kinship(path)
    >>> kin.ids.tolist(), kin.K.tolist()
    (['s1', 's2'], [[1.0, 0.1], [0.1, 0.9]])
    """
    path = Path(path)
    fmt = kinship_format(path)
    name = f"kinship {str(path)!r}"
    if fmt == "gemma":
        if ids is None:
            raise ValueError(
                f"{name} is a GEMMA kinship, which holds no sample IDs: give the IDs of its "
                "rows (ids=..., the IIDs of the .fam it was computed from; the GWAS workflow "
                "uses the --bfile's)"
            )
        mat = read_gemma_kinship(path, ids)
        return check_kinship(ids, mat, check_psd=check_psd, name=name)
    if fmt in ("gcta", "plink-rel", "plink-rel-bin"):
        row_ids, mat = read_gcta_grm(path) if fmt == "gcta" else read_plink_rel(path)
        return check_kinship(
            row_ids, mat, check_psd=check_psd, name=name, psd_tolerance=TOOL_PSD_TOLERANCE
        )
    check_exists(path, "kinship")
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("ids", "K") if k not in npz.files]
            if missing:
                raise ValueError(
                    f"{name} lacks array(s) {', '.join(missing)}; it holds {npz.files}"
                )
            ids, mat = npz["ids"], npz["K"]
        return check_kinship(ids, mat, check_psd=check_psd, name=name)

    raw = _read_raw(path, None, "kinship")
    if raw.shape[1] < 2:
        raise ValueError(f"{name} must have an ID column and at least one value column")
    row_ids = as_ids(raw.iloc[:, 0].str.strip().to_numpy(), name)
    col_ids = as_ids(np.asarray(raw.columns[1:], dtype=object), name)
    _check_table_ids(name, row_ids, col_ids)
    values = raw.iloc[:, 1:]
    mat = np.empty(values.shape, dtype=np.float64)
    for j in range(values.shape[1]):
        col, _ = _parse_numbers(values.iloc[:, j].to_numpy(dtype=object))
        bad = np.flatnonzero(~np.isfinite(col))  # missing values included: none allowed
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{name} has a non-numeric value {str(values.iloc[i, j]).strip()!r} at row "
                f"{row_ids[i]!r}, column {col_ids[j]!r}"
            )
        mat[:, j] = col
    order = pd.Index(col_ids).get_indexer(pd.Index(row_ids))
    mat = mat[:, order]
    return check_kinship(row_ids, mat, check_psd=check_psd, name=name)


def _check_table_ids(name: str, row_ids: np.ndarray, col_ids: np.ndarray) -> None:
    for what, arr in (("row", row_ids), ("column", col_ids)):
        dups = duplicate_ids(arr)
        if dups:
            raise ValueError(f"{name} has duplicate {what} IDs {format_ids(dups)}")
    if set(row_ids) != set(col_ids):
        only_r = [i for i in row_ids if i not in set(col_ids)]
        only_c = [i for i in col_ids if i not in set(row_ids)]
        raise ValueError(
            f"{name}: row and column IDs differ (rows only: {format_ids(only_r)}; columns "
            f"only: {format_ids(only_c)})"
        )


def write_kinship(
    path: PathLike,
    ids: Sequence[object] | ArrayLike,
    K: ArrayLike,
    *,
    fmt: str = "%.10g",
    fids: Sequence[object] | None = None,
    shape: Literal["square", "triangle"] = "square",
    n_variants: int = 0,
) -> Path:
    """Write a kinship matrix in the format its name says (as :func:`read_kinship` reads it).

    Each file is written under a temporary name and renamed when complete
    (:func:`kronlmm.io.atomic_path`): a failed write leaves no partial file.

    Parameters
    ----------
    path : str or os.PathLike
        ``P.cXX.txt``/``P.sXX.txt``: GEMMA (no IDs: the rows must be a ``.fam``'s samples
        in order); ``P.grm.bin``: GCTA (also ``P.grm.N.bin``, ``P.grm.id``); ``P.rel`` or
        ``P.rel.bin``: PLINK text or float64 binary (also ``P.rel.id``); ``.npz``: the
        arrays ``ids`` and ``K``; ``.csv``: comma-separated table; anything else a
        tab-separated table.
    ids : sequence
        Sample IDs of the rows/columns.
    K : array_like
        ``n × n`` matrix.
    fmt : str, default ``"%.10g"``
        Number format of kronlmm's text tables.
    fids : sequence, optional
        FIDs for the ID file of GCTA and PLINK formats.
    shape : {"square", "triangle"}, default "square"
        Of a PLINK ``.rel``/``.rel.bin`` (GCTA's is always a triangle).
    n_variants : int, default 0
        Variants behind the matrix, for GCTA's ``.grm.N.bin``.

    Returns
    -------
    pathlib.Path
        The path of the matrix.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import write_kinship
    >>> K = [[1.0, 0.1], [0.1, 1.0]]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_kinship(os.path.join(tmp, "kin.csv"), ["s1", "s2"], K)
    ...     print(path.read_text(), end="")
    IID,s1,s2
    s1,1,0.1
    s2,0.1,1
    """
    path = Path(path)
    kin = check_kinship(ids, K, check_psd=False)
    kind = kinship_format(path)
    if kind == "gemma":
        return write_gemma_kinship(path, kin.K)
    if kind == "gcta":
        return write_gcta_grm(path, kin.ids, kin.K, fids=fids, n_variants=n_variants)[0]
    if kind in ("plink-rel", "plink-rel-bin"):
        return write_plink_rel(path, kin.ids, kin.K, fids=fids, shape=shape)
    with atomic_path(path) as tmp:
        if kind == "npz":
            with open(tmp, "wb") as fh:  # a file object: savez would append ".npz" to a name
                np.savez(fh, ids=np.asarray(kin.ids, dtype=str), K=kin.K)
        else:
            sep = "," if path.suffix.lower() == ".csv" else "\t"
            frame = pd.DataFrame(kin.K, index=pd.Index(kin.ids, name="IID"), columns=kin.ids)
            frame.to_csv(tmp, sep=sep, float_format=fmt, lineterminator="\n")
    return path
