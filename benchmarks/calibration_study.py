"""Calibration and power of the scan: null study, missing-phenotype power, LOCO power.

Not a timing benchmark. Run ``python benchmarks/calibration_study.py`` (about 15 minutes on
one core: 899 s on the shared 2-core development machine) or with ``--quick`` (seconds);
``--studies`` picks some of ``null``, ``missing`` and ``loco``. Every study prints Markdown
tables; the tables of a run are shown in ``docs/calibration.rst``.

Simulation model (all three studies)
------------------------------------
Samples are ``n / 4`` families of four full siblings, so that the kinship has structure a
candidate variant shares. A variant has allele frequency ``f ~ U(0.05, 0.5)``; each parent's
genotype is ``Binomial(2, f)`` and each child receives from each parent one allele, the
minor allele with probability (parent's count)/2. Traits follow::

    vec(Y) ~ N((Iₚ ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

- n samples, p traits; X = [1ₙ, x] with x ~ N(0, 1); B (2 × p) ~ N(0, 1);
- G = Z / √r with Z the standardised genotypes (column mean 0, variance 1) of r = 1000
  pedigree variants (monomorphic ones dropped), so GGᵀ is the genomic relationship matrix;
- C₀ = h²·R(ρ_g) and C₁ = (1 − h²)·R(ρ_e), with ``R(ρ)ᵢⱼ = ρ^|i−j|`` (AR(1) correlations),
  h² = 0.5, ρ_g = +0.6, ρ_e = −0.5: both full rank, and neighbouring traits have
  genetic and residual correlations of opposite signs;
- the genetic term is simulated as ``G W L₀ᵀ`` (W: r × p standard normal, L₀ the Cholesky
  factor of C₀), the residual as ``E L₁ᵀ`` (E: n × p standard normal).

1. ``null`` (type-I error): per n ∈ {100, 500, 2000} and p ∈ {2, 4, 8}, ``R`` replicates (a
   fresh Y each; G fixed per (n, p)), each scanning ``m`` fresh pedigree variants (so they
   share the kinship's family structure but are independent of Y: every candidate is null);
   R × m = 200 × 1000 at n = 100, 50 × 4000 at n = 500, 20 × 10000 at n = 2000
   (``--null-reps`` changes R). C₀, C₁ are estimated per replicate by
   :class:`kronlmm.lmm.Kron2Sum` (ML, or REML with ``--reml``) with rank(C₀) = p (the
   workflow's default) and with rank 1 (misspecified: the true C₀ has full rank), then
   ``scan_variants(D, test)``: the ``any`` test (dof p), and at the largest n also
   ``common`` (dof 1) and ``interaction`` (dof p − 1). Each scan gives both statistics: the
   exact-at-fixed-VCs F test (the default ``p_value``) and the χ² likelihood-ratio test
   (``P(χ²_dof > chi2)``, what ``statistic="chi2"`` reports). Reported: λ_GC = median of the
   p-values' χ²_dof quantiles / χ²_dof median (for χ² this is
   :func:`kronlmm.gwas.genomic_control_lambda` of ``chi2``), and for α = 0.05, 1e-2, 1e-3,
   1e-4 the rejection rate over α, with ``ok`` when the count lies in the binomial 99 %
   interval under nominal α, else ``OUT``. The candidates of one replicate share the
   estimates Ĉ₀, Ĉ₁, so their tests are not independent: the interval is a guide only.
2. ``missing`` (power with missing phenotypes): n = ``--missing-n`` (800), p = 4,
   ``--missing-reps`` (30) replicates; ``--causal`` (5) variants per replicate each with an
   effect on trait 1 only that explains ``--h2snp`` (0.04) of its variance, among
   ``--null-variants`` (2000) null pedigree variants; each value of Y is then missing with
   probability ``--missing`` (0.2), independently (missing completely at random). The null
   (ML, rank p) is fitted three times — on Y before masking ("no value missing"), on every
   observed value (``missing="observed"``, the default) and on the complete cases
   (``missing="complete-case"``) — and every variant is tested (``any``, F). Reported: the
   values and samples each fit uses, λ_GC of the null variants, and power: the share of
   causal variants at p < 5e-8 and p < 1e-5, and their mean −log10 p.
3. ``loco`` (leave one chromosome out): ``--loco-reps`` (10) PLINK sets of ``--loco-n``
   (1000) samples and ``--chromosomes`` (4) × ``--per-chromosome`` (1500) pedigree variants,
   p = 3; the genetic term is 10 causal variants per chromosome (40 in all) with effects
   ``βⱼ ~ N(0, C₀ / 40)`` on the standardised genotypes (h² = 0.4 shared by the causal
   variants; C₀, C₁ as above with h² = 0.4); variants are simulated independently, so every
   non-causal variant is unlinked to every causal one. :func:`kronlmm.gwas.fit_null` (GRM of
   every variant, rank p, ML) with and without ``loco=True``, then ``NullFit.scan("any",
   refit="none")``. Reported: λ_GC and the rejection rate at α = 1e-3 of the non-causal
   variants; for the causal ones, power at p < 5e-8 and 1e-5 and the mean gain in −log10 p
   with LOCO.

Seeds: ``--seed`` (default 1) seeds every data set and replicate through
``numpy.random.default_rng((seed, study, n, p, replicate))``, so the tables are
reproducible on one NumPy version.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats as st
from _common import machine_summary, print_table, write_plink

ALPHAS = (0.05, 1e-2, 1e-3, 1e-4)
POWER_ALPHAS = (5e-8, 1e-5)
FAMILY = 4  # siblings per family
R_KINSHIP = 1000  # variants of the kinship factor G
H2, RHO_G, RHO_E = 0.5, 0.6, -0.5


# ---- simulation ---------------------------------------------------------------------------
def ar1(p: int, rho: float) -> np.ndarray:
    """The p × p AR(1) correlation matrix ``R(ρ)ᵢⱼ = ρ^|i−j|``."""
    i = np.arange(p)
    return np.asarray(rho ** np.abs(i[:, None] - i[None, :]), dtype=float)


def true_covariances(p: int, h2: float = H2) -> tuple[np.ndarray, np.ndarray]:
    """(C₀, C₁) = (h²·R(ρ_g), (1 − h²)·R(ρ_e))."""
    return h2 * ar1(p, RHO_G), (1 - h2) * ar1(p, RHO_E)


def pedigree_dosages(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """n × m minor-allele counts (floats) of ``n / 4`` families of four full siblings.

    Parents are in Hardy–Weinberg equilibrium at a frequency ``U(0.05, 0.5)`` per variant;
    each child receives one allele from each parent (Mendelian transmission). Samples of a
    family are adjacent rows.
    """
    if n % FAMILY:
        raise ValueError(f"n must be a multiple of {FAMILY}, got {n}")
    nfam = n // FAMILY
    freq = rng.uniform(0.05, 0.5, size=m)
    parents = rng.binomial(2, freq, size=(nfam, 2, 1, m)).astype(np.float32)
    transmitted = rng.random((nfam, 2, FAMILY, m), dtype=np.float32) < parents / 2
    return transmitted.sum(axis=1, dtype=np.int8).reshape(n, m).astype(float)


def kinship_factor(n: int, rng: np.random.Generator) -> np.ndarray:
    """G = Z / √r from ``R_KINSHIP`` pedigree variants, Z standardised per column."""
    Z = pedigree_dosages(n, R_KINSHIP, rng)
    Z = Z[:, Z.std(axis=0) > 0]
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    return Z / np.sqrt(Z.shape[1])


def simulate_traits(
    G: np.ndarray, X: np.ndarray, C0: np.ndarray, C1: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Y = X B + G W L₀ᵀ + E L₁ᵀ (see the module docstring)."""
    n, p = G.shape[0], C0.shape[0]
    Y = X @ rng.standard_normal((X.shape[1], p))
    Y += G @ rng.standard_normal((G.shape[1], p)) @ np.linalg.cholesky(C0).T
    Y += rng.standard_normal((n, p)) @ np.linalg.cholesky(C1).T
    return Y


