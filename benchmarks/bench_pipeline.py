"""Benchmark: the whole ``kronlmm scan`` from PLINK files, phase by phase, against floors and
GEMMA's mvLMM.

Run ``python benchmarks/bench_pipeline.py --help``; see ``benchmarks/README.md`` for what
the columns mean and the recorded results.

For each case (n samples, m variants, p = 5 traits; default (2000, 20000) and
(5000, 200000)) the script writes a simulated PLINK set with phenotypes and covariates
under a scratch folder (``--workdir``, default ``$TMPDIR/kronlmm-bench-pipeline``; kept and
reused), then, for each thread setting (``--threads``, default 1 and every core), runs in a
child process whose BLAS and OpenMP libraries start with that many threads:

- ``kronlmm scan --bfile … --pheno … --covar … --rank 5 --test any --no-plots`` in-process;
  the phases are the workflow's own stage timings (``kronlmm.gwas.timing.stage``, read from
  its DEBUG log records, no profiler): read (reading the tables, sample filters and
  alignment, variant QC), GRM, eigh (the kinship's eigendecomposition), fit (the null
  model), scan (the fixed-VC scan of every variant), refit (the exact refit LRT of the
  variants below its threshold, the default ``--refit significant``; a phase of its own
  since issue #15, with no floor), write;
- each phase's floor, measured in the same process with the same threads: read — pandas
  ``read_csv`` of the four text files and one pass reading the bytes of the ``.bed`` (the
  default variant QC needs every variant's genotype counts); GRM — the symmetric
  rank-b products alone (``Z Zᵀ`` of an in-memory n × b block, n²·m flops), with the
  machine's dgemm rate for the fraction; eigh — LAPACK syevd alone on an n × n matrix of
  the same kind; fit — the time spent inside the likelihood evaluations the optimiser
  asked for (and the one-off projections), measured by light wrappers around those
  functions (:class:`FitFloor`); scan — the rotation ``UᵀG`` alone (U: n × k with the
  null model's k, G in the scan's blocks; timed on a few blocks, scaled to m); write —
  pandas ``to_csv`` (gzip) of the same two tables;
- GEMMA 0.98 (``/usr/bin/gemma``, when installed; the n = 2000 case by default,
  ``--gemma-max-n``): ``gemma -gk 2`` (standardised relatedness matrix, kronlmm's GRM) and
  ``gemma -lmm 4 -n 1 2 3 4 5 -c covariates -k …`` (mvLMM, the same test of any effect on
  any trait, dof 5), with GEMMA's own breakdown (relatedness, eigendecomposition, UᵀX,
  optimisation = null fit + scan) and its LRT p-values compared with kronlmm's.

A table of LAPACK eigensolvers (syevd, syevr; time, orthogonality ``|VᵀV − I|``, residual
``|KV − VΛ| / |K|``) on an n = ``--drivers-n`` GRM-like matrix at every thread setting
documents the driver kronlmm uses.

``--tiny`` runs one tiny case (n = 150, m = 600) in seconds: the CI smoke test.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    THREAD_VARIABLES,
    available_cores,
    fmt_seconds,
    machine_summary,
    print_table,
)

BENCH = Path(__file__).resolve()
CASES = ((2000, 20_000), (5000, 200_000))
TINY_CASE = (150, 600)
P = 5
#: Issue #17 targets: every phase ≤ 1.5× its floor at the default thread setting; the whole
#: (5000, 200000) run under 5 minutes; ≥ 50× GEMMA on the n = 2000 case.
PHASE_TARGET = 1.5
WHOLE_TARGET_S = 300.0
GEMMA_TARGET = 50.0
PHASES = ("read", "GRM", "eigh", "fit", "scan", "refit", "write")
GEMMA = "/usr/bin/gemma"


# ---- simulated PLINK sets -----------------------------------------------------------------
#: A PLINK 1 .bed code for each dosage of allele 1 (0, 1, 2) and for a missing call (3).
_BED_CODE = np.array([0b11, 0b10, 0b00, 0b01], dtype=np.uint8)


def bed_bytes(dosage: np.ndarray) -> bytes:
    """Variant-major PLINK 1 ``.bed`` bytes (no header) of ``b × n`` dosages of allele 1:
    0, 1, 2, or 3 for a missing call; four samples per byte, the first in the low bits."""
    b, n = dosage.shape
    codes = _BED_CODE[dosage]
    if n % 4:
        codes = np.concatenate([codes, np.zeros((b, 4 - n % 4), np.uint8)], axis=1)
    c = codes.reshape(b, -1, 4)
    return (c[:, :, 0] | c[:, :, 1] << 2 | c[:, :, 2] << 4 | c[:, :, 3] << 6).tobytes()


def simulate_plink_set(folder: Path, n: int, m: int, p: int, seed: int) -> None:
    """Write ``geno.bed/.bim/.fam``, ``pheno.tsv`` (FID IID t1…tp), ``covar.tsv`` (FID IID
    age sex) and GEMMA's copies (``gemma.fam`` with the traits in columns 6+, links to the
    .bed/.bim, ``gemma_covar.txt`` = 1, age, sex) into ``folder``.

    Genotypes: allele frequency uniform on [0.05, 0.5] per variant, Hardy-Weinberg, 0.5%
    missing calls, written in blocks (the dosage matrix is never in memory). Traits:
    ``Y = X B + Z β + g_causal + E`` with Z the standardised genotypes, β (m × p) with
    genetic covariance C₀ (h² = 0.3, correlations 0.5) spread over all variants, ten causal
    variants each explaining 0.5% of every trait, and residual covariance C₁ (0.7,
    correlations 0.3)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"s{i:06d}" for i in range(n)]
    C0 = 0.3 * (0.5 * np.ones((p, p)) + 0.5 * np.eye(p))
    C1 = 0.7 * (0.3 * np.ones((p, p)) + 0.7 * np.eye(p))
    L0, L1 = np.linalg.cholesky(C0), np.linalg.cholesky(C1)
    causal = set(np.linspace(m // 20, m - m // 20, 10).astype(int).tolist())
    genetic = np.zeros((n, p))
    chunk = max(1, min(m, (64 << 20) // (4 * n)))
    with open(folder / "geno.bed", "wb") as bed:
        bed.write(bytes([0x6C, 0x1B, 0x01]))
        for a in range(0, m, chunk):
            b = min(chunk, m - a)
            f = rng.uniform(0.05, 0.5, size=b).astype(np.float32)
            u = rng.random((b, n), dtype=np.float32)
            d = (u >= ((1 - f) ** 2)[:, None]).astype(np.uint8) + (u >= (1 - f * f)[:, None])
            z = (d - 2.0 * f[:, None]) / np.sqrt(2.0 * f * (1 - f))[:, None]
            beta = rng.standard_normal((b, p)) @ L0.T / math.sqrt(m)
            for j in range(a, a + b):
                if j in causal:
                    beta[j - a] += math.sqrt(0.005) * rng.choice([-1.0, 1.0], size=p)
            genetic += z.T @ beta
            d[rng.random((b, n), dtype=np.float32) < 0.005] = 3
            bed.write(bed_bytes(d))
    with open(folder / "geno.bim", "w", encoding="ascii") as bim:
        bim.writelines(f"1\tv{j:07d}\t0\t{1000 * (j + 1)}\tA\tG\n" for j in range(m))
    age = rng.normal(50.0, 10.0, size=n)
    sex = rng.integers(0, 2, size=n).astype(float)
    Y = 0.01 * age[:, None] + 0.2 * sex[:, None] + genetic + rng.standard_normal((n, p)) @ L1.T
    with open(folder / "geno.fam", "w", encoding="ascii") as fam:
        fam.writelines(f"{i} {i} 0 0 0 -9\n" for i in ids)
    traits = [f"t{t + 1}" for t in range(p)]
    with open(folder / "pheno.tsv", "w", encoding="ascii") as fh:
        fh.write("\t".join(["FID", "IID", *traits]) + "\n")
        fh.writelines(
            "\t".join([i, i, *(f"{v:.6f}" for v in row)]) + "\n"
            for i, row in zip(ids, Y, strict=True)
        )
    with open(folder / "covar.tsv", "w", encoding="ascii") as fh:
        fh.write("FID\tIID\tage\tsex\n")
        fh.writelines(
            f"{i}\t{i}\t{x:.4f}\t{s:.0f}\n" for i, x, s in zip(ids, age, sex, strict=True)
        )
    with open(folder / "gemma.fam", "w", encoding="ascii") as fam:
        fam.writelines(
            " ".join([i, i, "0", "0", "0", *(f"{v:.6f}" for v in row)]) + "\n"
            for i, row in zip(ids, Y, strict=True)
        )
    with open(folder / "gemma_covar.txt", "w", encoding="ascii") as fh:
        fh.writelines(f"1 {x:.4f} {s:.0f}\n" for x, s in zip(age, sex, strict=True))
    for ext in ("bed", "bim"):
        link = folder / f"gemma.{ext}"
        if not link.exists():
            link.symlink_to(f"geno.{ext}")
    (folder / "COMPLETE").write_text("ok\n")


def dataset(workdir: Path, n: int, m: int, seed: int) -> Path:
    """The folder of case (n, m), simulated unless a complete one is there."""
    folder = workdir / f"n{n}_m{m}_p{P}_seed{seed}"
    if not (folder / "COMPLETE").exists():
        print(f"simulating n = {n}, m = {m} in {folder} …", end=" ", flush=True)
        t0 = time.perf_counter()
        if folder.exists():
            shutil.rmtree(folder)
        simulate_plink_set(folder, n, m, P, seed)
        print(fmt_seconds(time.perf_counter() - t0), flush=True)
    return folder


# ---- the child: one case at one thread setting ----------------------------------------------
def best_of(fn: Any, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


class StageTimes(logging.Handler):
    """Collects the workflow's own stage timings (``kronlmm.gwas.timing.stage``, logged at
    DEBUG with the seconds as a float argument): no profiler, so Python-heavy phases are
    not slowed down relative to their floors."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stages: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "stage %s: %.2f s" and isinstance(record.args, tuple):
            name, seconds = record.args
            self.stages.append((str(name), float(seconds)))

    def total(self, match: Any) -> float | None:
        found = [t for name, t in self.stages if match(name)]
        return float(sum(found)) if found else None


class FitFloor:
    """Time spent inside the null fit's likelihood evaluations and its one-off projections
    of the data (the refit's fits excluded), measured by light wrappers (a clock read per
    call) around ``WhitenedLikelihood.evaluate``, ``KronProjections.build``,
    ``Kron2Sum.fit`` and the workflow's ``refit_lrt``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.evaluations = 0
        self._in_fit = 0
        self._in_refit = 0
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, name: str, make: Any) -> None:
        original = owner.__dict__[name]
        self._undo.append((owner, name, original))
        setattr(owner, name, make(original))

    def __enter__(self) -> FitFloor:
        from kronlmm.core.likelihood import WhitenedLikelihood
        from kronlmm.core.projections import KronProjections
        from kronlmm.gwas import variant_scan
        from kronlmm.lmm.kron2sum import Kron2Sum

        def counted(fn: Any) -> Any:
            def inner(*a: Any, **k: Any) -> Any:
                if not self._in_refit and (self._in_fit or fn is build):
                    t0 = time.perf_counter()
                    try:
                        return fn(*a, **k)
                    finally:
                        self.seconds += time.perf_counter() - t0
                        self.evaluations += fn is not build
                return fn(*a, **k)

            return inner

        def depth(attr: str) -> Any:
            def make(fn: Any) -> Any:
                def inner(*a: Any, **k: Any) -> Any:
                    setattr(self, attr, getattr(self, attr) + 1)
                    try:
                        return fn(*a, **k)
                    finally:
                        setattr(self, attr, getattr(self, attr) - 1)

                return inner

            return make

        build = KronProjections.__dict__["build"].__func__
        self._wrap(WhitenedLikelihood, "evaluate", counted)
        self._wrap(KronProjections, "build", lambda cm: classmethod(counted(cm.__func__)))
        self._wrap(Kron2Sum, "fit", depth("_in_fit"))
        self._wrap(variant_scan, "refit_lrt", depth("_in_refit"))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def phase_times(stages: StageTimes, total: float, fit_floor: float) -> dict[str, float | None]:
    """Phases from the workflow's stage timings (see :class:`StageTimes`)."""
    reading = ("read inputs", "sample filters", "sample alignment", "variant QC")
    out: dict[str, float | None] = {
        "read": stages.total(lambda s: s.startswith(reading)),
        "GRM": stages.total(lambda s: s.startswith("kinship (")),
        "eigh": stages.total(lambda s: s == "kinship eigendecomposition"),
        "fit": stages.total(lambda s: s == "null model fit"),
        "scan": stages.total(lambda s: s.startswith("scan (")),
        "refit": stages.total(lambda s: s.startswith("refit of ")),
        "write": stages.total(lambda s: s == "write outputs"),
    }
    out["other"] = total - sum(v for v in out.values() if v is not None)
    out["fit floor"] = fit_floor
    out["refit variants"] = float(
        sum(int(s.split()[2]) for s, _ in stages.stages if s.startswith("refit of "))
    )
    return out


def run_kronlmm(folder: Path, out_prefix: Path, rank: int) -> tuple[float, dict[str, float | None]]:
    from kronlmm.cli import main

    argv = [
        "scan",
        "--bfile", str(folder / "geno"),
        "--pheno", str(folder / "pheno.tsv"),
        "--covar", str(folder / "covar.tsv"),
        "--rank", str(rank),
        "--test", "any",
        "--no-plots",
        "--no-progress",
        "-v",  # DEBUG: the stage timings (its messages go to a buffer, not the terminal)
        "--out", str(out_prefix),
    ]  # fmt: skip
    log = logging.getLogger("kronlmm")
    stages = StageTimes()
    log.addHandler(stages)
    messages = io.StringIO()
    try:
        with FitFloor() as fit_floor, contextlib.redirect_stderr(messages):
            t0 = time.perf_counter()
            status = main(argv)
            total = time.perf_counter() - t0
    finally:
        log.removeHandler(stages)
    if status != 0:
        raise RuntimeError(f"kronlmm scan exited with status {status}: {messages.getvalue()}")
    return total, phase_times(stages, total, fit_floor.seconds)


def floors(folder: Path, out_prefix: Path, n: int, m: int, null: dict[str, Any]) -> dict[str, Any]:
    """Each phase's floor in this process (same threads); see the module docstring."""
    used = int(null["kinship"].get("n_variants") or m)
    k = int(null["kinship"]["rank"])
    rng = np.random.default_rng(0)
    return {
        "read": _read_floor(folder, n, m),
        **_grm_floor(n, used, rng),
        "eigh": _eigh_floor(n, rng),
        **_rotation_floor(n, k, m, rng),
        "write": _write_floor(out_prefix),
    }


def _read_floor(folder: Path, n: int, m: int) -> float:
    """The four text tables (pandas) and one pass over the bytes of the ``.bed``: the
    default variant QC (missingness, MAF) needs the genotype counts of every variant
    before the GRM can choose its variants, and they cannot be had without reading each
    record once (kronlmm counts them from the packed bytes, without decoding)."""
    import pandas as pd

    def read_text() -> None:
        pd.read_csv(folder / "geno.fam", sep=r"\s+", header=None, dtype=str)
        pd.read_csv(folder / "geno.bim", sep="\t", header=None, dtype=str)
        pd.read_csv(folder / "pheno.tsv", sep="\t")
        pd.read_csv(folder / "covar.tsv", sep="\t")

    buffer = bytearray(64 << 20)

    def read_bytes() -> None:
        with open(folder / "geno.bed", "rb", buffering=0) as fh:
            while fh.readinto(buffer):
                pass

    return best_of(read_text) + best_of(read_bytes, 1)


def _grm_floor(n: int, used: int, rng: np.random.Generator) -> dict[str, float]:
    """The products ``Z Zᵀ`` of the GRM's blocks alone (BLAS syrk into the lower triangle
    of an n × n Fortran array, as kronlmm accumulates them), and the machine's dgemm rate."""
    try:
        from kronlmm.io import grm_block_size
    except ImportError:  # kronlmm before issue #17 read 1000 variants at a time
        block = 1000
    else:
        block = grm_block_size(n)
    from scipy.linalg.blas import dsyrk

    Z = np.asfortranarray(rng.standard_normal((n, min(block, used))))
    K = np.zeros((n, n), order="F")
    t_block = best_of(lambda: dsyrk(1.0, Z, beta=1.0, c=K, lower=1, overwrite_c=1), 2)
    A = rng.standard_normal((2000, 2000))
    B = rng.standard_normal((2000, 2000))
    return {
        "GRM": t_block * used / Z.shape[1],
        "syrk GFLOP/s": n * n * Z.shape[1] / t_block / 1e9,
        "dgemm GFLOP/s": 2 * 2000**3 / best_of(lambda: A @ B, 2) / 1e9,
    }


def _eigh_floor(n: int, rng: np.random.Generator) -> float:
    """LAPACK syevd alone on an n × n matrix like a GRM (``WWᵀ`` of a Gaussian W)."""
    import scipy.linalg as sla

    W = rng.standard_normal((n, n + n // 2))
    K = W @ W.T / W.shape[1]
    work = np.empty_like(K, order="F")

    def evd() -> None:
        work[...] = K
        sla.eigh(work, driver="evd", overwrite_a=True, check_finite=False)

    t_copy = best_of(lambda: work.__setitem__(Ellipsis, K), 1)
    return max(best_of(evd, 1) - t_copy, 0.0)


def _rotation_floor(n: int, k: int, m: int, rng: np.random.Generator) -> dict[str, float]:
    """``UᵀG`` alone (U: n × k orthonormal) in the scan's blocks, a few timed, scaled to m."""
    from kronlmm.scan.kron_scanner import default_block_size

    bs = default_block_size(n, k, P)
    U = np.linalg.qr(rng.standard_normal((n, k)))[0]
    G = rng.binomial(2, 0.3, size=(n, bs)).astype(float)
    blocks = min(4, max(1, math.ceil(m / bs)))
    U.T @ G  # untimed: first touch
    t = best_of(lambda: [U.T @ G for _ in range(blocks)], 2)
    return {"scan": t / (blocks * bs) * m, "rotation GFLOP/s": 2.0 * n * k * blocks * bs / t / 1e9}


def _write_floor(out_prefix: Path) -> float:
    """pandas ``to_csv`` (gzip) of the two tables the run wrote."""
    import pandas as pd

    tables = [
        pd.read_csv(f"{out_prefix}.{name}.tsv.gz", sep="\t", dtype={"chrom": str})
        for name in ("assoc", "effects")
    ]

    def write() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for i, table in enumerate(tables):
                with gzip.open(Path(tmp) / f"{i}.tsv.gz", "wt", encoding="utf-8") as fh:
                    table.to_csv(fh, sep="\t", index=False, na_rep="NA")

    return best_of(write, 1)


def run_gemma(folder: Path, outdir: Path, timeout: float) -> dict[str, Any]:
    """GEMMA's relatedness matrix and mvLMM; wall times and its own breakdown."""
    outdir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {}
    base = [GEMMA, "-bfile", str(folder / "gemma"), "-outdir", str(outdir)]
    steps = {
        "gk": [*base, "-gk", "2", "-o", "kin"],
        "lmm": [
            *base, "-k", str(outdir / "kin.sXX.txt"), "-c", str(folder / "gemma_covar.txt"),
            "-lmm", "4", "-n", *map(str, range(1, P + 1)), "-o", "lmm",
        ],
    }  # fmt: skip
    for name, cmd in steps.items():
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            res["status"] = f"{name}: > {timeout:g} s (limit)"
            return res
        res[f"{name} wall"] = time.perf_counter() - t0
        if proc.returncode != 0:
            res["status"] = f"{name}: exit {proc.returncode}: {proc.stderr.strip()[-200:]}"
            return res
    log = (outdir / "lmm.log.txt").read_text() + (outdir / "kin.log.txt").read_text()
    for line in log.splitlines():
        for key, label in (
            ("time on calculating relatedness matrix", "relatedness"),
            ("time on eigen-decomposition", "eigen"),
            ("time on calculating UtX", "UtX"),
            ("time on optimization", "optimization"),
        ):
            if key in line:
                res[label] = 60.0 * float(line.split("=")[1].split()[0])
        if "OpenBlas" in line or "threads" in line:
            res.setdefault("blas", []).append(line.strip("# ").strip())
    res["status"] = "ok"
    return res


def compare_with_gemma(out_prefix: Path, outdir: Path) -> dict[str, float]:
    import pandas as pd

    ours = pd.read_csv(f"{out_prefix}.assoc.tsv.gz", sep="\t", dtype={"chrom": str})
    theirs = pd.read_csv(outdir / "lmm.assoc.txt", sep="\t")
    both = ours.merge(theirs[["rs", "p_lrt"]], left_on="variant_id", right_on="rs")
    a = both["neg_log10_p_value"].to_numpy(float)
    b = -np.log10(both["p_lrt"].to_numpy(float))
    ok = np.isfinite(a) & np.isfinite(b)
    return {
        "variants compared": int(ok.sum()),
        "max abs Δ −log10 p": float(np.max(np.abs(a[ok] - b[ok]))),
        "correlation": float(np.corrcoef(a[ok], b[ok])[0, 1]),
        "kronlmm top −log10 p": float(np.max(a[ok])),
        "GEMMA top −log10 p": float(np.max(b[ok])),
    }


def eigh_drivers(n: int) -> dict[str, Any]:
    import scipy.linalg as sla

    rng = np.random.default_rng(1)
    W = rng.standard_normal((n, 2 * n))
    K = W @ W.T / W.shape[1]
    out: dict[str, Any] = {}
    for driver in ("evd", "evr"):
        t0 = time.perf_counter()
        w, V = sla.eigh(K, driver=driver, check_finite=False)
        out[driver] = {
            "seconds": time.perf_counter() - t0,
            "orthogonality": float(np.max(np.abs(V.T @ V - np.eye(n)))),
            "residual": float(np.max(np.abs(K @ V - V * w)) / w[-1]),
        }
    t0 = time.perf_counter()
    sla.eigh(K, driver="evr", subset_by_index=(n - n // 4, n - 1), check_finite=False)
    out["evr, top n/4"] = {"seconds": time.perf_counter() - t0}
    return out


def child(args: argparse.Namespace) -> None:
    """One case at the thread setting of this process's environment; JSON to --result."""
    from threadpoolctl import threadpool_info

    n, m = args.case
    folder = Path(args.folder)
    threads = max(
        (int(lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"),
        default=1,
    )
    result: dict[str, Any] = {"n": n, "m": m, "threads": threads}
    with tempfile.TemporaryDirectory(prefix="kronlmm-bench-out-", dir=args.workdir) as tmp:
        if args.warmup:
            # untimed run on the tiny set: imports and lazy initialisations are not charged
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run_kronlmm(Path(args.warmup), Path(tmp) / "warmup", args.rank)
        out_prefix = Path(tmp) / "run"
        total, phases = run_kronlmm(folder, out_prefix, args.rank)
        result["total"] = total
        result["phases"] = phases
        null = json.loads(Path(f"{out_prefix}.null.json").read_text())
        result["null"] = {
            "kinship": null["kinship"],
            "evaluations": null["convergence"]["evaluations"],
            "lml": null["lml"],
        }
        result["floors"] = floors(folder, out_prefix, n, m, null)
        if args.gemma:
            gemma_dir = Path(tmp) / "gemma"
            result["gemma"] = run_gemma(folder, gemma_dir, args.gemma_timeout)
            if result["gemma"].get("status") == "ok":
                result["gemma"]["agreement"] = compare_with_gemma(out_prefix, gemma_dir)
    if args.drivers_n:
        result["drivers"] = eigh_drivers(args.drivers_n)
    Path(args.result).write_text(json.dumps(result))


# ---- the parent: cases × thread settings, tables ---------------------------------------------
def run_child(
    folder: Path, case: tuple[int, int], threads: int, args: argparse.Namespace, gemma: bool
) -> dict[str, Any]:
    env = dict(os.environ)
    env.update({v: str(threads) for v in THREAD_VARIABLES})
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result_path = fh.name
    cmd = [
        sys.executable, str(BENCH), "--child",
        "--folder", str(folder), "--case", f"{case[0]},{case[1]}",
        "--result", result_path, "--workdir", str(args.workdir), "--rank", str(args.rank),
        "--gemma-timeout", str(args.gemma_timeout),
    ]  # fmt: skip
    if args.warmup:
        cmd += ["--warmup", str(args.warmup)]
    if gemma:
        cmd.append("--gemma")
    if args.drivers_n and case == args.drivers_case:
        cmd += ["--drivers-n", str(args.drivers_n)]
    try:
        subprocess.run(cmd, env=env, check=True)
        return json.loads(Path(result_path).read_text())
    finally:
        os.unlink(result_path)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b > 0:
        return "-"
    return f"{a / b:.2f}"


def phase_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        label = f"({r['n']}, {r['m']})"
        ph, fl = r["phases"], r["floors"]
        floor = {**fl, "fit": ph.get("fit floor")}
        for name in PHASES:
            t, f = ph.get(name), floor.get(name)
            ratio = _ratio(t, f)
            mark = "" if ratio == "-" or float(ratio) <= PHASE_TARGET else " (> 1.5)"
            shown = name
            if name == "refit":
                shown = f"refit ({int(ph.get('refit variants') or 0)} variants)"
            rows.append(
                [label, str(r["threads"]), shown, fmt_seconds(t), fmt_seconds(f), ratio + mark]
            )
        rows.append([label, str(r["threads"]), "other", fmt_seconds(ph["other"]), "-", "-"])
        rows.append([label, str(r["threads"]), "**whole run**", fmt_seconds(r["total"]), "-", "-"])
    return rows


def gemma_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        g = r.get("gemma")
        if not g:
            continue
        label = f"({r['n']}, {r['m']})"
        if g.get("status") != "ok":
            rows.append([label, str(r["threads"]), g.get("status", "-"), *["-"] * 5])
            continue
        ph = r["phases"]
        gemma_total = g["gk wall"] + g["lmm wall"]
        rows.append(
            [
                label,
                str(r["threads"]),
                fmt_seconds(gemma_total),
                fmt_seconds(r["total"]),
                f"{gemma_total / r['total']:.1f}×",
                f"{fmt_seconds(g.get('relatedness'))} / {fmt_seconds(ph.get('GRM'))}",
                f"{fmt_seconds(g.get('eigen'))} / {fmt_seconds(ph.get('eigh'))}",
                f"{fmt_seconds(g.get('optimization'))} / "
                f"{fmt_seconds(sum(ph.get(k) or 0 for k in ('fit', 'scan', 'refit')))}",
            ]
        )
    return rows


def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> int:
    print()
    print(f"## Whole `kronlmm scan` by phase (p = {P}, --rank {args.rank}, test 'any', --no-plots)")
    print()
    header = ("case (n, m)", "threads", "phase", "kronlmm", "floor", "ratio")
    print_table(header, phase_rows(results), align="lrlrrr")
    print()
    print(
        "- threads: BLAS/OpenMP threads of the whole run and of its floors (OMP_NUM_THREADS, "
        "OPENBLAS_NUM_THREADS, MKL_NUM_THREADS); the scan computes that many blocks at once."
    )
    print(
        "- floors: read = pandas read_csv of .fam, .bim, pheno, covar + one pass reading "
        "the .bed's bytes (variant QC); GRM = Z Zᵀ products "
        "alone (n²·m flops); eigh = LAPACK syevd alone; fit = time inside the likelihood "
        "evaluations + projections; scan = UᵀG alone; write = pandas to_csv (gzip) of the "
        "same tables."
    )
    for r in results:
        fl, null = r["floors"], r["null"]
        grm = r["phases"].get("GRM")
        used = null["kinship"].get("n_variants") or r["m"]
        rate = r["n"] ** 2 * used / grm / 1e9 if grm else math.nan
        print(
            f"- ({r['n']}, {r['m']}), {r['threads']} thread(s): GRM {rate:.1f} GFLOP/s "
            f"(n²m flops; {rate / fl['dgemm GFLOP/s']:.0%} of this machine's dgemm rate, "
            f"{fl['dgemm GFLOP/s']:.1f} GFLOP/s; counted as 2n²m, "
            f"{2 * rate / fl['dgemm GFLOP/s']:.0%}); in-memory syrk {fl['syrk GFLOP/s']:.1f} "
            f"GFLOP/s; rotation {fl['rotation GFLOP/s']:.1f} GFLOP/s; kinship rank "
            f"{null['kinship']['rank']} ({null['kinship']['method']}); "
            f"{null['evaluations']} likelihood evaluations; lml {null['lml']:.3f}."
        )
    grows = gemma_rows(results)
    if grows:
        print()
        print("## Side by side with GEMMA 0.98 mvLMM (`-gk 2`, then `-lmm 4 -n 1 … 5 -c`)")
        print()
        head = (
            "case (n, m)", "threads", "GEMMA (gk + lmm)", "kronlmm whole run",
            "GEMMA / kronlmm", "GRM: GEMMA / kronlmm", "eigh: GEMMA / kronlmm",
            "fit + scan (+ refit): GEMMA / kronlmm",
        )  # fmt: skip
        print_table(head, grows, align="lrrrrrrr")
        print()
        for r in results:
            agree = (r.get("gemma") or {}).get("agreement")
            if agree:
                print(
                    f"- ({r['n']}, {r['m']}), {r['threads']} thread(s): kronlmm LRT vs GEMMA "
                    "p_lrt over "
                    + ", ".join(
                        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in agree.items()
                    )
                    + f" (kronlmm's C₀ of rank ≤ {args.rank}; GEMMA's Vg is of full rank {P})."
                )
    drivers = [r for r in results if "drivers" in r]
    if drivers:
        print()
        print(f"## LAPACK symmetric eigensolvers, n = {args.drivers_n} (K = WWᵀ/2n, W Gaussian)")
        print()
        rows = []
        for r in drivers:
            for name, d in r["drivers"].items():
                rows.append(
                    [
                        str(r["threads"]),
                        name,
                        fmt_seconds(d["seconds"]),
                        f"{d['orthogonality']:.1e}" if "orthogonality" in d else "-",
                        f"{d['residual']:.1e}" if "residual" in d else "-",
                    ]
                )
        print_table(("threads", "driver", "time", "max |VᵀV − I|", "max |KV − VΛ| / λmax"), rows)
    return print_targets(results)


def print_targets(results: list[dict[str, Any]]) -> int:
    print()
    print("## Targets (issue #17)")
    print()
    missed = 0
    default = max(r["threads"] for r in results)
    for r in results:
        if r["threads"] != default:
            continue
        label = f"({r['n']}, {r['m']}), {r['threads']} threads"
        floor = {**r["floors"], "fit": r["phases"].get("fit floor")}
        for name in PHASES:
            t, f = r["phases"].get(name), floor.get(name)
            if t is None or not f:
                continue
            good = t / f <= PHASE_TARGET
            missed += not good
            print(
                f"- {'PASS' if good else 'MISS'} {label}: {name} {t / f:.2f}× its floor "
                f"(target ≤ {PHASE_TARGET:g})"
            )
        if (r["n"], r["m"]) == CASES[1]:
            good = r["total"] <= WHOLE_TARGET_S
            missed += not good
            print(
                f"- {'PASS' if good else 'MISS'} {label}: whole run {fmt_seconds(r['total'])} "
                f"(target < {WHOLE_TARGET_S:g} s)"
            )
        g = r.get("gemma")
        if g and g.get("status") == "ok":
            ratio = (g["gk wall"] + g["lmm wall"]) / r["total"]
            good = ratio >= GEMMA_TARGET
            missed += not good
            print(
                f"- {'PASS' if good else 'MISS'} {label}: GEMMA / kronlmm = {ratio:.1f}× "
                f"(target ≥ {GEMMA_TARGET:g}×)"
            )
    print(f"\n{missed} target(s) missed" if missed else "\nall targets met")
    return missed


def parse_case(text: str) -> tuple[int, int]:
    try:
        n, m = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected n,m, got {text!r}") from None
    return n, m


def parse_threads(text: str) -> int:
    return available_cores() if text == "all" else int(text)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description="The whole `kronlmm scan` per phase against each phase's floor, at 1 and "
        "all threads, side by side with GEMMA's mvLMM.",
        epilog=f"Default cases (n, m): {CASES}, p = {P}.",
    )
    ap.add_argument("--cases", nargs="+", type=parse_case, metavar="N,M", help="cases (n, m)")
    ap.add_argument(
        "--threads",
        nargs="+",
        type=parse_threads,
        default=None,
        metavar="T",
        help="thread settings (a number or 'all'; default: 1 all)",
    )
    ap.add_argument(
        "--tiny",
        action="store_true",
        help=f"one tiny case {TINY_CASE}, no warm-up run: a smoke test",
    )
    ap.add_argument(
        "--rank",
        type=int,
        default=P,
        help=f"rank of C₀ (default {P}: full, as GEMMA's Vg)",
    )
    ap.add_argument(
        "--workdir",
        default=str(Path(tempfile.gettempdir()) / "kronlmm-bench-pipeline"),
        help="scratch folder for the simulated PLINK sets and outputs (kept, reused)",
    )
    ap.add_argument("--no-gemma", action="store_true", help="do not run GEMMA")
    ap.add_argument(
        "--gemma-max-n", type=int, default=2000, help="run GEMMA on cases with n ≤ this"
    )
    ap.add_argument("--gemma-timeout", type=float, default=3600.0, help="seconds per GEMMA step")
    ap.add_argument(
        "--drivers-n",
        type=int,
        default=None,
        help="size of the eigensolver table (default 2000; 0: skip; --tiny: 100)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    # internal: the child process
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--case", type=parse_case, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--gemma", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        child(args)
        return 0
    cases = [TINY_CASE] if args.tiny else list(args.cases or CASES)
    threads = sorted(set(args.threads or [1, available_cores()]))
    if args.drivers_n is None:
        args.drivers_n = 100 if args.tiny else 2000
    args.drivers_case = min(cases)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    args.workdir = workdir
    args.warmup = None if args.tiny else dataset(workdir, *TINY_CASE, args.seed)
    have_gemma = not args.no_gemma and Path(GEMMA).exists()
    print(machine_summary(max(threads)).replace(" used by every library", " at most"))
    print(
        f"cases (n, m) = {cases}, p = {P}; thread settings {threads}; GEMMA: "
        f"{'yes, n ≤ ' + str(args.gemma_max_n) if have_gemma else 'not run'}; workdir {workdir}"
    )
    results = []
    for case in cases:
        folder = dataset(workdir, *case, args.seed)
        for t in threads:
            gemma = have_gemma and case[0] <= args.gemma_max_n
            print(
                f"({case[0]}, {case[1]}), {t} thread(s): kronlmm scan + floors"
                + (" + GEMMA" if gemma else "")
                + " …",
                flush=True,
            )
            r = run_child(folder, case, t, args, gemma)
            print(f"  whole run {fmt_seconds(r['total'])}", flush=True)
            results.append(r)
    print_report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
