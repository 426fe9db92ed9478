"""Kinship containers: a kinship matrix or a genetic factor with the sample IDs of its rows.

* :class:`Kinship` — ``n × n`` matrix ``K`` and its sample IDs (what a GRM, a kinship file
  or a user's matrix becomes);
* :class:`LowRankG` — ``n × m`` factor ``G`` with ``K = G Gᵀ`` and its sample IDs;
* :func:`check_kinship` — the checks every kinship passes (shape, IDs, finiteness,
  symmetry, positive semidefiniteness) before a model sees it.

Computing a GRM from genotypes is :mod:`kronlmm.io.grm`; reading and writing kinship files
is :mod:`kronlmm.io.kinship_file`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._common import as_ids, duplicate_ids, format_ids

__all__ = ["Kinship", "LowRankG", "check_kinship", "TOOL_PSD_TOLERANCE"]

PSD_TOLERANCE = 1e-6
"""An eigenvalue below ``-PSD_TOLERANCE * largest eigenvalue`` makes a kinship non-PSD."""

TOOL_PSD_TOLERANCE = 1e-2
"""The PSD tolerance for kinships written by other tools: PLINK's and GCTA's GRMs (variance
standardised with 2f(1 − f), missing calls per pair) are not exactly positive semidefinite;
eigenvalues down to ``-1e-2 ×`` the largest are accepted (the models set them to 0)."""

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


def check_kinship(
    ids: Sequence[object] | ArrayLike,
    K: ArrayLike,
    *,
    check_psd: bool = True,
    name: str = "kinship",
    psd_tolerance: float = PSD_TOLERANCE,
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
    psd_tolerance : float, default 1e-6
        Smallest eigenvalue accepted, relative to the largest: ``-psd_tolerance × λ_max``
        (:data:`TOOL_PSD_TOLERANCE` for other tools' GRMs).

    Returns
    -------
    Kinship

    Raises
    ------
    ValueError
        Wrong shape, non-finite entries, duplicate IDs, asymmetric
        (``max |K - Kᵀ| > 1e-6 · max |K|``) or not positive semidefinite (smallest eigenvalue
        below ``-psd_tolerance ·`` largest).

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
        if eig[0] < -psd_tolerance * max(eig[-1], 0.0):
            raise ValueError(
                f"kinship is not positive semidefinite: smallest eigenvalue {eig[0]:.6g} "
                f"(largest {eig[-1]:.6g}){where}; it is not a valid covariance matrix"
            )
    return Kinship(ids=id_arr, K=mat)
