"""Association scanners: :class:`KronFastScanner` (multi-trait) and :class:`FastScanner`.

Both fix the variance components at a fitted null, re-profile the scale, and test
candidates in blocks with matrix products (:func:`~kronlmm.scan.block_scan.scan_block`
is the pure kernel: one block + the null terms → a :class:`ScanResult`).
:func:`scan_blocks` is the one loop over candidate blocks, run by an execution strategy
(:class:`ThreadedExecution`, the default, and :class:`SerialExecution` here; Dask and
checkpoints in :mod:`kronlmm.gwas`). This layer scans in-memory arrays and knows nothing
of Dask or files.
"""

from .block_scan import STATISTICS, TESTS, ScanNull, TestPlan, make_plan, restate, scan_block
from .blocks import (
    CandidateBlock,
    Execution,
    SerialExecution,
    ThreadedExecution,
    array_blocks,
    scan_blocks,
    scan_candidate_block,
)
from .fast_scanner import FastScanner
from .kron_scanner import KronFastScanner
from .observed_scanner import KronObservedScanner
from .result import ScanResult
from .threads import blas_threads, single_blas_thread

__all__ = [
    "CandidateBlock",
    "Execution",
    "FastScanner",
    "KronFastScanner",
    "KronObservedScanner",
    "ScanNull",
    "ScanResult",
    "SerialExecution",
    "TestPlan",
    "ThreadedExecution",
    "array_blocks",
    "blas_threads",
    "make_plan",
    "scan_block",
    "scan_blocks",
    "scan_candidate_block",
    "single_blas_thread",
    "STATISTICS",
    "TESTS",
    "restate",
]
