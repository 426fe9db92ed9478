"""kronlmm 0.1.0's Dask scan functions, each one call of the scan driver on Dask."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from numpy.typing import ArrayLike, NDArray

from ..gwas import ChunkSource, DaskArraySource, DaskExecution, scan_source
from ..scan import ScanResult, TestPlan
from ..scan.block_scan import ScanNull

__all__ = ["scan_chunks", "scan_dask_array"]


def scan_chunks(
    null: ScanNull,
    chunks: Sequence[Any],
    plan: TestPlan,
    *,
    ids: Sequence[NDArray[Any] | None] | None = None,
    client: Any = None,
    checkpoint: str | os.PathLike[str] | None = None,
    manifest: dict[str, Any] | None = None,
    blas_threads: int | None = 1,
    progress: bool = False,
) -> ScanResult:
    """Scan a sequence of candidate chunks on Dask and return the results in chunk order.

    ``scan_source(null, plan, ChunkSource(chunks, ids), execution=DaskExecution(client,
    blas_threads=blas_threads), checkpoint=..., manifest=..., progress=...)``: see
    :func:`kronlmm.gwas.scan_source`.

    Parameters
    ----------
    null : NullModel or ObservedNullModel
        Fitted null terms (``KronFastScanner.null``).
    chunks : sequence
        Each an n × mᵢ array, a ``dask.delayed`` object producing one, or a
        :class:`~kronlmm.gwas.ChunkReader` (e.g. :class:`kronlmm.io.PlinkSlice`) read on
        the worker.
    plan : TestPlan
        What to test (``KronFastScanner.plan("any")``).
    ids : sequence of arrays, optional
        Candidate identifiers per chunk.
    client : distributed.Client, optional
        Cluster to use; default: the active client if one exists, else Dask's local
        threaded scheduler.
    checkpoint : path, optional
        Directory for per-chunk results; chunks already there are loaded, not recomputed.
    manifest : dict, optional
        Extra description stored in the checkpoint manifest (e.g. input file names).
    blas_threads : int or None
        BLAS threads per task (None: leave as is). Default 1: one task per core.
    progress : bool
        Show a progress bar (kronlmm's, updated as chunks finish).

    Returns
    -------
    ScanResult
        One row per candidate, chunks in the order given (whatever order they finished in).

    Raises
    ------
    ValueError
        If there is no chunk, or ``ids`` has not one entry per chunk.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.distributed import scan_chunks
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> Y = rng.standard_normal((n, p))
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.3, size=(n, 30)).astype(float)
    >>> chunks = [dosages[:, :10], dosages[:, 10:20], dosages[:, 20:]]
    >>> ids = [[f"v{i}" for i in range(a, a + 10)] for a in (0, 10, 20)]
    >>> result = scan_chunks(scanner.null, chunks, scanner.plan("any"), ids=ids)
    >>> result.to_dataframe().index[[0, -1]].tolist()
    ['v0', 'v29']
    >>> in_memory = scanner.scan_variants(dosages, "any")
    >>> bool(np.allclose(result.chi2, in_memory.chi2, rtol=1e-10))
    True
    """
    if not len(chunks):
        raise ValueError("no chunks to scan")
    return scan_source(
        null,
        plan,
        ChunkSource(chunks, ids),
        execution=DaskExecution(client, blas_threads=blas_threads),
        checkpoint=checkpoint,
        manifest=manifest,
        progress=progress,
    )


def scan_dask_array(
    null: ScanNull,
    G: Any,
    plan: TestPlan,
    *,
    ids: ArrayLike | None = None,
    client: Any = None,
    checkpoint: str | os.PathLike[str] | None = None,
    manifest: dict[str, Any] | None = None,
    blas_threads: int | None = 1,
    progress: bool = False,
) -> ScanResult:
    """Scan a ``dask.array`` of candidates (n × m, chunked along the variants) on Dask.

    ``scan_source(null, plan, DaskArraySource(G, ids), execution=DaskExecution(client,
    blas_threads=blas_threads), ...)``: the array's chunks along the variants are the
    blocks (it is rechunked to one chunk along the samples if needed). The keywords are
    those of :func:`scan_chunks`.

    Parameters
    ----------
    null : NullModel or ObservedNullModel
        Fitted null terms (``KronFastScanner.null``).
    G : dask.array.Array
        Candidates, samples × variants.
    plan : TestPlan
        What to test (``KronFastScanner.plan("any")``).
    ids : array_like, optional
        One identifier per variant.
    client, checkpoint, manifest, blas_threads, progress
        As in :func:`scan_chunks`.

    Returns
    -------
    ScanResult

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from kronlmm.distributed import scan_dask_array
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> Y = rng.standard_normal((n, p))
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> dosages = da.from_array(rng.binomial(2, 0.3, size=(n, 30)).astype(float), chunks=(n, 10))
    >>> result = scan_dask_array(scanner.null, dosages, scanner.plan("common"))
    >>> result.chi2.shape, int(result.dof[0])
    ((30,), 1)
    """
    source = DaskArraySource(G, ids)
    if source.n_samples != null.n:
        raise ValueError(f"G has shape {G.shape}, expected ({null.n}, m)")
    return scan_source(
        null,
        plan,
        source,
        execution=DaskExecution(client, blas_threads=blas_threads),
        checkpoint=checkpoint,
        manifest=manifest,
        progress=progress,
    )
