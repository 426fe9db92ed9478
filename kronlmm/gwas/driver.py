"""The scan driver: a candidate source, an execution strategy, optionally a checkpoint.

:func:`scan_source` is the one driver of every many-candidate scan of kronlmm: it cuts a
candidate source into blocks (:mod:`kronlmm.gwas.sources`), picks the execution strategy
(serial in this process, or :class:`~kronlmm.gwas.DaskExecution`; wrapped in
:class:`~kronlmm.gwas.Checkpointed` when a checkpoint directory is given) and runs the one
block loop, :func:`kronlmm.scan.scan_blocks`. :func:`scan_candidates` is the same from a
scanner (:class:`~kronlmm.scan.KronFastScanner` or :class:`~kronlmm.scan.FastScanner`),
for arrays, Dask arrays and sources alike.

Which strategy runs when none is given: Dask when a ``client`` is given or the candidates
are a Dask graph (a ``dask.array``), serial otherwise. A checkpoint works with either.
Every strategy gives the in-memory results, to floating-point rounding (BLAS products of
blocks of different widths, or unpickled at another memory alignment, differ in the last
bits); with the same blocks in one process, bit for bit.
"""

from __future__ import annotations

import os
from typing import Any

from numpy.typing import ArrayLike

from ..core.progress import Progress
from ..scan import (
    Execution,
    FastScanner,
    KronFastScanner,
    KronObservedScanner,
    ScanResult,
    TestPlan,
    ThreadedExecution,
    scan_blocks,
)
from ..scan.block_scan import ScanNull
from ..scan.kron_scanner import default_block_size
from .checkpoint import Checkpointed
from .execution import DaskExecution
from .sources import CandidateSource, as_source

__all__ = ["scan_source", "scan_candidates"]


def scan_source(
    null: ScanNull,
    plan: TestPlan,
    source: CandidateSource,
    *,
    block_size: int | None = None,
    execution: Execution | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    manifest: dict[str, Any] | None = None,
    progress: Progress = False,
    unit: str = "candidate",
) -> ScanResult:
    """Scan every candidate of a source: blocks, strategy, checkpoint, the one block loop.

    Parameters
    ----------
    null : NullModel or ObservedNullModel
        Fitted null terms (``KronFastScanner.null``).
    plan : TestPlan
        What to test (``KronFastScanner.plan("any")``).
    source : CandidateSource
        :class:`~kronlmm.gwas.ArraySource`, :class:`~kronlmm.gwas.DaskArraySource`,
        :class:`~kronlmm.gwas.PlinkSource`, :class:`~kronlmm.gwas.ChunkSource`, or your own.
    block_size : int, optional
        Candidates per block (default: the source's own chunks, else blocks of about 16 MiB
        of n × block values).
    execution : Execution, optional
        Where blocks are computed: :class:`~kronlmm.scan.ThreadedExecution`,
        :class:`~kronlmm.scan.SerialExecution`, :class:`~kronlmm.gwas.DaskExecution` or
        your own. Default: Dask for a lazy (Dask-graph) source, else
        :class:`~kronlmm.scan.ThreadedExecution` (every core, one BLAS thread per block).
    checkpoint : path, optional
        Directory of per-block results (:class:`~kronlmm.gwas.Checkpointed`): blocks already
        there are read back, the others computed and stored.
    manifest : dict, optional
        Extra description stored in the checkpoint manifest (e.g. input file names).
    progress : bool, "auto" or callable
        Progress bar or ``progress(done, total)`` callback, updated as blocks finish.
    unit : str
        What a candidate is called on the progress bar.

    Returns
    -------
    ScanResult
        One row per candidate, in source order.

    Raises
    ------
    ValueError
        If the source's samples do not match the null model's, or a checkpoint directory
        holds another scan.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.gwas import ArraySource, scan_source
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> Y = rng.standard_normal((n, p))
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.3, size=(n, 30)).astype(float)
    >>> source = ArraySource(dosages, ids=[f"v{j}" for j in range(30)])
    >>> result = scan_source(scanner.null, scanner.plan("any"), source, block_size=8)
    >>> result.to_dataframe().index[[0, -1]].tolist()
    ['v0', 'v29']
    >>> bool(np.array_equal(result.chi2, scanner.scan_variants(dosages, block_size=8).chi2))
    True
    """
    if source.n_samples is not None and source.n_samples != null.n:
        raise ValueError(
            f"the candidates have {source.n_samples} samples (rows), the null model {null.n}; "
            "give one row per sample of the null model, in its order"
        )
    default = default_block_size(null.n, null.U.shape[1], null.p)
    blocks = source.blocks(block_size, default)
    run: Execution
    if execution is not None:
        run = execution
    else:
        run = DaskExecution() if source.lazy else ThreadedExecution()
    if checkpoint is not None:
        run = Checkpointed(run, checkpoint, manifest={**source.manifest, **(manifest or {})})
    elif manifest is not None:
        raise ValueError("manifest describes a checkpoint: give checkpoint= too")
    return scan_blocks(null, plan, blocks, execution=run, progress=progress, unit=unit)


