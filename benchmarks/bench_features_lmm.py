"""Benchmark: per-feature LMMs from summary statistics — kronlmm against FLASHMM, lme4 and
statsmodels MixedLM.

Run ``python benchmarks/bench_features_lmm.py --help`` (or ``make bench-features-lmm``);
see ``benchmarks/README.md`` for the recorded results. All sides fit the same simulated
data with the same method (REML by default) and the same BLAS thread settings.

(a) 2,000 features × 5,000 cells, 20 subjects (10 per treatment arm), fixed effects
    intercept + treatment + a 3-level cell type, with one random component (subject) and
    two (subject + a 5-level batch crossed with subjects): kronlmm ``lmm_fit`` on the dense
    features × cells matrix against FLASHMM's ``lmmfit`` on the same matrix (R, timed
    inside R; when FLASHMM is installed, e.g. in a private library given by
    ``--r-lib``/``R_LIBS_USER``). Both times include the summary statistics. Also shown:
    FLASHMM's negative variance components and unconverged features, and the largest
    log-likelihood difference where FLASHMM's θ are ≥ 0 (FLASHMM's REML log-likelihood
    converted to lme4's convention, − ½ log|XᵀX|).
(b) lme4 (``lmer``, R) and statsmodels ``MixedLM`` (one random component only) on a subset
    of the features (``--subset``, default 40), per feature, against kronlmm's time per
    feature on all 2,000.
(c) 20,000 features × 100,000 cells of sparse log-normalised counts (≈ 5% non-zero),
    one and two random components, kronlmm only: summary statistics (one pass over the
    CSR matrix), fit, peak memory of the benchmark process.

Data: treatment effects 0 (most features) or 0.5; subject variances drawn from
{0, 0.05, 0.2, 0.5} (a quarter of the features have none, where FLASHMM goes negative about
half the time); batch variances {0, 0.05}; residual variance 1.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import ensure_threads, fmt_seconds, machine_summary, print_table

REPO = Path(__file__).resolve().parent.parent

_R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; what <- args[2]; nsub <- as.integer(args[3])
meta <- read.csv(file.path(dir, "meta.csv"))
m <- meta$m; n <- meta$n; p <- meta$p; q <- meta$q
d <- as.integer(strsplit(as.character(meta$d), ";")[[1]])
method <- as.character(meta$method)
Y <- matrix(readBin(file.path(dir, "Y.bin"), "double", m * n), nrow = m, ncol = n)
X <- matrix(readBin(file.path(dir, "X.bin"), "double", n * p), nrow = n, ncol = p)
Z <- matrix(readBin(file.path(dir, "Z.bin"), "double", n * q), nrow = n, ncol = q)
blas <- tryCatch(as.character(extSoftVersion()["BLAS"]), error = function(e) "?")
if (what == "flashmm") {
  suppressPackageStartupMessages(library(FLASHMM))
  t0 <- proc.time()[["elapsed"]]
  fit <- lmmfit(Y, X, Z, d = d, method = method)
  elapsed <- proc.time()[["elapsed"]] - t0
  k <- length(d)
  out <- data.frame(loglik = fit$logLik, niter = fit$niter,
                    max_abs_dlogl = apply(abs(fit$dlogL), 2, max))
  for (i in seq_len(k + 1)) out[[paste0("theta", i)]] <- fit$theta[i, ]
  write.csv(out, file.path(dir, "flashmm.csv"), row.names = FALSE)
} else {
  suppressPackageStartupMessages(library(lme4))
  subset <- as.integer(strsplit(as.character(meta$subset), ";")[[1]]) + 1
  groups <- list()
  start <- 0
  for (i in seq_along(d)) {
    block <- Z[, (start + 1):(start + d[i]), drop = FALSE]
    groups[[i]] <- factor(max.col(block))
    start <- start + d[i]
  }
  g1 <- groups[[1]]
  g2 <- if (length(groups) > 1) groups[[2]] else NULL
  form <- if (is.null(g2)) y ~ 0 + X + (1 | g1) else y ~ 0 + X + (1 | g1) + (1 | g2)
  rows <- list()
  t0 <- proc.time()[["elapsed"]]
  for (j in subset) {
    y <- Y[j, ]
    f <- suppressMessages(suppressWarnings(lmer(form, REML = (method == "REML"))))
    vc <- as.data.frame(VarCorr(f))
    rows[[length(rows) + 1]] <- c(loglik = as.numeric(logLik(f)), vc$vcov)
  }
  elapsed <- proc.time()[["elapsed"]] - t0
  write.csv(do.call(rbind, rows), file.path(dir, "lme4.csv"), row.names = FALSE)
}
cat(sprintf("ELAPSED %.6f\nBLAS %s\n", elapsed, blas))
"""


