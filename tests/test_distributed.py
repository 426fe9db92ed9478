"""Scans on Dask: chunk-size invariance, a worker killed mid-scan, resume after interruption.

References: the in-memory scan (``KronFastScanner.scan_variants`` on a NumPy array), itself
checked against dense brute-force fits in tests/test_scan.py. Dask arrays and clusters go
through the scan driver (``kronlmm.gwas.scan_candidates``) and the 0.1.0 façade
(``kronlmm.distributed``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("threadpoolctl")

import cloudpickle  # noqa: E402  (a dependency of distributed)

from kronlmm.distributed import ChunkStore, scan_chunks, scan_dask_array  # noqa: E402
from kronlmm.gwas import scan_candidates  # noqa: E402
from kronlmm.lmm import Kron2Sum  # noqa: E402

# Worker processes cannot import this test module: ship its helpers by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

N, P, R, M = 120, 3, 30, 240


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(11)
    G = rng.standard_normal((N, R)) / np.sqrt(R)
    Y = rng.standard_normal((N, P)) + G @ rng.standard_normal((R, P))
    X = np.c_[np.ones(N), rng.standard_normal(N)]
    model = Kron2Sum(Y, np.eye(P), X, G, rank=1)
    model.fit(verbose=False)
    scanner = model.get_fast_scanner()
    C = rng.binomial(2, 0.3, size=(N, M)).astype(float)
    C[5, 3] = np.nan  # mean-imputed
    C[:, 10] = 1.0  # constant: NaN row with a reason
    C[:, 11] = np.nan  # all missing
    ids = np.array([f"v{j}" for j in range(M)])
    return scanner, C, ids


def _frame(result) -> pd.DataFrame:
    return result.to_dataframe()


def _assert_same(a: pd.DataFrame, b: pd.DataFrame, exact: bool = False) -> None:
    assert list(a.columns) == list(b.columns)
    assert a.index.equals(b.index)
    assert (a["reason"] == b["reason"]).all()
    num = a.select_dtypes("number").columns
    if exact:
        pd.testing.assert_frame_equal(a[num], b[num], check_exact=True)
    else:
        # different chunk widths change BLAS rounding in the last bits only
        np.testing.assert_allclose(a[num].to_numpy(), b[num].to_numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("chunk", [1, 7, 64, M])
def test_dask_array_matches_in_memory(setup, chunk):
    scanner, C, ids = setup
    ref = _frame(scanner.scan_variants(C, "any", ids=ids))
    got = _frame(scan_dask_array(scanner.null, da.from_array(C, chunks=(N, chunk)),
                                 scanner.plan("any"), ids=ids))  # fmt: skip
    _assert_same(got, ref)
    # same chunking in memory and on Dask: the same arithmetic, bit for bit
    same = _frame(scanner.scan_variants(C, "any", ids=ids, block_size=chunk))
    _assert_same(got, same, exact=True)


def test_scan_candidates_accepts_dask_and_sample_chunks(setup):
    scanner, C, ids = setup
    ref = _frame(scanner.scan_variants(C, "interaction", ids=ids))
    G = da.from_array(C, chunks=(50, 70))  # split along samples too: rechunked
    _assert_same(_frame(scan_candidates(scanner, G, "interaction", ids=ids)), ref)


def test_distributed_client_matches(setup):
    scanner, C, ids = setup
    ref = _frame(scanner.scan_variants(C, "common", ids=ids, block_size=50))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        for chunk in (50, 33):
            got = scan_candidates(scanner, C, "common", ids=ids, block_size=chunk, client=client)
            _assert_same(_frame(got), ref, exact=chunk == 50)


class SlowChunk:
    """A chunk reader that takes a while, so a worker can be killed mid-scan."""

    def __init__(self, data: np.ndarray, delay: float) -> None:
        self.data, self.delay = data, delay

    def read(self) -> np.ndarray:
        time.sleep(self.delay)
        return self.data


@pytest.mark.slow
def test_worker_killed_mid_scan_loses_nothing(setup, tmp_path):
    scanner, C, ids = setup
    plan = scanner.plan("any")
    width = 20
    bounds = list(range(0, M, width))
    chunks = [SlowChunk(C[:, a : a + width], 0.3) for a in bounds]
    id_chunks = [ids[a : a + width] for a in bounds]
    ref = _frame(scanner.scan_variants(C, "any", ids=ids, block_size=width))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        pids = client.run(os.getpid)
        box: dict = {}

        def run() -> None:
            try:
                box["result"] = scan_chunks(scanner.null, chunks, plan, ids=id_chunks,
                                            client=client, checkpoint=tmp_path)  # fmt: skip
            except BaseException as err:  # pragma: no cover - reported below
                box["error"] = err

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 60
        while not any(tmp_path.glob("chunk-*.npz")) and time.time() < deadline:
            time.sleep(0.05)
        done_before = len(list(tmp_path.glob("chunk-*.npz")))
        assert 0 < done_before < len(chunks), "the kill must happen mid-scan"
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert "error" not in box, box.get("error")
        # the nanny restarted the worker; its tasks were recomputed elsewhere
        assert victim not in client.run(os.getpid).values()
    got = _frame(box["result"])
    # every row exactly once, in order, with the same values (worker processes unpickle
    # arrays at other memory alignments, which moves NumPy's SIMD rounding in the last bits)
    assert len(got) == M and got.index.is_unique
    _assert_same(got, ref)


class CountingChunk:
    """Reads a chunk and counts how often each chunk was read (threaded scheduler)."""

    reads: dict[int, int] = {}

    def __init__(self, data: np.ndarray, index: int) -> None:
        self.data, self.index = data, index

    def read(self) -> np.ndarray:
        CountingChunk.reads[self.index] = CountingChunk.reads.get(self.index, 0) + 1
        return self.data


def test_resume_recomputes_only_missing_chunks(setup, tmp_path):
    scanner, C, ids = setup
    plan = scanner.plan("any")
    width = 30
    bounds = list(range(0, M, width))
    chunks = [CountingChunk(C[:, a : a + width], i) for i, a in enumerate(bounds)]
    id_chunks = [ids[a : a + width] for a in bounds]
    full = _frame(scan_chunks(scanner.null, chunks, plan, ids=id_chunks, checkpoint=tmp_path))
    assert CountingChunk.reads == {i: 1 for i in range(len(chunks))}
    # an interruption: two chunk files never got written
    for i in (2, 5):
        (tmp_path / f"chunk-{i:06d}.npz").unlink()
    CountingChunk.reads.clear()
    resumed = _frame(scan_chunks(scanner.null, chunks, plan, ids=id_chunks, checkpoint=tmp_path))
    assert CountingChunk.reads == {2: 1, 5: 1}
    _assert_same(resumed, full, exact=True)
    _assert_same(full, _frame(scanner.scan_variants(C, "any", ids=ids, block_size=width)),
                 exact=True)  # fmt: skip


def test_checkpoint_refuses_a_different_scan(setup, tmp_path):
    scanner, C, ids = setup
    chunks = [C[:, :100], C[:, 100:]]
    scan_chunks(scanner.null, chunks, scanner.plan("any"), checkpoint=tmp_path)
    with pytest.raises(ValueError, match="holds results of a different scan"):
        scan_chunks(scanner.null, chunks, scanner.plan("common"), checkpoint=tmp_path)


def test_chunk_store_round_trip(setup, tmp_path):
    scanner, C, ids = setup
    result = scanner.scan_variants(C[:, :20], "any", ids=ids[:20])
    store = ChunkStore(tmp_path, {"what": "round trip"})
    store.write(0, result)
    back = store.read(0)
    _assert_same(_frame(back), _frame(result), exact=True)
    assert back.trait_names == result.trait_names
    assert not list(tmp_path.glob(".tmp-*"))


# ------------------------------------------------------------------ the GWAS workflow


@pytest.fixture(scope="module")
def example_null():
    from kronlmm.data import example_paths
    from kronlmm.gwas import fit_null

    paths = example_paths()
    return fit_null(paths.prefix, paths.pheno, covar=paths.covar, rank=2)


def _num_close(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        if pd.api.types.is_float_dtype(a[col]):
            np.testing.assert_allclose(a[col], b[col], rtol=1e-10, atol=1e-12, err_msg=col)
        else:
            pd.testing.assert_series_equal(a[col], b[col], check_exact=True)


@pytest.mark.parametrize("chunk", [700, 1000])
def test_gwas_scan_on_dask_matches_serial(example_null, chunk, tmp_path):
    serial = example_null.scan("any", chunk_size=chunk)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        on_dask = example_null.scan("any", chunk_size=chunk, scheduler=client)
    _num_close(on_dask.assoc, serial.assoc)
    _num_close(on_dask.effects, serial.effects)


def test_gwas_checkpoint_resume_reads_only_missing_blocks(example_null, tmp_path):
    first = example_null.scan("common", chunk_size=500, checkpoint=tmp_path)
    files = sorted(tmp_path.glob("chunk-*.npz"))
    assert len(files) == 6  # 3000 variants in blocks of 500
    files[3].unlink()
    stamps = {f.name: f.stat().st_mtime_ns for f in files if f.exists()}
    second = example_null.scan("common", chunk_size=500, checkpoint=tmp_path)
    assert {f.name: f.stat().st_mtime_ns for f in files if f.name in stamps} == stamps
    assert files[3].exists()
    _num_close(second.assoc, first.assoc)
    with pytest.raises(ValueError, match="different scan"):
        example_null.scan("common", chunk_size=400, checkpoint=tmp_path)


@pytest.mark.slow
def test_cli_workers_matches_serial(tmp_path):
    """End to end, as a shell runs it (two processes of the same build: the serial and the
    worker results agree to the digits written)."""
    import subprocess

    def run(*extra: str) -> pd.DataFrame:
        out = tmp_path / ("w" if extra else "s")
        cmd = [sys.executable, "-m", "kronlmm.cli", "example", "--out", str(out), "--no-plots",
               "--rank", "1", "--chunk-size", "800", *extra]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return pd.read_csv(out / "example.assoc.tsv.gz", sep="\t", keep_default_na=False,
                           na_values=[""])  # fmt: skip

    serial = run()
    workers = run("--workers", "2", "--checkpoint", str(tmp_path / "ck"))
    _num_close(workers, serial)
    assert len(list((tmp_path / "ck").glob("chunk-*.npz"))) == 4
