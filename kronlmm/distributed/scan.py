"""Association scans mapped over chunks of candidates on Dask (local or a cluster).

The pure kernel :func:`kronlmm.scan.block_scan.scan_block` is applied to each chunk of
candidates (samples × variants, split along variants). The fitted null terms are shipped
to the workers once (``Client.scatter(..., broadcast=True)``) rather than embedded in every
task. Each task limits BLAS to ``blas_threads`` threads (threadpoolctl) so that workers do
not oversubscribe the cores, and may write its result to a :class:`ChunkStore` so that an
interrupted scan resumes without recomputing finished chunks. If a worker dies, Dask
reschedules its tasks; results are collected by chunk index, so no row is lost or
duplicated.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..scan._kernel import NullModel
from ..scan.block_scan import TestPlan, scan_block
from ..scan.result import ScanResult
from .checkpoint import ChunkStore

__all__ = ["ChunkReader", "BedChunk", "scan_chunks", "scan_dask_array", "null_fingerprint"]


class ChunkReader(Protocol):
    """Anything that produces a candidate chunk (n × m float array) when asked, on a worker."""

    def read(self) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class BedChunk:
    """Variants ``start:stop`` of a PLINK .bed file, read on the worker that scans them.

    Only the .bed is opened (bed-reader reads the requested slice); sample and variant
    counts are passed in so the .fam/.bim need not be parsed again on the worker.

    Attributes
    ----------
    bed : str
        Path of the .bed file (reachable from the workers).
    n_samples, n_variants : int
        Row counts of the .fam and .bim.
    sample_index : ndarray of int
        Rows of the .fam to read, in the order of the null model's samples.
    start, stop : int
        Variant range.
    count_A1 : bool
        Count allele 1 (the .bim's 5th column), as :class:`kronlmm.io.PlinkGenotypes` does.
    """

    bed: str
    n_samples: int
    n_variants: int
    sample_index: NDArray[np.intp]
    start: int
    stop: int
    count_A1: bool = True

    def read(self) -> NDArray[np.float64]:
        from bed_reader import open_bed

        with open_bed(
            self.bed, iid_count=self.n_samples, sid_count=self.n_variants,
            count_A1=self.count_A1, num_threads=1,
        ) as bed:  # fmt: skip
            return bed.read(index=np.s_[self.sample_index, self.start : self.stop],
                            dtype="float64", order="F")  # fmt: skip


def null_fingerprint(null: NullModel, plan: TestPlan) -> str:
    """A short hash identifying a null model and test (for checkpoint manifests)."""
    h = hashlib.sha256()
    for arr in (null.Lh, null.invD, null.UX, null.Yt, null.beta0, plan.A1r, plan.Va):
        h.update(np.ascontiguousarray(arr).tobytes())
    if plan.A1r_null is not None:
        h.update(plan.A1r_null.tobytes())
    h.update(repr((null.n, null.p, null.quad0, null.logdetK, plan.dof)).encode())
    return h.hexdigest()[:16]


def _run_chunk(
    null: NullModel,
    chunk: Any,
    plan: TestPlan,
    ids: NDArray | None,
    index: int,
    store_dir: str | None,
    blas_threads: int | None,
) -> ScanResult:
    """One task: read (if needed) and scan one chunk, optionally storing the result."""
    from threadpoolctl import threadpool_limits

    G = chunk.read() if hasattr(chunk, "read") else np.asarray(chunk, dtype=float)
    with threadpool_limits(limits=blas_threads):
        result = scan_block(null, G, plan, ids)
    if store_dir is not None:
        ChunkStore.attach(store_dir).write(index, result)
    return result


def _default_client():  # noqa: ANN202
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def scan_chunks(
    null: NullModel,
    chunks: Sequence[Any],
    plan: TestPlan,
    *,
    ids: Sequence[NDArray | None] | None = None,
    client: Any = None,
    checkpoint: str | os.PathLike | None = None,
    manifest: dict[str, Any] | None = None,
    blas_threads: int | None = 1,
    progress: bool = False,
) -> ScanResult:
    """Scan a sequence of candidate chunks on Dask and return the results in chunk order.

    Parameters
    ----------
    null : NullModel
        Fitted null terms (``KronFastScanner.null``).
    chunks : sequence
        Each an n × mᵢ array, a ``dask.delayed`` object producing one, or a
        :class:`ChunkReader` (e.g. :class:`BedChunk`) evaluated on the worker.
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
        Show Dask's progress bar.
    """
    from dask import delayed

    nchunks = len(chunks)
    ids = list(ids) if ids is not None else [None] * nchunks
    if len(ids) != nchunks:
        raise ValueError(f"ids has {len(ids)} entries, expected one per chunk ({nchunks})")
    store = None
    if checkpoint is not None:
        desc = {
            "null_and_test": null_fingerprint(null, plan),
            "nchunks": nchunks,
            "chunk_ids": [
                hashlib.sha256(np.asarray(i).astype(str).tobytes()).hexdigest()[:16]
                if i is not None else None
                for i in ids
            ],
            **(manifest or {}),
        }  # fmt: skip
        store = ChunkStore(checkpoint, desc)
    todo = [i for i in range(nchunks) if store is None or not store.done(i)]
    results: dict[int, ScanResult] = {}
    if store is not None:
        results.update({i: store.read(i) for i in range(nchunks) if i not in set(todo)})
    store_dir = None if store is None else str(store.directory)
    token = null_fingerprint(null, plan)

    client = client if client is not None else _default_client()
    if todo and client is not None:
        null_ref = client.scatter(null, broadcast=True, hash=False)
        futures = []
        for i in todo:
            chunk = chunks[i]
            if hasattr(chunk, "dask"):  # a dask collection/delayed: compute on the cluster
                chunk = client.compute(chunk)
            futures.append(
                client.submit(
                    _run_chunk, null_ref, chunk, plan, ids[i], i, store_dir, blas_threads,
                    key=f"kronlmm-scan-{token}-{i}", pure=False,
                )
            )  # fmt: skip
        if progress:
            from distributed import progress as dask_progress

            dask_progress(futures)
        for i, res in zip(todo, client.gather(futures), strict=True):
            results[i] = res
    elif todo:
        import dask

        null_ref = delayed(null, name=f"kronlmm-null-{token}")
        tasks = [
            delayed(_run_chunk, pure=False)(
                null_ref, chunks[i], plan, ids[i], i, store_dir, blas_threads,
                dask_key_name=f"kronlmm-scan-{token}-{i}",
            )
            for i in todo
        ]  # fmt: skip
        if progress:
            from dask.diagnostics import ProgressBar

            with ProgressBar():
                computed = dask.compute(*tasks)
        else:
            computed = dask.compute(*tasks)
        results.update(dict(zip(todo, computed, strict=True)))
    if not results:
        raise ValueError("no chunks to scan")
    return ScanResult.concat([results[i] for i in range(nchunks)])


def scan_dask_array(
    null: NullModel,
    G: Any,
    plan: TestPlan,
    *,
    ids: ArrayLike | None = None,
    **kwargs: Any,
) -> ScanResult:
    """Scan a ``dask.array`` of candidates (n × m, chunked along the variants).

    The array is rechunked to one chunk along the samples if needed; its variant chunks
    become the scan's chunks. Keyword arguments go to :func:`scan_chunks`.
    """
    import dask.array as da

    if not isinstance(G, da.Array):
        raise TypeError(f"G must be a dask.array.Array, got {type(G)!r}")
    if G.ndim != 2 or G.shape[0] != null.n:
        raise ValueError(f"G has shape {G.shape}, expected ({null.n}, m)")
    if len(G.chunks[0]) > 1:
        G = G.rechunk({0: -1})
    blocks = list(G.to_delayed()[0])
    bounds = np.cumsum((0,) + G.chunks[1])
    id_chunks = None
    if ids is not None:
        ids = np.asarray(ids)
        if ids.shape != (G.shape[1],):
            raise ValueError(f"ids has shape {ids.shape}, expected ({G.shape[1]},)")
        id_chunks = [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return scan_chunks(null, blocks, plan, ids=id_chunks, **kwargs)
