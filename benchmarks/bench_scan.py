"""Benchmark: association scans — kronlmm against glimix-core 3.1.14 and FaST-LMM.

Run ``python benchmarks/bench_scan.py --help``; see ``benchmarks/README.md`` for what the
columns mean and the recorded results. Every part runs side by side in one process tree
with the same BLAS threads (``--threads``); peers run in child processes with a time limit
(``_common.run_peer``).

(a) Multi-trait scan of m candidates (0/1/2 dosages, the first 10 with small effects on
    every trait) on a Kron2Sum null (rank 1, ML) fitted by kronlmm, at
    (n, p, r) = (2000, 4, 500), (2000, 10, 2000), (5000, 4, 5000):
    kronlmm ``get_fast_scanner().scan_variants(G, "any")`` against glimix-core's
    ``KronFastScanner.scan(Iₚ, g)`` (one Python call per candidate) built from glimix-core's
    own ``Kron2Sum`` with C₀, C₁ set to kronlmm's fitted values (its fit is not timed: at
    (2000, 10, 2000) one evaluation does not finish in minutes). glimix-core scans a subset
    (``--glimix-subset``, default 200 candidates) and its time is extrapolated to m.
(b) The rotation floor: ``Uᵀ G`` alone for the same m candidates in the scanner's blocks
    (2·n·k flops per candidate, U the scanner's n × k ``null.U``) and scan / rotation.
(c) Single-trait scan: n = 2000 and 5000, a kinship K = WWᵀ from 5000 standardised
    variants (rank n − 1), δ fitted once and fixed, m candidates: kronlmm
    ``LMM(...).get_fast_scanner().scan_variants`` against glimix-core
    ``FastScanner.fast_scan`` (same eigendecomposition and δ) and FaST-LMM's
    ``single_snp`` with the same K (``leave_out_one_chrom=False``), run by the interpreter
    of a separate virtual environment (``--peers-python``, default ``.venv-peers``).

(d) Threads (issue #17): the same kronlmm scans with one BLAS thread (``threadpoolctl``
    limit 1: one block at a time) and with every thread the script runs with (the default:
    as many blocks at once as BLAS has threads, one BLAS thread each), and the multi-trait
    scan on Dask's local threaded scheduler (one BLAS thread per task, as on each worker of
    a cluster), against the rotation floor ``UᵀG`` with every thread and with one. Targets:
    scan ≤ 1.3× the all-thread rotation floor, and never slower with more threads.

kronlmm is imported inside functions only: FaST-LMM's child process imports this module
under an interpreter where kronlmm is not installed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    PeerOutcome,
    ensure_threads,
    fmt_seconds,
    machine_summary,
    median_time,
    print_table,
    run_peer,
    simulate_dosages,
    simulate_genotypes,
    simulate_kron2sum,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"

#: (n, p, r) of the multi-trait cases; n of the single-trait cases.
MULTI_CASES = ((2000, 4, 500), (2000, 10, 2000), (5000, 4, 5000))
SINGLE_CASES = (2000, 5000)
#: Variants behind the single-trait kinship.
KINSHIP_VARIANTS = 5000
#: The first N_CAUSAL candidates get an effect explaining ≈ EFFECT_SHARE of each trait's
#: variance, so that the p-values compared between libraries span a range.
N_CAUSAL = 10
EFFECT_SHARE = 0.005
#: Issue target: scan time ≤ ROTATION_TARGET × the bare Uᵀ G rotation.
ROTATION_TARGET = 2.0
#: Issue #17: at the default thread setting, scan ≤ THREADS_TARGET × the all-thread rotation.
THREADS_TARGET = 1.3


# ---- simulation -------------------------------------------------------------------------
def plant_effects(Y: np.ndarray, D: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Y (n × p) plus effects of the first N_CAUSAL candidates (columns of D), each
    explaining ≈ EFFECT_SHARE of every trait's (unit) variance, random signs."""
    Y = np.array(Y, dtype=float, copy=True)
    for j in range(min(N_CAUSAL, D.shape[1])):
        g = D[:, j] - D[:, j].mean()
        g /= g.std()
        Y += math.sqrt(EFFECT_SHARE) * g[:, None] * rng.choice([-1.0, 1.0], size=Y.shape[1])
    return Y


def simulate_single(n: int, m: int, seed: int) -> dict[str, np.ndarray]:
    """y = Xb + Wu + e with K = WWᵀ (W: n × KINSHIP_VARIANTS standardised, /√r), h² = 0.5,
    X = [1, x]; candidates D (n × m dosages) with N_CAUSAL planted effects."""
    rng = np.random.default_rng(seed)
    W = simulate_genotypes(n, KINSHIP_VARIANTS, rng)
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    y = X @ np.array([0.5, 0.3]) + math.sqrt(0.5) * (W @ rng.standard_normal(W.shape[1]))
    y += math.sqrt(0.5) * rng.standard_normal(n)
    D = simulate_dosages(n, m, rng)
    y = plant_effects(y[:, None], D, rng)[:, 0]
    return {"y": y, "X": X, "x": x, "K": W @ W.T, "D": D}


