"""Benchmark: leave-one-chromosome-out (LOCO) against the genome-wide kinship, whole GWAS.

Run ``python benchmarks/bench_loco.py --help``; results are recorded in
``benchmarks/README.md`` (section "LOCO").

A PLINK set of ``--n`` samples and ``--m`` variants spread evenly over ``--chromosomes``
chromosomes (default 2000, 8800, 22; p = 5 traits, simulated as in
``bench_pipeline.py``: polygenic C₀ over all variants, ten causal variants) is written under
``--workdir`` (kept and reused). Then, each in a child process whose BLAS starts with
``--threads`` threads (default: every core):

- ``fit_null`` + ``NullFit.scan("any", refit="none")`` with the genome-wide GRM;
- the same with ``loco=True``;

each split into phases by the workflow's own stage timings (its DEBUG log records, as in
``bench_pipeline.py``; no profiler): GRM pass (``kinship (…)``), eigh (the genome-wide
kinship's eigendecomposition and, with LOCO, each ``LOCO kinship, chromosome …``), fits
(``null model fit`` and each ``LOCO null fit, chromosome …``), scan (``scan (…)``), and
the rest; with the peak resident
memory of the child (``ru_maxrss``) and the genomic-control λ of each scan.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import THREAD_VARIABLES, available_cores, fmt_seconds, print_table
from bench_pipeline import P, StageTimes, simulate_plink_set

BENCH = Path(__file__).resolve()
#: The target of issue #15 item 2: the LOCO run at most 3× the genome-wide one.
TARGET = 3.0


def dataset(workdir: Path, n: int, m: int, chromosomes: int, seed: int) -> Path:
    """The folder of the case, simulated (and its .bim spread over the chromosomes) unless
    a complete one is there."""
    folder = workdir / f"n{n}_m{m}_chr{chromosomes}_p{P}_seed{seed}"
    if (folder / "COMPLETE").exists():
        return folder
    print(f"simulating n = {n}, m = {m} over {chromosomes} chromosomes …", end=" ", flush=True)
    t0 = time.perf_counter()
    simulate_plink_set(folder, n, m, P, seed)
    per = -(-m // chromosomes)
    with open(folder / "geno.bim", "w", encoding="ascii") as bim:
        bim.writelines(
            f"{j // per + 1}\tv{j:07d}\t0\t{1000 * (j % per + 1)}\tA\tG\n" for j in range(m)
        )
    print(fmt_seconds(time.perf_counter() - t0), flush=True)
    return folder


def child(folder: Path, loco: bool, result: Path) -> None:
    """Fit and scan once; write the phase times (the workflow's own stage timings) as JSON."""
    import logging

    from kronlmm.gwas import fit_null

    log = logging.getLogger("kronlmm")
    stages = StageTimes()
    log.addHandler(stages)
    log.setLevel(logging.DEBUG)  # the stage timings are DEBUG records (no other handler)
    t0 = time.perf_counter()
    null = fit_null(
        folder / "geno", folder / "pheno.tsv", covar=folder / "covar.tsv", rank="full", loco=loco
    )
    # no refit: it is the same in both modes and not what LOCO adds
    res = null.scan("any", refit="none")
    total = time.perf_counter() - t0
    phases = {
        "GRM": stages.total(lambda s: s.startswith("kinship (")) or 0.0,
        "eigh": stages.total(
            lambda s: s == "kinship eigendecomposition" or s.startswith("LOCO kinship,")
        )
        or 0.0,
        "fit": stages.total(lambda s: s == "null model fit" or s.startswith("LOCO null fit"))
        or 0.0,
        "scan": stages.total(lambda s: s.startswith("scan (")) or 0.0,
    }
    phases["other"] = total - sum(phases.values())
    out = {
        "loco": loco,
        "total": total,
        "phases": phases,
        "lambda_gc": res.lambda_gc,
        "tested": res.n_tested,
        "chromosomes": None if null.loco is None else len(null.loco),
        "all_converged": null.converged
        and (null.loco is None or all(f.converged for f in null.loco)),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    result.write_text(json.dumps(out))


def run_child(folder: Path, loco: bool, threads: int) -> dict[str, Any]:
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARIABLES})
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, str(BENCH), "--child", "--folder", str(folder), "--out", str(result)]
        if loco:
            cmd.append("--loco")
        subprocess.run(cmd, env=env, check=True)
        out: dict[str, Any] = json.loads(result.read_text())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="samples (default 2000)")
    ap.add_argument("--m", type=int, default=8800, help="variants (default 8800)")
    ap.add_argument("--chromosomes", type=int, default=22, help="chromosomes (default 22)")
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "kronlmm-bench-loco",
        help="where the simulated set is kept",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--loco", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.folder, args.loco, args.out)
        return 0
    threads = args.threads or available_cores()
    folder = dataset(args.workdir, args.n, args.m, args.chromosomes, args.seed)
    runs = [run_child(folder, loco, threads) for loco in (False, True)]
    names = ("GRM", "eigh", "fit", "scan", "other")
    rows = [
        [
            "LOCO" if r["loco"] else "genome-wide",
            *(fmt_seconds(r["phases"][k]) for k in names),
            fmt_seconds(r["total"]),
            f"{r['maxrss_mib']:.0f}",
            f"{r['lambda_gc']:.3f}",
            "yes" if r["all_converged"] else "NO",
        ]
        for r in runs
    ]
    print(
        f"\nn = {args.n}, m = {args.m} over {args.chromosomes} chromosomes, p = {P}; "
        f"{threads} BLAS thread(s) ({available_cores()} cores available)\n"
    )
    print_table(
        ["kinship", *names, "total", "peak RSS (MiB)", "λ_GC", "converged"],
        rows,
    )
    ratio = runs[1]["total"] / runs[0]["total"]
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"\nLOCO / genome-wide: {ratio:.2f}× (target ≤ {TARGET:g}×: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
