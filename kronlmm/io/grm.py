"""Genetic relationship matrices computed from genotypes, one block of variants at a time.

Standardisation
---------------
For every variant the dosages of the selected samples are centred by the mean and divided by
the standard deviation (``ddof=0``) of the *observed* calls; missing calls are then set to 0,
i.e. mean-imputed. Variants with no variation among the observed calls (monomorphic, or fewer
than two observed calls) are skipped and counted. With ``Z`` the resulting ``n × m`` matrix of
the ``m`` kept variants, the GRM is ``K = Z Zᵀ / m`` and the low-rank factor is
``G = Z / √m`` (so ``K = G Gᵀ``); the mean of ``diag(K)`` is then about 1.

``grm_from_genotypes(..., standardize=False)`` gives the centred GRM instead (dosages
centred and mean-imputed, not divided by their standard deviation): GEMMA's ``-gk 1``
matrix (``.cXX.txt``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from .kinship import Kinship, LowRankG
from .plink import IndexLike, PlinkGenotypes, _positions

__all__ = ["grm_from_genotypes", "low_rank_G", "standardize_dosage"]

logger = logging.getLogger("kronlmm")


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


ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: variants read so far, and in all."""


def _standardized_blocks(
    plink: PlinkGenotypes,
    sample_index: IndexLike,
    block_size: int,
    variant_index: IndexLike,
    progress: ProgressCallback | None = None,
    standardize: bool = True,
) -> Iterator[tuple[NDArray[np.float64], int]]:
    total = _positions(variant_index, plink.nvariants, "variant_index")
    count = len(range(*total.indices(plink.nvariants))) if isinstance(total, slice) else total.size
    done = 0
    for _, dosage in plink.iter_blocks(block_size, sample_index, variant_index):
        z, variable = standardize_dosage(dosage)
        if not standardize:  # centred only: undo the division by the standard deviation
            d = dosage[:, variable]
            obs = ~np.isnan(d)
            n_obs = obs.sum(axis=0)
            mean = np.where(obs, d, 0.0).sum(axis=0) / n_obs
            z = np.where(obs, d - mean, 0.0)
        yield z, int(variable.size - variable.sum())
        done += dosage.shape[1]
        if progress is not None:
            progress(done, count)


def _selected_ids(plink: PlinkGenotypes, sample_index: IndexLike) -> NDArray[np.object_]:
    rows = _positions(sample_index, plink.nsamples, "sample_index")
    return plink.sample_ids[rows]


def grm_from_genotypes(
    plink: PlinkGenotypes,
    sample_index: IndexLike = None,
    block_size: int = 1000,
    *,
    variant_index: IndexLike = None,
    progress: ProgressCallback | None = None,
    standardize: bool = True,
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
    progress : callable, optional
        Called as ``progress(done, total)`` (variants) after each block.
    standardize : bool, default True
        Divide each centred variant by its standard deviation; ``False`` gives the
        centred GRM (GEMMA's ``-gk 1``).

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
    blocks = _standardized_blocks(
        plink, sample_index, block_size, variant_index, progress, standardize
    )
    for z, n_skip in blocks:
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
        "%s GRM from %d variant(s) and %d sample(s); %d monomorphic variant(s) skipped",
        "standardised" if standardize else "centred",
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
    progress: ProgressCallback | None = None,
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
    progress : callable, optional
        Called as ``progress(done, total)`` (variants) after each block.

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
    blocks = _standardized_blocks(plink, sample_index, block_size, variant_index, progress)
    for z, n_skip in blocks:
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