# ---- shared measurements -----------------------------------------------------------------
def one_thread():  # noqa: ANN201
    """BLAS limited to one thread (threadpoolctl), as a context manager."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@dataclass
class ThreadTimes:
    """Scan and rotation times with one BLAS thread and with every thread (part (d))."""

    scan_one: float = math.nan
    rotation_one: float = math.nan
    dask: float = math.nan


def thread_times(scan, U, D, block_size, repeat, dask_scan=None) -> ThreadTimes:  # noqa: ANN001
    """(d): the scan and the rotation with one BLAS thread; the Dask scan if given."""
    out = ThreadTimes()
    with one_thread():
        out.scan_one = median_time(scan, repeat=repeat)[0]
        out.rotation_one = rotation_time(U, D, block_size, repeat)
    if dask_scan is not None:
        out.dask = median_time(dask_scan, repeat=repeat)[0]
    return out


def rotation_time(U: np.ndarray, D: np.ndarray, block_size: int, repeat: int) -> float:
    """Median seconds of ``Uᵀ D`` block by block (the scanner's blocks), nothing else."""
    U = np.ascontiguousarray(U)

    def rotate() -> None:
        for start in range(0, D.shape[1], block_size):
            U.T @ D[:, start : start + block_size]

    rotate()  # untimed: first-touch of the work arrays
    return median_time(rotate, repeat=repeat)[0]


def neglog10_chi2(chi2: np.ndarray, dof: int) -> np.ndarray:
    import scipy.stats as st

    return -st.chi2.logsf(np.maximum(np.asarray(chi2, dtype=float), 0.0), dof) / np.log(10.0)


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max |a − b|, Pearson correlation) over the entries finite in both."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return math.nan, math.nan
    return float(np.max(np.abs(a[ok] - b[ok]))), float(np.corrcoef(a[ok], b[ok])[0, 1])


def fmt_agree(diff: float, corr: float) -> str:
    if not math.isfinite(diff):
        return "-"
    return f"{diff:.1e} (r = {corr:.6f})"


def _ratio(num: float | None, den: float, approx: bool = False, bound: bool = False) -> str:
    if num is None or not (den > 0 and math.isfinite(num)):
        return "-"
    return f"{'> ' if bound else '≈ ' if approx else ''}{num / den:.1f}×"


def peer_cell(out: PeerOutcome | None, skip: str) -> str:
    if out is None:
        return skip
    return out.short()


# ---- glimix-core children (run_peer) ----------------------------------------------------
def glimix_kron_scan(Y, A, X, G, C0, C1, D, budget, **_: Any) -> dict[str, Any]:
    """glimix-core ``Kron2Sum`` with C₀, C₁ set (not fitted), ``get_fast_scanner()``, then
    ``scan(Iₚ, D[:, j])`` per candidate until ``budget`` seconds from the start are used.

    C₀ (rank 1) goes in through its factor, scaled by glimix-core's internal
    ``G / max(G)``; C₁ through ``chol(C₁ − εI)``, since glimix-core adds εI (ε ≈ 1.5e-5)
    to its C₁. Returns set-up seconds, per-candidate seconds and lml, the null lml and the
    C₀, C₁ the model reports."""
    warnings.simplefilter("ignore")
    from glimix_core.lmm import Kron2Sum as GKron2Sum

    start = time.perf_counter()
    model = GKron2Sum(Y, A, X, G, rank=1, restricted=False)
    cov = model._cov  # no public setter: the parameters live on its covariance
    lam, vec = np.linalg.eigh(C0)
    L0 = vec[:, -1:] * math.sqrt(max(lam[-1], 0.0)) * model._G_norm
    cov.C0.Lu = L0.ravel()
    p = C1.shape[0]
    try:
        L1 = np.linalg.cholesky(C1 - cov.C1._epsilon * np.eye(p))
    except np.linalg.LinAlgError:
        L1 = np.linalg.cholesky(C1)
    tril = np.tril_indices(p, k=-1)
    cov.C1.Lu = np.concatenate([L1[tril], np.log(np.diag(L1))])
    scanner = model.get_fast_scanner()
    null_lml = float(scanner.null_lml())
    setup = time.perf_counter() - start
    Ip = np.eye(p)
    scanner.scan(Ip, D[:, :1])  # untimed: imports inside scan()
    seconds, lml = [], []
    for j in range(D.shape[1]):
        t0 = time.perf_counter()
        r = scanner.scan(Ip, D[:, j : j + 1])
        seconds.append(time.perf_counter() - t0)
        lml.append(float(r["lml"]))
        if time.perf_counter() - start > budget:
            break
    return {
        "setup": setup,
        "seconds": seconds,
        "lml": lml,
        "null_lml": null_lml,
        "C0": model.C0,
        "C1": model.C1,
    }


