"""Benchmark: lm_fit + e_bayes of kronlmm.features against pylimma 0.2.0 and R limma.

Run ``python benchmarks/bench_features.py --help``; see ``benchmarks/README.md``.

Cases (m features × n samples): 10,000 × 200 and 50,000 × 1,000, simulated
log-expression (gene means ~ N(8, 2²), residual variances from a scaled inverse χ²₄ prior,
10% of genes with a group effect). Design: intercept, a two-level group and a continuous
covariate. Fits, each timed from the matrix to the moderated statistics:

- ``OLS``: ``lm_fit(Y, design)`` + ``e_bayes(fit)``;
- ``trend+robust``: ``lm_fit`` + ``e_bayes(fit, trend=True, robust=True)``, and that
  ``e_bayes`` call alone (the issue's ≥ 5× pylimma target);
- ``block GLS``: ``lm_fit(Y, design, block=, correlation=0.3)`` + ``e_bayes`` (blocks of 4
  samples).

pylimma runs in a child process of the same interpreter (it regenerates the same data
from the seed, so nothing large is transferred; imports are not timed), R limma through
``Rscript`` (data written once as a binary file; times taken inside R with
``proc.time``). Every side prints its BLAS threads; ``--threads N`` sets
``OMP/OPENBLAS/MKL_NUM_THREADS`` for all of them. The moderated t of the group
coefficient is compared between the sides (max relative difference).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import ensure_threads, fmt_seconds, machine_summary, print_table, run_peer

CASES = {"small": (10_000, 200), "large": (50_000, 1_000)}
BLOCK_SIZE = 4
CORRELATION = 0.3
FITS = ("OLS", "trend+robust", "eBayes(trend, robust) alone", "block GLS")


def simulate(m: int, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Y (m × n), design (n × 3), block (n): see the module docstring."""
    rng = np.random.default_rng(seed)
    group = np.repeat([0.0, 1.0], n // 2)
    covariate = rng.normal(size=n)
    design = np.c_[np.ones(n), group, covariate]
    s2 = 0.1 * 4 / rng.chisquare(4, m)
    beta = np.c_[
        rng.normal(8, 2, m),
        np.where(rng.random(m) < 0.1, rng.normal(0, 1, m), 0.0),
        rng.normal(0, 0.1, m),
    ]
    Y = beta @ design.T
    Y += rng.standard_normal((m, n)) * np.sqrt(s2)[:, None]
    block = np.repeat(np.arange(n // BLOCK_SIZE), BLOCK_SIZE)
    return {"Y": Y, "design": design, "block": block}


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    pools = [f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()]
    return ", ".join(pools) or "none found"


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# ---- kronlmm -------------------------------------------------------------------------------
def kronlmm_times(data: dict[str, np.ndarray], repeat: int) -> dict[str, Any]:
    from kronlmm.features import e_bayes, lm_fit

    Y, X, block = data["Y"], data["design"], data["block"]
    e_bayes(lm_fit(Y[:200], X))  # warm-up: imports and first calls not charged
    runs: dict[str, list[float]] = {f: [] for f in FITS}
    t_group: dict[str, np.ndarray] = {}
    for _ in range(repeat):
        t, fit = _timed(lambda: lm_fit(Y, X))
        t2, eb = _timed(lambda fit=fit: e_bayes(fit))
        runs["OLS"].append(t + t2)
        t_group["OLS"] = eb.t[:, 1]
        t3, eb = _timed(lambda fit=fit: e_bayes(fit, trend=True, robust=True))
        runs["trend+robust"].append(t + t3)
        runs["eBayes(trend, robust) alone"].append(t3)
        t_group["trend+robust"] = eb.t[:, 1]
        t4, eb = _timed(lambda: e_bayes(lm_fit(Y, X, block=block, correlation=CORRELATION)))
        runs["block GLS"].append(t4)
        t_group["block GLS"] = eb.t[:, 1]
    return {
        "times": {f: float(np.median(v)) for f, v in runs.items()},
        "t": t_group,
        "threads": blas_threads(),
    }


# ---- pylimma (child process) ---------------------------------------------------------------
def pylimma_case(m: int, n: int, seed: int, fit: str) -> dict[str, Any]:
    """One fit by pylimma on the same simulated data (run by ``run_peer``)."""
    import warnings

    import pylimma

    data = simulate(m, n, seed)
    Y, X, block = data["Y"], data["design"], data["block"]
    warnings.simplefilter("ignore")
    out: dict[str, Any] = {"threads": blas_threads()}
    if fit == "OLS":
        t, eb = _timed(lambda: pylimma.e_bayes(pylimma.lm_fit(Y, X)))
        out["times"] = {"OLS": t}
    elif fit == "trend+robust":
        t, lm = _timed(lambda: pylimma.lm_fit(Y, X))
        t2, eb = _timed(lambda: pylimma.e_bayes(lm, trend=True, robust=True))
        out["times"] = {"trend+robust": t + t2, "eBayes(trend, robust) alone": t2}
    else:
        t, eb = _timed(
            lambda: pylimma.e_bayes(pylimma.lm_fit(Y, X, block=block, correlation=CORRELATION))
        )
        out["times"] = {"block GLS": t}
    out["t"] = np.asarray(eb["t"])[:, 1]
    return out


# ---- R limma -------------------------------------------------------------------------------
R_SCRIPT = r"""
args <- commandArgs(TRUE)
m <- as.integer(args[2]); n <- as.integer(args[3])
suppressMessages(library(limma))
con <- file(args[1], "rb")
Y <- matrix(readBin(con, "double", m * n), m, n)
X <- matrix(readBin(con, "double", n * 3), n, 3)
block <- readBin(con, "double", n)
close(con)
el <- function() proc.time()[["elapsed"]]
out <- list()
t0 <- el(); fit <- lmFit(Y, X); eb <- eBayes(fit); out$OLS <- el() - t0
t_ols <- eb$t[, 2]
t0 <- el(); fit <- lmFit(Y, X); t1 <- el()
eb <- eBayes(fit, trend = TRUE, robust = TRUE); t2 <- el()
out[["trend+robust"]] <- t2 - t0; out[["eBayes(trend, robust) alone"]] <- t2 - t1
t_tr <- eb$t[, 2]
t0 <- el(); eb <- eBayes(lmFit(Y, X, block = block, correlation = 0.3))
out[["block GLS"]] <- el() - t0
t_gls <- eb$t[, 2]
con <- file(args[4], "wb"); writeBin(c(t_ols, t_tr, t_gls), con); close(con)
blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "")
threads <- Sys.getenv(c("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
cat(sprintf("TIME\t%s\t%.6f\n", names(out), unlist(out)), sep = "")
cat(sprintf("BLAS\t%s (La_library %s); OPENBLAS_NUM_THREADS=%s OMP_NUM_THREADS=%s\n",
            blas, La_library(), threads[1], threads[2]))
cat(sprintf("LIMMA\t%s\n", as.character(packageVersion("limma"))))
"""


def r_limma_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    proc = subprocess.run(
        ["Rscript", "-e", "suppressMessages(library(limma))"],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def r_limma_times(data: dict[str, np.ndarray], timeout: float) -> dict[str, Any]:
    m, n = data["Y"].shape
    with tempfile.TemporaryDirectory(prefix="kronlmm-bench-r-") as tmp:
        inp, outp, script = Path(tmp) / "in.bin", Path(tmp) / "t.bin", Path(tmp) / "b.R"
        with open(inp, "wb") as fh:  # column-major, as R reads a matrix
            np.asfortranarray(data["Y"]).T.astype("<f8").tofile(fh)
            np.asfortranarray(data["design"]).T.astype("<f8").tofile(fh)
            data["block"].astype("<f8").tofile(fh)
        script.write_text(R_SCRIPT)
        try:
            proc = subprocess.run(
                ["Rscript", str(script), str(inp), str(m), str(n), str(outp)],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"> {timeout:g} s (limit)"}
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1][:80]}
        times, blas, version = {}, "", ""
        for line in proc.stdout.splitlines():
            parts = line.split("\t")
            if parts[0] == "TIME":
                times[parts[1]] = float(parts[2])
            elif parts[0] == "BLAS":
                blas = parts[1]
            elif parts[0] == "LIMMA":
                version = parts[1]
        t = np.fromfile(outp, dtype="<f8").reshape(3, m)
    return {
        "times": times,
        "t": {"OLS": t[0], "trend+robust": t[1], "block GLS": t[2]},
        "threads": blas,
        "version": version,
    }


def rel_diff(a: Any, b: Any) -> str:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return "shape differs"
    return f"{np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)):.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=["small", "large"])
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads, every side")
    parser.add_argument("--repeat", type=int, default=3, help="kronlmm runs per fit (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pylimma", action="store_true")
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--peer-timeout", type=float, default=600.0, help="seconds per peer run")
    args = parser.parse_args()
    nthreads = ensure_threads(args.threads)
    print(machine_summary(nthreads))

    have_r = not args.no_r and r_limma_available()
    try:
        import pylimma  # noqa: F401

        have_pylimma = not args.no_pylimma
    except ImportError:
        have_pylimma = False
    print(f"pylimma: {'yes' if have_pylimma else 'no'}; R limma: {'yes' if have_r else 'no'}")

    rows = []
    notes = []
    for case in args.cases:
        m, n = CASES[case]
        data = simulate(m, n, args.seed)
        ours = kronlmm_times(data, args.repeat)
        notes.append(f"{m} x {n}: kronlmm BLAS threads: {ours['threads']}")
        r_out: dict[str, Any] = {}
        if have_r:
            r_out = r_limma_times(data, args.peer_timeout)
            if "error" in r_out:
                notes.append(f"{m} x {n}: R limma: {r_out['error']}")
            else:
                notes.append(f"{m} x {n}: R limma {r_out['version']}, BLAS: {r_out['threads']}")
        py: dict[str, Any] = {"times": {}, "t": {}}
        if have_pylimma:
            for fit in ("OLS", "trend+robust", "block GLS"):
                res = run_peer(
                    "bench_features:pylimma_case",
                    {},
                    timeout=args.peer_timeout,
                    options={"m": m, "n": n, "seed": args.seed, "fit": fit},
                )
                if res.ok:
                    py["times"].update(res.result["times"])
                    py["t"][fit] = res.result["t"]
                    py["threads"] = res.result["threads"]
                else:
                    py["times"][fit] = res.short()
            notes.append(f"{m} x {n}: pylimma BLAS threads: {py.get('threads', '?')}")
        for fit in FITS:
            ours_t = ours["times"][fit]
            r_t = r_out.get("times", {}).get(fit)
            p_t = py["times"].get(fit)
            row = [f"{m:,} x {n:,}", fit, fmt_seconds(ours_t)]
            row.append(fmt_seconds(r_t) if isinstance(r_t, float) else "-")
            row.append(f"{r_t / ours_t:.2f}" if isinstance(r_t, float) else "-")
            row.append(fmt_seconds(p_t) if isinstance(p_t, float) else (p_t or "-"))
            row.append(f"{p_t / ours_t:.1f}" if isinstance(p_t, float) else "-")
            key = fit if fit in ours["t"] else None
            agree = []
            if key and key in r_out.get("t", {}):
                agree.append("R " + rel_diff(ours["t"][key], r_out["t"][key]))
            if key and key in py["t"]:
                agree.append("pylimma " + rel_diff(ours["t"][key], py["t"][key]))
            row.append(", ".join(agree) or "-")
            rows.append(row)
        del data
    print()
    print_table(
        [
            "case (m x n)",
            "fit",
            "kronlmm",
            "R limma",
            "R / kronlmm",
            "pylimma",
            "pylimma / kronlmm",
            "max rel. diff of t (group)",
        ],
        rows,
    )
    print()
    for note in notes:
        print("-", note)
    print("- times: kronlmm median of", args.repeat, "runs; R and pylimma one run each")
    print("- targets: kronlmm <= R limma on every fit; >= 5x pylimma on eBayes(trend, robust)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