def _null_and_plan(
    scanner: KronFastScanner | KronObservedScanner | FastScanner,
    test: str | None,
    A1: ArrayLike | None,
    A1_null: ArrayLike | None,
) -> tuple[ScanNull, TestPlan]:
    if isinstance(scanner, FastScanner):
        if test != "any" or A1 is not None or A1_null is not None:
            raise ValueError(
                "a single-trait FastScanner tests one effect per candidate: leave test='any' "
                "and A1, A1_null unset"
            )
        return scanner.null, scanner.plan()
    if isinstance(scanner, KronFastScanner | KronObservedScanner):
        return scanner.null, scanner.plan(test, A1, A1_null)
    raise TypeError(
        "scanner must be a KronFastScanner, KronObservedScanner or FastScanner, got "
        f"{type(scanner)!r}"
    )


def scan_candidates(
    scanner: KronFastScanner | KronObservedScanner | FastScanner,
    candidates: Any,
    test: str | None = "any",
    *,
    A1: ArrayLike | None = None,
    A1_null: ArrayLike | None = None,
    ids: ArrayLike | None = None,
    block_size: int | None = None,
    client: Any = None,
    execution: Execution | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: Progress = False,
) -> ScanResult:
    """Test every candidate with a scanner's null, from any source, on any strategy.

    What :meth:`KronFastScanner.scan_variants <kronlmm.scan.KronFastScanner.scan_variants>`
    does for an in-memory array, for a ``dask.array``, a candidate source, a Dask cluster
    or with a checkpoint (kronlmm 0.1.0: ``scan_variants(G, client=..., checkpoint=...)``).

    Parameters
    ----------
    scanner : KronFastScanner or FastScanner
        The fitted null (``model.get_fast_scanner()``).
    candidates : array_like, dask.array.Array or CandidateSource
        n × m candidates (see :func:`~kronlmm.gwas.as_source`).
    test : {"any", "common", "interaction"} or None
        As in ``scan_variants`` (``None`` with ``A1``/``A1_null``); a FastScanner takes
        only ``"any"``.
    A1, A1_null : array_like, optional
        Explicit candidate designs (with ``test=None``).
    ids : array_like (m,), optional
        Candidate identifiers (arrays only: a source carries its own).
    block_size : int, optional
        Candidates per block (default: a Dask array's chunks, else about 16 MiB blocks).
    client : distributed.Client, optional
        Run on this Dask cluster (shorthand for ``execution=DaskExecution(client)``).
    execution : Execution, optional
        The strategy (default: Dask for a ``dask.array`` or with ``client``, else serial).
    checkpoint : path, optional
        Directory of per-block results; a rerun computes only the missing blocks.
    progress : bool, "auto" or callable
        Progress bar or ``progress(done, total)`` callback.

    Returns
    -------
    ScanResult

    Examples
    --------
    A Dask array is scanned chunk by chunk on Dask (its local threaded scheduler here):

    >>> import dask.array as da
    >>> import numpy as np
    >>> from kronlmm.gwas import scan_candidates
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> Y = rng.standard_normal((n, p))
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.3, size=(n, 30)).astype(float)
    >>> lazy = da.from_array(dosages, chunks=(n, 10))
    >>> on_dask = scan_candidates(scanner, lazy, "common")
    >>> in_memory = scanner.scan_variants(dosages, "common", block_size=10)
    >>> bool(np.array_equal(on_dask.chi2, in_memory.chi2))
    True

    With a checkpoint directory, finished blocks are kept and a rerun reads them back:

    >>> import tempfile
    >>> from pathlib import Path
    >>> tmp = tempfile.TemporaryDirectory()
    >>> first = scan_candidates(scanner, dosages, block_size=10, checkpoint=tmp.name)
    >>> sorted(path.name for path in Path(tmp.name).iterdir())
    ['chunk-000000.npz', 'chunk-000001.npz', 'chunk-000002.npz', 'manifest.json']
    >>> again = scan_candidates(scanner, dosages, block_size=10, checkpoint=tmp.name)
    >>> bool(np.array_equal(again.chi2, first.chi2))
    True
    >>> tmp.cleanup()
    """
    null, plan = _null_and_plan(scanner, test, A1, A1_null)
    source = as_source(candidates, ids)
    if client is not None:
        if execution is not None:
            raise ValueError("give either client or execution, not both")
        execution = DaskExecution(client)
    return scan_source(
        null,
        plan,
        source,
        block_size=block_size,
        execution=execution,
        checkpoint=checkpoint,
        progress=progress,
    )
