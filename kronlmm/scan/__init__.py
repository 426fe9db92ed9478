"""Association scanners: :class:`KronFastScanner` (multi-trait) and :class:`FastScanner`.

Both fix the variance components at a fitted null, re-profile the scale, and test
candidates in blocks with matrix products (:func:`~kronlmm.scan.block_scan.scan_block`
is the pure kernel: one block + the null terms → a :class:`ScanResult`).
"""

from .block_scan import TESTS, TestPlan, make_plan, scan_block
from .fast_scanner import FastScanner
from .kron_scanner import KronFastScanner
from .result import ScanResult

__all__ = [
    "FastScanner",
    "KronFastScanner",
    "ScanResult",
    "TestPlan",
    "make_plan",
    "scan_block",
    "TESTS",
]