# ---- data -----------------------------------------------------------------------------------
def simulate(nfeatures: int, ncells: int, nsub: int, nbatch: int, seed: int) -> dict[str, Any]:
    """Dense features × cells responses with subject (and batch) effects."""
    rng = np.random.default_rng(seed)
    subject = np.sort(rng.integers(0, nsub, size=ncells))
    treated = (subject >= nsub // 2).astype(float)
    cls = rng.integers(0, 3, size=ncells)
    batch = rng.integers(0, nbatch, size=ncells)
    X = np.column_stack([np.ones(ncells), treated, cls == 1, cls == 2]).astype(float)
    Zs = np.eye(nsub)[subject]
    Zb = np.eye(nbatch)[batch]
    theta_s = rng.choice([0.0, 0.05, 0.2, 0.5], size=nfeatures)
    theta_b = rng.choice([0.0, 0.05], size=nfeatures)
    beta = np.column_stack(
        [
            rng.normal(2, 1, nfeatures),
            np.where(rng.random(nfeatures) < 0.1, 0.5, 0.0),
            rng.normal(0, 0.2, nfeatures),
            rng.normal(0, 0.2, nfeatures),
        ]
    )
    Y = beta @ X.T
    Y += np.sqrt(theta_s)[:, None] * rng.normal(size=(nfeatures, nsub))[:, subject]
    Y += np.sqrt(theta_b)[:, None] * rng.normal(size=(nfeatures, nbatch))[:, batch]
    Y += rng.normal(size=(nfeatures, ncells))
    return {"Y": Y, "X": X, "Zs": Zs, "Zb": Zb, "subject": subject}


def simulate_sparse_counts(nfeatures: int, ncells: int, nsub: int, seed: int) -> dict[str, Any]:
    """Sparse log1p counts (CSR, features × cells), ≈ 5% non-zero on average, built row by
    row (never dense): the non-zero positions of a row are the partial sums of geometric
    gaps (distinct and sorted), the values log1p(1 + Poisson(exp(subject effect)))."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    subject = np.sort(rng.integers(0, nsub, size=ncells))
    X = np.column_stack([np.ones(ncells), subject >= nsub // 2, rng.random(ncells) < 0.3])
    density = rng.beta(0.6, 11.0, size=nfeatures).clip(1e-4, 0.9)  # mean ≈ 0.05
    sd = rng.choice([0.0, 0.3], size=nfeatures)
    effect = rng.normal(size=(nfeatures, nsub)) * sd[:, None]
    cols = []
    for d in density:
        gaps = rng.geometric(d, size=int(ncells * d * 1.2 + 10 * np.sqrt(ncells * d) + 20))
        pos = np.cumsum(gaps) - 1
        cols.append(pos[pos < ncells].astype(np.int32))
    lengths = np.array([c.size for c in cols])
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate(cols)
    del cols
    vals = np.empty(indices.size)
    for start in range(0, nfeatures, 1000):  # values in row blocks: small temporaries
        stop = min(start + 1000, nfeatures)
        lo, hi = indptr[start], indptr[stop]
        rows = np.repeat(np.arange(start, stop), lengths[start:stop])
        mean = np.exp(effect[rows, subject[indices[lo:hi]]])
        vals[lo:hi] = np.log1p(1.0 + rng.poisson(mean))
    Y = sp.csr_array((vals, indices, indptr), shape=(nfeatures, ncells))
    Z = sp.csr_array((np.ones(ncells), (np.arange(ncells), subject)), shape=(ncells, nsub))
    batch = rng.integers(0, 5, size=ncells)
    Zb = sp.csr_array((np.ones(ncells), (np.arange(ncells), batch)), shape=(ncells, 5))
    return {"Y": Y, "X": X.astype(float), "Z": Z, "Zb": Zb}


# ---- sides ------------------------------------------------------------------------------------
def kronlmm_threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [f"{i['internal_api']}={i['num_threads']}" for i in threadpool_info()]
        return ", ".join(info) or "none found"
    except ImportError:  # pragma: no cover
        return "threadpoolctl not installed"


def run_r(
    what: str, data: dict[str, Any], d: list[int], method: str, subset: np.ndarray, r_lib: str
) -> dict[str, Any]:
    """Run FLASHMM's lmmfit or lme4 on a subset in Rscript; time inside R."""
    with tempfile.TemporaryDirectory(prefix="kronlmm-bench-flashmm-") as tmp:
        Y, X = data["Y"], data["X"]
        Z = np.hstack([data["Zs"], data["Zb"]][: len(d)])
        np.ascontiguousarray(Y.T).tofile(os.path.join(tmp, "Y.bin"))  # column-major for R
        np.ascontiguousarray(X.T).tofile(os.path.join(tmp, "X.bin"))
        np.ascontiguousarray(Z.T).tofile(os.path.join(tmp, "Z.bin"))
        with open(os.path.join(tmp, "meta.csv"), "w", encoding="utf-8") as fh:
            fh.write("m,n,p,q,d,method,subset\n")
            fh.write(
                f"{Y.shape[0]},{Y.shape[1]},{X.shape[1]},{Z.shape[1]},"
                f"{';'.join(map(str, d))},{method},{';'.join(map(str, subset))}\n"
            )
        script = os.path.join(tmp, "run.R")
        with open(script, "w", encoding="utf-8") as fh:
            fh.write(_R_SCRIPT)
        env = dict(os.environ)
        if r_lib:
            env["R_LIBS_USER"] = r_lib
        proc = subprocess.run(
            ["Rscript", script, tmp, what, "0"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=3600,
        )
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
        lines = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines() if " " in line)
        import pandas as pd

        table = pd.read_csv(os.path.join(tmp, "flashmm.csv" if what == "flashmm" else "lme4.csv"))
        return {"seconds": float(lines["ELAPSED"]), "blas": lines.get("BLAS", "?"), "table": table}


def r_has(package: str, r_lib: str) -> bool:
    if shutil.which("Rscript") is None:
        return False
    env = dict(os.environ)
    if r_lib:
        env["R_LIBS_USER"] = r_lib
    proc = subprocess.run(
        ["Rscript", "-e", f"quit(status = !requireNamespace('{package}', quietly = TRUE))"],
        capture_output=True,
        env=env,
        check=False,
    )
    return proc.returncode == 0


def statsmodels_subset(data: dict[str, Any], subset: np.ndarray, method: str) -> float | None:
    import warnings

    try:
        from statsmodels.regression.mixed_linear_model import MixedLM
    except ImportError:
        return None

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in subset:
            MixedLM(data["Y"][j], data["X"], groups=data["subject"]).fit(reml=method == "REML")
    return (time.perf_counter() - t0) / len(subset)


# ---- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads for all sides")
    parser.add_argument("--features", type=int, default=2000)
    parser.add_argument("--cells", type=int, default=5000)
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--method", choices=["REML", "ML"], default="REML")
    parser.add_argument("--subset", type=int, default=40, help="features for lme4/statsmodels")
    parser.add_argument("--repeat", type=int, default=3, help="kronlmm fits per case (median)")
    parser.add_argument("--r-lib", default=os.environ.get("R_LIBS_USER", "/work/rlib"))
    parser.add_argument("--no-r", action="store_true", help="skip FLASHMM and lme4")
    parser.add_argument("--large-features", type=int, default=20000)
    parser.add_argument("--large-cells", type=int, default=100000)
    parser.add_argument("--no-large", action="store_true", help="skip case (c)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    nthreads = ensure_threads(args.threads)

    from kronlmm.features import lmm_fit

    print(machine_summary(nthreads))
    print(f"kronlmm BLAS: {kronlmm_threads()}")
    data = simulate(args.features, args.cells, args.subjects, 5, args.seed)
    lmm_fit(data["Y"][:5], data["X"], data["Zs"])  # warm-up: imports
    have_flashmm = not args.no_r and r_has("FLASHMM", args.r_lib)
    have_lme4 = not args.no_r and r_has("lme4", args.r_lib)
    if not have_flashmm:
        print("FLASHMM not found in R (install it into --r-lib): FLASHMM columns empty")
    rng = np.random.default_rng(args.seed + 1)
    subset = np.sort(rng.choice(args.features, size=min(args.subset, args.features), replace=False))

    rows_a, rows_b = [], []
    blas_r = "-"
    shift = 0.5 * np.linalg.slogdet(data["X"].T @ data["X"])[1] if args.method == "REML" else 0.0
    for K, label in ((1, "subject"), (2, "subject + batch")):
        Z = [data["Zs"], data["Zb"]][:K]
        d = [z.shape[1] for z in Z]
        times = []
        fit = None
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            fit = lmm_fit(data["Y"], data["X"], Z, method=args.method)
            times.append(time.perf_counter() - t0)
        assert fit is not None
        t_k = float(np.median(times))
        row = [f"K={K} ({label})", fmt_seconds(t_k), f"{int((~fit.converged).sum())}"]
        if have_flashmm:
            flash = run_r("flashmm", data, d, args.method, subset, args.r_lib)
            if "error" in flash:
                row += [f"error: {flash['error'][:40]}", "-", "-", "-", "-"]
            else:
                blas_r = flash["blas"]
                tab = flash["table"]
                theta = tab[[f"theta{i + 1}" for i in range(K + 1)]].to_numpy()
                negative = (theta[:, :K] < 0).any(axis=1)
                unconverged = int((tab.max_abs_dlogl > 1e-5).sum())
                ok = ~negative & (tab.max_abs_dlogl.to_numpy() <= 1e-5)
                dll = np.abs(tab.loglik.to_numpy()[ok] - shift - fit.loglik[ok]).max()
                row += [
                    fmt_seconds(flash["seconds"]),
                    f"{flash['seconds'] / t_k:.1f}×",
                    f"{int(negative.sum())}",
                    f"{unconverged}",
                    f"{dll:.1e}",
                ]
        else:
            row += ["-"] * 5
        rows_a.append(row)

        per_feature = t_k / args.features
        row_b = [f"K={K} ({label})", f"{len(subset)}", fmt_seconds(per_feature)]
        if have_lme4:
            lme4 = run_r("lme4", data, d, args.method, subset, args.r_lib)
            if "error" in lme4:
                row_b += [f"error: {lme4['error'][:40]}", "-"]
            else:
                t_l = lme4["seconds"] / len(subset)
                ll = lme4["table"]["loglik"].to_numpy()
                diff = np.abs(ll - fit.loglik[subset]).max()
                row_b += [fmt_seconds(t_l), f"{t_l / per_feature:.0f}× (Δℓ {diff:.1e})"]
        else:
            row_b += ["-", "-"]
        if K == 1:
            t_s = statsmodels_subset(data, subset, args.method)
            row_b += ["-" if t_s is None else fmt_seconds(t_s)]
            row_b += ["-" if t_s is None else f"{t_s / per_feature:.0f}×"]
        else:
            row_b += ["n/a", "n/a"]
        rows_b.append(row_b)

    print(
        f"\n(a) {args.features} features × {args.cells} cells, {args.subjects} subjects, "
        f"{args.method}; R BLAS: {blas_r}; threads: {nthreads}"
    )
    print_table(
        [
            "random effects",
            "kronlmm",
            "kronlmm unconverged",
            "FLASHMM lmmfit",
            "FLASHMM / kronlmm",
            "FLASHMM θ<0",
            "FLASHMM unconverged",
            "max |Δℓ| (FLASHMM θ≥0)",
        ],
        rows_a,
    )
    print(f"\n(b) per feature, peers on {len(subset)} of the features")
    print_table(
        [
            "random effects",
            "subset",
            "kronlmm / feature",
            "lme4 / feature",
            "lme4 / kronlmm",
            "statsmodels / feature",
            "statsmodels / kronlmm",
        ],
        rows_b,
    )

    if not args.no_large:
        t0 = time.perf_counter()
        big = simulate_sparse_counts(args.large_features, args.large_cells, args.subjects, 3)
        t_sim = time.perf_counter() - t0
        from kronlmm.features import lmm_from_summary, summary_statistics

        rows_c = []
        for K, label in ((1, "subject"), (2, "subject + batch")):
            t0 = time.perf_counter()
            stats = summary_statistics(big["X"], big["Y"], [big["Z"], big["Zb"]][:K])
            t_stats = time.perf_counter() - t0
            t0 = time.perf_counter()
            fit = lmm_from_summary(**stats, method=args.method)
            t_fit = time.perf_counter() - t0
            rows_c.append(
                [
                    f"K={K} ({label})",
                    fmt_seconds(t_stats),
                    fmt_seconds(t_fit),
                    fmt_seconds(t_stats + t_fit),
                    f"{int(fit.converged.sum())} of {fit.converged.size}",
                ]
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        nnz = big["Y"].nnz
        print(
            f"\n(c) {args.large_features} × {args.large_cells} sparse log-counts "
            f"({nnz / big['Y'].shape[0] / big['Y'].shape[1]:.1%} non-zero, simulated in "
            f"{fmt_seconds(t_sim)}), {args.subjects} subjects, kronlmm; peak RSS of the "
            f"whole benchmark {peak:.1f} GiB"
        )
        print_table(["random effects", "summary statistics", "fit", "total", "converged"], rows_c)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