def glimix_fast_scan(y, X, U, S, v0, v1, D, **_: Any) -> dict[str, Any]:
    """glimix-core ``FastScanner(y, X, ((U,), v0·S), v1)`` (what its ``LMM.get_fast_scanner``
    builds) and ``fast_scan(D)``; returns both times, lml per candidate and the null lml."""
    warnings.simplefilter("ignore")
    from glimix_core.lmm import FastScanner as GFastScanner

    small = GFastScanner(y, X, ((U,), v0 * S), float(v1))  # untimed: lazy imports
    small.fast_scan(D[:, :2], verbose=False)
    t0 = time.perf_counter()
    scanner = GFastScanner(y, X, ((U,), v0 * S), float(v1))
    null_lml = float(scanner.null_lml())
    t1 = time.perf_counter()
    r = scanner.fast_scan(D, verbose=False)
    t2 = time.perf_counter()
    return {"setup": t1 - t0, "scan": t2 - t1, "lml": r["lml"], "null_lml": null_lml}


# ---- FaST-LMM child (run_peer under --peers-python) ---------------------------------------
def fastlmm_single_snp(y, x, K, D, **_: Any) -> dict[str, Any]:
    """FaST-LMM ``single_snp`` with ``K0 = KernelData(K)``, covariate x (it adds the
    intercept), ``leave_out_one_chrom=False``, in-memory ``SnpData``. First call: its
    eigendecomposition of K + REML h² search + scan (also writes ``cache_file``); second
    call: the same with the cache present, i.e. the scan alone. Returns both times, the
    p-values in candidate order and h²."""
    warnings.simplefilter("ignore")
    from importlib.metadata import version

    from fastlmm.association import single_snp
    from pysnptools.kernelreader import KernelData
    from pysnptools.snpreader import SnpData

    def inputs(n: int, m: int) -> dict[str, Any]:
        c = np.ascontiguousarray  # pysnptools wants C- or F-ordered values, not views
        iid = np.array([[f"f{i}", f"i{i}"] for i in range(n)])
        pos = np.column_stack([np.ones(m), np.zeros(m), np.arange(1, m + 1)])
        return {
            "test_snps": SnpData(
                iid=iid, sid=np.array([f"c{j}" for j in range(m)]), val=c(D[:n, :m]), pos=pos
            ),
            "pheno": SnpData(iid=iid, sid=["y"], val=c(y[:n, None])),
            "covar": SnpData(iid=iid, sid=["x"], val=c(x[:n, None])),
            "K0": KernelData(iid=iid, val=c(K[:n, :n])),
            "leave_out_one_chrom": False,
        }

    n, m = D.shape
    with tempfile.TemporaryDirectory(prefix="kronlmm-bench-fastlmm-") as tmp:
        single_snp(**inputs(min(n, 50), min(m, 20)))  # untimed: lazy imports
        full = inputs(n, m)
        cache = os.path.join(tmp, "cache.npz")
        t0 = time.perf_counter()
        frame = single_snp(**full, cache_file=cache)
        t1 = time.perf_counter()
        cached = single_snp(**full, cache_file=cache)
        t2 = time.perf_counter()
    frame = frame.sort_values("sid_index")
    cached = cached.sort_values("sid_index")
    return {
        "full": t1 - t0,
        "scan": t2 - t1,
        "pvalue": frame["PValue"].to_numpy(),
        "pvalue_cached_maxdiff": float(
            np.max(np.abs(frame["PValue"].to_numpy() - cached["PValue"].to_numpy()))
        ),
        "h2": float(frame["Nullh2"].iloc[0]),
        "version": version("fastlmm"),
    }


# ---- (a) + (b): multi-trait ---------------------------------------------------------------
@dataclass
class MultiResult:
    n: int
    p: int
    r: int
    m: int
    k: int = 0
    fit_seconds: float = math.nan
    fit_lml: float = math.nan
    scanner_seconds: float = math.nan
    scan_seconds: float = math.nan
    rotation_seconds: float = math.nan
    block_size: int = 0
    glimix: PeerOutcome | None = None
    glimix_skip: str = ""
    glimix_scanned: int = 0
    glimix_scan_est: float | None = None
    checks: dict[str, float] = field(default_factory=dict)
    threads: ThreadTimes = field(default_factory=ThreadTimes)

    @property
    def label(self) -> str:
        return f"({self.n}, {self.p}, {self.r})"


