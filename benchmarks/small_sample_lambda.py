"""How anti-conservative the scan's likelihood-ratio tests are with few samples.

Not a timing benchmark: it measures the genomic-control λ of null scans (no variant has
an effect) as the number of samples shrinks, which is what the WARNING of
``kronlmm.gwas.fit_null`` below 50 residual degrees of freedom (samples − covariate
columns) is based on (``kronlmm.gwas._inputs.SMALL_SAMPLE_DOF``).

Each replicate simulates ``vec(Y) ~ N(0, C₀ ⊗ GGᵀ + I)`` with ``G`` from 100 standardised
random genotypes, fits ``Kron2Sum`` (rank 1, ML) with an intercept and ``c − 1`` random
covariates, scans 1000 random variants unrelated to ``Y`` with the ``any`` test and takes
λ = median χ² / median of χ²(p). Under the null λ should be 1; the asymptotic χ²
approximation of the likelihood-ratio test makes it larger with few samples.

Run ``python benchmarks/small_sample_lambda.py [--traits 3] [--covariates 3]``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np


def null_lambda(n: int, p: int, c: int, rng: np.random.Generator) -> float:
    from kronlmm.gwas import genomic_control_lambda
    from kronlmm.lmm import Kron2Sum

    Z = rng.binomial(2, 0.3, size=(n, 100)).astype(float)
    Z = (Z - Z.mean(0)) / (Z.std(0) + 1e-12)
    G = Z / np.sqrt(100)
    X = np.hstack([np.ones((n, 1)), rng.standard_normal((n, c - 1))])
    Y = 0.5 * G @ rng.standard_normal((100, p)) + rng.standard_normal((n, p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Kron2Sum(Y, np.eye(p), X, G, rank=1)
        model.fit(verbose=False)
    candidates = rng.binomial(2, 0.3, size=(n, 1000)).astype(float)
    result = model.get_fast_scanner().scan_variants(candidates, "any")
    return genomic_control_lambda(result.chi2, result.dof)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traits", type=int, default=3)
    parser.add_argument("--covariates", type=int, default=3, help="columns, intercept included")
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 30, 50, 100])
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print(f"traits {args.traits}, covariate columns {args.covariates}, "
          f"{args.replicates} replicates of 1000 null variants")  # fmt: skip
    print(f"{'samples':>8} {'resid. dof':>10} {'median λ':>9}  replicates")
    for n in args.sizes:
        lams = [null_lambda(n, args.traits, args.covariates, rng) for _ in range(args.replicates)]
        print(
            f"{n:>8} {n - args.covariates:>10} {np.median(lams):>9.2f}  "
            + " ".join(f"{v:.2f}" for v in lams)
        )


if __name__ == "__main__":
    main()
