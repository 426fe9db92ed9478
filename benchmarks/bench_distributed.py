"""Benchmark: the same multi-trait scan serial and on a local Dask cluster, in one run.

Run ``python benchmarks/bench_distributed.py --help``; see ``benchmarks/README.md`` for what
the rows mean and the recorded results.

(a) In memory: a Kron2Sum null (n = 2000, p = 4, r = 500, rank 1, ML) and m = 20,000
    candidates (0/1/2 dosages): ``KronFastScanner.scan_variants(G)`` (serial, all BLAS
    threads) against ``scan_candidates(scanner, G, client=client)`` (the NumPy array cut into
    chunks that travel from the driver to the workers) and against a ``dask.array`` of
    the same candidates persisted on the workers first (``scan_candidates(scanner, G_dask,
    client=client)``; only the scan is timed, the persist is shown apart).
(b) From PLINK: the same n samples and m candidates written to a temporary .bed/.bim/.fam
    with bed-reader's ``to_bed``; ``kronlmm.gwas.fit_null(prefix, pheno, covar=…,
    kinship=K)`` with K = GGᵀ from the 500 null variants (rank 500, not a GRM of the m
    candidates), then ``NullFit.scan()`` serial (the driver reads the .bed blocks) against
    ``scan(scheduler=client)`` (each worker reads its own .bed blocks), ``scan(workers=2)``
    (a new LocalCluster per call: start-up included), ``scan(scheduler=client,
    checkpoint=dir)`` into an empty directory, and the same call resumed after half the
    chunk files were deleted (should take about half as long) or with all of them present.

The cluster is a ``distributed.LocalCluster`` of ``--workers`` processes with one thread
each (what ``scan(workers=…)`` starts); every task limits BLAS to one thread. Its start-up,
the first tasks on the fresh workers (imports) and its shut-down are reported apart from
the scans. Every distributed result is checked against the serial one (max |Δ| of
−log10 p). All scans use the same chunks (``--chunk-size``).
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    available_cores,
    ensure_threads,
    fmt_seconds,
    machine_summary,
    max_abs_diff,
    median_time,
    print_table,
    simulate_dosages,
    simulate_kron2sum,
    write_plink,
)

P_TRAITS = 4
#: (n, m, r) of the default run and of ``--quick``.
DEFAULT_SIZES = (2000, 20_000, 500)
QUICK_SIZES = (1000, 4000, 200)
#: Unless ``--chunk-size`` is given: the scanner's default block, but at least this many
#: chunks (so that ``--quick`` has something to distribute and to resume).
MIN_CHUNKS = 8
#: The first N_CAUSAL candidates get an effect on every trait, so that −log10 p span a
#: range (the Δ check then covers large values too).
N_CAUSAL = 10
EFFECT_SHARE = 0.005


# ---- data ---------------------------------------------------------------------------------
def simulate(n: int, m: int, r: int, seed: int) -> dict[str, Any]:
    """Kron2Sum data (p = P_TRAITS, G n × r, rank-1 C₀) and m candidate dosages, the first
    N_CAUSAL with small effects on every trait."""
    data = simulate_kron2sum(n, P_TRAITS, r, 1, seed=seed)
    rng = np.random.default_rng(seed + 1)
    D = simulate_dosages(n, m, rng)
    Y = data["Y"].copy()
    for j in range(min(N_CAUSAL, m)):
        g = (D[:, j] - D[:, j].mean()) / D[:, j].std()
        Y += math.sqrt(EFFECT_SHARE) * g[:, None] * rng.choice([-1.0, 1.0], size=P_TRAITS)
    data["Y"], data["D"] = Y, D
    return data


# ---- rows ---------------------------------------------------------------------------------
@dataclass
class Row:
    part: str
    run: str
    chunks: str
    times: list[float]
    delta: float | None = None  # max |Δ −log10 p| against the serial scan of the same part
    serial: bool = False

    @property
    def seconds(self) -> float:
        return float(np.median(self.times))


@dataclass
class Overheads:
    startup: float = math.nan
    warmup: float = math.nan
    persist: float = math.nan
    shutdown: float = math.nan
    plink_write: float = math.nan
    null_memory: float = math.nan
    null_plink: float = math.nan
    resume_fraction: list[float] = field(default_factory=list)
    deleted: str = ""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def start_cluster(workers: int) -> tuple[Any, Any]:
    """LocalCluster of ``workers`` single-threaded processes (as ``scan(workers=…)``) and a
    client, with all workers up."""
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    client.wait_for_workers(workers)
    return cluster, client


def nlp(result: Any) -> np.ndarray:
    """−log10 p of a ScanResult or of a GwasResult's joint-test table."""
    if hasattr(result, "assoc"):
        return result.assoc["neg_log10_p_value"].to_numpy(dtype=float)
    return np.asarray(result.neg_log10_p_value, dtype=float)


