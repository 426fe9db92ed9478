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

Computation
-----------
The ``.bed`` is decoded to one-byte allele counts, and each variant's mean and standard
deviation come from its counts of 0, 1 and 2 (exact integers), so standardising a block is
one pass over it. ``K`` is accumulated block by block as ``K ← Z_b Z_bᵀ + K`` in its
lower triangle (BLAS syrk, in place: n²·b flops, half those of a general product; the upper
triangle is copied once at the end) with every BLAS thread. Where the BLAS threads leave a
core free, a reader thread decodes and standardises the next block meanwhile (bed-reader and
NumPy release the GIL); where they occupy every core, blocks are decoded between the
products instead (bed-reader's threads, then column ranges standardised on every core side
by side): a reader competing with the products' threads for the same cores saved
nothing and made the time erratic (n = 2000, 20,000 variants, 2 threads on 2 cores: 1.7–2.4 s
with a reader thread, 1.7 s without). Blocks hold about 16 MiB of standardised values by
default (at least 1024 variants), wide enough for the products to run near the machine's
matrix-product rate (n = 2000 on 2 cores: 58 GFLOP/s at 1024 variants, 64 at 4096), and
small enough that the block buffer costs little fresh memory: memory touched for the first
time can cost far more than the products lose (on this project's virtual machine, 15 ms
to 460 ms per 100 MB; the GRM step at n = 2000, m = 20,000 took 2.05–2.09 s with 16 MiB
blocks against 2.35–2.49 s with 64 MiB ones).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.linalg.blas import dsyrk

from ..core.numerics import blas_threads, cores_available
from .kinship import Kinship, LowRankG
from .plink import IndexLike, PlinkGenotypes, _positions, observed_calls

__all__ = ["grm_from_genotypes", "low_rank_G", "standardize_dosage", "grm_block_size"]

logger = logging.getLogger("kronlmm")

#: Bytes of standardised values per block when the block size is automatic (larger blocks
#: gain little: their allocations and passes fall out of the caches).
BLOCK_BYTES = 16 << 20


