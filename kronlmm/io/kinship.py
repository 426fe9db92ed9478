"""Genetic relationship matrices: computed from genotypes, or read from and written to files.

Standardisation
---------------
For every variant the dosages of the selected samples are centred by the mean and divided by
the standard deviation (``ddof=0``) of the *observed* calls; missing calls are then set to 0,
i.e. mean-imputed. Variants with no variation among the observed calls (monomorphic, or fewer
than two observed calls) are skipped and counted. With ``Z`` the resulting ``n × m`` matrix of
the ``m`` kept variants, the GRM is ``K = Z Zᵀ / m`` and the low-rank factor is
``G = Z / √m`` (so ``K = G Gᵀ``); the mean of ``diag(K)`` is then about 1.

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

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ._common import PathLike, as_ids, check_exists, duplicate_ids, format_ids
from .plink import IndexLike, PlinkGenotypes, _positions
from .tables import _read_raw

__all__ = [
    "Kinship",
    "LowRankG",
    "grm_from_genotypes",
    "low_rank_G",
    "read_kinship",
    "write_kinship",
    "check_kinship",
    "standardize_dosage",
]

logger = logging.getLogger("kronlmm")

PSD_TOLERANCE = 1e-6
"""An eigenvalue below ``-PSD_TOLERANCE * largest eigenvalue`` makes a kinship non-PSD."""

SYMMETRY_TOLERANCE = 1e-6
"""Largest ``|K - Kᵀ|`` accepted, relative to ``max |K|`` (the matrix is then symmetrised)."""


@dataclass(frozen=True, eq=False)
class Kinship:
    """A kinship matrix with the sample IDs of its rows and columns.

    Iterating yields ``ids, K``, so ``ids, K = read_kinship(path)`` works and an instance can
    be passed wherever an ``(ids, K)`` pair is expected (e.g. :func:`align_samples`).

    Attributes
    ----------
    ids : numpy.ndarray
        Sample IDs (``str``) of the rows/columns.
    K : numpy.ndarray
        ``n × n`` symmetric matrix.
    n_variants : int or None
        Variants used (``None`` when read from a file).
    n_monomorphic : int or None
        Variants skipped because they did not vary (``None`` when read from a file).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.io import Kinship, check_kinship
    >>> kin = check_kinship(["a", "b"], np.array([[1.0, 0.2], [0.2, 1.0]]))
    >>> isinstance(kin, Kinship), kin.ids.tolist()
    (True, ['a', 'b'])
    >>> ids, K = kin  # unpacks like an (ids, K) pair
    >>> K.shape
    (2, 2)
    """

    ids: NDArray[np.object_]
    K: NDArray[np.float64]
    n_variants: int | None = None
    n_monomorphic: int | None = None

    def __iter__(self) -> Iterator[NDArray[np.object_] | NDArray[np.float64]]:
        yield self.ids
        yield self.K


@dataclass(frozen=True, eq=False)
class LowRankG:
    """A genetic factor ``G`` (``K = G Gᵀ``) with the sample IDs of its rows.

    Iterating yields ``ids, G``.

    Attributes
    ----------
    ids : numpy.ndarray
        Sample IDs (``str``) of the rows.
    G : numpy.ndarray
        ``n × m`` matrix ``Z / √m`` of standardised dosages.
    n_variants : int
        Variants used (columns of ``G``).
    n_monomorphic : int
        Variants skipped because they did not vary.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, low_rank_G
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> ids, G = low_rank_G(geno, variant_index=slice(0, 200))  # unpacks like a pair
    >>> G.shape[0] == ids.size == 400
    True
    """

    ids: NDArray[np.object_]
    G: NDArray[np.float64]
    n_variants: int
    n_monomorphic: int

    def __iter__(self) -> Iterator[NDArray[np.object_] | NDArray[np.float64]]:
        yield self.ids
        yield self.G


def standardize_dosage(
    dosage: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Standardise dosage columns and mean-impute missing calls (see module notes).

    Parameters
    ----------
    dosage : numpy.ndarray
        ``n × b`` dosages, ``NaN`` for missing calls.

    Returns
    -------
    Z : numpy.ndarray
        ``n × b'`` standardised columns of the ``b'`` variable variants (0 where missing).
    variable : numpy.ndarray
        Boolean mask of length ``b``: which columns were kept.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.io import standardize_dosage
    >>> dosage = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [np.nan, 1.0]])
    >>> Z, variable = standardize_dosage(dosage)
    >>> variable.tolist()  # the second column does not vary
    [True, False]
    >>> Z[:, 0].round(4).tolist()  # the missing call is set to the mean, 0
    [-1.2247, 0.0, 1.2247, 0.0]
    """
    d = np.asarray(dosage, dtype=np.float64)
    obs = ~np.isnan(d)
    count = obs.sum(axis=0)
    lo = np.where(obs, d, np.inf).min(axis=0, initial=np.inf)
    hi = np.where(obs, d, -np.inf).max(axis=0, initial=-np.inf)
    variable = (count >= 2) & (hi > lo)
    d, obs, count = d[:, variable], obs[:, variable], count[variable]
    mean = np.where(obs, d, 0.0).sum(axis=0) / count
    centred = np.where(obs, d - mean, 0.0)
    std = np.sqrt((centred**2).sum(axis=0) / count)
    return centred / std, variable