# ---- the runs -----------------------------------------------------------------------------
def run(args: argparse.Namespace, nthreads: int) -> tuple[list[Row], Overheads]:
    from kronlmm.gwas import fit_null, scan_candidates
    from kronlmm.io import Kinship
    from kronlmm.lmm import Kron2Sum

    n, m, r, w, rep, chunk = args.n, args.m, args.r, args.workers, args.repeat, args.chunk_size
    nchunks = -(-m // chunk)
    cells = f"{nchunks} × {chunk}"
    ov = Overheads()
    rows: list[Row] = []

    print(f"simulating n = {n}, p = {P_TRAITS}, r = {r}, m = {m} …", flush=True)
    data = simulate(n, m, r, args.seed)
    D = data["D"]

    # ---- serial, before any cluster exists ---------------------------------------------
    print("(a) null fit (Kron2Sum, rank 1, ML) …", end=" ", flush=True)

    def fit_memory() -> Any:
        model = Kron2Sum(data["Y"], data["A"], data["X"], data["G"], 1)
        model.fit(verbose=False)
        return model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ov.null_memory, model = timed(fit_memory)
    scanner = model.get_fast_scanner()
    scanner.scan_variants(D[:, : min(m, 64)], block_size=chunk)  # untimed warm-up
    print(f"{fmt_seconds(ov.null_memory)}; serial scan ×{rep} …", end=" ", flush=True)
    t, ref_mem, times = median_time(lambda: scanner.scan_variants(D, block_size=chunk), rep)
    rows.append(Row("(a) in memory", "serial `scan_variants(G)`", cells, times, serial=True))
    print(fmt_seconds(t), flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="kronlmm-bench-dist-"))
    try:
        print(f"(b) writing PLINK {n} × {m} to {tmp} …", end=" ", flush=True)
        ids = [f"s{i:06d}" for i in range(n)]  # sorted = file order = model order
        ov.plink_write, prefix = timed(lambda: write_plink(tmp / "cand", D, sample_ids=ids))
        import pandas as pd

        pheno = pd.DataFrame(data["Y"], columns=[f"trait{k + 1}" for k in range(P_TRAITS)])
        pheno.insert(0, "IID", ids)
        covar = pd.DataFrame({"IID": ids, "x": data["X"][:, 1]})
        K = data["G"] @ data["G"].T
        print(f"{fmt_seconds(ov.plink_write)}; fit_null …", end=" ", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ov.null_plink, nf = timed(
                lambda: fit_null(
                    prefix, pheno, covar=covar, kinship=Kinship(np.asarray(ids, object), K)
                )
            )
        print(
            f"{fmt_seconds(ov.null_plink)} (G rank {nf.kinship.rank}); serial scan ×{rep} …",
            end=" ",
            flush=True,
        )
        nf.scan(chunk_size=chunk)  # untimed warm-up (page cache, lazy imports)
        t, ref_bed, times = median_time(lambda: nf.scan(chunk_size=chunk), rep)
        rows.append(Row("(b) PLINK", "serial `fit_null(…).scan()`", cells, times, serial=True))
        print(fmt_seconds(t), flush=True)

        # ---- the cluster ---------------------------------------------------------------
        import dask.array as da
        import distributed

        print(f"starting LocalCluster ({w} processes × 1 thread) …", end=" ", flush=True)
        ov.startup, (cluster, client) = timed(lambda: start_cluster(w))
        try:
            ov.warmup, _ = timed(
                lambda: scan_candidates(scanner, D[:, : 2 * w], block_size=1, client=client)
            )
            print(f"{fmt_seconds(ov.startup)}; first tasks {fmt_seconds(ov.warmup)}", flush=True)

            print(f"(a) scan_candidates(scanner, G, client) ×{rep} …", end=" ", flush=True)
            t, res, times = median_time(
                lambda: scan_candidates(scanner, D, block_size=chunk, client=client), rep
            )
            rows.append(
                Row(
                    "(a) in memory",
                    "`scan_candidates(scanner, G, client=client)`: chunks sent from the driver",
                    cells,
                    times,
                    max_abs_diff(nlp(res), nlp(ref_mem)),
                )
            )
            print(fmt_seconds(t), flush=True)

            print("(a) dask.array persisted on the workers …", end=" ", flush=True)
            G_da = da.from_array(D, chunks=(n, chunk))

            def persist() -> Any:
                G_p = client.persist(G_da)
                distributed.wait(G_p)
                return G_p

            ov.persist, G_p = timed(persist)
            print(f"persist {fmt_seconds(ov.persist)}; scan ×{rep} …", end=" ", flush=True)
            t, res, times = median_time(lambda: scan_candidates(scanner, G_p, client=client), rep)
            rows.append(
                Row(
                    "(a) in memory",
                    "`scan_candidates(scanner, G_dask, client=client)`: dask.array on the workers",
                    cells,
                    times,
                    max_abs_diff(nlp(res), nlp(ref_mem)),
                )
            )
            print(fmt_seconds(t), flush=True)
            client.cancel(G_p)  # free the workers' memory for part (b)

            print(f"(b) scan(scheduler=client) ×{rep} …", end=" ", flush=True)
            t, res, times = median_time(lambda: nf.scan(chunk_size=chunk, scheduler=client), rep)
            rows.append(
                Row(
                    "(b) PLINK",
                    "`scan(scheduler=client)`: each worker reads its .bed blocks",
                    cells,
                    times,
                    max_abs_diff(nlp(res), nlp(ref_bed)),
                )
            )
            print(fmt_seconds(t), flush=True)

            print(f"(b) scan(workers={w}) ×{rep} …", end=" ", flush=True)
            with warnings.catch_warnings():
                # Its scheduler's HTTP server finds port 8787 taken by our cluster's and
                # picks another one: harmless, but distributed warns.
                warnings.filterwarnings("ignore", message="Port 8787 is already in use")
                t, res, times = median_time(lambda: nf.scan(chunk_size=chunk, workers=w), rep)
            rows.append(
                Row(
                    "(b) PLINK",
                    f"`scan(workers={w})`: own LocalCluster per call, start-up + shut-down "
                    "included",
                    cells,
                    times,
                    max_abs_diff(nlp(res), nlp(ref_bed)),
                )
            )
            print(fmt_seconds(t), flush=True)

            print(f"(b) checkpointed scan and resume ×{rep} …", end=" ", flush=True)
            full, resumed, loaded = [], [], []
            d_full = d_resume = d_loaded = 0.0
            for i in range(rep):
                ckpt = tmp / f"checkpoint-{i}"
                t_full, res = timed(
                    lambda ckpt=ckpt: nf.scan(chunk_size=chunk, scheduler=client, checkpoint=ckpt)
                )
                d_full = max(d_full, max_abs_diff(nlp(res), nlp(ref_bed)))
                files = sorted(ckpt.glob("chunk-*.npz"))
                if len(files) != nchunks:
                    raise RuntimeError(f"{ckpt}: {len(files)} chunk files, expected {nchunks}")
                gone = files[::2]  # every other chunk: the first, third, …
                for f in gone:
                    f.unlink()
                ov.deleted = f"{len(gone)} of {nchunks}"
                t_res, res = timed(
                    lambda ckpt=ckpt: nf.scan(chunk_size=chunk, scheduler=client, checkpoint=ckpt)
                )
                d_resume = max(d_resume, max_abs_diff(nlp(res), nlp(ref_bed)))
                t_load, res = timed(
                    lambda ckpt=ckpt: nf.scan(chunk_size=chunk, scheduler=client, checkpoint=ckpt)
                )
                d_loaded = max(d_loaded, max_abs_diff(nlp(res), nlp(ref_bed)))
                full.append(t_full)
                resumed.append(t_res)
                loaded.append(t_load)
                ov.resume_fraction.append(t_res / t_full)
                shutil.rmtree(ckpt)
            rows.append(
                Row(
                    "(b) PLINK",
                    "`scan(scheduler=client, checkpoint=dir)`: empty directory",
                    cells,
                    full,
                    d_full,
                )
            )
            rows.append(
                Row(
                    "(b) PLINK",
                    "same, resumed after deleting every other chunk file",
                    f"{ov.deleted} recomputed",
                    resumed,
                    d_resume,
                )
            )
            rows.append(
                Row(
                    "(b) PLINK",
                    "same, resumed with every chunk file present (loads only)",
                    f"0 of {nchunks} recomputed",
                    loaded,
                    d_loaded,
                )
            )
            print(
                f"{fmt_seconds(float(np.median(full)))}, resumed "
                f"{fmt_seconds(float(np.median(resumed)))}, loaded "
                f"{fmt_seconds(float(np.median(loaded)))}",
                flush=True,
            )
        finally:
            t0 = time.perf_counter()
            client.close()
            cluster.close()
            ov.shutdown = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows, ov


# ---- report -------------------------------------------------------------------------------
HEADER = (
    "part",
    "run",
    "chunks",
    "time (median)",
    "all runs",
    "distributed / serial",
    "max abs Δ −log10 p vs serial",
)


def table_rows(rows: list[Row]) -> list[list[str]]:
    serial = {row.part: row.seconds for row in rows if row.serial}
    out = []
    for row in sorted(rows, key=lambda row: row.part):  # stable: run order within a part
        ratio = "1 (reference)" if row.serial else f"{row.seconds / serial[row.part]:.2f}"
        delta = "-" if row.delta is None else f"{row.delta:.1e}"
        out.append(
            [
                row.part,
                row.run,
                row.chunks,
                fmt_seconds(row.seconds),
                ", ".join(fmt_seconds(t) for t in row.times),
                ratio,
                delta,
            ]
        )
    return out


def print_report(
    rows: list[Row], ov: Overheads, args: argparse.Namespace, nthreads: int, tol: float
) -> int:
    w = args.workers
    print()
    print(
        f"## Serial vs LocalCluster ({w} worker processes × 1 thread): n = {args.n}, "
        f"p = {P_TRAITS}, r = {args.r}, m = {args.m}, test 'any'"
    )
    print()
    print_table(HEADER, table_rows(rows), align="llrrlrr")
    print()
    print("Outside the scan times above (one cluster, shared by every row but `workers=`):")
    print()
    print_table(
        ("cluster overhead", "time"),
        [
            [f"LocalCluster start-up ({w} workers up, client connected)", fmt_seconds(ov.startup)],
            ["first tasks on the fresh workers (imports)", fmt_seconds(ov.warmup)],
            ["persist the dask.array onto the workers (part a)", fmt_seconds(ov.persist)],
            ["client + cluster shut-down", fmt_seconds(ov.shutdown)],
        ],
    )
    print()
    fr = ", ".join(f"{f:.2f}" for f in ov.resume_fraction)
    print(
        f"- Resumed / full checkpointed run: {fr} ({ov.deleted} chunks recomputed, so ≈ "
        "0.5 expected; the rest are loaded from their .npz files)."
    )
    print(
        f"- Not timed: null fits (in memory {fmt_seconds(ov.null_memory)}; `fit_null` with "
        f"K = GGᵀ {fmt_seconds(ov.null_plink)}), writing the PLINK files "
        f"({fmt_seconds(ov.plink_write)})."
    )
    print(
        f"- Serial rows use {nthreads} BLAS thread(s); each worker task limits BLAS to 1 "
        "thread (threadpoolctl). Every call scatters the null model to the workers again; "
        "that is part of the scan time."
    )
    cores = available_cores()
    if w <= nthreads or w >= cores:
        print(
            f"- **On this {cores}-core machine {w} single-threaded workers compete with a "
            f"{nthreads}-thread serial BLAS for the same cores, so distributed / serial "
            "measures the overhead of Dask (serialisation, scheduling, per-chunk "
            "start-up), not a speed-up; a speed-up needs more cores or machines than the "
            "serial BLAS can use.**"
        )
    else:
        print(
            f"- {w} workers on {cores} cores against a {nthreads}-thread serial scan: "
            "distributed / serial < 1 is a speed-up."
        )
    bad = [row for row in rows if row.delta is not None and not row.delta <= tol]
    for row in bad:
        print(f"- CHECK FAILED: {row.part} {row.run}: max |Δ −log10 p| = {row.delta} > {tol}")
    if not bad:
        print(f"- Every distributed result agrees with the serial one (max |Δ| ≤ {tol:g}).")
    return len(bad)


# ---- command line -------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    n, m, r = DEFAULT_SIZES
    qn, qm, qr = QUICK_SIZES
    ap = argparse.ArgumentParser(
        description="The same multi-trait scan serial and on a local Dask cluster: in-memory "
        "candidates (NumPy and dask.array) and a PLINK fileset (fit_null(...).scan with "
        "scheduler=/workers=/checkpoint=, and a resumed run).",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"small sizes: n = {qn}, m = {qm}, r = {qr} (unless --n/--m/--r are given)",
    )
    ap.add_argument("--n", type=int, default=None, help=f"samples (default {n})")
    ap.add_argument("--m", type=int, default=None, help=f"candidates / variants (default {m})")
    ap.add_argument("--r", type=int, default=None, help=f"columns of the null's G (default {r})")
    ap.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="candidates per chunk, for every scan (default: the scanner's block size, "
        f"smaller if needed for at least {MIN_CHUNKS} chunks)",
    )
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS/OpenMP threads of the serial scans (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, "
        "MKL_NUM_THREADS; re-executes once); default: all available cores",
    )
    ap.add_argument("--repeat", type=int, default=3, help="timings per row (median; default 3)")
    ap.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    ap.add_argument(
        "--tolerance",
        type=float,
        default=1e-6,
        help="largest accepted max |Δ −log10 p| between serial and distributed (default 1e-6)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    nthreads = ensure_threads(args.threads)
    sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    args.n = args.n if args.n is not None else sizes[0]
    args.m = args.m if args.m is not None else sizes[1]
    args.r = args.r if args.r is not None else sizes[2]
    if min(args.n, args.m, args.r, args.workers, args.repeat) < 1:
        raise SystemExit("--n, --m, --r, --workers and --repeat must be ≥ 1")
    if args.chunk_size is None:
        from kronlmm.scan.kron_scanner import default_block_size

        bs = default_block_size(args.n, min(args.n, args.r), P_TRAITS)
        args.chunk_size = max(1, min(bs, -(-args.m // MIN_CHUNKS)))
    print(machine_summary(nthreads))
    import dask
    import distributed

    print(f"dask {dask.__version__}, distributed {distributed.__version__}")
    rows, ov = run(args, nthreads)
    failed = print_report(rows, ov, args, nthreads, args.tolerance)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
