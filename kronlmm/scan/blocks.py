"""Blocks of candidates and the one loop that scans them.

Every scan of many candidates — in memory, from a Dask array, from PLINK files, in this
process, on a Dask cluster, with or without a checkpoint — is this loop:
:func:`scan_blocks` hands the :class:`CandidateBlock` list to an *execution* strategy, which
runs the pure task :func:`scan_candidate_block` on each block (here, on threads, on
workers, …) and yields each block with its result as it finishes; the loop collects the
results by block, reports progress and concatenates them in block order. The strategy
decides only *where* a block is computed, never what is computed, so every strategy gives
the in-memory results.

The default strategy, :class:`ThreadedExecution`, uses every core by computing as many
blocks at once as BLAS has threads, each block with one BLAS thread (see
:mod:`kronlmm.scan.threads` for why not threads inside a block). Each block is computed by
the same sequence of single-threaded operations whatever the number of threads, so the
results do not depend on it.

This layer knows nothing of Dask or files: a block's ``data`` is an array (a NumPy array,
or anything :func:`numpy.asarray` turns into one) or a reader with a ``read()`` method.
Candidate sources (PLINK files, Dask arrays) and the Dask and checkpoint strategies are in
:mod:`kronlmm.gwas`, which calls this loop (:func:`kronlmm.gwas.scan_source`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.progress import Progress, progress_reporter
from .block_scan import ScanNull, TestPlan, scan_block
from .result import ScanResult
from .threads import blas_threads, single_blas_thread

__all__ = [
    "CandidateBlock",
    "Execution",
    "SerialExecution",
    "Task",
    "ThreadedExecution",
    "array_blocks",
    "scan_blocks",
    "scan_candidate_block",
]


@dataclass(frozen=True, eq=False)
class CandidateBlock:
    """One block of candidates: where its values come from, and their IDs.

    Attributes
    ----------
    index : int
        Position of the block among the blocks of a scan (0, 1, …): results are assembled,
        and checkpoint files named, by it.
    data : array_like or reader
        ``n × m`` values (m candidates): an array (NumPy, or anything
        :func:`numpy.asarray` accepts, e.g. a chunk of a Dask array), or an object with a
        ``read()`` method returning one (e.g. a :class:`kronlmm.io.PlinkSlice`, read where
        the block is scanned). NaN = missing.
    ids : numpy.ndarray or None
        Candidate identifiers of the block.
    size : int or None
        Number of candidates m; found from ``ids``, ``data.shape`` or ``len(data)`` when not
        given, ``None`` when unknown until the block is read (progress then counts blocks).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import CandidateBlock
    >>> block = CandidateBlock(0, np.ones((5, 2)), ids=np.array(["v1", "v2"]))
    >>> block.size, block.load().shape
    (2, (5, 2))
    """

    index: int
    data: Any
    ids: NDArray[Any] | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if self.size is None:
            object.__setattr__(self, "size", _width(self.data, self.ids))

    def load(self) -> NDArray[np.float64]:
        """The block's values as a float array (``data.read()`` for a reader)."""
        data = self.data.read() if is_reader(self.data) else self.data
        try:
            return np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"block {self.index}: its data ({type(data).__name__}) is neither an array nor "
                "a reader with read(); a lazy object (e.g. dask.delayed) must be computed by "
                f"its own scheduler: use a Dask execution strategy ({err})"
            ) from None

    def with_data(self, data: Any) -> CandidateBlock:
        """The same block with other ``data`` (e.g. what a worker received for it)."""
        return dataclasses.replace(self, data=data)


def is_reader(data: Any) -> bool:
    """Whether ``data`` is a reader: its class has a ``read()`` method (an attribute of the
    class, not of the instance: lazy proxies answer every attribute)."""
    return callable(getattr(type(data), "read", None))


def _width(data: Any, ids: Any) -> int | None:
    if ids is not None:
        return int(np.shape(ids)[0])
    shape = data.shape if hasattr(type(data), "shape") else None  # not a proxy's attribute
    if shape is not None and len(shape) == 2 and isinstance(shape[1], int | np.integer):
        return int(shape[1])
    if is_reader(data) and callable(getattr(type(data), "__len__", None)):
        return len(data)
    return None


