"""The parametric-bootstrap calibration of the fixed-VC F test (:mod:`kronlmm.lmm.bootstrap`)
and its GWAS/CLI form (``statistic="bootstrap"``).

References are computed here without the module's loop: the simulation against the dense
covariance ``C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ``; the pooled p-values by drawing, refitting with
:class:`~kronlmm.lmm.Kron2Sum` and scanning with :func:`~kronlmm.scan.scan_block` by hand;
the calibration of the small-sample test against the exact binomial 99 % interval of the
rejection count under the null.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import scipy.stats as st
from click.testing import CliRunner

from kronlmm.cli import cli
from kronlmm.data import example_paths
from kronlmm.gwas import fit_null, scan
from kronlmm.lmm import (
    BootstrapCalibration,
    Kron2Sum,
    bootstrap_calibration,
    simulate_phenotypes,
)
from kronlmm.scan import make_plan, scan_block


def _fitted_null(seed: int, n: int = 60, p: int = 2, missing: int = 0) -> Kron2Sum:
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, 20)) / np.sqrt(20)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    Y = G @ rng.standard_normal((20, p)) + rng.standard_normal((n, p)) + X @ np.ones((2, p))
    if missing:
        Y[rng.choice(n, size=missing, replace=False), rng.integers(0, p, size=missing)] = np.nan
    model = Kron2Sum(Y, np.eye(p), X, G, rank=p)
    assert model.fit(verbose=False).success
    return model


def _dosages(seed: int, n: int, m: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.binomial(2, rng.uniform(0.1, 0.5, size=m), size=(n, m)).astype(float)


# ------------------------------------------------------------------ the library function
@pytest.mark.parametrize("missing", [0, 7])
def test_pooled_p_values_equal_a_manual_bootstrap(missing: int) -> None:
    """Draw, refit and scan by hand with the documented recipe: the same pooled p-values."""
    model = _fitted_null(3, missing=missing)
    n, p = model.nsamples, model.ntraits
    candidates = _dosages(4, n, 15)
    candidates[0, 2] = np.nan  # a missing call, mean-imputed by the scans
    seed, B = 11, 3
    got = bootstrap_calibration(model, candidates, "any", replicates=B, seed=seed)

    rng = np.random.default_rng(seed)
    U, S2 = model.cov.svd
    w, V = np.linalg.eigh(model.C0)
    L0 = V * np.sqrt(np.maximum(w, 0.0))
    L1 = np.linalg.cholesky(model.C1)
    plan = make_plan(p, "any")
    expected = []
    for _ in range(B):
        Z0 = rng.standard_normal((U.shape[1], p))
        Z1 = rng.standard_normal((n, p))
        Y = model.X @ model.B @ model.A.T + (U * np.sqrt(S2)) @ Z0 @ L0.T + Z1 @ L1.T
        Y[np.isnan(model.Y)] = np.nan
        refit = Kron2Sum(
            Y,
            np.eye(p),
            model.X,
            model.cov.svd,
            C0=copy.deepcopy(model.cov.C0),
            C1=copy.deepcopy(model.cov.C1),
        )
        refit.set_start(model.C0, model.C1)
        assert refit.fit(verbose=False, start="current").success
        expected.append(scan_block(refit.get_fast_scanner().null, candidates, plan).p_value)
    pooled = np.sort(np.concatenate(expected))
    assert got.failed_refits == 0 and got.failure_reasons == {}
    assert (got.replicates, got.candidates, got.pooled) == (B, 15, B * 15)
    np.testing.assert_allclose(got.null_p_values, pooled, rtol=1e-12, atol=0)
    # the Monte Carlo p-value, counted by hand
    observed = scan_block(model.get_fast_scanner().null, candidates, plan).p_value
    by_hand = [(1 + np.sum(pooled <= q)) / (1 + pooled.size) for q in observed]
    np.testing.assert_array_equal(got.p_values(observed), by_hand)


def test_simulation_has_the_model_mean_and_covariance() -> None:
    """Many draws of a small model against its dense mean and ``C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ``.

    Each of the N draws is exact, so the sample moments differ from the model's only by
    Monte Carlo error: the standard error of a covariance entry is
    ``sqrt((K_ii K_jj + K_ij²)/N)`` for normal data and that of a mean entry
    ``sqrt(K_ii/N)``; 5 standard errors over 78 + 12 entries is a false alarm rate below
    1e-4 (and the test is seeded). A wrong square root (e.g. Cᵀ for C, or the Kronecker
    factors swapped) moves entries by many times that.
    """
    rng = np.random.default_rng(5)
    n, p = 6, 2
    G = rng.standard_normal((n, 3))
    Y = rng.standard_normal((n, p))
    model = Kron2Sum(Y, np.eye(p), np.ones((n, 1)), G, rank=p)
    C0 = np.array([[1.0, 0.6], [0.6, 0.5]])
    C1 = np.array([[0.8, -0.3], [-0.3, 0.4]])
    model.set_start(C0, C1)
    K = np.kron(model.C0, G @ G.T) + np.kron(model.C1, np.eye(n))
    draws = 20_000
    source = np.random.default_rng(6)
    vecs = np.array([simulate_phenotypes(model, source).ravel(order="F") for _ in range(draws)])
    mean_se = np.sqrt(np.diag(K) / draws)
    assert np.all(np.abs(vecs.mean(0) - model.mean()) <= 5 * mean_se)
    cov_se = np.sqrt((np.outer(np.diag(K), np.diag(K)) + K**2) / draws)
    assert np.all(np.abs(np.cov(vecs, rowvar=False) - K) <= 5 * cov_se)


def test_missing_phenotypes_stay_missing_in_every_draw() -> None:
    model = _fitted_null(8, missing=9)
    draw = simulate_phenotypes(model, np.random.default_rng(0))
    np.testing.assert_array_equal(np.isnan(draw), np.isnan(model.Y))
    assert np.isnan(draw).sum() == 9


def test_calibration_arithmetic_and_label() -> None:
    calibration = BootstrapCalibration(np.array([0.001, 0.01, 0.01, 0.3]), 2, 2, 1, {"x": 1})
    got = calibration.p_values([1e-5, 0.001, 0.01, 0.5, np.nan])
    np.testing.assert_array_equal(got[:4], [0.2, 0.4, 0.8, 1.0])
    assert np.isnan(got[4])
    assert calibration.resolution == 0.2 and calibration.refits_used == 1
    assert calibration.label == "F, parametric bootstrap (B=2, M=2)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replicates": 0}, "replicates must be ≥ 1"),
        ({"replicates": 2.5}, "replicates must be an integer"),
        ({"candidates": np.zeros((59, 3))}, r"expected \(60, M\)"),
        ({"candidates": np.zeros((60, 0))}, r"expected \(60, M\)"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    model = _fitted_null(1)
    args: dict[str, object] = {"candidates": _dosages(2, 60, 3), "replicates": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        bootstrap_calibration(model, **args)  # type: ignore[arg-type]


def test_progress_is_reported_per_refit() -> None:
    model = _fitted_null(1)
    seen: list[tuple[int, int]] = []
    bootstrap_calibration(
        model, _dosages(2, 60, 4), replicates=3, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


# ------------------------------------------------------------ the fast double bootstrap
def _manual_draw(model: Kron2Sum, rng: np.random.Generator) -> np.ndarray:
    n, p = model.nsamples, model.ntraits
    U, S2 = model.cov.svd
    w, V = np.linalg.eigh(model.C0)
    L0 = V * np.sqrt(np.maximum(w, 0.0))
    Z0 = rng.standard_normal((U.shape[1], p))
    Z1 = rng.standard_normal((n, p))
    Y = model.X @ model.B @ model.A.T + (U * np.sqrt(S2)) @ Z0 @ L0.T
    Y = Y + Z1 @ np.linalg.cholesky(model.C1).T
    Y[np.isnan(model.Y)] = np.nan
    return np.asarray(Y)


def _manual_refit(model: Kron2Sum, Y: np.ndarray) -> Kron2Sum:
    refit = Kron2Sum(
        Y,
        model.A,
        model.X,
        model.cov.svd,
        C0=copy.deepcopy(model.cov.C0),
        C1=copy.deepcopy(model.cov.C1),
    )
    refit.set_start(model.C0, model.C1)
    assert refit.fit(verbose=False, start="current").success
    return refit


def _fdb_by_hand(first: np.ndarray, second: np.ndarray, p_F: float) -> float:
    """``G₁(inf{t : G₂(t) ≥ G₁(p_F)})`` by a search over t ∈ {−∞} ∪ {p**} in integers."""
    n1, n2 = first.size, second.size
    c = int(np.sum(first <= p_F))
    for t in [-np.inf, *np.sort(second)]:
        # G₂(t) ≥ p̂₁  ⇔  (1 + #{p** ≤ t}) (1 + N₁) ≥ (1 + c) (1 + N₂)
        if (1 + int(np.sum(second <= t))) * (1 + n1) >= (1 + c) * (1 + n2):
            return (1 + int(np.sum(first <= t))) / (1 + n1)
    raise AssertionError("G₂ reaches 1 at the largest p**")


@pytest.mark.parametrize("missing", [0, 5])
def test_fast_double_bootstrap_equals_a_manual_two_level_computation(missing: int) -> None:
    """Simulate → refit → scan, then simulate from that refit → refit → scan (second
    generator ``default_rng([seed, 1])``), pool both levels, map by the quantile: the same
    pools (1e-12) and the same p-values."""
    model = _fitted_null(13, missing=missing)
    n, p = model.nsamples, model.ntraits
    candidates = _dosages(14, n, 12)
    seed, B = 21, 3
    got = bootstrap_calibration(
        model, candidates, "any", replicates=B, seed=seed, method="fast-double"
    )
    single = bootstrap_calibration(model, candidates, "any", replicates=B, seed=seed)
    plan = make_plan(p, "any")
    rng, rng2 = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    first, second = [], []
    for _ in range(B):
        refit = _manual_refit(model, _manual_draw(model, rng))
        first.append(scan_block(refit.get_fast_scanner().null, candidates, plan).p_value)
        refit2 = _manual_refit(refit, _manual_draw(refit, rng2))
        second.append(scan_block(refit2.get_fast_scanner().null, candidates, plan).p_value)
    pool1, pool2 = np.sort(np.concatenate(first)), np.sort(np.concatenate(second))
    assert got.method == "fast-double" and single.method == "single"
    assert got.label == "F, fast double bootstrap (B=3, M=12)"
    assert got.failed_refits == got.failed_second_level == 0
    np.testing.assert_allclose(got.null_p_values, pool1, rtol=1e-12, atol=0)
    assert got.second_level_p_values is not None
    np.testing.assert_allclose(got.second_level_p_values, pool2, rtol=1e-12, atol=0)
    # the first level is the single bootstrap's, draw for draw
    np.testing.assert_array_equal(got.null_p_values, single.null_p_values)
    observed = scan_block(model.get_fast_scanner().null, candidates, plan).p_value
    grid = np.concatenate([observed, pool1, pool2, [0.0, 1e-300, 1.0]])
    by_hand = [_fdb_by_hand(got.null_p_values, got.second_level_p_values, q) for q in grid]
    np.testing.assert_array_equal(got.p_values(grid), by_hand)
    np.testing.assert_array_equal(got.single_p_values(grid), single.p_values(grid))


def test_fast_double_p_values_are_monotone_and_bounded() -> None:
    rng = np.random.default_rng(3)
    first = np.sort(np.round(rng.uniform(size=500) ** 1.3, 3))  # ties
    second = np.sort(np.round(rng.uniform(size=377) ** 1.6, 3))
    calibration = BootstrapCalibration(first, 5, 100, 0, second_level_p_values=second)
    grid = np.concatenate([[0.0], np.sort(rng.uniform(size=2000)), first, [1.0]])
    grid.sort()
    got = calibration.p_values(grid)
    assert np.all(np.diff(got) >= 0)
    assert got.min() >= calibration.resolution == 1 / 501 and got.max() <= 1.0
    # below every p* (some p* are 0 here, tied): the floor 1/(1 + N₁)
    assert calibration.p_values([-1.0])[0] == calibration.resolution
    assert np.isnan(calibration.p_values([np.nan])[0])


@pytest.mark.parametrize("ties", [False, True])
def test_fast_double_equals_single_when_the_levels_agree(ties: bool) -> None:
    """Identical pools: G₂ = G₁ and G₁(inf{t : G₁(t) ≥ G₁(p_F)}) = G₁(p_F) exactly."""
    rng = np.random.default_rng(4)
    pool = rng.uniform(size=1000)
    if ties:
        pool = np.round(pool, 2)
    pool.sort()
    double = BootstrapCalibration(pool, 10, 100, 0, second_level_p_values=pool.copy())
    single = BootstrapCalibration(pool, 10, 100, 0)
    grid = np.concatenate([[0.0, 1.0], pool, rng.uniform(size=3000), pool - 1e-12])
    np.testing.assert_array_equal(double.p_values(grid), single.p_values(grid))


def test_fast_double_follows_a_shifted_second_level() -> None:
    """p** twice the p*: q is twice p̂₁, so the FDB doubles the single bootstrap p-value
    (the direction of Davidson & MacKinnon's correction: τ** = −log p** smaller)."""
    first = np.arange(1, 10_000) / 10_000  # p* uniform on the grid
    second = np.minimum(2 * first, 1.0)
    double = BootstrapCalibration(first, 1, 1, 0, second_level_p_values=second)
    got = double.p_values([0.01, 0.1, 0.4])
    np.testing.assert_allclose(got, [0.0201, 0.2001, 0.8001], atol=1e-12)


def test_fast_double_refuses_bad_methods_and_missing_levels() -> None:
    model = _fitted_null(1)
    with pytest.raises(ValueError, match="method must be one of"):
        bootstrap_calibration(
            model,
            _dosages(2, 60, 3),
            replicates=1,
            method="double",  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="no second-level p-values"):
        BootstrapCalibration(np.array([0.5]), 1, 1, 0).fast_double_p_values([0.1])


# --------------------------------------------------------- calibration under the null
def test_bootstrap_test_is_calibrated_at_n_100(
    benchmark_script: Callable[[str], ModuleType],
) -> None:
    """A reduced run of the benchmark's ``bootstrap`` study: n = 100, p = 4, C₀, C₁
    estimated (ML, rank p) per null data set, 16 data sets × 300 candidates = 4,800 tests,
    each calibrated with B = 25 refits (7,500 pooled p-values per data set), by the single
    bootstrap and by the fast double bootstrap (same first level, 25 second-level refits).

    Both bootstraps' rejection counts must lie in the binomial 99 % interval at α = 0.05 and
    0.01. Why it can fail: a bootstrap that pooled the wrong p-values or did not refit C₀, C₁
    per replicate (tried while writing this test: scanning each replicate at the variance
    components the refit starts from gave 199 and 30 rejections, below both intervals; the
    F test itself, conservative here, gives 223 and 33); also, legitimately, with about 1 %
    probability per α if it is calibrated (somewhat more, as the candidates of one data set
    share its estimates and its calibration, so counts vary more than binomially). It is
    not sensitive to the simulated C₀ (drawing without the genetic term also passed): the
    covariance test above checks the simulation. Seeded: the outcome does not change
    between runs (single 235 and 43, fast double 240 and 47 of 4,800; intervals [202, 280]
    and [31, 67]; about 21 s).
    """
    study = benchmark_script("small_sample_calibration")
    rows, failed_fits, failed_refits, failed_second = study.bootstrap_study(
        n=100, p=4, reps=16, m=300, replicates=25, seed=2024, reml=False, double=True
    )
    plain = rows["F"]
    assert failed_fits == 0 and failed_refits == 0 and failed_second == 0
    for name in ("F, bootstrap", "F, fast double bootstrap"):
        boot = rows[name]
        assert boot.size == plain.size == 16 * 300 and np.all(np.isfinite(boot))
        assert boot.min() >= 1 / (1 + 25 * 300)
        for alpha in (0.05, 0.01):
            lo, hi = st.binom.interval(0.99, boot.size, alpha)
            k_boot, k_plain = int(np.sum(boot < alpha)), int(np.sum(plain < alpha))
            print(f"{name}, alpha {alpha}: {k_boot}, F {k_plain}, 99% interval [{lo}, {hi}]")
            assert lo <= k_boot <= hi, (name, alpha, k_boot, (lo, hi), k_plain)
        # the calibration is monotone: within one data set it ranks candidates as F does
        order = np.argsort(plain[:300], kind="stable")
        assert np.all(np.diff(boot[:300][order]) >= 0)


# ------------------------------------------------------------------- workflow and CLI
PATHS = example_paths()


def test_gwas_scan_with_bootstrap_statistic() -> None:
    null = fit_null(PATHS.prefix, PATHS.pheno, covar=PATHS.covar)
    plain = null.scan("any", refit="none")
    boot = null.scan(
        "any",
        statistic="bootstrap",
        bootstrap_replicates=3,
        bootstrap_variants=100,
        seed=5,
        refit="none",
    )
    assoc = boot.assoc
    assert set(assoc["statistic"]) == {"F, parametric bootstrap (B=3, M=100)"}
    calibration = boot.calibration
    assert calibration is not None and calibration.failed_refits == 0
    assert calibration.pooled == 300
    tested = assoc["reason"] == ""
    p = assoc.loc[tested, "p_value"].to_numpy()
    assert np.all(p >= 1 / (1 + 3 * 100)) and np.all(p <= 1)
    np.testing.assert_allclose(assoc["neg_log10_p_value"][tested], -np.log10(p), rtol=1e-12)
    # the statistics stay those of the scan, the p-values are the calibrated F p-values
    for col in ("F", "chi2", "df1", "df2", "lml_alt"):
        np.testing.assert_array_equal(assoc[col], plain.assoc[col])
    np.testing.assert_array_equal(
        assoc["p_value"], calibration.p_values(plain.assoc["p_value"].to_numpy())
    )
    # the same seed gives the same calibration
    again = null.scan(
        "any", statistic="bootstrap", bootstrap_replicates=3, bootstrap_variants=100, seed=5
    )
    np.testing.assert_array_equal(again.assoc["p_value"], assoc["p_value"])
    assert boot.top(1)["variant_id"].item() == plain.top(1)["variant_id"].item()
    # the fast double bootstrap: same first level, a second level, its own label
    fdb = null.scan(
        "any",
        statistic="bootstrap",
        bootstrap_replicates=3,
        bootstrap_variants=100,
        bootstrap_method="fast-double",
        seed=5,
        refit="none",
    )
    double = fdb.calibration
    assert double is not None and double.method == "fast-double"
    assert set(fdb.assoc["statistic"]) == {"F, fast double bootstrap (B=3, M=100)"}
    np.testing.assert_array_equal(double.null_p_values, calibration.null_p_values)
    assert double.second_level_p_values is not None and double.failed_second_level == 0
    assert double.second_level_p_values.size == 300
    np.testing.assert_array_equal(
        fdb.assoc["p_value"], double.fast_double_p_values(plain.assoc["p_value"].to_numpy())
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bootstrap_replicates": 0}, "bootstrap_replicates must be an integer ≥ 1"),
        ({"bootstrap_variants": 0}, "bootstrap_variants must be an integer ≥ 1"),
        ({"loco": True}, "not available with leave-one-chromosome-out"),
        ({"statistic": "bootstrapped"}, "statistic must be one of"),
        ({"bootstrap_method": "double"}, "bootstrap_method must be one of"),
    ],
)
def test_gwas_scan_refuses_bad_bootstrap_options(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"statistic": "bootstrap"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):  # before anything is read
        scan(PATHS.prefix, PATHS.pheno, covar=PATHS.covar, **args)  # type: ignore[arg-type]


