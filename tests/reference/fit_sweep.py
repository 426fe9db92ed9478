"""The seeded sweep of random Kron2Sum problems of issue #10, and its reference optima.

``problem(seed)`` draws one problem: n log-uniform in [5, 300], p in 2…6, every rank 1…p,
ML or REML, square (identity or a random positive-definite matrix) and non-square (p × (p−1)
or 1ₚ) trait designs, r < n or r > n, G scaled by 10^U(−6, 6), an intercept and sometimes a
covariate, and a simulated genetic and residual signal.

Run as a script, it writes ``fit_sweep.csv`` next to this file: for every seed the best
log-likelihood of :func:`kronlmm.testing.reference_kron2sum_fit` (20 random starts, an
implementation of the likelihood that shares no code with the model) and, for rank-1
problems where glimix-core 3.1.14 is installed, glimix-core's own fit::

    .venv/bin/python tests/reference/fit_sweep.py 500          # ≈ 1 h on 2 cores

The test (tests/test_fit_sweep.py) refits every problem with kronlmm's defaults and compares.
"""

from __future__ import annotations

import csv
import multiprocessing
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CSV = HERE / "fit_sweep.csv"
COLUMNS = ["seed", "n", "p", "rank", "restricted", "a", "r", "reference_lml", "glimix_lml"]


def problem(seed: int) -> dict:
    """One random problem (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    n = int(np.exp(rng.uniform(np.log(5), np.log(300))))
    p = int(rng.integers(2, 7))
    rank = int(rng.integers(1, p + 1))
    restricted = bool(rng.integers(2))
    kind = int(rng.integers(4))
    if kind == 0:
        A = np.eye(p)
    elif kind == 1:
        A = rng.normal(size=(p, p))
        A = A @ A.T
    elif kind == 2:
        A = rng.normal(size=(p, p - 1))
    else:
        A = np.ones((p, 1))
    c = 1 if n < 8 else int(rng.integers(1, 3))
    X = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(c - 1)])
    r = int(rng.integers(1, n)) if rng.integers(2) else int(rng.integers(n, 2 * n + 1))
    G = rng.normal(size=(n, r)) * 10.0 ** rng.uniform(-6, 6)
    L0 = rng.normal(size=(p, rank))
    L1 = rng.normal(size=(p, p))
    gs = np.sqrt(np.mean(np.sum(G * G, axis=1)))
    E = rng.normal(size=(n, p)) @ L1.T + (G / gs) @ rng.normal(size=(r, rank)) @ L0.T
    Y = X @ rng.normal(size=(c, p)) + E
    if restricted and np.linalg.matrix_rank(np.kron(A, X)) >= n * p:
        restricted = False  # REML needs residual degrees of freedom
    return {"Y": Y, "A": A, "X": X, "G": G, "rank": rank, "restricted": restricted}


def _glimix_rank1(prob: dict) -> float | None:
    try:
        from glimix_core.lmm import Kron2Sum as Glimix
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = Glimix(prob["Y"], prob["A"], prob["X"], prob["G"], rank=1,
                           restricted=prob["restricted"])  # fmt: skip
            model.fit(verbose=False)
            return float(model.lml())
        except Exception:  # noqa: BLE001 - glimix-core fails on some problems
            return None


def reference_row(seed: int) -> dict:
    """The reference optimum (and glimix-core's rank-1 fit) of one problem."""
    from threadpoolctl import threadpool_limits

    from kronlmm.lmm import Kron2Sum
    from kronlmm.testing import reference_kron2sum_fit

    prob = problem(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Kron2Sum(prob["Y"], prob["A"], prob["X"], prob["G"], rank=prob["rank"],
                         restricted=prob["restricted"])  # fmt: skip
    with threadpool_limits(1):
        ref = reference_kron2sum_fit(
            prob["Y"], prob["A"], prob["X"], prob["G"], prob["rank"], prob["restricted"],
            floor=model.cov.C1.floor, span_u_only=model.ml_projected, nstarts=20, seed=seed,
        )  # fmt: skip
        glimix = _glimix_rank1(prob) if prob["rank"] == 1 else None
    n, p = prob["Y"].shape
    return {
        "seed": seed, "n": n, "p": p, "rank": prob["rank"], "restricted": int(prob["restricted"]),
        "a": prob["A"].shape[1], "r": prob["G"].shape[1], "reference_lml": repr(ref.lml),
        "glimix_lml": "" if glimix is None else repr(glimix),
    }  # fmt: skip


def default_fit(seed: int) -> tuple[float, str, bool]:
    """kronlmm's default fit of problem ``seed``: (lml, the fit's message, ml_projected)."""
    from kronlmm.lmm import Kron2Sum

    prob = problem(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Kron2Sum(prob["Y"], prob["A"], prob["X"], prob["G"], rank=prob["rank"],
                         restricted=prob["restricted"])  # fmt: skip
        res = model.fit(verbose=False)
    return model.lml(), res.message, model.ml_projected


def read_reference() -> list[dict]:
    """Rows of fit_sweep.csv."""
    with CSV.open() as fh:
        return list(csv.DictReader(fh))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with multiprocessing.Pool(2) as pool:
        rows = pool.map(reference_row, range(count), chunksize=1)
    with CSV.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {CSV}")
