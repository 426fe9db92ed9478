"""Tests of the single-trait LMM (kronlmm.lmm.lmm.LMM).

Reference values come from (i) dense numpy/scipy computations written here from the model
definition, y ~ N(Xβ, s·((1 − δ)K + δI)), with the GEMMA/glimix-core constants, (ii) the
REML density of error contrasts, and (iii) glimix-core 3.1.14's LMM (peer tests).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import peers
import pytest
import scipy.linalg as sla
from numpy_sugar.linalg import economic_qs
from scipy.stats import multivariate_normal

from kronlmm.lmm.lmm import LMM, FitWarning

DELTAS = [0.02, 0.3, 0.7, 0.99]


# ----------------------------------------------------------------------------- references
def _dense_D(K, delta):
    return (1 - delta) * K + delta * np.eye(K.shape[0])


def _pinv_logdet(M, rank):
    """log pseudo-determinant of a symmetric PSD matrix of known rank."""
    w = np.linalg.eigvalsh(M)
    return float(np.sum(np.log(np.sort(w)[::-1][:rank])))


def dense_gls(y, X, K, delta):
    """GLS β (minimum-norm) and D⁻¹-weighted residual quadratic form, densely."""
    Di = np.linalg.inv(_dense_D(K, delta))
    beta = np.linalg.pinv(X.T @ Di @ X) @ (X.T @ Di @ y)
    r = y - X @ beta
    return beta, float(r @ Di @ r)


def dense_ml(y, X, K, delta, beta=None, scale=None):
    """ML log-likelihood: scipy's Gaussian log-density at (profiled) β and s."""
    n = y.size
    if beta is None:
        beta, q = dense_gls(y, X, K, delta)
    else:
        r = y - X @ beta
        q = float(r @ np.linalg.solve(_dense_D(K, delta), r))
    if scale is None:
        scale = q / n
    lml = multivariate_normal.logpdf(y, X @ beta, scale * _dense_D(K, delta))
    return lml, beta, scale


def dense_reml(y, X, K, delta, beta=None, scale=None):
    """REML by the GEMMA/glimix-core formula, computed densely:

    −½[(n−c′) log 2π − log|XᵀX| + log|V| + log|XᵀV⁻¹X| + rᵀV⁻¹r],  V = s·D(δ),
    with pseudo-determinants on span(X) when X is rank deficient.
    """
    n = y.size
    c = np.linalg.matrix_rank(X)
    if beta is None:
        beta, q = dense_gls(y, X, K, delta)
    else:
        r = y - X @ beta
        q = float(r @ np.linalg.solve(_dense_D(K, delta), r))
    if scale is None:
        scale = q / (n - c)
    V = scale * _dense_D(K, delta)
    Vi = np.linalg.inv(V)
    lml = -0.5 * (
        (n - c) * math.log(2 * math.pi)
        - _pinv_logdet(X.T @ X, c)
        + np.linalg.slogdet(V)[1]
        + _pinv_logdet(X.T @ Vi @ X, c)
        + q / scale
    )
    return lml, beta, scale


def reml_contrasts(y, X, K, delta, scale):
    """REML as the density of error contrasts Lᵀy, L orthonormal basis of span(X)⊥."""
    L = sla.null_space(X.T)
    return multivariate_normal.logpdf(
        L.T @ y, np.zeros(L.shape[1]), scale * L.T @ _dense_D(K, delta) @ L
    )


# ----------------------------------------------------------------------------- data
def _data(case, seed=0):
    """(y, X, K, factory) for one named case; factory(restricted) builds the model."""
    rng = np.random.default_rng(seed)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    if case == "full":
        G = rng.normal(size=(n, n + 10)) / np.sqrt(n)
        K = G @ G.T
        QS = economic_qs(K)
        assert QS[1].size == n

        def factory(restricted):
            return LMM(y, X, QS, restricted=restricted)

    elif case in ("lowrank_G", "lowrank_QS"):
        G = rng.normal(size=(n, 6)) / np.sqrt(6)
        K = G @ G.T

        def factory(restricted):
            if case == "lowrank_G":
                return LMM.from_G(y, X, G, restricted=restricted)
            return LMM(y, X, economic_qs(K), restricted=restricted)

    elif case == "wide_G":
        G = rng.normal(size=(n, 3 * n)) / np.sqrt(3 * n)
        K = G @ G.T

        def factory(restricted):
            return LMM.from_G(y, X, G, restricted=restricted)

    elif case == "rankdef_X":
        G = rng.normal(size=(n, 15)) / np.sqrt(15)
        K = G @ G.T
        # Fourth column = first + second: rank 3 with 4 columns.
        X = np.column_stack([X, X[:, 0] + X[:, 1]])

        def factory(restricted):
            return LMM.from_G(y, X, G, restricted=restricted)

    else:
        raise AssertionError(case)
    y = X[:, :3] @ np.array([0.5, -1.0, 0.25]) + G @ rng.normal(size=G.shape[1])
    y += 0.8 * rng.normal(size=n)
    return y, X, K, factory


