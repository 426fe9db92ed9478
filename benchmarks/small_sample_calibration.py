"""Type-I error of the scan's tests at n = 100: the exact F test, the χ² LRT, the refit LRT.

Not a timing benchmark. Each replicate simulates null data (no candidate has an effect)::

    vec(Y) ~ N((Iₚ ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

with n samples, X an intercept and one N(0, 1) covariate, G = 100 standardised random
genotypes / √100, and seeded random full-rank C₀ (genetic share about 1/3) and C₁. Fresh
random dosages (MAF 0.05–0.5, independent of Y) are the candidates, tested with the ``any``
test (dof p). Three studies:

1. ``fixed``: the variance components fixed at their *true* values (the case where the F
   test is exact): rejection rates of the F and χ² tests at α = 0.05, 1e-2, 1e-3, 1e-4.
2. ``estimated``: C₀, C₁ estimated per replicate (Kron2Sum, rank p, ML or ``--reml``), the
   scan at the estimates, as a GWAS does: the same rates. Candidates of one replicate share
   the estimates, so their tests are correlated: the binomial interval is a guide only.
3. ``refit``: the refit LRT (:func:`kronlmm.lmm.refit_lrt`, C₀, C₁ re-estimated under both
   hypotheses) for a few candidates per replicate (part of study 2), against χ²_p, as an F
   test (``F = (e^{χ²/N} − 1)(N − k₁)/p`` against F(p, N − k₁), the transformation that
   makes the fixed-VC test exact), and against a Bartlett-type correction
   ``χ²·p/mean(χ²)`` whose scale is estimated from the same study (an oracle: reported,
   not usable on real data, not used by kronlmm).
4. ``bootstrap``: the design of study 2 (C₀, C₁ estimated per data set, ML or ``--reml``,
   rank p), and the same M candidates also calibrated by the parametric bootstrap of the
   fitted null (:func:`kronlmm.lmm.bootstrap_calibration`: B simulated phenotype sets, the
   null refit on each, the M candidates scanned at each refit, the B·M null F p-values
   pooled; p = (1 + #{p* ≤ p_F}) / (1 + B·M)). Rates of the F test and of its bootstrap
   calibration on the same candidates. B·M should exceed 1/α tenfold for the smallest α
   (B = 100, M = 1000: resolution 1e-5).

Each rate is given with its binomial 99 % interval under the nominal α; ``ok`` says whether
the count lies in it. Run ``python benchmarks/small_sample_calibration.py`` (minutes) or
with ``--quick`` (seconds). Tables of a run are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import scipy.stats as st
from threadpoolctl import threadpool_limits

ALPHAS = (0.05, 1e-2, 1e-3, 1e-4)


def _problem(n: int, p: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    Z = rng.binomial(2, 0.3, size=(n, 100)).astype(float)
    Z = (Z - Z.mean(0)) / (Z.std(0) + 1e-12)
    G = Z / np.sqrt(100)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    L0 = rng.standard_normal((p, p)) / np.sqrt(p)
    L1 = np.tril(rng.standard_normal((p, p)) * 0.4, -1) + np.eye(p)
    C0 = 0.5 * L0 @ L0.T + 0.05 * np.eye(p)
    C1 = L1 @ L1.T
    K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))
    return {"G": G, "X": X, "C0": C0, "C1": C1, "L": np.linalg.cholesky(K)}


def _null_Y(pr: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    n, p = pr["X"].shape[0], pr["C0"].shape[0]
    return (pr["L"] @ rng.standard_normal(n * p)).reshape(p, n).T + pr["X"] @ rng.standard_normal(
        (2, p)
    )


def _candidates(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    maf = rng.uniform(0.05, 0.5, size=m)
    return rng.binomial(2, maf, size=(n, m)).astype(float)


def _rates(pvals: np.ndarray) -> list[tuple[float, int, int, float, bool]]:
    """Per α: (α, rejections, tests, ratio to nominal, inside the binomial 99 % interval)."""
    total = int(np.sum(np.isfinite(pvals)))
    out = []
    for a in ALPHAS:
        k = int(np.sum(pvals < a))
        lo, hi = st.binom.interval(0.99, total, a)
        out.append((a, k, total, k / (total * a), bool(lo <= k <= hi)))
    return out


def _print(title: str, rows: dict[str, np.ndarray]) -> None:
    print(title)
    print(f"  {'test':<18} {'alpha':>7} {'rejected':>9} {'tests':>8} {'ratio':>6}  99% interval")
    for name, pvals in rows.items():
        for a, k, total, ratio, ok in _rates(pvals):
            lo, hi = st.binom.interval(0.99, total, a)
            flag = "ok" if ok else "OUT"
            print(
                f"  {name:<18} {a:>7.0e} {k:>9d} {total:>8d} {ratio:>6.2f}  "
                f"[{int(lo)}, {int(hi)}] {flag}"
            )


def fixed_study(n: int, p: int, reps: int, m: int, seed: int) -> dict[str, np.ndarray]:
    """F and χ² p-values at the true C₀, C₁."""
    from kronlmm.core import economic_svd
    from kronlmm.scan import KronFastScanner, make_plan, scan_block

    rng = np.random.default_rng(seed)
    pr = _problem(n, p, rng)
    svd = economic_svd(pr["G"])
    plan = make_plan(p, "any")
    pf, pc = [], []
    for _ in range(reps):
        Y = _null_Y(pr, rng)
        scanner = KronFastScanner(Y, np.eye(p), pr["X"], svd, pr["C0"], pr["C1"])
        res = scan_block(scanner.null, _candidates(n, m, rng), plan)
        pf.append(res.p_value)
        pc.append(st.chi2.sf(res.chi2, res.dof))
    return {"F": np.concatenate(pf), "chi2": np.concatenate(pc)}


def estimated_study(
    n: int, p: int, reps: int, m: int, m_refit: int, seed: int, reml: bool
) -> dict[str, np.ndarray]:
    """F and χ² at estimated C₀, C₁; refit LRT for ``m_refit`` candidates per replicate."""
    from kronlmm.core import economic_svd
    from kronlmm.lmm import Kron2Sum, refit_lrt
    from kronlmm.scan import make_plan, scan_block

    rng = np.random.default_rng(seed)
    pr = _problem(n, p, rng)
    svd = economic_svd(pr["G"])
    plan = make_plan(p, "any")
    pf, pc, chi_refit = [], [], []
    failed = 0
    for _ in range(reps):
        Y = _null_Y(pr, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Kron2Sum(Y, np.eye(p), pr["X"], svd, rank=p, restricted=reml)
            fit = model.fit(verbose=False)
        if not fit.success:
            failed += 1
            continue
        cand = _candidates(n, m, rng)
        res = scan_block(model.get_fast_scanner().null, cand, plan)
        pf.append(res.p_value)
        pc.append(st.chi2.sf(res.chi2, res.dof))
        if m_refit:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = refit_lrt(model, cand[:, :m_refit])
            chi_refit.append(np.where(out.reason == "", out.chi2, np.nan))
    if failed:
        print(f"  ({failed} of {reps} null fits did not converge: replicates left out)")
    out = {"F": np.concatenate(pf), "chi2": np.concatenate(pc)}
    if m_refit:
        c = np.concatenate(chi_refit)
        out["refit LRT"] = st.chi2.sf(c, p)
        # the transformation that makes the fixed-VC test exact, applied to the refit χ²
        N, df2 = n * p, n * p - 2 * p - p  # k₁ = rank(Iₚ ⊗ X) + rank(Iₚ), X: 2 columns
        out["refit LRT as F"] = st.f.sf(np.expm1(c / N) * df2 / p, p, df2)
        scale = float(np.nanmean(c) / p)  # Bartlett-type: E χ² = p·scale
        out["refit LRT/scale"] = st.chi2.sf(c / scale, p)
        out["_scale"] = np.array([scale])
    return out


def bootstrap_study(
    n: int,
    p: int,
    reps: int,
    m: int,
    replicates: int,
    seed: int,
    reml: bool,
    double: bool = False,
) -> tuple[dict[str, np.ndarray], int, int, int]:
    """F p-values at estimated C₀, C₁ and their parametric-bootstrap calibration (with
    ``double``: also the fast double bootstrap from the same first level); also the numbers
    of null fits, of bootstrap refits and of second-level refits left out."""  # fmt: skip
    from kronlmm.core import economic_svd
    from kronlmm.lmm import Kron2Sum, bootstrap_calibration
    from kronlmm.scan import make_plan, scan_block

    rng = np.random.default_rng(seed)
    pr = _problem(n, p, rng)
    svd = economic_svd(pr["G"])
    plan = make_plan(p, "any")
    pf, pb, pd = [], [], []
    failed_fits = failed_refits = failed_second = 0
    for rep in range(reps):
        Y = _null_Y(pr, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Kron2Sum(Y, np.eye(p), pr["X"], svd, rank=p, restricted=reml)
            fit = model.fit(verbose=False)
        if not fit.success:
            failed_fits += 1
            continue
        cand = _candidates(n, m, rng)
        observed = scan_block(model.get_fast_scanner().null, cand, plan).p_value
        calibration = bootstrap_calibration(
            model, cand, plan, replicates=replicates, seed=seed * 100_003 + rep,
            method="fast-double" if double else "single",
        )  # fmt: skip
        failed_refits += calibration.failed_refits
        failed_second += calibration.failed_second_level
        pf.append(observed)
        pb.append(calibration.single_p_values(observed))
        if double:
            pd.append(calibration.fast_double_p_values(observed))
        partial = {"F": pf, "boot": pb, "FDB": pd}
        counts = "; ".join(
            f"{name} " + " ".join(str(int(np.sum(np.concatenate(v) < a))) for a in ALPHAS)
            for name, v in partial.items()
            if v
        )
        print(f"  [data set {rep + 1}/{reps}, {sum(x.size for x in pf)} tests] rejected at "
              f"{ALPHAS}: {counts}", file=sys.stderr, flush=True)  # fmt: skip
    rows = {"F": np.concatenate(pf), "F, bootstrap": np.concatenate(pb)}
    if double:
        rows["F, fast double bootstrap"] = np.concatenate(pd)
    return rows, failed_fits, failed_refits, failed_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--traits", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--quick", action="store_true", help="a small run (seconds)")
    parser.add_argument("--reml", action="store_true", help="REML estimates in study 2")
    parser.add_argument("--studies", nargs="+", default=["fixed", "estimated"],
                        choices=["fixed", "estimated", "bootstrap"])  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--data-sets",
        type=int,
        default=None,
        help="data sets of the 'estimated' study (default 100; --quick 6)",
    )
    parser.add_argument("--refit-candidates", type=int, default=None,
                        help="candidates per data set for the refit LRT (default 10)")  # fmt: skip
    parser.add_argument("--bootstrap-replicates", type=int, default=None,
                        help="B of the 'bootstrap' study (default 100; --quick 20)")  # fmt: skip
    parser.add_argument("--bootstrap-data-sets", type=int, default=None,
                        help="data sets of study 4 (default 100; --quick 4)")  # fmt: skip
    parser.add_argument("--bootstrap-candidates", type=int, default=None,
                        help="M of the 'bootstrap' study (default 1000; --quick 200)")  # fmt: skip
    parser.add_argument("--fast-double", action="store_true",
                        help="'bootstrap' study: also the fast double bootstrap")  # fmt: skip
    args = parser.parse_args()
    with threadpool_limits(1):  # small dense algebra: threads only add overhead
        run(args)


def run(args: argparse.Namespace) -> None:
    """The studies of the command line."""
    if args.quick:
        fixed = {"reps": 200, "m": 100}
        est = {"reps": 6, "m": 200, "m_refit": 3}
        boot = {"reps": 4, "m": 200, "replicates": 20}
    else:
        fixed = {"reps": 2000, "m": 500}
        est = {"reps": 100, "m": 1000, "m_refit": 10}
        boot = {"reps": 100, "m": 1000, "replicates": 100}
    for key, value in (
        ("reps", args.bootstrap_data_sets),
        ("m", args.bootstrap_candidates),
        ("replicates", args.bootstrap_replicates),
    ):
        if value is not None:
            boot[key] = value
    if args.data_sets is not None:
        est["reps"] = args.data_sets
    if args.refit_candidates is not None:
        est["m_refit"] = args.refit_candidates
    for p in args.traits:
        if "fixed" in args.studies:
            t0 = time.perf_counter()
            rows = fixed_study(args.n, p, fixed["reps"], fixed["m"], args.seed + p)
            _print(
                f"n = {args.n}, p = {p}: C0, C1 fixed at the truth "
                f"({fixed['reps']} data sets x {fixed['m']} candidates, "
                f"{time.perf_counter() - t0:.0f} s)",
                rows,
            )
        if "estimated" in args.studies:
            t0 = time.perf_counter()
            kind = "REML" if args.reml else "ML"
            rows = estimated_study(
                args.n, p, est["reps"], est["m"], est["m_refit"], args.seed + 100 + p, args.reml
            )
            _print(
                f"n = {args.n}, p = {p}: C0, C1 estimated ({kind}, rank p) per data set "
                f"({est['reps']} data sets x {est['m']} candidates, refit LRT for "
                f"{est['m_refit']} of them; {time.perf_counter() - t0:.0f} s)",
                {k: v for k, v in rows.items() if not k.startswith("_")},
            )
            if "_scale" in rows:
                print(f"  refit LRT: mean χ² / p = {rows['_scale'][0]:.3f} (the Bartlett scale)")
        if "bootstrap" in args.studies:
            t0 = time.perf_counter()
            kind = "REML" if args.reml else "ML"
            rows, failed_fits, failed_refits, failed_second = bootstrap_study(
                args.n, p, boot["reps"], boot["m"], boot["replicates"], args.seed + 200 + p,
                args.reml, args.fast_double,
            )  # fmt: skip
            _print(
                f"n = {args.n}, p = {p}: C0, C1 estimated ({kind}, rank p) per data set, F test "
                f"and its parametric bootstrap (B = {boot['replicates']} refits x the same "
                f"M = {boot['m']} candidates; {boot['reps']} data sets; "
                f"{time.perf_counter() - t0:.0f} s)",
                rows,
            )
            print(
                f"  left out: {failed_fits} of {boot['reps']} null fits, {failed_refits} of "
                f"{(boot['reps'] - failed_fits) * boot['replicates']} bootstrap refits "
                "(not converged)"
                + (f", {failed_second} second-level refits" if args.fast_double else "")
            )


if __name__ == "__main__":
    main()