def scan_candidate_block(null: ScanNull, plan: TestPlan, block: CandidateBlock) -> ScanResult:
    """The task of a scan: load one block and test its candidates (a pure function).

    Parameters
    ----------
    null : NullModel
        Fitted null terms (``KronFastScanner.null``).
    plan : TestPlan
        What to test (``KronFastScanner.plan("any")``).
    block : CandidateBlock

    Returns
    -------
    ScanResult
        One row per candidate of the block (:func:`~kronlmm.scan.scan_block`).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import CandidateBlock, KronFastScanner, scan_candidate_block
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.1 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.4, size=(n, 3)).astype(float)
    >>> block = CandidateBlock(0, dosages)
    >>> scan_candidate_block(scanner.null, scanner.plan("any"), block).chi2.shape
    (3,)
    """
    return scan_block(null, block.load(), plan, block.ids)


Task = Callable[[ScanNull, TestPlan, CandidateBlock], ScanResult]
"""What an execution strategy runs on each block: ``task(null, plan, block) → ScanResult``
(:func:`scan_candidate_block`, possibly wrapped, e.g. to store its result)."""


class Execution(Protocol):
    """Where the blocks of a scan are computed: a strategy of :func:`scan_blocks`.

    Called with the task, the null, the plan and the blocks, it runs ``task(null, plan,
    block)`` for every block (in this process, on threads, on Dask workers, …) and yields
    ``(block, result)`` pairs as they finish, in any order, each block exactly once.
    :class:`SerialExecution` is the in-process one; :class:`kronlmm.gwas.DaskExecution`
    runs on Dask and :class:`kronlmm.gwas.Checkpointed` stores and reuses results.

    Examples
    --------
    A strategy that computes the blocks in reverse order gives the same result:

    >>> import numpy as np
    >>> from kronlmm.scan import KronFastScanner, array_blocks, scan_blocks
    >>> def backwards(task, null, plan, blocks):
    ...     return ((block, task(null, plan, block)) for block in reversed(blocks))
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.1 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.4, size=(n, 9)).astype(float)
    >>> blocks = array_blocks(dosages, block_size=4)
    >>> result = scan_blocks(scanner.null, scanner.plan("any"), blocks, execution=backwards)
    >>> bool(np.array_equal(result.chi2, scanner.scan_variants(dosages, block_size=4).chi2))
    True
    """

    def __call__(
        self, task: Task, null: ScanNull, plan: TestPlan, blocks: Sequence[CandidateBlock]
    ) -> Iterable[tuple[CandidateBlock, ScanResult]]:
        """Run ``task`` on every block; yield ``(block, result)`` as they finish."""
        ...


class SerialExecution:
    """Compute the blocks one after the other, in this process, in order.

    BLAS uses its own threads inside each block, as set by the caller (many threads make
    the small per-candidate products slow: :class:`ThreadedExecution` is the fast way to
    use every core, and ``ThreadedExecution(workers=1)`` the fast way to use one).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import CandidateBlock, KronFastScanner, SerialExecution
    >>> from kronlmm.scan import scan_candidate_block
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.1 * np.eye(p), np.eye(p))
    >>> blocks = [CandidateBlock(i, rng.binomial(2, 0.3, size=(n, 2))) for i in range(3)]
    >>> done = SerialExecution()(scan_candidate_block, scanner.null, scanner.plan("any"), blocks)
    >>> [block.index for block, _ in done]
    [0, 1, 2]
    """

    def __call__(
        self, task: Task, null: ScanNull, plan: TestPlan, blocks: Sequence[CandidateBlock]
    ) -> Iterable[tuple[CandidateBlock, ScanResult]]:
        return ((block, task(null, plan, block)) for block in blocks)

    def __repr__(self) -> str:
        return "SerialExecution()"