def _standardized_blocks(
    plink: PlinkGenotypes,
    sample_index: IndexLike,
    block_size: int,
    variant_index: IndexLike,
) -> Iterator[tuple[NDArray[np.float64], int]]:
    for _, dosage in plink.iter_blocks(block_size, sample_index, variant_index):
        z, variable = standardize_dosage(dosage)
        yield z, int(variable.size - variable.sum())


def _selected_ids(plink: PlinkGenotypes, sample_index: IndexLike) -> NDArray[np.object_]:
    rows = _positions(sample_index, plink.nsamples, "sample_index")
    return plink.sample_ids[rows]


def grm_from_genotypes(
    plink: PlinkGenotypes,
    sample_index: IndexLike = None,
    block_size: int = 1000,
    *,
    variant_index: IndexLike = None,
) -> Kinship:
    """Standardised genetic relationship matrix ``K = Z Zᵀ / m``, accumulated in blocks.

    Parameters
    ----------
    plink : PlinkGenotypes
        Genotype source.
    sample_index : slice, int array, bool mask or None
        Samples (``.fam`` positions) in the order wanted for ``K``; ``None`` means all.
        Allele frequencies are those of these samples.
    block_size : int, default 1000
        Variants read at a time.
    variant_index : slice, int array, bool mask or None
        Variants to use (e.g. all but one chromosome); ``None`` means all.

    Returns
    -------
    Kinship
        ``ids`` (IIDs of the selected samples), ``K`` (``n × n``), ``n_variants`` (``m``,
        variants used) and ``n_monomorphic`` (skipped).

    Raises
    ------
    ValueError
        If no selected variant varies among the selected samples.

    Notes
    -----
    Standardisation and missing-call handling are described in the module notes. Memory:
    ``n²`` floats for ``K`` plus one ``n × block_size`` block.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, grm_from_genotypes
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> kin = grm_from_genotypes(geno, sample_index=slice(0, 50))
    >>> kin.K.shape, kin.n_variants + kin.n_monomorphic
    ((50, 50), 3000)
    >>> ids, K = kin  # unpacks like an (ids, K) pair
    >>> ids[:2].tolist()
    ['IND000', 'IND001']
    """
    ids = _selected_ids(plink, sample_index)
    n = ids.size
    K = np.zeros((n, n), dtype=np.float64)
    used = skipped = 0
    for z, n_skip in _standardized_blocks(plink, sample_index, block_size, variant_index):
        K += z @ z.T
        used += z.shape[1]
        skipped += n_skip
    if used == 0:
        raise ValueError(
            f"no variable variant to build the GRM from ({skipped} monomorphic variant(s) "
            f"among {n} samples)"
        )
    K /= used
    K = (K + K.T) / 2
    logger.info(
        "GRM from %d variant(s) and %d sample(s); %d monomorphic variant(s) skipped",
        used,
        n,
        skipped,
    )
    return Kinship(ids=ids, K=K, n_variants=used, n_monomorphic=skipped)


def low_rank_G(
    plink: PlinkGenotypes,
    sample_index: IndexLike = None,
    block_size: int = 1000,
    *,
    variant_index: IndexLike = None,
) -> LowRankG:
    """Low-rank genetic factor ``G = Z / √m`` with ``G Gᵀ`` equal to the GRM.

    Use when the number of variants ``m`` is small next to the number of samples: the models
    then work with the ``n × m`` factor instead of the ``n × n`` matrix.

    Parameters
    ----------
    plink : PlinkGenotypes
        Genotype source.
    sample_index : slice, int array, bool mask or None
        Samples (``.fam`` positions) in the order wanted for the rows of ``G``.
    block_size : int, default 1000
        Variants read at a time.
    variant_index : slice, int array, bool mask or None
        Variants to use; ``None`` means all.

    Returns
    -------
    LowRankG
        ``ids``, ``G`` (``n × m`` with the ``m`` variable variants), ``n_variants`` and
        ``n_monomorphic``.

    Raises
    ------
    ValueError
        If no selected variant varies among the selected samples.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, grm_from_genotypes, low_rank_G
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> rows, variants = slice(0, 50), slice(0, 200)
    >>> lr = low_rank_G(geno, sample_index=rows, variant_index=variants)
    >>> lr.G.shape[0], lr.n_variants + lr.n_monomorphic
    (50, 200)
    >>> kin = grm_from_genotypes(geno, sample_index=rows, variant_index=variants)
    >>> bool(np.allclose(lr.G @ lr.G.T, kin.K))
    True
    """
    ids = _selected_ids(plink, sample_index)
    parts: list[NDArray[np.float64]] = []
    skipped = 0
    for z, n_skip in _standardized_blocks(plink, sample_index, block_size, variant_index):
        parts.append(z)
        skipped += n_skip
    used = sum(p.shape[1] for p in parts)
    if used == 0:
        raise ValueError(
            f"no variable variant to build G from ({skipped} monomorphic variant(s) among "
            f"{ids.size} samples)"
        )
    G = np.hstack(parts) / np.sqrt(used)
    logger.info(
        "G from %d variant(s) and %d sample(s); %d monomorphic variant(s) skipped",
        used,
        ids.size,
        skipped,
    )
    return LowRankG(ids=ids, G=G, n_variants=used, n_monomorphic=skipped)


