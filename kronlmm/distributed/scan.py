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

from ..scan.block_scan import TestPlan, scan_block
from ..scan.kernel import NullModel
from ..scan.result import ScanResult
from .checkpoint import ChunkStore

__all__ = ["ChunkReader", "BedChunk", "scan_chunks", "scan_dask_array", "null_fingerprint"]


class ChunkReader(Protocol):
    """Anything that produces a candidate chunk (n × m float array) when asked, on a worker.

    A chunk of :func:`scan_chunks` that has a ``read()`` method is shipped to a worker as
    is (it should be small and picklable) and read there, so the candidates never pass
    through the process that submits the scan. :class:`BedChunk` is the PLINK reader.

    Examples
    --------
    A reader that simulates its candidates on the worker:

    >>> import numpy as np
    >>> from kronlmm.distributed import scan_chunks
    >>> from kronlmm.scan import KronFastScanner
    >>> class Simulated:
    ...     def __init__(self, seed, n, m):
    ...         self.seed, self.n, self.m = seed, n, m
    ...
    ...     def read(self):
    ...         rng = np.random.default_rng(self.seed)
    ...         return rng.binomial(2, 0.3, size=(self.n, self.m)).astype(float)
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> Y = rng.standard_normal((n, p))
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> readers = [Simulated(seed, n, 10) for seed in range(3)]
    >>> result = scan_chunks(scanner.null, readers, scanner.plan("any"))
    >>> result.chi2.shape
    (30,)
    """

    def read(self) -> NDArray[np.float64]:
        """The chunk's candidates, an n × m float array (NaN for missing values)."""
        ...


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

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.distributed import BedChunk
    >>> from kronlmm.io import PlinkGenotypes
    >>> paths = example_paths()
    >>> geno = PlinkGenotypes(paths.prefix)
    >>> chunk = BedChunk(str(paths.bed), geno.nsamples, geno.nvariants,
    ...                  sample_index=np.arange(geno.nsamples), start=100, stop=150)
    >>> block = chunk.read()  # on a worker, when the chunk is scanned
    >>> block.shape
    (400, 50)
    >>> bool(np.array_equal(block, geno.read(slice(100, 150)), equal_nan=True))
    True
    """

    bed: str
    n_samples: int
    n_variants: int
    sample_index: NDArray[np.intp]
    start: int
    stop: int
    count_A1: bool = True

    def read(self) -> NDArray[np.float64]:
        """Dosages of variants ``start:stop`` for the samples of ``sample_index``
        (``float64``, samples × variants, NaN for missing calls)."""
        from bed_reader import open_bed

        with open_bed(
            self.bed, iid_count=self.n_samples, sid_count=self.n_variants,
            count_A1=self.count_A1, num_threads=1,
        ) as bed:  # fmt: skip
            return bed.read(index=np.s_[self.sample_index, self.start : self.stop],
                            dtype="float64", order="F")  # fmt: skip


def null_fingerprint(null: NullModel, plan: TestPlan) -> str:
    """A short hash identifying a null model and test (for checkpoint manifests).

    Parameters
    ----------
    null : NullModel
        Fitted null terms (``KronFastScanner.null``).
    plan : TestPlan
        The test (``KronFastScanner.plan("any")``).

    Returns
    -------
    str
        16 hexadecimal digits; equal for the same null and test, different otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.distributed import null_fingerprint
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> key = null_fingerprint(scanner.null, scanner.plan("any"))
    >>> len(key), key == null_fingerprint(scanner.null, scanner.plan("any"))
    (16, True)
    >>> key == null_fingerprint(scanner.null, scanner.plan("common"))
    False
    """
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

    Returns
    -------
    ScanResult
        One row per candidate, chunks in the order given (whatever order they finished in).

    Examples
    --------
    Without a client, Dask's local threaded scheduler runs the chunks:

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

    With ``checkpoint``, finished chunks are kept on disk and a rerun only computes the
    missing ones:

    >>> import tempfile
    >>> from pathlib import Path
    >>> tmp = tempfile.TemporaryDirectory()
    >>> _ = scan_chunks(scanner.null, chunks, scanner.plan("any"), checkpoint=tmp.name)
    >>> sorted(path.name for path in Path(tmp.name).iterdir())
    ['chunk-000000.npz', 'chunk-000001.npz', 'chunk-000002.npz', 'manifest.json']
    >>> again = scan_chunks(scanner.null, chunks, scanner.plan("any"), checkpoint=tmp.name)
    >>> bool(np.array_equal(again.chi2, result.chi2, equal_nan=True))
    True
    >>> tmp.cleanup()
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
        # Dask collections are computed on the cluster in one call (one graph, so a shared
        # source array is sent once); in-memory arrays are scattered once each; readers
        # (e.g. BedChunk) travel as they are and read on the worker.
        lazy = [i for i in todo if hasattr(chunks[i], "dask")]
        arrays = [i for i in todo if isinstance(chunks[i], np.ndarray)]
        inputs: dict[int, Any] = {i: chunks[i] for i in todo}
        if lazy:
            inputs.update(zip(lazy, client.compute([chunks[i] for i in lazy]), strict=True))
        if arrays:
            scattered = client.scatter([chunks[i] for i in arrays], hash=False)
            inputs.update(zip(arrays, scattered, strict=True))
        futures = [
            client.submit(
                _run_chunk, null_ref, inputs[i], plan, ids[i], i, store_dir, blas_threads,
                key=f"kronlmm-scan-{token}-{i}", pure=False,
            )
            for i in todo
        ]  # fmt: skip
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

    Parameters
    ----------
    null : NullModel
        Fitted null terms (``KronFastScanner.null``).
    G : dask.array.Array
        Candidates, samples × variants.
    plan : TestPlan
        What to test (``KronFastScanner.plan("any")``).
    ids : array_like, optional
        One identifier per variant.
    **kwargs
        ``client``, ``checkpoint``, ``manifest``, ``blas_threads``, ``progress`` of
        :func:`scan_chunks`.

    Returns
    -------
    ScanResult

    Examples
    --------
    ``KronFastScanner.scan_variants`` calls this for a ``dask.array``:

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
    >>> same = scanner.scan_variants(dosages, "common")
    >>> bool(np.allclose(result.chi2, same.chi2, rtol=1e-10))
    True
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