def run_multi(case: tuple[int, int, int], args: argparse.Namespace) -> MultiResult:
    from kronlmm.lmm import Kron2Sum
    from kronlmm.scan.kron_scanner import default_block_size

    n, p, r = case
    out = MultiResult(n, p, r, args.m)
    data = simulate_kron2sum(n, p, r, 1, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    D = simulate_dosages(n, args.m, rng)
    Y = plant_effects(data["Y"], D, rng)
    A, X, G = data["A"], data["X"], data["G"]

    print(f"multi {out.label}: kronlmm null fit …", end=" ", flush=True)
    t0 = time.perf_counter()
    model = Kron2Sum(Y, A, X, G, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(verbose=False)
    out.fit_seconds, out.fit_lml = time.perf_counter() - t0, fit.lml
    t0 = time.perf_counter()
    scanner = model.get_fast_scanner()
    out.scanner_seconds = time.perf_counter() - t0
    U = scanner.null.U
    out.k = U.shape[1]
    out.block_size = default_block_size(n, out.k, p)
    print(f"{fmt_seconds(out.fit_seconds)}; scan ×{args.repeat} …", end=" ", flush=True)
    out.scan_seconds, res, _ = median_time(
        lambda: scanner.scan_variants(D, "any"), repeat=args.repeat
    )
    out.rotation_seconds = rotation_time(U, D, out.block_size, args.repeat)
    print(
        f"{fmt_seconds(out.scan_seconds)}, rotation {fmt_seconds(out.rotation_seconds)}",
        flush=True,
    )
    from kronlmm.gwas import DaskExecution, scan_candidates

    print(f"multi {out.label}: one thread, Dask …", end=" ", flush=True)
    out.threads = thread_times(
        lambda: scanner.scan_variants(D, "any"),
        U,
        D,
        out.block_size,
        args.repeat,
        dask_scan=lambda: scan_candidates(scanner, D, "any", execution=DaskExecution()),
    )
    print(
        f"scan {fmt_seconds(out.threads.scan_one)}, rotation "
        f"{fmt_seconds(out.threads.rotation_one)}; Dask {fmt_seconds(out.threads.dask)}",
        flush=True,
    )
    out.checks["null lml − model lml"] = scanner.null_lml() - fit.lml

    if args.no_peers:
        out.glimix_skip = "not run (--no-peers)"
        return out
    nsub = min(args.glimix_subset, args.m)
    print(f"multi {out.label}: glimix-core scan of ≤ {nsub} candidates …", end=" ", flush=True)
    arrays = {"Y": Y, "A": A, "X": X, "G": G, "C0": model.C0, "C1": model.C1, "D": D[:, :nsub]}
    g = run_peer(
        "bench_scan:glimix_kron_scan",
        arrays,
        timeout=args.peer_timeout,
        options={"budget": 0.9 * args.peer_timeout},
    )
    out.glimix = g
    if not g.ok:
        print(g.short(), flush=True)
        return out
    gr = g.result
    secs = np.asarray(gr["seconds"])
    out.glimix_scanned = secs.size
    out.glimix_scan_est = float(secs.mean() * args.m)
    print(
        f"set-up {fmt_seconds(gr['setup'])}, {secs.size} candidates in {fmt_seconds(secs.sum())}",
        flush=True,
    )
    idx = np.arange(secs.size)
    glml = np.asarray(gr["lml"])
    for name in ("C0", "C1"):
        diff = np.abs(np.asarray(gr[name]) - getattr(model, name)).max()
        out.checks[f"glimix {name} − kronlmm {name} (max abs)"] = float(diff)
    out.checks["null lml: glimix − kronlmm"] = gr["null_lml"] - scanner.null_lml()
    out.checks["lml alt: max |glimix − kronlmm|"] = float(np.max(np.abs(glml - res.lml_alt[idx])))
    g_nlp = neglog10_chi2(2.0 * (glml - gr["null_lml"]), p)
    diff, corr = agreement(g_nlp, res.neg_log10_p_value[idx])
    out.checks["−log10 p: max |glimix − kronlmm|"] = diff
    out.checks["−log10 p: correlation"] = corr
    out.checks["−log10 p: kronlmm max on the subset"] = float(np.nanmax(res.neg_log10_p_value[idx]))
    return out


def multi_rows(results: list[MultiResult]) -> list[list[str]]:
    rows = []
    for res in results:
        ratio_rot = res.scan_seconds / res.rotation_seconds
        mark = "" if ratio_rot <= ROTATION_TARGET else f" (> {ROTATION_TARGET:g})"
        g = res.glimix
        if g is None or not g.ok:
            # a timeout here means its set-up alone used the limit: no scan time to compare
            cells = [peer_cell(g, res.glimix_skip), "-", "-", "-"]
        else:
            extrap = res.glimix_scanned < res.m
            scan = fmt_seconds(res.glimix_scan_est)
            if extrap:
                scan += f" (extrap. from {res.glimix_scanned})"
            cells = [
                fmt_seconds(g.result["setup"]),
                scan,
                _ratio(res.glimix_scan_est, res.scan_seconds, approx=extrap),
                f"{res.checks['−log10 p: max |glimix − kronlmm|']:.1e}",
            ]
        rows.append(
            [
                res.label,
                str(res.m),
                fmt_seconds(res.fit_seconds),
                fmt_seconds(res.scan_seconds),
                fmt_seconds(res.rotation_seconds),
                f"{ratio_rot:.2f}{mark}",
                *cells,
            ]
        )
    return rows


def _bound(g: PeerOutcome | None, kron: float) -> str:
    if g is not None and g.status == "timeout":
        return _ratio(g.timeout, kron, bound=True)
    return "-"


MULTI_HEADER = (
    "case (n, p, r)",
    "m",
    "kronlmm null fit",
    "kronlmm scan",
    "Uᵀ G rotation",
    "scan / rotation",
    "glimix set-up",
    "glimix scan",
    "glimix / kronlmm (scan)",
    "max abs Δ −log10 p",
)


# ---- (c): single trait --------------------------------------------------------------------
@dataclass
class SingleResult:
    n: int
    m: int
    k: int = 0
    setup_seconds: float = math.nan
    scan_seconds: float = math.nan
    rotation_seconds: float = math.nan
    delta: float = math.nan
    glimix: PeerOutcome | None = None
    fastlmm: PeerOutcome | None = None
    skip: str = ""
    fastlmm_skip: str = ""
    checks: dict[str, Any] = field(default_factory=dict)
    threads: ThreadTimes = field(default_factory=ThreadTimes)


def run_single(n: int, args: argparse.Namespace) -> SingleResult:
    from kronlmm.lmm import LMM
    from kronlmm.scan.kron_scanner import default_block_size

    out = SingleResult(n, args.m)
    data = simulate_single(n, args.m, args.seed + 2)
    y, X, K, D = data["y"], data["X"], data["K"], data["D"]
    print(f"single n = {n}: kronlmm eigh + null fit …", end=" ", flush=True)

    def setup():  # noqa: ANN202
        S, U = np.linalg.eigh(K)
        keep = S > n * np.finfo(float).eps * S[-1]
        U, S = np.ascontiguousarray(U[:, keep][:, ::-1]), S[keep][::-1]
        lmm = LMM(y, X, ((U,), S))
        lmm.fit(verbose=False)
        return U, S, lmm, lmm.get_fast_scanner()

    t0 = time.perf_counter()
    U, S, lmm, scanner = setup()
    out.setup_seconds = time.perf_counter() - t0
    out.k, out.delta = U.shape[1], lmm.delta
    print(f"{fmt_seconds(out.setup_seconds)}; scan ×{args.repeat} …", end=" ", flush=True)
    out.scan_seconds, res, _ = median_time(lambda: scanner.scan_variants(D), repeat=args.repeat)
    bs = default_block_size(n, out.k, 1)
    out.rotation_seconds = rotation_time(U, D, bs, args.repeat)
    out.threads = thread_times(lambda: scanner.scan_variants(D), U, D, bs, args.repeat)
    print(
        f"{fmt_seconds(out.scan_seconds)}, rotation {fmt_seconds(out.rotation_seconds)}; one "
        f"thread: scan {fmt_seconds(out.threads.scan_one)}, rotation "
        f"{fmt_seconds(out.threads.rotation_one)}",
        flush=True,
    )
    kron_nlp = res.neg_log10_p_value
    if args.no_peers:
        out.skip = out.fastlmm_skip = "not run (--no-peers)"
        return out

    print(f"single n = {n}: glimix-core fast_scan …", end=" ", flush=True)
    g = run_peer(
        "bench_scan:glimix_fast_scan",
        {"y": y, "X": X, "U": U, "S": S, "v0": lmm.v0, "v1": lmm.v1, "D": D},
        timeout=args.peer_timeout,
    )
    out.glimix = g
    if g.ok:
        gr = g.result
        glml = np.asarray(gr["lml"])
        out.checks["null lml: glimix − kronlmm"] = gr["null_lml"] - scanner.null_lml()
        out.checks["lml alt: max |glimix − kronlmm|"] = float(np.max(np.abs(glml - res.lml_alt)))
        out.checks["glimix"] = agreement(neglog10_chi2(2 * (glml - gr["null_lml"]), 1), kron_nlp)
        print(f"{fmt_seconds(gr['scan'])}", flush=True)
    else:
        print(g.short(), flush=True)

    python = Path(args.peers_python)
    if not python.exists():
        out.fastlmm_skip = f"unavailable ({python} not found)"
        print(f"single n = {n}: FaST-LMM {out.fastlmm_skip}", flush=True)
        return out
    print(f"single n = {n}: FaST-LMM single_snp (2 calls) …", end=" ", flush=True)
    f = run_peer(
        "bench_scan:fastlmm_single_snp",
        {"y": y, "x": data["x"], "K": K, "D": D},
        timeout=args.peer_timeout,
        python=python,
    )
    out.fastlmm = f
    if f.ok:
        fr = f.result
        f_nlp = -np.log10(np.asarray(fr["pvalue"], dtype=float))
        out.checks["fastlmm"] = agreement(f_nlp, kron_nlp)
        out.checks["FaST-LMM"] = (
            f"{fr['version']}, REML h² {fr['h2']:.4f} (kronlmm 1 − δ = {1 - out.delta:.4f})"
        )
        out.checks["FaST-LMM p-values, cached − first call: max |Δ|"] = fr["pvalue_cached_maxdiff"]
        print(f"full {fmt_seconds(fr['full'])}, cached {fmt_seconds(fr['scan'])}", flush=True)
    else:
        msg = f.message.strip().splitlines()[-1] if f.message.strip() else f.status
        if f.status in ("error", "crashed"):
            out.fastlmm_skip = f"unavailable ({msg[:70]})"
        print(f.short(), flush=True)
    return out


SINGLE_HEADER = (
    "n",
    "m",
    "library",
    "set-up",
    "scan",
    "set-up + scan",
    "scan / rotation",
    "peer / kronlmm (scan)",
    "peer / kronlmm (set-up + scan)",
    "max abs Δ −log10 p vs kronlmm (r)",
)


def single_rows(results: list[SingleResult]) -> list[list[str]]:
    rows = []
    for res in results:
        kt = res.setup_seconds + res.scan_seconds
        ratio_rot = res.scan_seconds / res.rotation_seconds
        mark = "" if ratio_rot <= ROTATION_TARGET else f" (> {ROTATION_TARGET:g})"
        nm = [str(res.n), str(res.m)]
        rows.append(
            nm
            + [
                "kronlmm",
                fmt_seconds(res.setup_seconds),
                fmt_seconds(res.scan_seconds),
                fmt_seconds(kt),
                f"{ratio_rot:.2f}{mark}",
                "-",
                "-",
                "-",
            ]
        )
        g = res.glimix
        if g is not None and g.ok:
            gr = g.result
            rows.append(
                nm
                + [
                    "glimix-core FastScanner",
                    f"{fmt_seconds(gr['setup'])} (given kronlmm's eigh, δ)",
                    fmt_seconds(gr["scan"]),
                    "-",
                    "-",
                    _ratio(gr["scan"], res.scan_seconds),
                    "-",
                    fmt_agree(*res.checks["glimix"]),
                ]
            )
        else:
            bound = _bound(g, res.scan_seconds)
            cells = [peer_cell(g, res.skip), "-", "-", "-", bound, "-", "-"]
            rows.append([*nm, "glimix-core FastScanner", *cells])
        f = res.fastlmm
        name = "FaST-LMM single_snp"
        if f is not None and f.ok:
            fr = f.result
            rows.append(
                nm
                + [
                    name,
                    fmt_seconds(fr["full"] - fr["scan"]),
                    f"{fmt_seconds(fr['scan'])} (cached call)",
                    fmt_seconds(fr["full"]),
                    "-",
                    _ratio(fr["scan"], res.scan_seconds),
                    _ratio(fr["full"], kt),
                    fmt_agree(*res.checks["fastlmm"]),
                ]
            )
        else:
            cell = res.fastlmm_skip or peer_cell(f, res.skip)
            bound = _bound(f, kt)
            rows.append(nm + [name, cell] + ["-"] * 4 + [bound, "-"])
    return rows


# ---- report -------------------------------------------------------------------------------
def print_report(
    multi: list[MultiResult], single: list[SingleResult], args: argparse.Namespace, nthreads: int
) -> None:
    if multi:
        print()
        print(
            f"## (a, b) Multi-trait scan, test 'any' (dof p), Kron2Sum rank-1 ML null "
            f"({nthreads} thread(s) each)"
        )
        print()
        print_table(MULTI_HEADER, multi_rows(multi), align="lrrrrrrrrr")
        print()
        print(
            "- kronlmm scan: `scan_variants(G, 'any')` on all m candidates, median of "
            f"{args.repeat}; null fit (constructor + fit, not part of the scan) shown for "
            "scale. Uᵀ G rotation: the bare product in the scanner's blocks, median of "
            f"{args.repeat}; scan / rotation target ≤ {ROTATION_TARGET:g}."
        )
        print(
            "- glimix set-up: its Kron2Sum constructor + C₀, C₁ set to kronlmm's estimates "
            "+ get_fast_scanner() + null_lml() (no fit); glimix scan: one scan(Iₚ, g) call "
            "per candidate, mean × m when 'extrap.'; max abs Δ −log10 p on the candidates "
            "glimix-core scanned."
        )
        for res in multi:
            gflops = 2.0 * res.n * res.k * res.m / res.rotation_seconds / 1e9
            extra = ", ".join(_fmt_check(k, v) for k, v in res.checks.items())
            print(
                f"- {res.label}: k = {res.k}, block {res.block_size} candidates; rotation "
                f"{gflops:.1f} GFLOP/s; scanner build {fmt_seconds(res.scanner_seconds)}; "
                f"null lml {res.fit_lml:.4f}; {extra}."
            )
            if res.glimix is not None and res.glimix.status in ("error", "crashed"):
                print(f"- {res.label}: glimix-core {res.glimix.status}: {res.glimix.message}")
    if single:
        print()
        print(
            f"## (c) Single-trait scan, K from {KINSHIP_VARIANTS} variants, δ fixed "
            f"({nthreads} thread(s) each)"
        )
        print()
        print_table(SINGLE_HEADER, single_rows(single), align="rrlrrrrrrr")
        print()
        print(
            "- kronlmm set-up: eigh(K) + LMM(y, X, QS) + fit() (ML δ) + get_fast_scanner(); "
            f"scan: scan_variants(G), median of {args.repeat}. glimix-core: FastScanner "
            "given kronlmm's eigendecomposition and δ (its set-up is the constructor only), "
            "fast_scan(G) once. FaST-LMM: single_snp(K0=KernelData(K), "
            "leave_out_one_chrom=False): set-up + scan = first call (eigh + REML h² + scan, "
            "writes its cache file), scan = second call with the cache, set-up = difference."
        )
        print(
            "- kronlmm and glimix-core: likelihood-ratio test at the same ML δ (should agree "
            "to rounding); FaST-LMM: Wald F-test at its REML h², so −log10 p differ a little."
        )
        for res in single:
            gflops = 2.0 * res.n * res.k * res.m / res.rotation_seconds / 1e9
            parts = [f"k = {res.k}", f"δ = {res.delta:.4f}", f"rotation {gflops:.1f} GFLOP/s"]
            for key, v in res.checks.items():
                if key in ("glimix", "fastlmm"):
                    continue
                parts.append(f"{key} {v:+.2e}" if isinstance(v, float) else f"{key} {v}")
            print(f"- n = {res.n}: " + "; ".join(parts) + ".")
            for name, out in (("glimix-core", res.glimix), ("FaST-LMM", res.fastlmm)):
                if out is not None and out.status in ("error", "crashed"):
                    print(f"- n = {res.n}: {name} {out.status}: {out.message.strip()}")


THREADS_HEADER = (
    "scan",
    "BLAS threads",
    "kronlmm scan",
    "rotation, same threads",
    "scan / same-thread rotation",
    f"scan / all-thread rotation (target ≤ {THREADS_TARGET:g})",
)


def thread_rows(
    multi: list[MultiResult], single: list[SingleResult], nthreads: int
) -> list[list[str]]:
    rows = []
    cases = [(f"multi {r.label}", r) for r in multi]
    cases += [(f"single n = {r.n}", r) for r in single]
    for label, r in cases:
        t = r.threads
        runs = [
            ("1 (one block at a time)", t.scan_one, t.rotation_one),
            (f"{nthreads} (blocks on {nthreads} threads)", r.scan_seconds, r.rotation_seconds),
        ]
        if math.isfinite(t.dask):
            runs.append((f"{nthreads} Dask threads, 1 BLAS thread each", t.dask, t.rotation_one))
        for name, scan, rot in runs:
            rows.append(
                [
                    label,
                    name,
                    fmt_seconds(scan),
                    fmt_seconds(rot),
                    f"{scan / rot:.2f}",
                    f"{scan / r.rotation_seconds:.2f}",
                ]
            )
    return rows


def _fmt_check(key: str, value: float) -> str:
    if "correlation" in key:
        return f"{key} {value:.6f}"
    if "kronlmm max" in key:
        return f"{key} {value:.1f}"
    return f"{key} {value:+.2e}"


def print_threads(multi: list[MultiResult], single: list[SingleResult], nthreads: int) -> None:
    print()
    print(f"## (d) Threads: one BLAS thread against {nthreads} (issue #17)")
    print()
    print_table(THREADS_HEADER, thread_rows(multi, single, nthreads), align="llrrrr")
    print()
    print(
        "- 1: `threadpoolctl` limit 1 (one block at a time, one BLAS thread). "
        f"{nthreads}: the default, as many blocks at once as BLAS has threads, one BLAS "
        "thread each (`ThreadedExecution`). Dask: `DaskExecution()` on Dask's local threaded "
        "scheduler, one BLAS thread per task as on each worker of a cluster; its 'same "
        "threads' rotation is the one-thread one (per worker). Rotation: `UᵀG` alone in the "
        "scanner's blocks."
    )


def print_targets(multi: list[MultiResult], single: list[SingleResult]) -> int:
    print()
    print("## Targets")
    print()
    missed = 0
    cases17 = [(f"multi {r.label}", r) for r in multi]
    cases17 += [(f"single n = {r.n}", r) for r in single]
    for label, r in cases17:
        ratio = r.scan_seconds / r.rotation_seconds
        good = ratio <= THREADS_TARGET
        missed += not good
        print(
            f"- {'PASS' if good else 'MISS'} {label}: scan / all-thread rotation = {ratio:.2f} "
            f"(issue #17 target ≤ {THREADS_TARGET:g})"
        )
        good = r.scan_seconds <= r.threads.scan_one
        missed += not good
        print(
            f"- {'PASS' if good else 'MISS'} {label}: all threads {fmt_seconds(r.scan_seconds)} "
            f"vs one {fmt_seconds(r.threads.scan_one)} (issue #17: never slower with more threads)"
        )
    cases = [(f"multi {r.label}", r.scan_seconds, r.rotation_seconds) for r in multi]
    cases += [(f"single n = {r.n}", r.scan_seconds, r.rotation_seconds) for r in single]
    for label, scan, rot in cases:
        good = scan / rot <= ROTATION_TARGET
        missed += not good
        print(
            f"- {'PASS' if good else 'MISS'} {label}: scan / rotation = {scan / rot:.2f} "
            f"(target ≤ {ROTATION_TARGET:g})"
        )
    return missed


# ---- command line -------------------------------------------------------------------------
def parse_multi_case(text: str) -> tuple[int, int, int]:
    try:
        n, p, r = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected n,p,r, got {text!r}") from None
    return n, p, r


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description="Association scans: kronlmm vs glimix-core (multi- and single-trait) "
        "and FaST-LMM single_snp (single-trait), on the same simulated data.",
        epilog="Multi-trait cases (n, p, r): "
        + "; ".join(f"{c}" for c in MULTI_CASES)
        + f". Single-trait n: {', '.join(map(str, SINGLE_CASES))}.",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smallest case of each part only, m = 1000 unless --m is given",
    )
    ap.add_argument("--m", type=int, default=None, help="candidates per case (default 10000)")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS/OpenMP threads for every library (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, "
        "MKL_NUM_THREADS); default: all available cores",
    )
    ap.add_argument("--no-peers", action="store_true", help="kronlmm only")
    ap.add_argument(
        "--parts",
        nargs="+",
        choices=("multi", "single"),
        default=("multi", "single"),
        help="which parts to run (default both)",
    )
    ap.add_argument(
        "--cases",
        nargs="+",
        type=parse_multi_case,
        metavar="N,P,R",
        help="multi-trait cases instead of the defaults",
    )
    ap.add_argument(
        "--single-n", nargs="+", type=int, metavar="N", help="single-trait sample sizes"
    )
    ap.add_argument(
        "--glimix-subset",
        type=int,
        default=200,
        metavar="K",
        help="candidates glimix-core's KronFastScanner scans (time extrapolated to m)",
    )
    ap.add_argument(
        "--peer-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="time limit of each peer child process, seconds (default 600)",
    )
    ap.add_argument(
        "--peers-python",
        default=str(DEFAULT_PEERS_PYTHON),
        metavar="PATH",
        help="interpreter with fastlmm installed (default .venv-peers/bin/python)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="kronlmm timings per case (median)")
    ap.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    nthreads = ensure_threads(args.threads)
    if args.m is None:
        args.m = 1000 if args.quick else 10_000
    if args.m < 1 or args.glimix_subset < 1:
        raise SystemExit("--m and --glimix-subset must be ≥ 1")
    multi_cases = list(args.cases or MULTI_CASES)
    single_cases = list(args.single_n or SINGLE_CASES)
    if args.quick:
        multi_cases, single_cases = multi_cases[:1], single_cases[:1]
    print(machine_summary(nthreads))
    if not args.no_peers:
        from importlib.metadata import version

        try:
            print(f"glimix-core {version('glimix-core')}")
        except Exception:  # not installed
            print("glimix-core is not installed: running kronlmm only")
            args.no_peers = True
    print(f"m = {args.m} candidates per case; FaST-LMM interpreter: {args.peers_python}")

    # Untimed warm-up: lazy imports (SciPy's stats, LAPACK) are not charged to case 1.
    from kronlmm.lmm import Kron2Sum

    warm = simulate_kron2sum(60, 2, 10, 1, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wm = Kron2Sum(warm["Y"], warm["A"], warm["X"], warm["G"], 1)
        wm.fit(verbose=False)
    wm.get_fast_scanner().scan_variants(simulate_dosages(60, 5, np.random.default_rng(1)))
    from kronlmm.gwas import DaskExecution, scan_candidates

    dosages = simulate_dosages(60, 5, np.random.default_rng(1))
    scan_candidates(wm.get_fast_scanner(), dosages, execution=DaskExecution())

    multi = [run_multi(c, args) for c in multi_cases] if "multi" in args.parts else []
    single = [run_single(n, args) for n in single_cases] if "single" in args.parts else []
    print_report(multi, single, args, nthreads)
    print_threads(multi, single, nthreads)
    missed = print_targets(multi, single)
    print(f"\n{missed} target(s) missed" if missed else "\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