def covariates(n: int, rng: np.random.Generator) -> np.ndarray:
    """X = [1ₙ, x], x ~ N(0, 1)."""
    return np.column_stack([np.ones(n), rng.standard_normal(n)])


# ---- statistics ---------------------------------------------------------------------------
def lambda_of_p(pvals: np.ndarray, dof: int) -> float:
    """λ_GC of p-values: the median of their χ²_dof quantiles over the χ²_dof median."""
    from kronlmm.gwas import genomic_control_lambda

    pv = pvals[np.isfinite(pvals)]
    return genomic_control_lambda(st.chi2.isf(pv, dof), dof)


def rate_cell(pvals: np.ndarray, alpha: float) -> str:
    """``"ratio ok"`` or ``"ratio OUT"``: rejections over the expected count, and whether the
    count lies in the binomial 99 % interval under the nominal α."""
    pv = pvals[np.isfinite(pvals)]
    k = int(np.sum(pv < alpha))
    lo, hi = st.binom.interval(0.99, pv.size, alpha)
    flag = "ok" if lo <= k <= hi else "OUT"
    return f"{k / (pv.size * alpha):.2f} {flag}"


# ---- 1. null study ------------------------------------------------------------------------
@dataclass
class NullCell:
    """p-values of one (n, p, rank, test) cell, pooled over replicates."""

    F: list[np.ndarray]
    chi2: list[np.ndarray]
    dof: int = 0
    failed: int = 0