class ThreadedExecution:
    """Compute several blocks at once on threads of this process, one BLAS thread each.

    What :meth:`kronlmm.scan.KronFastScanner.scan_variants` and the scan driver do by
    default. While the blocks are computed every BLAS library is limited to one thread
    (:func:`~kronlmm.scan.threads.single_blas_thread`); ``workers`` threads each take the
    next block (reading it, e.g. a :class:`kronlmm.io.PlinkSlice`, then testing it), so
    every core does large single-threaded matrix products and the reading of one block
    overlaps the algebra of another. NumPy and BLAS release the GIL while they compute.
    A block is computed by the same single-threaded operations whatever ``workers`` is,
    so the results do not depend on it.

    Parameters
    ----------
    workers : int, optional
        Blocks computed at once; default: the number of BLAS threads in effect when the
        scan starts (:func:`~kronlmm.scan.threads.blas_threads`: every core unless limited
        by ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` or threadpoolctl). With 1 the
        blocks are computed in order in the calling thread.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import KronFastScanner, SerialExecution, ThreadedExecution
    >>> from kronlmm.scan import array_blocks, scan_blocks
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.1 * np.eye(p), np.eye(p))
    >>> blocks = array_blocks(rng.binomial(2, 0.3, size=(n, 40)).astype(float), 8)
    >>> null, plan = scanner.null, scanner.plan("any")
    >>> two = scan_blocks(null, plan, blocks, execution=ThreadedExecution(workers=2))
    >>> one = scan_blocks(null, plan, blocks, execution=ThreadedExecution(workers=1))
    >>> bool(np.array_equal(two.chi2, one.chi2))
    True
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1
        ):
            raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
        self.workers = None if workers is None else int(workers)

    def __call__(
        self, task: Task, null: ScanNull, plan: TestPlan, blocks: Sequence[CandidateBlock]
    ) -> Iterable[tuple[CandidateBlock, ScanResult]]:
        workers = self.workers if self.workers is not None else blas_threads()
        return self._run(task, null, plan, list(blocks), max(1, min(workers, len(blocks))))

    @staticmethod
    def _run(
        task: Task,
        null: ScanNull,
        plan: TestPlan,
        blocks: list[CandidateBlock],
        workers: int,
    ) -> Iterator[tuple[CandidateBlock, ScanResult]]:
        with single_blas_thread():
            if blas_threads() > 1:  # another live thread controls the BLAS limits
                workers = 1  # (threadpoolctl ≥ 3.8): do not add threads to its threads
            if workers == 1:
                for block in blocks:
                    yield block, task(null, plan, block)
                return
            # At most 2 blocks per worker in flight: enough to keep every worker busy,
            # few enough that blocks read as they are computed stay few in memory.
            pending: dict[Future[ScanResult], CandidateBlock] = {}
            todo = iter(blocks)
            with ThreadPoolExecutor(workers, thread_name_prefix="kronlmm-scan") as pool:
                try:
                    for block in todo:
                        pending[pool.submit(task, null, plan, block)] = block
                        if len(pending) >= 2 * workers:
                            break
                    while pending:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            block = pending.pop(future)
                            yield block, future.result()
                            nxt = next(todo, None)
                            if nxt is not None:
                                pending[pool.submit(task, null, plan, nxt)] = nxt
                finally:
                    for future in pending:
                        future.cancel()

    def __repr__(self) -> str:
        return f"ThreadedExecution(workers={self.workers})"


def array_blocks(
    G: ArrayLike, block_size: int, ids: ArrayLike | None = None
) -> list[CandidateBlock]:
    """Split an in-memory candidate matrix into blocks of ``block_size`` columns.

    Parameters
    ----------
    G : array_like (n, m)
        Candidates as columns (a 1-D array is one candidate). The blocks are views, not
        copies.
    block_size : int
        Columns per block (the last block may be narrower).
    ids : array_like (m,), optional
        Candidate identifiers.

    Returns
    -------
    list of CandidateBlock
        At least one (an empty matrix gives one empty block, so that a scan of nothing
        returns an empty result with the right columns).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import array_blocks
    >>> blocks = array_blocks(np.zeros((10, 7)), block_size=3, ids=list("abcdefg"))
    >>> [b.size for b in blocks], blocks[-1].ids.tolist()
    ([3, 3, 1], ['g'])
    """
    G = np.asarray(G, dtype=np.float64)
    if G.ndim == 1:
        G = G[:, None]
    if G.ndim != 2:
        raise ValueError(f"G has shape {G.shape}, expected (n, m)")
    m = G.shape[1]
    id_arr = None if ids is None else np.asarray(ids)
    if id_arr is not None and id_arr.shape != (m,):
        raise ValueError(f"ids has shape {id_arr.shape}, expected ({m},)")
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer):
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    if block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size}")
    starts = range(0, max(m, 1), int(block_size))
    width = int(block_size)
    return [
        CandidateBlock(
            index=i,
            data=G[:, a : a + width],
            ids=None if id_arr is None else id_arr[a : a + width],
            size=min(a + width, m) - a,
        )
        for i, a in enumerate(starts)
    ]


def scan_blocks(
    null: ScanNull,
    plan: TestPlan,
    blocks: Sequence[CandidateBlock],
    *,
    execution: Execution | None = None,
    task: Task = scan_candidate_block,
    progress: Progress = False,
    unit: str = "candidate",
) -> ScanResult:
    """Scan every block with an execution strategy: the one loop over candidate blocks.

    Parameters
    ----------
    null : NullModel
        Fitted null terms (``KronFastScanner.null``).
    plan : TestPlan
        What to test (``KronFastScanner.plan("any")``).
    blocks : sequence of CandidateBlock
        With indices ``0 … len(blocks) − 1``.
    execution : Execution, optional
        Where the blocks are computed (default :class:`ThreadedExecution`: every core).
    task : Task, default :func:`scan_candidate_block`
        What is run on each block.
    progress : bool, "auto" or callable
        ``True``: a bar on stderr; ``"auto"``: a bar only on a terminal; a callable is
        called as ``progress(done, total)`` after each block finishes. Counted in
        candidates, or in blocks when a block's size is unknown before it is read.
    unit : str
        Unit of the candidates, shown on the bar.

    Returns
    -------
    ScanResult
        One row per candidate, blocks in index order whatever the order they finished in.

    Raises
    ------
    ValueError
        If there is no block, or block indices are not ``0 … len(blocks) − 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import KronFastScanner, array_blocks, scan_blocks
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.1 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.4, size=(n, 10)).astype(float)
    >>> seen = []
    >>> result = scan_blocks(scanner.null, scanner.plan("common"), array_blocks(dosages, 4),
    ...                      progress=lambda done, total: seen.append((done, total)))
    >>> len(seen), seen[-1], result.chi2.shape  # blocks finish in any order on several threads
    (3, (10, 10), (10,))
    """
    if not blocks:
        raise ValueError("no candidate blocks to scan")
    position = {block.index: i for i, block in enumerate(blocks)}
    if sorted(position) != list(range(len(blocks))):
        raise ValueError(
            f"block indices must be 0 … {len(blocks) - 1}, each once; got "
            f"{sorted(block.index for block in blocks)}"
        )
    run = execution if execution is not None else ThreadedExecution()
    sizes = [block.size for block in blocks]
    known = all(size is not None for size in sizes)
    total = sum(size or 0 for size in sizes) if known else len(blocks)
    report = progress_reporter(progress, total, unit=unit if known else "block")
    results: list[ScanResult | None] = [None] * len(blocks)
    done = 0
    finished = run(task, null, plan, blocks)
    try:
        for block, result in finished:
            results[position[block.index]] = result
            done += (block.size or 0) if known else 1
            report(done)
    finally:
        close = getattr(finished, "close", None)
        if close is not None:  # a generator: stop its workers and lift its limits now
            close()
        report(None)
    missing = [blocks[i].index for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"the execution strategy returned no result for blocks {missing}")
    return ScanResult.concat([r for r in results if r is not None])
