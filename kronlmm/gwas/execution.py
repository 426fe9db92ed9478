"""Dask execution of a scan: the blocks computed as Dask tasks, locally or on a cluster.

:class:`DaskExecution` is an execution strategy of the one block loop
(:func:`kronlmm.scan.scan_blocks`). On a cluster (a ``distributed.Client``) the fitted null
is scattered to every worker once (``broadcast=True``) rather than embedded in every task;
in-memory blocks are scattered once each, Dask-array blocks are computed on the cluster in
one graph, and readers (:class:`kronlmm.io.PlinkSlice`) travel as they are and are read by
the worker. Each task limits BLAS to ``blas_threads`` threads (threadpoolctl) so that the
workers do not oversubscribe the cores. Results are yielded as tasks finish and assembled
by block index, so a worker that dies (its tasks rescheduled by Dask) loses no row and
duplicates none. Without a client, the tasks run on Dask's local threaded scheduler.

:func:`dask_client` gives the client of the GWAS workflow's ``scheduler=`` / ``workers=``.
"""

from __future__ import annotations

import contextlib
import importlib
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..scan import CandidateBlock, ScanResult, TestPlan, single_blas_thread
from ..scan.block_scan import ScanNull
from ..scan.blocks import Task
from .checkpoint import null_fingerprint

__all__ = ["DaskExecution", "dask_client", "SCHEDULER_TIMEOUT"]

SCHEDULER_TIMEOUT = "30s"
"""How long :func:`dask_client` tries to reach a scheduler before giving up."""


def _module(name: str) -> Any:
    """An optional, untyped dependency (dask, distributed), imported when needed."""
    return importlib.import_module(name)


def _run_block(
    task: Task,
    null: ScanNull,
    plan: TestPlan,
    block: CandidateBlock,
    data: Any,
    blas_threads: int | None,
) -> ScanResult:
    """One Dask task: the task on the block, with its data as the worker received it.

    One BLAS thread through :func:`kronlmm.scan.single_blas_thread`, which tasks running
    side by side on threads of one process may enter and leave in any order."""
    from threadpoolctl import threadpool_limits

    limits = single_blas_thread() if blas_threads == 1 else threadpool_limits(blas_threads)
    with limits:
        return task(null, plan, block.with_data(data))


def _default_client() -> Any:
    try:
        return _module("distributed").default_client()
    except (ImportError, ValueError):
        return None