def grm_block_size(n: int) -> int:
    """Variants per block for ``n`` samples: about 16 MiB of ``float64`` values, at least
    1024 (narrower rank-b updates run below the matrix-product rate) and at most 16384.

    Examples
    --------
    >>> from kronlmm.io import grm_block_size
    >>> grm_block_size(2000), grm_block_size(5000), grm_block_size(10)
    (1048, 1024, 16384)
    """
    return int(np.clip(BLOCK_BYTES // (8 * max(int(n), 1)), 1024, 16384))


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


def _standardize_counts(
    counts: NDArray[np.int8],
    out: NDArray[np.float64] | None = None,
    standardize: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """:func:`standardize_dosage` of one-byte allele counts (0, 1, 2; ``MISSING_COUNT`` for
    a missing call, bed-reader's ``int8`` code).

    Per variant, the numbers of observed 0, 1 and 2 give the mean and the variance exactly
    (a sum of non-negative terms, no cancellation); the kept columns are then centred and
    scaled in one pass, missing calls set to 0. Returns ``Z`` in Fortran order: the first
    columns of ``out`` (an ``n × b`` Fortran-ordered buffer) when given — a buffer used
    again is not page-faulted again, as a fresh large array is. ``standardize=False``:
    centred only (the centred GRM), not divided by the standard deviation.
    """
    n = counts.shape[0]
    missing, n_missing, total = observed_calls(counts)
    twos = np.count_nonzero(counts == 2, axis=0)
    nobs = n - n_missing
    ones = total - 2 * twos
    zeros = nobs - ones - twos
    variable = (nobs >= 2) & ((zeros > 0).astype(int) + (ones > 0) + (twos > 0) >= 2)
    keep = np.flatnonzero(variable)
    nobs_k = nobs[keep].astype(np.float64)
    mean = total[keep] / nobs_k
    var = (
        zeros[keep] * mean**2 + ones[keep] * (1.0 - mean) ** 2 + twos[keep] * (2.0 - mean) ** 2
    ) / nobs_k
    if keep.size < counts.shape[1]:
        counts, missing = counts[:, keep], missing[:, keep]
    if out is None:
        Z = np.asarray(counts, dtype=np.float64, order="F")
    else:
        Z = out[:, : keep.size]
        np.copyto(Z, counts)
    Z -= mean
    if standardize:
        Z *= 1.0 / np.sqrt(var)
    np.copyto(Z, 0.0, where=missing)
    return Z, variable


def _fill_upper(S: NDArray[np.float64], block: int = 256) -> None:
    """Copy the lower triangle of ``S`` onto its upper one, in place, block by block."""
    n = S.shape[0]
    for j0 in range(0, n, block):
        j1 = min(j0 + block, n)
        S[:j0, j0:j1] = S[j0:j1, :j0].T
        d = S[j0:j1, j0:j1]
        upper = np.triu_indices(j1 - j0, 1)
        d[upper] = d.T[upper]


#: Fewest variants a thread standardises at a time (narrower column ranges are not split).
MIN_STANDARDIZE_COLUMNS = 256

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: variants read so far, and in all."""


def _core_left_for_reading() -> bool:
    """Whether the BLAS threads leave a core free for a reader thread beside the products."""
    return blas_threads() < cores_available()


def _standardized_blocks(
    plink: PlinkGenotypes,
    sample_index: IndexLike,
    block_size: int | None,
    variant_index: IndexLike,
    n: int,
    progress: ProgressCallback | None = None,
    standardize: bool = True,
) -> Iterator[tuple[NDArray[np.float64], NDArray[np.bool_]]]:
    """``(Z, variable)`` block by block: ``Z`` holds the block's variable variants,
    ``variable`` (one flag per variant of the block) says which they are; the others
    (monomorphic) are skipped.

    Where a core is left free (:func:`_core_left_for_reading`) a reader thread decodes and
    standardises the next block while the caller uses the previous one, two ``n × block``
    buffers taking turns; otherwise blocks are read when asked for into one buffer (where
    the caller's products already keep every core busy, a reader beside them only takes
    cores away from them). Each ``Z`` is valid until the next one is asked for; the blocks
    cost no fresh memory. The reader's errors are raised here; leaving
    early stops the reader. ``progress(done, total)`` (variants) after each block;
    ``standardize=False``: centred blocks.
    """
    size = grm_block_size(n) if block_size is None else block_size
    total = _positions(variant_index, plink.nvariants, "variant_index")
    count = len(range(*total.indices(plink.nvariants))) if isinstance(total, slice) else total.size
    done = 0
    if not _core_left_for_reading():
        # each block is decoded (bed-reader's threads), then standardised in column ranges
        # side by side on every core (NumPy releases the GIL), then handed over range by
        # range
        buffer = np.empty((n, size), dtype=np.float64, order="F")
        parts = max(1, min(cores_available(), size // MIN_STANDARDIZE_COLUMNS))
        with ThreadPoolExecutor(parts, thread_name_prefix="kronlmm-standardize") as pool:
            for _, decoded in plink.iter_blocks(size, sample_index, variant_index, dtype="int8"):
                counts: NDArray[np.int8] = np.asarray(decoded, dtype=np.int8)
                edges = np.linspace(0, counts.shape[1], parts + 1).astype(int)
                ranges = [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
                jobs = [
                    pool.submit(_standardize_counts, counts[:, r], buffer[:, r], standardize)
                    for r in ranges
                ]
                # every range is ready before the caller's products take the cores
                for z, variable in [job.result() for job in jobs]:
                    yield z, variable
                    done += variable.size
                    if progress is not None:
                        progress(done, count)
        return
    free: queue.Queue[NDArray[np.float64]] = queue.Queue()
    for _ in range(2):
        free.put(np.empty((n, size), dtype=np.float64, order="F"))
    ready: queue.Queue[tuple[Any, ...]] = queue.Queue()  # at most 2 blocks: the buffers
    stop = threading.Event()

    def next_free() -> NDArray[np.float64] | None:
        while not stop.is_set():
            try:
                return free.get(timeout=0.05)
            except queue.Empty:
                continue
        return None

    def read() -> None:
        try:
            for _, counts in plink.iter_blocks(size, sample_index, variant_index, dtype="int8"):
                buffer = next_free()
                if buffer is None:
                    return
                z, variable = _standardize_counts(
                    np.asarray(counts, dtype=np.int8), buffer, standardize
                )
                ready.put(("block", z, variable, buffer))
        except BaseException as err:  # noqa: BLE001 - raised again in the consumer
            ready.put(("error", err))
        else:
            ready.put(("end",))

    reader = threading.Thread(target=read, name="kronlmm-bed-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item[0] == "end":
                return
            if item[0] == "error":
                raise item[1]
            _, z, variable, buffer = item
            yield z, variable
            free.put(buffer)
            done += variable.size
            if progress is not None:
                progress(done, count)
    finally:
        stop.set()
        reader.join()


def _selected_ids(plink: PlinkGenotypes, sample_index: IndexLike) -> NDArray[np.object_]:
    rows = _positions(sample_index, plink.nsamples, "sample_index")
    return plink.sample_ids[rows]


def grm_from_genotypes(
    plink: PlinkGenotypes,
    sample_index: IndexLike = None,
    block_size: int | None = None,
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
    block_size : int, optional
        Variants read at a time; default :func:`grm_block_size` (about 16 MiB of values).
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
    Standardisation, missing-call handling and how the blocks are computed are described in
    the module notes: ``K`` costs n²·m flops in symmetric rank-b updates with every BLAS
    thread (the next block being decoded meanwhile where a core is free). Memory: ``n²``
    floats (``K``) plus one or two blocks of ``n × block_size`` values.

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
    K = np.zeros((n, n), dtype=np.float64, order="F")  # Fortran: BLAS updates it in place
    used = skipped = 0
    blocks = _standardized_blocks(
        plink, sample_index, block_size, variant_index, n, progress, standardize
    )
    for z, variable in blocks:
        if z.shape[1]:
            # K ← Z_b Z_bᵀ + K, lower triangle only (BLAS syrk; no product buffer)
            dsyrk(1.0, z, beta=1.0, c=K, lower=1, overwrite_c=1)
        used += z.shape[1]
        skipped += variable.size - z.shape[1]
    if used == 0:
        raise ValueError(
            f"no variable variant to build the GRM from ({skipped} monomorphic variant(s) "
            f"among {n} samples)"
        )
    _fill_upper(K)
    K /= used
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
    block_size: int | None = None,
    *,
    variant_index: IndexLike = None,
    progress: ProgressCallback | None = None,
) -> LowRankG:
    """Low-rank genetic factor ``G = Z / √m`` with ``G Gᵀ`` equal to the GRM.

    Use when the number of variants ``m`` is small next to the number of samples: the models
    then work with the ``n × m`` factor instead of the ``n × n`` matrix, and nothing of size
    n × n is ever formed.

    Parameters
    ----------
    plink : PlinkGenotypes
        Genotype source.
    sample_index : slice, int array, bool mask or None
        Samples (``.fam`` positions) in the order wanted for the rows of ``G``.
    block_size : int, optional
        Variants read at a time; default :func:`grm_block_size`.
    variant_index : slice, int array, bool mask or None
        Variants to use; ``None`` means all.
    progress : callable, optional
        Called as ``progress(done, total)`` (variants) after each block.

    Returns
    -------
    LowRankG
        ``ids``, ``G`` (``n × m`` with the ``m`` variable variants, Fortran order),
        ``n_variants`` and ``n_monomorphic``.

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
    n = ids.size
    m = _positions(variant_index, plink.nvariants, "variant_index")
    total = len(range(*m.indices(plink.nvariants))) if isinstance(m, slice) else m.size
    G = np.empty((n, total), dtype=np.float64, order="F")
    used = skipped = 0
    blocks = _standardized_blocks(plink, sample_index, block_size, variant_index, n, progress)
    for z, variable in blocks:
        G[:, used : used + z.shape[1]] = z
        used += z.shape[1]
        skipped += variable.size - z.shape[1]
    if used == 0:
        raise ValueError(
            f"no variable variant to build G from ({skipped} monomorphic variant(s) among "
            f"{ids.size} samples)"
        )
    G = G[:, :used]  # a view: the columns of a Fortran array are contiguous
    G *= 1.0 / np.sqrt(used)
    logger.info(
        "G from %d variant(s) and %d sample(s); %d monomorphic variant(s) skipped",
        used,
        ids.size,
        skipped,
    )
    return LowRankG(ids=ids, G=G, n_variants=used, n_monomorphic=skipped)