CASES = ["full", "lowrank_G", "lowrank_QS", "wide_G", "rankdef_X"]


# ----------------------------------------------------------------------------- likelihood
@pytest.mark.parametrize("case", CASES)
def test_ml_profiled_equals_dense_density(case):
    y, X, K, factory = _data(case)
    lmm = factory(False)
    for delta in DELTAS:
        lmm.delta = delta
        ref, beta, scale = dense_ml(y, X, K, delta)
        assert lmm.lml() == pytest.approx(ref, rel=1e-10, abs=1e-9)
        np.testing.assert_allclose(lmm.beta, beta, rtol=1e-7, atol=1e-9)
        assert lmm.scale == pytest.approx(scale, rel=1e-9)
        assert lmm.v0 == pytest.approx(scale * (1 - delta), rel=1e-9)
        assert lmm.v1 == pytest.approx(scale * delta, rel=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_reml_profiled_equals_dense_formula_and_error_contrasts(case):
    y, X, K, factory = _data(case)
    lmm = factory(True)
    for delta in DELTAS:
        lmm.delta = delta
        ref, beta, scale = dense_reml(y, X, K, delta)
        assert lmm.lml() == pytest.approx(ref, rel=1e-10, abs=1e-9)
        assert lmm.lml() == pytest.approx(reml_contrasts(y, X, K, delta, scale), rel=1e-9)
        np.testing.assert_allclose(lmm.beta, beta, rtol=1e-7, atol=1e-9)
        assert lmm.scale == pytest.approx(scale, rel=1e-9)


@pytest.mark.parametrize("case", ["full", "lowrank_G", "rankdef_X"])
@pytest.mark.parametrize("restricted", [False, True])
def test_fixed_beta_and_scale_equal_dense(case, restricted):
    y, X, K, factory = _data(case)
    dense = dense_reml if restricted else dense_ml
    lmm = factory(restricted)
    beta = np.linspace(-1.0, 1.0, X.shape[1])
    lmm.fix("beta")
    lmm.beta = beta
    for delta in DELTAS:
        lmm.delta = delta
        ref, _, s = dense(y, X, K, delta, beta=beta)  # s profiled given β
        assert lmm.lml() == pytest.approx(ref, rel=1e-10)
        assert lmm.scale == pytest.approx(s, rel=1e-9)
        np.testing.assert_array_equal(lmm.beta, beta)
    lmm.scale = 1.7
    lmm.fix("scale")
    ref, _, _ = dense(y, X, K, 0.4, beta=beta, scale=1.7)
    lmm.delta = 0.4
    assert lmm.lml() == pytest.approx(ref, rel=1e-10)
    # β free again, s still fixed: GLS β at the fixed scale.
    lmm.unfix("beta")
    bhat, _ = dense_gls(y, X, K, 0.4)
    ref, _, _ = dense(y, X, K, 0.4, beta=bhat, scale=1.7)
    assert lmm.lml() == pytest.approx(ref, rel=1e-10)
    np.testing.assert_allclose(lmm.beta, bhat, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", ["full", "lowrank_G", "rankdef_X"])
def test_beta_covariance_mean_covariance_dense(case):
    y, X, K, factory = _data(case)
    lmm = factory(False)
    lmm.delta = 0.35
    Di = np.linalg.inv(_dense_D(K, 0.35))
    np.testing.assert_allclose(
        lmm.beta_covariance, lmm.scale * np.linalg.pinv(X.T @ Di @ X), rtol=1e-7, atol=1e-12
    )
    np.testing.assert_allclose(lmm.mean(), X @ lmm.beta, rtol=1e-12)
    np.testing.assert_allclose(
        lmm.covariance(), lmm.v0 * K + lmm.v1 * np.eye(y.size), rtol=1e-9, atol=1e-12
    )
    assert lmm.nsamples == y.size and lmm.ncovariates == X.shape[1]
    np.testing.assert_array_equal(lmm.X, X)


def test_rank_deficient_X_equals_reduced_X_and_min_norm_beta():
    y, X, K, factory = _data("rankdef_X")
    G_model = factory(True)
    QS = economic_qs(K)
    reduced = LMM(y, X[:, :3], QS, restricted=True)
    for delta in DELTAS:
        G_model.delta = reduced.delta = delta
        assert G_model.lml() == pytest.approx(reduced.lml(), rel=1e-9)
        # Same fitted mean; β is the minimum-norm solution (orthogonal to null(X)).
        np.testing.assert_allclose(G_model.mean(), reduced.mean(), rtol=1e-8, atol=1e-10)
        null = sla.null_space(X)
        assert abs(float(null[:, 0] @ G_model.beta)) < 1e-9


@pytest.mark.parametrize("case", ["lowrank_G", "wide_G"])
def test_from_G_equals_eigendecomposition(case):
    y, X, K, factory = _data(case)
    a = factory(False)
    b = LMM(y, X, economic_qs(K))
    for delta in DELTAS:
        a.delta = b.delta = delta
        assert a.lml() == pytest.approx(b.lml(), rel=1e-9)


def test_delta_end_points():
    y, X, K, factory = _data("full")
    lmm = factory(False)
    lmm.delta = 0.0  # D = K, full rank: finite
    assert lmm.lml() == pytest.approx(dense_ml(y, X, K, 0.0)[0], rel=1e-9)
    lmm.delta = 1.0  # D = I: ordinary least squares
    assert lmm.lml() == pytest.approx(dense_ml(y, X, K, 1.0)[0], rel=1e-12)
    low = _data("lowrank_G")[3](False)
    low.delta = 0.0  # D = K singular
    assert low.lml() == -math.inf


def test_no_random_effect_is_linear_regression():
    y, X, _, _ = _data("full")
    lmm = LMM(y, X)
    assert lmm.isfixed("delta") and lmm.delta == 1.0
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    rss = float(np.sum((y - X @ beta) ** 2))
    lmm.fit(verbose=False)
    np.testing.assert_allclose(lmm.beta, beta, rtol=1e-10)
    assert lmm.scale == pytest.approx(rss / y.size, rel=1e-12)
    ref = np.sum(multivariate_normal.logpdf(y - X @ beta, 0.0, rss / y.size))
    assert lmm.lml() == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match="no random effect"):
        lmm.unfix("delta")


# ----------------------------------------------------------------------------- fitting
def _grid_max(lmm):
    t = np.linspace(-25, 25, 801)
    grid = np.unique(np.concatenate([np.linspace(0, 1, 1001), 1 / (1 + np.exp(-t))]))
    vals = []
    for d in grid:
        lmm.delta = float(d)
        vals.append(lmm.lml())
    return float(np.max(vals))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("restricted", [False, True])
def test_fit_reaches_grid_maximum(case, restricted):
    y, X, K, factory = _data(case, seed=3)
    lmm = factory(restricted)
    lmm.fit(verbose=False)
    best = lmm.lml()
    delta = lmm.delta
    assert best >= _grid_max(lmm) - 1e-9
    lmm.delta = delta
    # β and s at the optimum are the GLS/profiled estimates at the fitted δ.
    dense = dense_reml if restricted else dense_ml
    ref, beta, scale = dense(y, X, K, delta)
    assert best == pytest.approx(ref, rel=1e-10)
    np.testing.assert_allclose(lmm.beta, beta, rtol=1e-7, atol=1e-9)


def test_fit_with_fixed_scale_and_fixed_delta():
    y, X, K, factory = _data("full", seed=5)
    lmm = factory(False)
    lmm.fix("scale")
    lmm.scale = 0.5
    lmm.fit(verbose=False)
    assert lmm.scale == 0.5
    assert lmm.lml() >= _grid_max(lmm) - 1e-9
    lmm.delta = 0.25
    lmm.fix("delta")
    lmm.fit(verbose=False)
    assert lmm.delta == 0.25 and lmm.isfixed("delta")


def test_fit_verbose_prints_one_line(capsys):
    _, _, _, factory = _data("full")
    lmm = factory(True)
    lmm.fit(verbose=False)
    assert capsys.readouterr().out == ""
    lmm.fit(verbose=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "REML" in out and "delta=" in out


def test_fix_semantics():
    y, X, K, factory = _data("lowrank_G")
    lmm = factory(False)
    lmm.delta = 0.3
    profiled = lmm.beta
    # Assigning to a free parameter holds it, and the other free one at its value then (as
    # glimix-core's lml() uses its stored values); unfix() or fit() release them.
    s0 = lmm.scale
    lmm.beta = np.zeros(X.shape[1])
    np.testing.assert_array_equal(lmm.beta, np.zeros(X.shape[1]))
    assert lmm.scale == s0
    ref, _, _ = dense_ml(y, X, K, 0.3, beta=np.zeros(X.shape[1]), scale=s0)
    assert lmm.lml() == pytest.approx(ref, rel=1e-10)
    lmm.fix("beta")
    np.testing.assert_array_equal(lmm.beta, np.zeros(X.shape[1]))
    lmm.unfix("beta")
    np.testing.assert_allclose(lmm.beta, profiled, rtol=1e-12)
    lmm.unfix("scale")
    assert lmm.scale == s0
    lmm.beta = np.ones(X.shape[1])
    lmm.fit(verbose=False)  # re-optimises the free (assigned) β and s
    bhat, _ = dense_gls(y, X, K, lmm.delta)
    np.testing.assert_allclose(lmm.beta, bhat, rtol=1e-7, atol=1e-9)
    assert lmm.gradient()["scale"] == pytest.approx(0.0, abs=1e-9)
    lmm.delta = 0.3
    # fix() without assignment freezes the current profiled value.
    lmm.fix("scale")
    s = lmm.scale
    lmm.delta = 0.8
    assert lmm.scale == s and lmm.isfixed("scale") and not lmm.isfixed("beta")
    lmm.unfix("scale")
    assert lmm.scale != s
    with pytest.raises(ValueError, match="param"):
        lmm.fix("gamma")


# ----------------------------------------------------------------------------- simulation
@pytest.mark.slow
def test_recovers_simulated_heritability():
    rng = np.random.default_rng(7)
    n, r, h2 = 1000, 500, 0.6
    G = rng.normal(size=(n, r)) / np.sqrt(r)  # diag(GGᵀ) ≈ 1, so h² = 1 − δ
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [1.0, -0.5] + np.sqrt(h2) * (G @ rng.normal(size=r))
    y += np.sqrt(1 - h2) * rng.normal(size=n)
    lmm = LMM.from_G(y, X, G, restricted=True)
    lmm.fit(verbose=False)
    # Sampling SD of 1 − δ̂ over 10 replicates of this design: 0.016.
    assert 1 - lmm.delta == pytest.approx(h2, abs=0.06)
    assert lmm.v0 + lmm.v1 == pytest.approx(1.0, abs=0.15)
    np.testing.assert_allclose(lmm.beta, [1.0, -0.5], atol=0.15)


# ----------------------------------------------------------------------------- peer
@pytest.mark.peer
@pytest.mark.parametrize("case", ["full", "lowrank_QS", "rankdef_X"])
@pytest.mark.parametrize("restricted", [False, True])
def test_agrees_with_glimix_core(case, restricted):
    glimix_lmm = peers.glimix_lmm(fits=True)
    y, X, K, _ = _data(case, seed=11)
    QS = economic_qs(K)
    ours = LMM(y, X, QS, restricted=restricted)
    theirs = glimix_lmm.LMM(y, X, QS, restricted=restricted)
    for delta in DELTAS:
        ours.delta = theirs.delta = delta
        # glimix-core's value() profiles β and s like our lml().
        assert ours.lml() == pytest.approx(theirs.value(), rel=1e-10)
    ours.fit(verbose=False)
    theirs.fit(verbose=False)  # its Brent tolerance is rtol = atol = 1e-6 on logit δ
    assert ours.lml() >= theirs.lml() - 1e-9
    assert ours.lml() == pytest.approx(theirs.lml(), abs=1e-8)
    assert ours.delta == pytest.approx(theirs.delta, abs=1e-5)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-5, atol=1e-7)
    assert ours.scale == pytest.approx(theirs.scale, rel=1e-5)
    np.testing.assert_allclose(ours.beta_covariance, theirs.beta_covariance, rtol=1e-5, atol=1e-9)


# ----------------------------------------------------------------------------- inputs
def _bad_inputs():
    rng = np.random.default_rng(0)
    n = 10
    y = rng.normal(size=n)
    X = np.ones((n, 1))
    G = rng.normal(size=(n, 3))
    QS = economic_qs(G @ G.T)
    (Q0, Q1), S0 = QS
    nan_y = y.copy()
    nan_y[2] = np.nan
    inf_X = X.copy()
    inf_X[1, 0] = np.inf
    nan_Q0 = Q0.copy()
    nan_Q0[0, 0] = np.nan
    nan_G = G.copy()
    nan_G[3, 1] = np.nan
    neg_S0 = S0.copy()
    neg_S0[0] = -1.0
    return [
        ("y", lambda: LMM(y[:-1], X, QS)),
        ("X", lambda: LMM(y, X[:-1], QS)),
        ("Q0", lambda: LMM(y, X, ((Q0[:-1], Q1[:-1]), S0))),
        ("S0", lambda: LMM(y, X, ((Q0, Q1), S0[:-1]))),
        ("Q1", lambda: LMM(y, X, ((Q0, Q1[:, :-1]), S0))),
        ("y", lambda: LMM(nan_y, X, QS)),
        ("X", lambda: LMM(y, inf_X, QS)),
        ("Q0", lambda: LMM(y, X, ((nan_Q0, Q1), S0))),
        ("S0", lambda: LMM(y, X, ((Q0, Q1), np.full_like(S0, np.nan)))),
        ("positive semi-definite", lambda: LMM(y, X, ((Q0, Q1), neg_S0))),
        ("orthonormal", lambda: LMM(y, X, ((2 * Q0, Q1), S0))),
        ("QS", lambda: LMM(y, X, (Q0, Q1, S0))),
        ("G", lambda: LMM.from_G(y, X, nan_G)),
        ("G", lambda: LMM.from_G(y, X, G[:-1])),
        ("y", lambda: LMM(np.zeros(0), np.zeros((0, 1)))),
        ("y", lambda: LMM(np.ones((n, 2)), X, QS)),
        ("REML", lambda: LMM(y[:2], np.eye(2), restricted=True)),
    ]


@pytest.mark.parametrize("name, build", _bad_inputs())
def test_bad_input_raises_naming_argument(name, build):
    with pytest.raises(ValueError, match=name):
        build()


def test_bad_parameter_values():
    _, _, _, factory = _data("full")
    lmm = factory(False)
    with pytest.raises(ValueError, match="delta"):
        lmm.delta = 1.5
    with pytest.raises(ValueError, match="scale"):
        lmm.scale = -1.0
    with pytest.raises(ValueError, match="beta"):
        lmm.beta = np.ones(7)


def test_inputs_not_modified_and_constant_y():
    y, X, _, factory = _data("full")
    X0 = X.copy()
    G = np.random.default_rng(1).normal(size=(y.size, 5))
    lmm = LMM.from_G(y, X, G)
    lmm.fit(verbose=False)
    np.testing.assert_array_equal(X, X0)
    assert X.flags.writeable
    # Constant y without an intercept is an ordinary problem ...
    LMM.from_G(np.full(y.size, 2.0), X[:, 1:], G).fit(verbose=False)
    # ... with an intercept the residual is zero: a FitWarning, no exception.
    with pytest.warns(FitWarning, match="span of X"):
        LMM.from_G(np.full(y.size, 2.0), X, G).fit(verbose=False)


def test_null_terms_and_fast_scanner():
    y, X, K, factory = _data("lowrank_G")
    lmm = factory(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lmm.fit(verbose=False)
    t = lmm.null_terms()
    for key in ("U", "S2", "v0", "v1", "beta", "X"):
        assert key in t
    np.testing.assert_allclose((t["U"] * t["S2"]) @ t["U"].T, K, atol=1e-10)
    assert t["v0"] == lmm.v0 and t["v1"] == lmm.v1
    # After an ML fit the scale is at its optimum, so the scanner's null (scale re-profiled)
    # is the model's own maximum.
    scanner = lmm.get_fast_scanner()
    np.testing.assert_allclose(scanner.null_lml(), lmm.lml(), rtol=1e-12)
    np.testing.assert_allclose(scanner.null_scale, 1.0, rtol=1e-9)


@pytest.mark.parametrize("restricted", [False, True])
@pytest.mark.parametrize("truth", ["noise_only", "no_noise"])
def test_fit_boundary_optima(truth, restricted):
    """Optimum at δ = 1 (no K signal) or δ = 0 (no noise, full-rank K).

    The seeds were chosen so that the maximum lies exactly on the boundary.
    """
    rng = np.random.default_rng(2 if truth == "noise_only" else 4)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    G = rng.normal(size=(n, n + 5)) / np.sqrt(n)
    K = G @ G.T
    if truth == "noise_only":
        y = X @ [1.0, 0.5] + rng.normal(size=n)
    else:
        y = X @ [1.0, 0.5] + G @ rng.normal(size=n + 5)
    lmm = LMM(y, X, economic_qs(K), restricted=restricted)
    lmm.fit(verbose=False)
    best, delta = lmm.lml(), lmm.delta
    assert best >= _grid_max(lmm) - 1e-9
    assert delta == (1.0 if truth == "noise_only" else 0.0)
    lmm.delta = delta
    dense = dense_reml if restricted else dense_ml
    assert best == pytest.approx(dense(y, X, K, delta)[0], rel=1e-9)


def test_fit_warning_is_the_shared_class():
    from kronlmm.core.warnings import FitWarning as Shared

    assert FitWarning is Shared and issubclass(FitWarning, UserWarning)