def null_study(
    n: int, p: int, reps: int, m: int, tests: tuple[str, ...], seed: int, reml: bool
) -> dict[tuple[int, str], NullCell]:
    """F and χ² p-values of null candidates per (rank of C₀, test); see the docstring."""
    from kronlmm.core import economic_svd
    from kronlmm.lmm import Kron2Sum

    rng = np.random.default_rng((seed, 1, n, p))
    G = kinship_factor(n, rng)
    svd = economic_svd(G)
    X = covariates(n, rng)
    C0, C1 = true_covariances(p)
    cells = {(rank, t): NullCell([], []) for rank in (p, 1) for t in tests}
    for rep in range(reps):
        rrng = np.random.default_rng((seed, 1, n, p, rep))
        Y = simulate_traits(G, X, C0, C1, rrng)
        D = pedigree_dosages(n, m, rrng)
        for rank in (p, 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = Kron2Sum(Y, np.eye(p), X, svd, rank=rank, restricted=reml)
                fit = model.fit(verbose=False)
            if not fit.success:
                for t in tests:
                    cells[rank, t].failed += 1
                continue
            scanner = model.get_fast_scanner()
            for t in tests:
                res = scanner.scan_variants(D, t)  # statistic="F" (the default)
                cell = cells[rank, t]
                cell.dof = int(res.dof[0])
                cell.F.append(res.p_value)
                cell.chi2.append(st.chi2.sf(res.chi2, res.dof))  # = statistic="chi2"
    return cells


def run_null(args: argparse.Namespace) -> None:
    kind = "REML" if args.reml else "ML"
    sizes = {100: (200, 1000), 500: (50, 4000), 2000: (20, 10000)}  # n: (R, m)
    ns, ps = (100, 500, 2000), (2, 4, 8)
    if args.quick:
        sizes = {100: (4, 200), 200: (3, 300)}
        ns, ps = (100, 200), (2, 4)
    if args.null_n:
        ns = tuple(args.null_n)
    if args.null_p:
        ps = tuple(args.null_p)
    largest = max(ns)
    rows, inflation = [], []
    failures = []
    for n in ns:
        reps, m = sizes.get(n, (20, 10000))
        if args.null_reps:
            reps = args.null_reps
        tests = ("any", "common", "interaction") if n == largest else ("any",)
        for p in ps:
            t0 = time.perf_counter()
            cells = null_study(n, p, reps, m, tests, args.seed, args.reml)
            print(
                f"  null study n = {n}, p = {p}: {reps} replicates x {m} candidates, "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            for (rank, t), cell in cells.items():
                if cell.failed:
                    failures.append(f"n = {n}, p = {p}, rank {rank}: {cell.failed} of {reps}")
                if not cell.F:
                    continue
                F, chi2 = np.concatenate(cell.F), np.concatenate(cell.chi2)
                lab = "p" if rank == p else "1"
                if t == "any":
                    for name, pv in (("F", F), ("χ²", chi2)):
                        rows.append(
                            [n, p, lab, name, f"{F.size:,}", f"{lambda_of_p(pv, cell.dof):.3f}"]
                            + [rate_cell(pv, a) for a in ALPHAS]
                        )
                if n == largest:
                    inflation.append(
                        [n, p, lab, t, cell.dof, f"{lambda_of_p(chi2, cell.dof):.3f}",
                         f"{lambda_of_p(F, cell.dof):.3f}"]
                        + [rate_cell(F, a) for a in ALPHAS[1:]]
                    )  # fmt: skip
    print(
        f"\n### Null study: `any` test, C₀, C₁ estimated ({kind}) per replicate, "
        "rank(C₀) = p or 1 (true C₀ full rank)\n"
    )
    print_table(
        ["n", "p", "rank C₀", "statistic", "tests", "λ_GC", *(f"α = {a:g}" for a in ALPHAS)],
        rows,
        align="rrrlrr" + "r" * len(ALPHAS),
    )
    print(f"\n### Rank of C₀ at n = {largest} ({kind}): λ_GC of χ² and F, F rejection rates\n")
    print_table(
        ["n", "p", "rank C₀", "test", "dof", "λ_GC χ²", "λ_GC F",
         *(f"F α = {a:g}" for a in ALPHAS[1:])],
        inflation,
        align="rrrlrrr" + "r" * (len(ALPHAS) - 1),
    )  # fmt: skip
    print(
        "\nnull fits that did not converge (replicates left out): "
        + ("; ".join(failures) or "none")
    )


# ---- 2. missing phenotypes ----------------------------------------------------------------
def missing_replicate(args: argparse.Namespace, n: int, rep: int) -> list[dict[str, Any]]:
    """One replicate of the missing-phenotype study: three fits and scans of the same data."""
    from kronlmm.core import economic_svd
    from kronlmm.lmm import Kron2Sum

    p = 4
    rng = np.random.default_rng((args.seed, 2, n, p, rep))
    G = kinship_factor(n, rng)
    svd = economic_svd(G)
    X = covariates(n, rng)
    C0, C1 = true_covariances(p)
    Y = simulate_traits(G, X, C0, C1, rng)
    D = pedigree_dosages(n, args.null_variants + args.causal, rng)
    causal = D[:, args.null_variants :]
    beta = np.sqrt(args.h2snp / (1 - args.h2snp) / causal.var(axis=0))
    Y[:, 0] += (causal - causal.mean(axis=0)) @ beta
    Ymiss = np.where(rng.random((n, p)) < args.missing, np.nan, Y)
    out = []
    for mode, data, how in (
        ("no value missing", Y, "observed"),
        ("observed (default)", Ymiss, "observed"),
        ("complete-case", Ymiss, "complete-case"),
    ):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # complete-case names the samples it drops
            model = Kron2Sum(data, np.eye(p), X, svd, rank=p, missing=how)
            fit = model.fit(verbose=False)
        res = model.get_fast_scanner().scan_variants(D[model.missing.rows], "any")
        pv = res.p_value
        out.append(
            {
                "mode": mode,
                "values": model.nobs,
                "samples": model.nsamples,
                "converged": fit.success,
                "seconds": time.perf_counter() - t0,
                "null_p": pv[: args.null_variants],
                "causal_p": pv[args.null_variants :],
                "causal_mlog10": res.neg_log10_p_value[args.null_variants :],
            }
        )
    return out


def run_missing(args: argparse.Namespace) -> None:
    n, reps = (200, 2) if args.quick else (args.missing_n, args.missing_reps)
    if args.quick:
        args.null_variants, args.causal = 300, 5
    t0 = time.perf_counter()
    runs = [missing_replicate(args, n, rep) for rep in range(reps)]
    print(f"  missing study: {reps} replicates, {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for j, mode in enumerate(r["mode"] for r in runs[0]):
        mine = [run[j] for run in runs]
        null_p = np.concatenate([r["null_p"] for r in mine])
        causal_p = np.concatenate([r["causal_p"] for r in mine])
        mlog = np.concatenate([r["causal_mlog10"] for r in mine])
        rows.append(
            [
                mode,
                f"{np.mean([r['values'] for r in mine]):.0f}",
                f"{np.mean([r['samples'] for r in mine]):.0f}",
                f"{sum(r['converged'] for r in mine)}/{reps}",
                f"{np.mean([r['seconds'] for r in mine]):.1f}",
                f"{lambda_of_p(null_p, 4):.3f}",
                *(f"{np.mean(causal_p < a):.2f}" for a in POWER_ALPHAS),
                f"{np.mean(mlog):.2f}",
            ]
        )
    print(
        f"\n### Missing phenotypes: n = {n}, p = 4, {100 * args.missing:.0f} % of values missing "
        f"at random; {reps} replicates x ({args.null_variants} null + {args.causal} causal "
        f"variants, h²_snp = {args.h2snp} on trait 1); ML, rank 4, `any` test (F)\n"
    )
    print_table(
        ["data", "values", "samples", "converged", "fit + scan s", "λ_GC null",
         *(f"power p < {a:g}" for a in POWER_ALPHAS), "mean −log10 p causal"],
        rows,
        align="l" + "r" * 8,
    )  # fmt: skip


# ---- 3. LOCO ------------------------------------------------------------------------------
def loco_replicate(args: argparse.Namespace, rep: int, workdir: Path) -> dict[str, Any]:
    """One PLINK set; the genome-wide and the LOCO GWAS of it."""
    from kronlmm.gwas import fit_null

    n, p, chrom, per = args.loco_n, 3, args.chromosomes, args.per_chromosome
    per_chrom_causal = 10
    if args.quick:
        per_chrom_causal = 3
    rng = np.random.default_rng((args.seed, 3, n, p, rep))
    D = pedigree_dosages(n, chrom * per, rng)
    causal = np.concatenate(
        [c * per + rng.choice(per, per_chrom_causal, replace=False) for c in range(chrom)]
    )
    h2 = 0.4
    C0, C1 = true_covariances(p, h2)
    Z = D[:, causal]
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    beta = rng.standard_normal((causal.size, p)) @ np.linalg.cholesky(C0 / causal.size).T
    Y = Z @ beta + rng.standard_normal((n, p)) @ np.linalg.cholesky(C1).T
    ids = [f"s{i:06d}" for i in range(n)]
    prefix = write_plink(workdir / f"rep{rep}", D)
    with open(f"{prefix}.bim", "w", encoding="ascii") as bim:
        bim.writelines(
            f"{j // per + 1}\tv{j:06d}\t0\t{1000 * (j % per + 1)}\tA\tG\n"
            for j in range(D.shape[1])
        )
    pheno = pd.DataFrame(
        Y, index=pd.Index(ids, name="IID"), columns=[f"t{t + 1}" for t in range(p)]
    )
    out: dict[str, Any] = {"causal": causal}
    for loco in (False, True):
        t0 = time.perf_counter()
        null = fit_null(prefix, pheno, rank="full", loco=loco)
        res = null.scan("any", refit="none")
        a = res.assoc
        idx = np.array([int(v[1:]) for v in a["variant_id"]])
        order = np.argsort(idx)
        out["loco" if loco else "genome-wide"] = {
            "p": a["p_value"].to_numpy()[order],
            "mlog10": a["neg_log10_p_value"].to_numpy()[order],
            "converged": bool(null.converged),
            "seconds": time.perf_counter() - t0,
        }
    return out


def run_loco(args: argparse.Namespace) -> None:
    if args.quick:
        args.loco_n, args.chromosomes, args.per_chromosome, args.loco_reps = 200, 3, 300, 1
    logging.getLogger("kronlmm").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [loco_replicate(args, rep, Path(tmp)) for rep in range(args.loco_reps)]
    print(
        f"  LOCO study: {args.loco_reps} replicates, {time.perf_counter() - t0:.0f} s", flush=True
    )
    rows = []
    for mode in ("genome-wide", "loco"):
        null_p, causal_p = [], []
        for run in runs:
            mask = np.zeros(run[mode]["p"].size, bool)
            mask[run["causal"]] = True
            null_p.append(run[mode]["p"][~mask])
            causal_p.append(run[mode]["p"][mask])
        nul, cau = np.concatenate(null_p), np.concatenate(causal_p)
        rows.append(
            [
                "LOCO" if mode == "loco" else "genome-wide GRM",
                f"{sum(r[mode]['converged'] for r in runs)}/{len(runs)}",
                f"{np.mean([r[mode]['seconds'] for r in runs]):.1f}",
                f"{lambda_of_p(nul, 3):.3f}",
                rate_cell(nul, 1e-3),
                *(f"{np.mean(cau < a):.3f}" for a in POWER_ALPHAS),
                f"{np.mean(-np.log10(cau)):.2f}",
            ]
        )
    gain = np.concatenate(
        [r["loco"]["mlog10"][r["causal"]] - r["genome-wide"]["mlog10"][r["causal"]] for r in runs]
    )
    ncausal = gain.size
    print(
        f"\n### LOCO: n = {args.loco_n}, p = 3, {args.chromosomes} chromosomes x "
        f"{args.per_chromosome} variants, {ncausal // len(runs)} causal variants (h² 0.4); "
        f"{len(runs)} replicates; ML, rank 3, `any` test (F)\n"
    )
    print_table(
        ["kinship", "converged", "fit + scan s", "λ_GC non-causal", "non-causal α = 0.001",
         *(f"power p < {a:g}" for a in POWER_ALPHAS), "mean −log10 p causal"],
        rows,
        align="l" + "r" * 7,
    )  # fmt: skip
    print(
        f"\nLOCO − genome-wide, −log10 p of the {ncausal} causal variants: mean gain "
        f"{gain.mean():.3f} (s.e. {gain.std(ddof=1) / np.sqrt(ncausal):.3f}), median "
        f"{np.median(gain):.3f}, larger with LOCO for {np.mean(gain > 0):.0%}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds): a smoke test")
    ap.add_argument("--studies", nargs="+", default=["null", "missing", "loco"],
                    choices=["null", "missing", "loco"])  # fmt: skip
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reml", action="store_true", help="REML null fits in the null study")
    ap.add_argument("--null-n", type=int, nargs="+", help="sample sizes of the null study")
    ap.add_argument("--null-p", type=int, nargs="+", help="trait counts of the null study")
    ap.add_argument("--null-reps", type=int, help="replicates per cell of the null study")
    ap.add_argument("--missing-n", type=int, default=800)
    ap.add_argument("--missing-reps", type=int, default=30)
    ap.add_argument("--missing", type=float, default=0.2, help="probability a value is missing")
    ap.add_argument("--null-variants", type=int, default=2000)
    ap.add_argument("--causal", type=int, default=5, help="causal variants per replicate")
    ap.add_argument("--h2snp", type=float, default=0.04)
    ap.add_argument("--loco-n", type=int, default=1000)
    ap.add_argument("--loco-reps", type=int, default=10)
    ap.add_argument("--chromosomes", type=int, default=4)
    ap.add_argument("--per-chromosome", type=int, default=1500)
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    print(machine_summary(1))
    t0 = time.perf_counter()
    with threadpool_limits(1):  # small dense algebra; the studies are sized for one core
        if "null" in args.studies:
            run_null(args)
        if "missing" in args.studies:
            run_missing(args)
        if "loco" in args.studies:
            run_loco(args)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
