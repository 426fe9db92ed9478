"""Scans give the same numbers whatever the number of threads (issue #17).

Reference: the same scan run with one BLAS thread and one block at a time (``threadpoolctl``
limit 1, :class:`~kronlmm.scan.ThreadedExecution` with one worker). Compared with it: the
default scan (as many blocks at once as BLAS has threads, which is every core unless
limited), a pool of more workers than cores, the single-trait scanner, the scan driver on a
PLINK fileset (blocks read by the workers) and Dask's threaded scheduler — all equal to
``1e-12`` relative. Also checked: the BLAS limits are what they were after a scan, a
one-thread section entered from several threads at once is lifted only when the last one
leaves, and a failing block stops the scan with its error.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from kronlmm.data import example_paths
from kronlmm.gwas import DaskExecution, PlinkSource, fit_null, scan_source
from kronlmm.scan import (
    FastScanner,
    KronFastScanner,
    ThreadedExecution,
    array_blocks,
    blas_threads,
    scan_blocks,
    single_blas_thread,
)

RTOL = 1e-12
FIELDS = ("lml_null", "lml_alt", "chi2", "neg_log10_p_value", "scale", "beta", "se")


def _dosages(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    D = rng.binomial(2, rng.uniform(0.05, 0.5, size=m), size=(n, m)).astype(float)
    D[rng.random((n, m)) < 0.02] = np.nan  # some missing calls: imputed per block
    D[:, 3] = 1.0  # a constant candidate: an untestable row
    return D


def _kron_scanner(rng: np.random.Generator, n: int, p: int, r: int) -> KronFastScanner:
    Y = rng.standard_normal((n, p))
    G = rng.standard_normal((n, r)) / np.sqrt(r)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    C0 = 0.3 * np.eye(p) + 0.1
    C1 = 0.6 * np.eye(p) + 0.2
    return KronFastScanner(Y, np.eye(p), X, G, C0, C1)


def _assert_same(a, b, rtol: float = RTOL) -> None:
    for name in FIELDS:
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), rtol=rtol, atol=0, err_msg=name
        )
    np.testing.assert_array_equal(a.reason, b.reason)
    np.testing.assert_array_equal(a.n_missing, b.n_missing)


def _one_thread(scan):
    with threadpool_limits(limits=1, user_api="blas"):
        assert blas_threads() == 1
        return scan()


@pytest.mark.parametrize(("n", "r"), [(300, 40), (120, 200)], ids=["rank 40", "full rank"])
def test_kron_scan_is_the_same_at_any_thread_count(n, r):
    rng = np.random.default_rng(1)
    scanner = _kron_scanner(rng, n, 3, r)
    D = _dosages(rng, n, 230)
    ref = _one_thread(lambda: scanner.scan_variants(D, "any", block_size=16))
    assert ref.reason[3] != "" and np.isfinite(ref.chi2[0])
    default = scanner.scan_variants(D, "any", block_size=16)  # all BLAS threads
    _assert_same(default, ref)
    plan, blocks = scanner.plan("any"), array_blocks(D, 16)
    for workers in (1, 3, 8):  # more workers than cores is allowed
        run = ThreadedExecution(workers=workers)
        _assert_same(scan_blocks(scanner.null, plan, blocks, execution=run), ref)
    for test in ("common", "interaction"):
        one = _one_thread(lambda test=test: scanner.scan_variants(D, test, block_size=16))
        _assert_same(scanner.scan_variants(D, test, block_size=16), one)


def test_single_trait_scan_is_the_same_at_any_thread_count():
    rng = np.random.default_rng(2)
    n = 250
    W = rng.standard_normal((n, 60)) / np.sqrt(60)
    S2, U = np.linalg.eigh(W @ W.T)
    keep = S2 > 1e-10 * S2[-1]
    y = rng.standard_normal(n)
    X = np.ones((n, 1))
    scanner = FastScanner(y, X, U[:, keep], S2[keep], 0.4, 0.6)
    D = _dosages(rng, n, 150)
    ref = _one_thread(lambda: scanner.scan_variants(D, block_size=20))
    _assert_same(scanner.scan_variants(D, block_size=20), ref)


def test_plink_and_dask_scans_are_the_same_at_any_thread_count():
    paths = example_paths()
    null = fit_null(paths.prefix, paths.pheno, covar=paths.covar)
    scanner = null.model.get_fast_scanner()
    plan = scanner.plan("any")
    source = PlinkSource(null.genotypes, null.genotype_index)
    ref = _one_thread(lambda: scan_source(scanner.null, plan, source, block_size=250))
    threaded = scan_source(scanner.null, plan, source, block_size=250)  # workers read blocks
    _assert_same(threaded, ref)
    on_dask = scan_source(scanner.null, plan, source, block_size=250, execution=DaskExecution())
    _assert_same(on_dask, ref)


def test_blas_limits_are_restored_after_a_scan():
    rng = np.random.default_rng(3)
    scanner = _kron_scanner(rng, 80, 2, 10)
    D = _dosages(rng, 80, 40)
    before = blas_threads()
    scanner.scan_variants(D, block_size=8)
    assert blas_threads() == before
    with threadpool_limits(limits=1, user_api="blas"):
        scanner.scan_variants(D, block_size=8)
        assert blas_threads() == 1
    assert blas_threads() == before


def test_one_thread_section_entered_by_several_threads_lasts_until_the_last_leaves():
    before = blas_threads()
    inside = threading.Barrier(3)
    first_left = threading.Event()
    seen: dict[str, int] = {}

    def early() -> None:
        with single_blas_thread():
            inside.wait()
        first_left.set()

    def late() -> None:
        with single_blas_thread():
            inside.wait()
            first_left.wait()
            seen["late, after the first left"] = blas_threads()

    threads = [threading.Thread(target=early), threading.Thread(target=late)]
    for t in threads:
        t.start()
    inside.wait()
    for t in threads:
        t.join()
    assert seen == {"late, after the first left": 1}
    assert blas_threads() == before
    # the limit is also lifted by a thread other than the one that set it
    with threadpool_limits(limits=1, user_api="blas"):
        assert blas_threads() == 1
    assert blas_threads() == before


def test_one_thread_section_works_while_another_thread_controls_the_blas_limits():
    """threadpoolctl ≥ 3.8 lets only the first live thread that set an OpenBLAS limit change
    one; a scan started elsewhere must still get its one thread, and give the limits back."""
    before = blas_threads()
    holding, done = threading.Event(), threading.Event()

    def holder() -> None:
        with threadpool_limits(limits=before, user_api="blas"):
            holding.set()
            done.wait()

    other = threading.Thread(target=holder)
    other.start()
    holding.wait()
    try:
        with single_blas_thread():
            inside = blas_threads()
        after = blas_threads()
    finally:
        done.set()
        other.join()
    assert (inside, after, blas_threads()) == (1, before, before)
    with threadpool_limits(limits=1, user_api="blas"):  # this thread can set limits again
        assert blas_threads() == 1


def test_a_failing_block_stops_the_threaded_scan_with_its_error():
    rng = np.random.default_rng(4)
    scanner = _kron_scanner(rng, 60, 2, 10)
    D = _dosages(rng, 60, 40)
    D[5, 30] = np.inf
    before = blas_threads()
    with pytest.raises(ValueError, match="infinite value"):
        scan_blocks(
            scanner.null,
            scanner.plan("any"),
            array_blocks(D, 4),
            execution=ThreadedExecution(workers=3),
        )
    assert blas_threads() == before
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        ThreadedExecution(workers=0)