def check_kinship(
    ids: Sequence[object] | ArrayLike,
    K: ArrayLike,
    *,
    check_psd: bool = True,
    name: str = "kinship",
) -> Kinship:
    """Validate a kinship matrix and its IDs; return it symmetrised as a :class:`Kinship`.

    Parameters
    ----------
    ids : sequence
        Sample IDs of the rows/columns (converted to ``str``; must be unique).
    K : array_like
        ``n × n`` matrix.
    check_psd : bool, default True
        Check positive semidefiniteness (an ``O(n³)`` eigenvalue computation).
    name : str
        Used in error messages.

    Returns
    -------
    Kinship

    Raises
    ------
    ValueError
        Wrong shape, non-finite entries, duplicate IDs, asymmetric
        (``max |K - Kᵀ| > 1e-6 · max |K|``) or not positive semidefinite (smallest eigenvalue
        below ``-1e-6 ·`` largest).

    Examples
    --------
    >>> from kronlmm.io import check_kinship
    >>> check_kinship(["a", "b"], [[1.0, 0.2], [0.3, 1.0]])
    Traceback (most recent call last):
        ...
    ValueError: kinship is not symmetric: K['a', 'b'] = 0.2 but K['b', 'a'] = 0.3
    """
    id_arr = as_ids(np.asarray(ids, dtype=object).ravel(), name)
    try:
        mat = np.array(K, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} matrix must be numeric: {err}") from None
    n = id_arr.size
    if mat.shape != (n, n):
        raise ValueError(f"{name} matrix has shape {mat.shape}, expected ({n}, {n}) for {n} IDs")
    dups = duplicate_ids(id_arr)
    if dups:
        raise ValueError(f"{name} has duplicate sample IDs {format_ids(dups)}")
    if not np.all(np.isfinite(mat)):
        i, j = np.argwhere(~np.isfinite(mat))[0]
        raise ValueError(f"{name} has non-finite entries, first at ({id_arr[i]!r}, {id_arr[j]!r})")
    where = "" if name == "kinship" else f" in {name}"
    scale = float(np.abs(mat).max()) if n else 0.0
    asym = np.abs(mat - mat.T)
    if n and asym.max() > SYMMETRY_TOLERANCE * max(scale, np.finfo(float).tiny):
        i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
        raise ValueError(
            f"kinship is not symmetric: K[{id_arr[i]!r}, {id_arr[j]!r}] = {mat[i, j]:.6g} but "
            f"K[{id_arr[j]!r}, {id_arr[i]!r}] = {mat[j, i]:.6g}{where}"
        )
    mat = (mat + mat.T) / 2
    if check_psd and n:
        eig = np.linalg.eigvalsh(mat)
        if eig[0] < -PSD_TOLERANCE * max(eig[-1], 0.0):
            raise ValueError(
                f"kinship is not positive semidefinite: smallest eigenvalue {eig[0]:.6g} "
                f"(largest {eig[-1]:.6g}){where}; it is not a valid covariance matrix"
            )
    return Kinship(ids=id_arr, K=mat)


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

    raw = _read_raw(path, None)
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
    order = pd.Index(col_ids).get_indexer(row_ids)
    mat = mat[:, order]
    return check_kinship(row_ids, mat, check_psd=check_psd, name=name)


def write_kinship(
    path: PathLike, ids: Sequence[object] | ArrayLike, K: ArrayLike, *, fmt: str = "%.10g"
) -> Path:
    """Write a kinship matrix in the format :func:`read_kinship` reads.

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
    if path.suffix.lower() == ".npz":
        np.savez(path, ids=np.asarray(kin.ids, dtype=str), K=kin.K)
        return path
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    frame = pd.DataFrame(kin.K, index=pd.Index(kin.ids, name="IID"), columns=kin.ids)
    frame.to_csv(path, sep=sep, float_format=fmt, lineterminator="\n")
    return path
