"""Benchmark: trait covariance models at R/qtl-sized (p = 24) and large (p = 100) trait counts.

Run ``python benchmarks/bench_trait_covariances.py --help`` (or ``make bench-traits``); see
``benchmarks/README.md`` for the recorded results.

Each case simulates ``vec(Y) ~ N((Iₚ ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)`` with n samples, a
genotype-like G (n × 500), a factor-analytic truth C₀ = 0.4 (ΛΛᵀ + diag(ψ₀)) with 3 factors and
C₁ = 0.6 (MMᵀ/2 + diag(ψ₁)) with 2 factors (``kronlmm.testing.simulate_kron2sum``), then fits
it by REML with:

- ``FA``: ``C0=FactorAnalyticCov(p, 3)``, ``C1=FactorAnalyticCov(p, 2)``;
- ``diag``: ``C0=DiagonalCov(p)``, ``C1=DiagonalCov(p)`` (independent traits; a lower bound
  on the cost of any fit);
- ``free`` (p ≤ 30 only): the free-form C₀ and C₁ of ``rank=p``, the model of glimix-core's
  Kron2Sum (glimix-core itself is not run: its fit at p = 24, n = 5000 does not finish in an
  hour on this machine).

Reported per fit: set-up and fit seconds, the number of free parameters, iterations, the
convergence flag, the relative Frobenius error of Ĉ₀ and Ĉ₁ against the truth, and the
largest difference between kronlmm's ML log-likelihood and the dense Gaussian density
``log N(vec(Y); (I ⊗ X) vec(B̂), Ĉ₀ ⊗ GGᵀ + Ĉ₁ ⊗ I)`` (``kronlmm.testing.dense_ml_lml``) at the
fitted Ĉ₀, Ĉ₁ on the first ``--dense-n`` samples (small enough for the np × np matrix).
No peer implements factor-analytic trait covariances for this model, so the table holds
kronlmm's models side by side; its fits are compared with glimix-core in
``bench_kron2sum.py``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import ensure_threads, fmt_seconds, machine_summary, print_table

from kronlmm.cov import DiagonalCov, FactorAnalyticCov
from kronlmm.lmm import Kron2Sum
from kronlmm.testing import dense_kron2sum_cov, dense_ml_lml, simulate_kron2sum


def truth(p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The factor-analytic C₀ (3 factors) and C₁ (2 factors) of the simulation."""
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(p, 3)) / np.sqrt(3)
    C0 = 0.4 * (L @ L.T + np.diag(rng.uniform(0.2, 0.5, p)))
    M = rng.normal(size=(p, 2))
    C1 = 0.6 * (M @ M.T / 2 + np.diag(rng.uniform(0.5, 1.0, p)))
    return C0, C1


def models(p: int) -> dict[str, dict[str, object]]:
    """Keyword arguments of Kron2Sum for each trait covariance model of the table."""
    out: dict[str, dict[str, object]] = {
        "FA": {"C0": FactorAnalyticCov(p, 3), "C1": FactorAnalyticCov(p, 2)},
        "diag": {"C0": DiagonalCov(p), "C1": DiagonalCov(p)},
    }
    if p <= 30:
        out["free"] = {"rank": p}
    return out


def dense_gap(data: object, model: Kron2Sum, nsub: int) -> float:
    """|kronlmm ML lml − dense density| at the fitted C₀, C₁ on the first ``nsub`` samples."""
    Y, X, G = data.Y[:nsub], data.X[:nsub], data.G[:nsub]  # type: ignore[attr-defined]
    p = Y.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = Kron2Sum(Y, np.eye(p), X, G, rank=p, restricted=False)
    sub.cov.C0.set_value(model.C0)
    sub.cov.C1.set_value(model.C1)
    K = dense_kron2sum_cov(model.C0, G, model.C1)
    dense = dense_ml_lml(Y.ravel(order="F"), np.kron(np.eye(p), X), K)
    return abs(sub.lml() - dense)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="24,5000;100,5000", help="p,n pairs separated by ;")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default all)")
    parser.add_argument("--dense-n", type=int, default=40, help="samples of the dense check")
    args = parser.parse_args()
    nthreads = ensure_threads(args.threads)
    print(machine_summary(nthreads))
    rows = []
    for case in args.cases.split(";"):
        p, n = (int(v) for v in case.split(","))
        C0, C1 = truth(p)
        data = simulate_kron2sum(n, p, r=500, C0=C0, C1=C1, seed=1)
        for name, kwargs in models(p).items():
            t0 = time.perf_counter()
            model = Kron2Sum(data.Y, None, data.X, data.G, restricted=True, **kwargs)
            setup = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = model.fit(verbose=False)
            fit = time.perf_counter() - t0
            e0 = np.linalg.norm(model.C0 - C0) / np.linalg.norm(C0)
            e1 = np.linalg.norm(model.C1 - C1) / np.linalg.norm(C1)
            gap = dense_gap(data, model, args.dense_n)
            rows.append(
                [p, n, name, model.cov.nparams, fmt_seconds(setup), fmt_seconds(fit),
                 res.niter, res.success, f"{e0:.3f}", f"{e1:.3f}", f"{gap:.1e}"]
            )  # fmt: skip
            print_table(
                ["p", "n", "model", "params", "set-up", "fit", "iter", "converged",
                 "err C0", "err C1", "|lml - dense|"],
                rows[-1:],
            )  # fmt: skip
    print()
    print(f"All cases ({nthreads} BLAS thread(s)):")
    print_table(
        ["p", "n", "model", "params", "set-up", "fit", "iter", "converged", "err C0", "err C1",
         "|lml - dense|"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