class DaskExecution:
    """Execution strategy: every block is a Dask task (a cluster's, or local threads).

    Parameters
    ----------
    client : distributed.Client, optional
        The cluster; default: the active client if there is one, else Dask's local
        threaded scheduler in this process.
    blas_threads : int or None, default 1
        BLAS threads per task (``None``: leave as is); one task per core by default.

    Examples
    --------
    Without a client the blocks run on Dask's local threaded scheduler:

    >>> import numpy as np
    >>> from kronlmm.gwas import DaskExecution, scan_candidates
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> Y = rng.standard_normal((n, p))
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.3, size=(n, 30)).astype(float)
    >>> on_dask = scan_candidates(scanner, dosages, block_size=10, execution=DaskExecution())
    >>> bool(np.array_equal(on_dask.chi2, scanner.scan_variants(dosages, block_size=10).chi2))
    True
    """

    def __init__(self, client: Any = None, *, blas_threads: int | None = 1) -> None:
        self.client = client
        self.blas_threads = blas_threads

    def __call__(
        self, task: Task, null: ScanNull, plan: TestPlan, blocks: Sequence[CandidateBlock]
    ) -> Iterable[tuple[CandidateBlock, ScanResult]]:
        client = self.client if self.client is not None else _default_client()
        token = null_fingerprint(null, plan)
        if client is None:
            return self._local(task, null, plan, blocks, token)
        return self._on_cluster(client, task, null, plan, blocks, token)

    def _on_cluster(
        self,
        client: Any,
        task: Task,
        null: ScanNull,
        plan: TestPlan,
        blocks: Sequence[CandidateBlock],
        token: str,
    ) -> Iterator[tuple[CandidateBlock, ScanResult]]:
        as_completed = _module("distributed").as_completed
        null_ref = client.scatter(null, broadcast=True, hash=False)
        # Dask collections are computed on the cluster in one call (one graph, so a shared
        # source array is sent once); in-memory arrays are scattered once each; readers
        # (e.g. PlinkSlice) travel as they are and are read on the worker.
        inputs: dict[int, Any] = {block.index: block.data for block in blocks}
        lazy = [block.index for block in blocks if hasattr(block.data, "dask")]
        arrays = [block.index for block in blocks if isinstance(block.data, np.ndarray)]
        if lazy:
            computed = client.compute([inputs[i] for i in lazy])
            inputs.update(zip(lazy, computed, strict=True))
        if arrays:
            scattered = client.scatter([inputs[i] for i in arrays], hash=False)
            inputs.update(zip(arrays, scattered, strict=True))
        futures = {
            client.submit(
                _run_block, task, null_ref, plan, block.with_data(None), inputs[block.index],
                self.blas_threads, key=f"kronlmm-scan-{token}-{block.index}", pure=False,
            ): block
            for block in blocks
        }  # fmt: skip
        for future, result in as_completed(futures, with_results=True):
            yield futures[future], result

    def _local(
        self,
        task: Task,
        null: ScanNull,
        plan: TestPlan,
        blocks: Sequence[CandidateBlock],
        token: str,
    ) -> Iterator[tuple[CandidateBlock, ScanResult]]:
        # One BLAS thread set here, in the thread that runs the scan: threadpoolctl lets only
        # one live thread change OpenBLAS limits, so those set by the scheduler's threads in
        # each task may be ignored.
        limits = single_blas_thread() if self.blas_threads == 1 else contextlib.nullcontext()
        with limits:
            yield from self._local_tasks(task, null, plan, blocks, token)

    def _local_tasks(
        self,
        task: Task,
        null: ScanNull,
        plan: TestPlan,
        blocks: Sequence[CandidateBlock],
        token: str,
    ) -> Iterator[tuple[CandidateBlock, ScanResult]]:
        dask = _module("dask")
        delayed = dask.delayed
        null_ref = delayed(null, name=f"kronlmm-null-{token}")
        keys = {f"kronlmm-scan-{token}-{block.index}": block for block in blocks}
        tasks = [
            delayed(_run_block, pure=False)(
                task, null_ref, plan, block.with_data(None), block.data, self.blas_threads,
                dask_key_name=key,
            )
            for key, block in keys.items()
        ]  # fmt: skip
        # The threaded scheduler runs in a helper thread and hands over each result as its
        # task finishes (a posttask callback), so the loop reports progress as blocks end.
        finished: queue.Queue[tuple[CandidateBlock, ScanResult] | BaseException | None]
        finished = queue.Queue()

        def posttask(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            if key in keys:
                finished.put((keys[key], result))

        def compute() -> None:
            try:
                dask.compute(*tasks, callbacks=[(None, None, None, posttask, None)])
            except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread
                finished.put(err)
            else:
                finished.put(None)

        thread = threading.Thread(target=compute, name="kronlmm-dask-scan", daemon=True)
        thread.start()
        while (item := finished.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        thread.join()

    def __repr__(self) -> str:
        return f"DaskExecution(client={self.client!r}, blas_threads={self.blas_threads})"


@contextlib.contextmanager
def dask_client(scheduler: Any = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client: the one given, one connected to ``scheduler``, a local cluster of
    ``workers`` single-threaded processes (closed on exit), or ``None`` if neither is given.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        Address of a running scheduler (``"tcp://host:8786"``) or a client.
    workers : int, optional
        Start a local cluster of this many worker processes.

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    ValueError
        Both given, ``workers < 1``, Dask missing, or the scheduler unreachable.

    Examples
    --------
    >>> from kronlmm.gwas import dask_client
    >>> with dask_client() as client:
    ...     print(client)
    None
    >>> with dask_client("tcp://head:8786", workers=2) as client:
    ...     pass
    Traceback (most recent call last):
        ...
    ValueError: give either scheduler (an existing cluster) or workers, not both
    """
    if scheduler is not None and workers is not None:
        raise ValueError("give either scheduler (an existing cluster) or workers, not both")
    if scheduler is None and workers is None:
        yield None
        return
    try:
        distributed = _module("distributed")
    except ImportError:
        raise ValueError("distributed scans need Dask: pip install 'kronlmm[dask]'") from None
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # a Client already
        return
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - OSError, TimeoutError, ValueError, ...
            raise ValueError(
                f"cannot connect to the Dask scheduler {scheduler!r} ({type(err).__name__}: "
                f"{err}); check the address and that the scheduler is running"
            ) from None
        with client:
            yield client
        return
    assert workers is not None
    if int(workers) < 1:
        raise ValueError(f"workers must be ≥ 1, got {workers}")
    try:
        cluster = distributed.LocalCluster(
            n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None
        )
    except Exception as err:  # noqa: BLE001 - whatever stopped the workers from starting
        raise ValueError(
            f"could not start a local Dask cluster of {workers} worker process(es) "
            f"({type(err).__name__}: {err}); try fewer workers, or scan without Dask"
        ) from None
    with cluster, distributed.Client(cluster) as client:
        yield client
