"""Study: missing phenotypes — every observed value against complete cases.

Run ``python benchmarks/bench_missing_traits.py --help``.

Each replicate simulates ``vec(Y) ~ N((Iₚ ⊗ 1) vec(B) + (A₁ ⊗ g) β, C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)``
with G (n × n) Gaussian, C₀ = 0.4·(ρ₀-exchangeable), C₁ = 0.6·(ρ₁-exchangeable), ``--causal``
variants with an effect on the first trait only (each explaining ``--h2snp`` of its
variance) among ``--variants`` null variants, and masks each value of Y independently
with probability ``--missing``. The null is fitted by ML twice — on every observed value
(``missing="observed"``, the default) and on the complete cases — and every variant is
tested (``any``, p dof) with the variance components fixed at each fit.

Printed per mode: values and samples used, fit and scan seconds, genomic-control λ of the
null variants (calibration) and the share of causal variants at p < ``--alpha`` (power).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.stats import chi2 as chi2_dist

from kronlmm.lmm import Kron2Sum


def _exchangeable(p: int, rho: float) -> np.ndarray:
    return (1 - rho) * np.eye(p) + rho * np.ones((p, p))


def replicate(args: argparse.Namespace, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    n, p = args.n, args.p
    G = rng.standard_normal((n, n)) / np.sqrt(n)
    C0, C1 = 0.4 * _exchangeable(p, 0.5), 0.6 * _exchangeable(p, 0.2)
    Y = G @ rng.standard_normal((n, p)) @ np.linalg.cholesky(C0).T
    Y += rng.standard_normal((n, p)) @ np.linalg.cholesky(C1).T
    D = rng.binomial(2, 0.3, size=(n, args.variants + args.causal)).astype(float)
    causal = D[:, args.variants :]
    beta = np.sqrt(args.h2snp / (1 - args.h2snp) / causal.var(axis=0))
    Y[:, 0] += (causal - causal.mean(axis=0)) @ beta
    Y[rng.random((n, p)) < args.missing] = np.nan
    out = []
    for mode in ("observed", "complete-case"):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # dropped samples (named)
            model = Kron2Sum(Y, None, None, G, rank=p, missing=mode)
        fit = model.fit(verbose=False)
        t1 = time.perf_counter()
        res = model.get_fast_scanner().scan_variants(D[model.missing.rows], "any")
        t2 = time.perf_counter()
        chi2 = res.chi2[: args.variants]
        lam = float(np.median(chi2) / chi2_dist.ppf(0.5, p))
        power = float(np.mean(res.p_value[args.variants :] < args.alpha))
        out.append(
            {
                "mode": mode,
                "values": model.nobs,
                "samples": model.nsamples,
                "converged": float(fit.success),
                "fit_s": t1 - t0,
                "scan_s": t2 - t1,
                "lambda": lam,
                "power": power,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--p", type=int, default=4)
    ap.add_argument("--missing", type=float, default=0.2)
    ap.add_argument("--variants", type=int, default=2000)
    ap.add_argument("--causal", type=int, default=20)
    ap.add_argument("--h2snp", type=float, default=0.04)
    ap.add_argument("--alpha", type=float, default=1e-4)
    ap.add_argument("--replicates", type=int, default=2)
    args = ap.parse_args()
    rows = [row for seed in range(args.replicates) for row in replicate(args, seed)]
    print(
        f"n = {args.n}, p = {args.p}, {100 * args.missing:.0f}% missing, "
        f"{args.variants} null + {args.causal} causal variants (h2 {args.h2snp}), "
        f"power at p < {args.alpha:g}, {args.replicates} replicates"
    )
    print(f"{'mode':15s} {'values':>7s} {'samples':>7s} {'fit s':>6s} {'scan s':>6s} "
          f"{'lambda':>6s} {'power':>6s} {'conv':>4s}")  # fmt: skip
    for r in rows:
        print(
            f"{r['mode']:15s} {r['values']:7.0f} {r['samples']:7.0f} {r['fit_s']:6.1f} "
            f"{r['scan_s']:6.1f} {r['lambda']:6.3f} {r['power']:6.2f} {r['converged']:4.0f}"
        )


if __name__ == "__main__":
    main()