def test_cli_statistic_choices_are_the_workflow_s_own() -> None:
    """--statistic offers exactly kronlmm.gwas.variant_scan.GWAS_STATISTICS."""
    from kronlmm.gwas.variant_scan import GWAS_STATISTICS

    for name in ("scan", "example"):
        option = next(p for p in cli.commands[name].params if p.name == "statistic")
        assert tuple(option.type.choices) == GWAS_STATISTICS


def test_loco_null_refuses_the_bootstrap() -> None:
    null = fit_null(PATHS.prefix, PATHS.pheno, covar=PATHS.covar, loco=True)
    with pytest.raises(ValueError, match="scan without LOCO, or keep LOCO with statistic='F'"):
        null.scan("any", statistic="bootstrap")


BASE = ["scan", "--bfile", str(PATHS.prefix), "--pheno", str(PATHS.pheno)]


def test_cli_scan_with_bootstrap(tmp_path: Path) -> None:
    out = tmp_path / "boot"
    args = [*BASE, "--covar", str(PATHS.covar), "--statistic", "bootstrap"]
    args += ["--bootstrap-replicates", "2", "--bootstrap-variants", "50", "--seed", "3"]
    result = CliRunner().invoke(cli, [*args, "--no-plots", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "calibrated by a parametric bootstrap of the null: 2 of 2 refits" in result.stdout
    from kronlmm.gwas import read_results

    table = read_results(Path(f"{out}.assoc.tsv.gz"))
    assert set(table["statistic"]) == {"F, parametric bootstrap (B=2, M=50)"}
    assert table["p_value"].min() >= 1 / (1 + 2 * 50)
    out2 = tmp_path / "fdb"
    args += ["--bootstrap-method", "fast-double", "--no-plots", "--out", str(out2)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "calibrated by a fast double bootstrap of the null: 2 of 2 refits" in result.stdout
    table = read_results(Path(f"{out2}.assoc.tsv.gz"))
    assert set(table["statistic"]) == {"F, fast double bootstrap (B=2, M=50)"}


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--loco"], 1, "kronlmm: error: statistic='bootstrap' is not available with leave"),
        (["--bootstrap-replicates", "0"], 2, "Invalid value for '--bootstrap-replicates'"),
        (["--bootstrap-variants", "-3"], 2, "Invalid value for '--bootstrap-variants'"),
        (["--bootstrap-method", "double"], 2, "Invalid value for '--bootstrap-method'"),
    ],
)
def test_cli_refuses_bad_bootstrap_options(
    tmp_path: Path, extra: list[str], code: int, message: str
) -> None:
    args = [*BASE, "--statistic", "bootstrap", *extra, "--no-plots", "--out", str(tmp_path / "x")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
