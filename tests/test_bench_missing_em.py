"""The EM reference of benchmarks/bench_missing_em.py: monotone, exact, and at kronlmm's ML fit."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from kronlmm.testing import dense_ml_lml


@pytest.fixture(scope="module")
def bench(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("bench_missing_em")


@pytest.fixture(scope="module")
def data(bench: ModuleType) -> dict[str, np.ndarray]:
    # n = 30 samples, p = 3 traits, 20 % of the values missing, G of full rank 30; a seed
    # whose ML optimum is interior (C₀, C₁ ≻ 0): where it is on the boundary, as for many
    # seeds at this n, EM converges sublinearly and would need far more iterations
    d: dict[str, np.ndarray] = bench.simulate(30, 3, 0.2, 0.6, seed=3)
    assert np.isnan(d["Y"]).sum() > 10
    return d


def test_dense_em_is_monotone_and_its_lml_is_the_observed_likelihood(
    bench: ModuleType, data: dict[str, np.ndarray]
) -> None:
    Y, X, G = data["Y"], data["X"], data["G"]
    n, p = Y.shape
    y = Y.ravel(order="F")
    O = ~np.isnan(y)
    C0, C1 = bench.em_start(Y)
    lmls = []
    for _ in range(25):
        lml, _, C0, C1 = bench.em_step_dense(Y, X, G, C0, C1)
        lmls.append(lml)
        K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))
        # the iterates stay covariances (expected Gram matrices)
        assert np.linalg.eigvalsh(C0).min() > 0 and np.linalg.eigvalsh(C1).min() > 0
    # ℓ of the last update, from kronlmm's dense reference density of the observed values
    last = dense_ml_lml(y[O], np.kron(np.eye(p), X)[O], K[np.ix_(O, O)])
    assert bench.observed_lml_dense(Y, X, G, C0, C1) == pytest.approx(last, abs=1e-9)
    steps = np.diff(lmls + [last])
    # EM never decreases ℓ; 1e-9 absolute is rounding for |ℓ| ≈ 10², and the total gain
    # (≫ 1e-9) shows the iterations do move
    assert steps.min() > -1e-9
    assert lmls[-1] - lmls[0] > 1e-2


def test_structured_em_step_is_the_dense_em_step(
    bench: ModuleType, data: dict[str, np.ndarray]
) -> None:
    Y, X, G = data["Y"], data["X"], data["G"]
    em = bench.StructuredEM(Y, X, G)
    C0, C1 = bench.em_start(Y)
    for _ in range(3):
        dense = bench.em_step_dense(Y, X, G, C0, C1)
        fast = em.step(C0, C1)
        assert fast[0] == pytest.approx(dense[0], abs=1e-9)
        for a, b in zip(fast[1:], dense[1:], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
        C0, C1 = dense[2], dense[3]


def test_converged_em_is_kron2sum_ml_fit(bench: ModuleType, data: dict[str, np.ndarray]) -> None:
    Y, X, G = data["Y"], data["X"], data["G"]
    model, _, _ = bench.fit_kronlmm(Y, X, G)
    assert model.fit_result.success and not model.ml_projected
    assert min(np.linalg.eigvalsh(model.C0).min(), np.linalg.eigvalsh(model.C1).min()) > 0.04
    em = bench.StructuredEM(Y, X, G)
    run = bench.run_em(em.step, *bench.em_start(Y), max_iter=5000, rel_change=1e-12)
    assert run.stopped == "converged"
    assert np.diff(run.lml).min() > -1e-9
    # Both maximise the same ℓ. kronlmm stops at a projected gradient ≤ 1e-6 (scaled), an
    # lml error of order 1e-10 here; EM stops when one iteration gains ≤ 1e-12·|ℓ|
    # ≈ 1e-10, and at a linear rate ρ the gap left is gain·ρ/(1 − ρ): ≤ 1e-8 for ρ ≤ 0.99
    # (it stops after a few hundred iterations here, so ρ is well below that). 1e-6 leaves
    # two orders of magnitude.
    assert run.lml[-1] == pytest.approx(model.fit_result.lml, abs=1e-6)
    # At an lml gap ≤ 1e-6 the covariances can differ by about sqrt(2·gap / curvature);
    # the trait covariances here are O(1), so 1e-3 is tight enough to catch a wrong optimum.
    np.testing.assert_allclose(run.C0, model.C0, atol=1e-3)
    np.testing.assert_allclose(run.C1, model.C1, atol=1e-3)


def test_squarem_reaches_kron2sum_ml_fit(bench: ModuleType, data: dict[str, np.ndarray]) -> None:
    Y, X, G = data["Y"], data["X"], data["G"]
    model, _, _ = bench.fit_kronlmm(Y, X, G)
    em = bench.StructuredEM(Y, X, G)
    run = bench.run_squarem(em.step, *bench.em_start(Y), target=model.fit_result.lml, tol=1e-7)
    assert run.stopped == "target"
    # the best point is within 1e-7 below kronlmm's maximum and cannot be far above it
    # (kronlmm's lml error is of order 1e-10 here, see the test above)
    assert abs(max(run.lml) - model.fit_result.lml) <= 1e-7
    np.testing.assert_allclose(run.C0, model.C0, atol=1e-3)
    np.testing.assert_allclose(run.C1, model.C1, atol=1e-3)


def test_quick_run(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    rows = bench.main(["--quick"])
    assert len(rows) == 1
    row = dict(zip(bench.HEADER, rows[0], strict=True))
    assert row["EM ℓ non-decreasing"] == "yes" and row["kronlmm converged"] == "yes"
    assert "| n " in capsys.readouterr().out
