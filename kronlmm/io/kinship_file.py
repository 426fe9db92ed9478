"""Kinship files: reading and (atomically) writing a kinship matrix with sample IDs.

Kinship file format
-------------------
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

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._common import PathLike, as_ids, check_exists, duplicate_ids, format_ids
from .atomic import atomic_path
from .kinship import Kinship, check_kinship
from .tables import _read_raw

__all__ = ["read_kinship", "write_kinship"]


def read_kinship(path: PathLike, *, check_psd: bool = True) -> Kinship:
    """Read a kinship matrix with sample IDs (format in the module notes).

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz`` file with arrays ``ids`` and ``K``, or a delimited text file: header row
        (label, then column IDs) and one row per sample (ID, then values).
    check_psd : bool, default True
        Check that ``K`` is positive semidefinite (costs an eigenvalue decomposition).

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
    check_exists(path, "kinship")
    name = f"kinship {str(path)!r}"
    if path.suffix.lower() == ".npz":
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
    values = raw.iloc[:, 1:]
    mat = np.empty(values.shape, dtype=np.float64)
    for j in range(values.shape[1]):
        text = values.iloc[:, j].str.strip()
        col = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(col))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{name} has a non-numeric value {text.iloc[i]!r} at row {row_ids[i]!r}, "
                f"column {col_ids[j]!r}"
            )
        mat[:, j] = col
    order = pd.Index(col_ids).get_indexer(pd.Index(row_ids))
    mat = mat[:, order]
    return check_kinship(row_ids, mat, check_psd=check_psd, name=name)


def write_kinship(
    path: PathLike, ids: Sequence[object] | ArrayLike, K: ArrayLike, *, fmt: str = "%.10g"
) -> Path:
    """Write a kinship matrix in the format :func:`read_kinship` reads, atomically.

    The file is written under a temporary name and renamed when complete
    (:func:`kronlmm.io.atomic_path`): a failed write leaves no partial file.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz`` writes the arrays ``ids`` and ``K``; ``.csv`` writes comma-separated text;
        anything else tab-separated text.
    ids : sequence
        Sample IDs of the rows/columns.
    K : array_like
        ``n × n`` matrix.
    fmt : str, default ``"%.10g"``
        Number format for text files.

    Returns
    -------
    pathlib.Path
        The path written.

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
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".npz":
            with open(tmp, "wb") as fh:  # a file object: savez would append ".npz" to a name
                np.savez(fh, ids=np.asarray(kin.ids, dtype=str), K=kin.K)
        else:
            sep = "," if path.suffix.lower() == ".csv" else "\t"
            frame = pd.DataFrame(kin.K, index=pd.Index(kin.ids, name="IID"), columns=kin.ids)
            frame.to_csv(tmp, sep=sep, float_format=fmt, lineterminator="\n")
    return path
