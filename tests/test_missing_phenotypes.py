"""Tests of missing phenotypes in the multi-trait model (issue #15, item 1).

Model (Y: n × p, column-major vec, NaN = missing)::

    vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

observed at the entries O of vec(Y). Where the reference values come from:

- "dense": the n·p × n·p covariance built with ``numpy.kron``, restricted to O × O, and
  the observed design ``(A ⊗ X)_O``, evaluated by :func:`kronlmm.testing.dense_ml_lml`,
  :func:`~kronlmm.testing.dense_reml_lml` and :func:`~kronlmm.testing.dense_gls` (O(N³),
  sharing no code with the Schur-complement engine), and by
  ``scipy.stats.multivariate_normal.logpdf`` at the GLS estimate;
- "finite differences": central differences of the engine's lml in C₀ and C₁;
- "complete path": the unchanged complete-data engine on the same data;
- "simulation truth": the C₀, C₁ used to simulate.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.stats as st
from scipy.linalg import null_space
from scipy.stats import multivariate_normal

from kronlmm.core.likelihood import WhitenedLikelihood
from kronlmm.core.linalg import economic_svd
from kronlmm.core.missing_likelihood import ObservedData, ObservedLikelihood
from kronlmm.core.projections import KronProjections
from kronlmm.lmm import Kron2Sum
from kronlmm.scan import KronFastScanner, KronObservedScanner
from kronlmm.testing import dense_gls, dense_ml_lml, dense_reml_lml


@pytest.fixture
def rng():
    return np.random.default_rng(20261130)


def _spd(rng, p, floor=0.2):
    L = rng.normal(size=(p, p))
    return L @ L.T + floor * np.eye(p)


def _problem(rng, n, p, r, a, pattern):
    """Y (with NaN at ``pattern``), A (p × a), X (intercept + one covariate), G (n × r)."""
    Y = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, size=p) + rng.normal(size=p) * 5
    A = np.eye(p) if a == p and pattern != "nonsquare" else rng.normal(size=(p, a))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    G = rng.normal(size=(n, r))
    miss = rng.random((n, p)) < 0.25
    if pattern == "one-trait":  # sample 0 has only its last trait observed
        miss[0] = True
        miss[0, p - 1] = False
    elif pattern == "whole-trait-block":  # trait 0 missing for a third of the samples
        miss[: n // 3, 0] = True
    miss[miss.all(axis=1), 0] = False  # every sample keeps an observed trait
    Y[miss] = np.nan
    return Y, A, X, G


def _dense_observed(Y, A, X, G, C0, C1):
    n = Y.shape[0]
    K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))
    O = ~np.isnan(Y.ravel(order="F"))
    return Y.ravel(order="F")[O], np.kron(A, X)[O], K[np.ix_(O, O)]


CASES = [
    # (n, p, r, a, pattern)
    (14, 3, 4, 3, "random"),  # r < n
    (12, 3, 20, 3, "one-trait"),  # r > n, a sample with one observed trait
    (15, 3, 15, 2, "nonsquare"),  # r = n, non-square A
    (16, 2, 5, 1, "whole-trait-block"),  # A = 1ₚ-like single column
    (13, 4, 6, 4, "one-trait"),
]


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[4]}-r{c[2]}-a{c[3]}" for c in CASES])
def test_observed_lml_matches_dense_density(rng, case, restricted):
    n, p, r, a, pattern = case
    Y, A, X, G = _problem(rng, n, p, r, a, pattern)
    engine = ObservedLikelihood(ObservedData.build(Y, A, X, economic_svd(G), restricted))
    for _ in range(3):
        C0, C1 = _spd(rng, p, 0.0), _spd(rng, p)
        y, M, K = _dense_observed(Y, A, X, G, C0, C1)
        ref = (dense_reml_lml if restricted else dense_ml_lml)(y, M, K)
        got = engine.evaluate(C0, C1)
        assert abs(got.lml - ref) <= 1e-9 * abs(ref), (got.lml, ref)
        beta, _ = dense_gls(y, M, K)
        if not restricted:  # independently of kronlmm: scipy's density at the GLS mean
            assert got.lml == pytest.approx(multivariate_normal(M @ beta, K).logpdf(y), 1e-9)
        # the GLS fit of the observed values (B itself is unique only with full-rank M_O)
        assert np.allclose(M @ got.B.ravel(order="F"), M @ beta, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("case", CASES[:3], ids=[f"{c[4]}-r{c[2]}-a{c[3]}" for c in CASES[:3]])
def test_observed_gradient_matches_finite_differences(rng, case, restricted):
    n, p, r, a, pattern = case
    Y, A, X, G = _problem(rng, n, p, r, a, pattern)
    Y = (Y - np.nanmean(Y, axis=0)) / np.nanstd(Y, axis=0)  # well-scaled: accurate FD
    engine = ObservedLikelihood(ObservedData.build(Y, A, X, economic_svd(G), restricted))
    C0, C1 = _spd(rng, p, 0.1), _spd(rng, p, 0.5)
    t = engine.evaluate(C0, C1, gradient=True)
    h = 1e-5
    for which, M in ((0, t.M0), (1, t.M1)):
        num = np.zeros((p, p))
        for i in range(p):
            for j in range(p):
                E = np.zeros((p, p))
                E[i, j] += h / 2
                E[j, i] += h / 2
                up, dn = [C0.copy(), C1.copy()], [C0.copy(), C1.copy()]
                up[which] += E
                dn[which] -= E
                num[i, j] = (engine.evaluate(*up).lml - engine.evaluate(*dn).lml) / (2 * h)
        assert M is not None
        err = np.max(np.abs(num - (M + M.T) / 2)) / np.max(np.abs(num))
        assert err < 1e-6, (which, err)


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_observed_engine_on_complete_data_equals_complete_engine(rng, restricted):
    n, p = 20, 3
    Y = rng.normal(size=(n, p)) + 3.0
    A, X, G = np.eye(p), np.column_stack([np.ones(n), rng.normal(size=n)]), rng.normal(size=(n, 6))
    svd = economic_svd(G)
    proj, _, _ = KronProjections.build(Y, A, X, svd, restricted, drop_perp=False)
    complete = WhitenedLikelihood(proj)
    observed = ObservedLikelihood(ObservedData.build(Y, A, X, svd, restricted))
    C0, C1 = _spd(rng, p, 0.0), _spd(rng, p)
    a, b = complete.evaluate(C0, C1, gradient=True), observed.evaluate(C0, C1, gradient=True)
    assert b.lml == pytest.approx(a.lml, rel=1e-11)
    assert np.allclose(b.M0, a.M0, rtol=1e-9, atol=1e-9 * np.abs(a.M0).max())
    assert np.allclose(b.M1, a.M1, rtol=1e-9, atol=1e-9 * np.abs(a.M1).max())
    assert np.allclose(b.B, a.B, rtol=1e-10)


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_complete_data_fit_takes_unchanged_path(rng, restricted):
    n, p = 60, 2
    G = rng.normal(size=(n, 10)) / np.sqrt(10)
    Y = G @ rng.normal(size=(10, p)) + rng.normal(size=(n, p))
    default = Kron2Sum(Y, None, None, G, rank=p, restricted=restricted)
    cc = Kron2Sum(Y, None, None, G, rank=p, restricted=restricted, missing="complete-case")
    assert isinstance(default._engine, WhitenedLikelihood)
    ra, rb = default.fit(verbose=False), cc.fit(verbose=False)
    assert ra.lml == rb.lml and ra.nfev == rb.nfev  # the same computation, bit for bit
    assert np.array_equal(default.C0, cc.C0) and np.array_equal(default.C1, cc.C1)
    assert isinstance(default.get_fast_scanner(), KronFastScanner)


def _simulate(rng, n, p, frac):
    C0 = np.array([[1.0, 0.6, 0.3, 0.2], [0.6, 1.0, 0.4, 0.3], [0.3, 0.4, 1.0, 0.5],
                   [0.2, 0.3, 0.5, 1.0]])[:p, :p] * 0.6  # fmt: skip
    C1 = np.array([[1.0, 0.3, 0.1, 0.0], [0.3, 1.0, 0.2, 0.1], [0.1, 0.2, 1.0, 0.3],
                   [0.0, 0.1, 0.3, 1.0]])[:p, :p] * 0.4  # fmt: skip
    G = rng.normal(size=(n, n)) / np.sqrt(n)
    Y = (
        G @ rng.normal(size=(n, p)) @ np.linalg.cholesky(C0).T
        + rng.normal(size=(n, p)) @ np.linalg.cholesky(C1).T
        + np.arange(1, p + 1)
    )
    Ym = Y.copy()
    Ym[rng.random((n, p)) < frac] = np.nan
    return Ym, G, C0, C1


def test_fit_recovers_truth_and_beats_complete_case(rng):
    n, p = 300, 4
    errs_obs, errs_cc = [], []
    for _ in range(2):
        Y, G, C0, C1 = _simulate(rng, n, p, 0.2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # samples dropped (named)
            obs = Kron2Sum(Y, None, None, G, rank=p, restricted=True)
            cc = Kron2Sum(Y, None, None, G, rank=p, restricted=True, missing="complete-case")
        assert obs.fit(verbose=False).success and cc.fit(verbose=False).success
        assert obs.nobs == int(np.sum(~np.isnan(Y)))
        assert cc.nobs == p * int(np.sum(~np.isnan(Y).any(axis=1)))
        truth = np.concatenate([C0.ravel(), C1.ravel()])
        errs_obs.append(np.linalg.norm(np.concatenate([obs.C0.ravel(), obs.C1.ravel()]) - truth))
        errs_cc.append(np.linalg.norm(np.concatenate([cc.C0.ravel(), cc.C1.ravel()]) - truth))
        # the observed-data fit is near the truth (sampling error at n = 300: ~0.1 per entry)
        assert np.max(np.abs(obs.C0 - C0)) < 0.35 and np.max(np.abs(obs.C1 - C1)) < 0.25
        # and at a stationary point of the dense observed-data REML likelihood
        assert obs.fit_result is not None and obs.fit_result.grad_norm <= 1e-6
    assert sum(errs_obs) < sum(errs_cc), (errs_obs, errs_cc)


def test_fit_lml_is_dense_observed_density(rng):
    Y, G, _, _ = _simulate(rng, 40, 3, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = Kron2Sum(Y, None, None, G, rank=3, restricted=True)
    model.fit(verbose=False)
    keep = ~np.isnan(Y).all(axis=1)
    Yk, Gk = Y[keep], G[keep]
    y, M, K = _dense_observed(Yk, np.eye(3), np.ones((Yk.shape[0], 1)), Gk, model.C0, model.C1)
    assert model.lml() == pytest.approx(dense_reml_lml(y, M, K), rel=1e-10)


def test_samples_without_observed_trait_are_dropped_with_message(rng):
    n, p = 30, 2
    Y = rng.normal(size=(n, p))
    Y[[3, 17], :] = np.nan
    Y[5, 0] = np.nan
    G = rng.normal(size=(n, 5))
    with pytest.warns(UserWarning, match=r"2 of 30 samples dropped .*rows \[3, 17\]"):
        model = Kron2Sum(Y, None, None, G, restricted=True)
    assert model.nsamples == 28 and model.missing.dropped.tolist() == [3, 17]
    with pytest.warns(UserWarning, match=r"3 of 30 samples dropped for a missing trait"):
        cc = Kron2Sum(Y, None, None, G, restricted=True, missing="complete-case")
    assert cc.nsamples == 27 and not np.isnan(cc.Y).any()


@pytest.mark.parametrize(
    "change,pattern",
    [
        (lambda Y: Y.__setitem__((slice(None), 1), np.nan), r"trait column\(s\) \[1\] .*all NaN"),
        (lambda Y: Y.__setitem__((0, 0), np.inf), r"Y has 1 infinite value.*\(0, 0\)"),
    ],
    ids=["whole trait missing", "inf"],
)
def test_bad_missing_values_raise(rng, change, pattern):
    Y = rng.normal(size=(20, 2))
    change(Y)
    with pytest.raises(ValueError, match=pattern):
        Kron2Sum(Y, None, None, rng.normal(size=(20, 4)))


def test_unknown_missing_mode_raises(rng):
    with pytest.raises(ValueError, match=r"missing must be one of .*'drop'"):
        Kron2Sum(rng.normal(size=(10, 2)), None, None, rng.normal(size=(10, 3)), missing="drop")


def _centred_problem(rng, n, p):
    Z = rng.normal(size=(n, 3 * n))
    Z -= Z.mean(axis=0)  # centred: 1ₙ spans the null space of GGᵀ
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = rng.normal(size=(n, p)) + 3.0
    return Y, X, Z


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_span_u_restriction_on_complete_data_is_the_projected_likelihood(rng, restricted):
    # ML with an intercept and a centred GRM has no maximum: the complete path projects the
    # data onto span(U); the observed-data engine's restriction must give the same
    # likelihood (ML: also the same constants) and gradient
    n, p = 14, 3
    Y, X, Z = _centred_problem(rng, n, p)
    svd = economic_svd(Z)
    proj, _, _ = KronProjections.build(Y, np.eye(p), X, svd, restricted, drop_perp=True)
    eng = ObservedLikelihood(
        ObservedData.build(Y, np.eye(p), X, svd, restricted, perp_restricted=True)
    )
    C0, C1 = _spd(rng, p, 0.0), _spd(rng, p, 0.3)
    a, b = WhitenedLikelihood(proj).evaluate(C0, C1, True), eng.evaluate(C0, C1, True)
    if not restricted:
        assert b.lml == pytest.approx(a.lml, rel=1e-12)
    assert np.allclose(b.M0, a.M0, rtol=1e-9, atol=1e-10) and np.allclose(b.M1, a.M1, atol=1e-10)


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_span_u_restriction_with_missing_values_is_a_contrast_density(rng, restricted):
    # dense reference: the Gaussian density of the observed contrasts Lᵀy_O, L an
    # orthonormal basis (scipy.linalg.null_space) orthogonal to (Iₚ ⊗ U⊥)_O
    # (REML: also to the observed design), mean profiled by GLS (ML)
    n, p = 14, 3
    Y, X, Z = _centred_problem(rng, n, p)
    Y[rng.random((n, p)) < 0.25] = np.nan
    Y[np.isnan(Y).all(axis=1), 0] = 0.5
    eng = ObservedLikelihood(
        ObservedData.build(Y, np.eye(p), X, economic_svd(Z), restricted, perp_restricted=True)
    )
    C0, C1 = _spd(rng, p, 0.0), _spd(rng, p, 0.3)
    y, M, K = _dense_observed(Y, np.eye(p), X, Z, C0, C1)
    O = ~np.isnan(Y.ravel(order="F"))
    MR = np.kron(np.eye(p), null_space(Z.T))[O]
    if restricted:
        ref = dense_reml_lml(y, np.hstack([MR, M]), K)
    else:
        L = null_space(MR.T)
        ref = dense_ml_lml(L.T @ y, L.T @ M, L.T @ K @ L)
    assert eng.evaluate(C0, C1).lml == pytest.approx(ref, rel=1e-10)


def test_ml_fit_with_centred_grm_and_missing_values(rng):
    n, p = 60, 2
    Y, X, Z = _centred_problem(rng, n, p)
    Y += (Z @ rng.normal(size=(3 * n, p))) / np.sqrt(3 * n)
    Y[rng.random((n, p)) < 0.2] = np.nan
    Y[np.isnan(Y).all(axis=1), 0] = 3.0  # no sample dropped: G stays centred
    model = Kron2Sum(Y, None, X, Z / np.sqrt(3 * n), rank=p)
    assert model.ml_projected
    result = model.fit(verbose=False)
    assert result.success and np.all(np.isfinite(model.B))
    assert np.linalg.eigvalsh(model.C1)[0] > 1e-3  # not collapsed onto the floor


@pytest.mark.parametrize("case", [(30, 3, 5), (25, 2, 40)], ids=["r<n", "r>n"])
def test_observed_scan_equals_dense_gls(rng, case):
    n, p, r = case
    Y, A, X, G = _problem(rng, n, p, r, p, "one-trait")
    A = np.eye(p)
    C0, C1 = _spd(rng, p, 0.0), _spd(rng, p, 0.3)
    scanner = KronObservedScanner(Y, A, X, G, C0, C1)
    dosages = rng.binomial(2, 0.3, size=(n, 7)).astype(float)
    dosages[1, 2] = np.nan  # a missing genotype: mean-imputed, as in the complete scan
    y, M0, K = _dense_observed(Y, A, X, G, C0, C1)
    O = ~np.isnan(Y.ravel(order="F"))
    No = int(O.sum())

    def quad(M):
        b, _ = dense_gls(y, M, K)
        res = y - M @ b
        return float(res @ np.linalg.solve(K, res)), b

    q0, _ = quad(M0)
    assert scanner.null_lml() == pytest.approx(
        -0.5 * (No * np.log(2 * np.pi) + np.linalg.slogdet(K)[1] + No * np.log(q0 / No) + No),
        rel=1e-10,
    )
    imputed = np.where(np.isnan(dosages), np.nanmean(dosages, axis=0), dosages)
    plans = {
        "any": (np.eye(p), None),
        "common": (np.ones((p, 1)), None),
        "interaction": (np.eye(p), np.ones((p, 1))),
    }
    for test, (A1, A1n) in plans.items():
        res = scanner.scan_variants(dosages, test, block_size=3)
        for j in range(dosages.shape[1]):
            g = imputed[:, [j]]
            qa, ba = quad(np.hstack([M0, np.kron(A1, g)[O]]))
            qn = q0 if A1n is None else quad(np.hstack([M0, np.kron(A1n, g)[O]]))[0]
            chi2 = No * np.log(qn / qa)
            assert res.chi2[j] == pytest.approx(chi2, rel=1e-8, abs=1e-10), (test, j)
            assert res.dof[j] == A1.shape[1] - (0 if A1n is None else 1)
            # the exact F test on the observed values: df2 = N_o − rank of the alternative
            Ma = np.hstack([M0, np.kron(A1, g)[O]])
            df2 = No - np.linalg.matrix_rank(Ma)
            F = ((qn - qa) / res.dof[j]) / (qa / df2)
            assert res.df1[j] == res.dof[j] and res.df2[j] == df2
            assert res.F[j] == pytest.approx(F, rel=1e-7, abs=1e-10), (test, j)
            assert res.p_value[j] == pytest.approx(st.f.sf(F, res.dof[j], df2), rel=1e-6)
            if A1n is None:
                assert np.allclose(res.beta[j], ba[-A1.shape[1] :], rtol=1e-8, atol=1e-10)
    # the asymptotic χ² test on request: the same statistics, p-values from χ²_dof
    chi = scanner.scan_variants(dosages, "any", statistic="chi2")
    assert chi.statistic == "chi2"
    np.testing.assert_allclose(chi.chi2, scanner.scan_variants(dosages, "any").chi2, rtol=1e-12)
    np.testing.assert_allclose(chi.p_value, st.chi2.sf(chi.chi2, chi.dof), rtol=1e-8)
    explicit = scanner.scan_variants(dosages, None, A1=np.eye(p)[:, :1])
    qa, _ = quad(np.hstack([M0, np.kron(np.eye(p)[:, :1], imputed[:, [0]])[O]]))
    assert explicit.chi2[0] == pytest.approx(No * np.log(q0 / qa), rel=1e-8)


def test_observed_scan_flags_untestable_candidates(rng):
    n, p = 30, 2
    Y, A, X, G = _problem(rng, n, p, 6, p, "random")
    scanner = KronObservedScanner(Y, np.eye(p), X, G, np.eye(p), np.eye(p))
    cands = rng.binomial(2, 0.3, size=(n, 4)).astype(float)
    cands[:, 1] = 0.0
    cands[:, 2] = 2.0 * X[:, 1]
    # non-zero only at samples whose first trait is missing: nothing to say about its
    # effect on that trait (the "any" test), while "common" can use the second trait
    cands[:, 3] = np.isnan(Y[:, 0]) * rng.uniform(1, 2, size=n)
    assert np.isnan(Y[:, 0]).sum() >= 2
    res = scanner.scan_variants(cands, "any")
    assert res.reason.tolist()[1:] == [
        "constant",
        "collinear with covariates",
        "no information at the observed values (collinear with covariates)",
    ]
    assert np.isfinite(res.chi2[0]) and np.isnan(res.chi2[1:]).all()
    common = scanner.scan_variants(cands, "common")
    assert np.isfinite(common.chi2[3]) and common.reason[3] == ""


def test_model_scanner_on_missing_values_is_observed_scanner(rng):
    Y, G, _, _ = _simulate(rng, 60, 2, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = Kron2Sum(Y, None, None, G, rank=2, restricted=False)
    model.fit(verbose=False)
    scanner = model.get_fast_scanner(trait_names=["a", "b"])
    assert isinstance(scanner, KronObservedScanner)
    # after an ML fit the scanner's null is the model's likelihood (scale 1 at the optimum;
    # the fit stops at a projected gradient of ~1e-8, and the scale's departure from 1 is
    # of the order of the gradient)
    assert model.fit_result.grad_norm < 1e-7
    assert scanner.null_lml() == pytest.approx(model.lml(), rel=1e-10)
    assert scanner.null_scale == pytest.approx(1.0, rel=1e-6)
    res = scanner.scan_variants(rng.normal(size=(model.nsamples, 4)), "any")
    assert res.trait_names == ["a", "b"] and re.fullmatch(r"\d", str(len(res)))


def test_too_many_missing_values_is_a_clear_error(rng, monkeypatch):
    monkeypatch.setattr("kronlmm.core.missing_likelihood.MAX_MISSING", 5)
    Y = rng.normal(size=(20, 2))
    Y[:6, 0] = np.nan
    with pytest.raises(ValueError, match=r"6 missing values.*missing='complete-case'"):
        Kron2Sum(Y, None, None, rng.normal(size=(20, 4)))


def test_observed_scan_through_the_driver_with_checkpoint(rng, tmp_path):
    from kronlmm.gwas import null_fingerprint, scan_candidates

    n, p = 40, 2
    Y, A, X, G = _problem(rng, n, p, 8, p, "random")
    scanner = KronObservedScanner(Y, np.eye(p), X, G, _spd(rng, p, 0.0), _spd(rng, p, 0.5))
    dosages = rng.binomial(2, 0.3, size=(n, 25)).astype(float)
    direct = scanner.scan_variants(dosages, "common", block_size=25)
    first = scan_candidates(scanner, dosages, "common", block_size=10, checkpoint=tmp_path)
    again = scan_candidates(scanner, dosages, "common", block_size=10, checkpoint=tmp_path)
    assert np.allclose(first.chi2, direct.chi2, rtol=1e-12)
    assert np.array_equal(again.chi2, first.chi2)
    other = KronObservedScanner(Y, np.eye(p), X, G, np.eye(p), np.eye(p))
    plan = scanner.plan("common")
    assert null_fingerprint(scanner.null, plan) != null_fingerprint(other.null, plan)


def test_no_residual_degrees_of_freedom_at_the_observed_values(rng):
    Y = rng.normal(size=(4, 2))
    Y[0, 0] = Y[1, 1] = np.nan  # 6 observed values for a design of rank 2 · 3
    with pytest.raises(ValueError, match=r"rank\(A ⊗ X\) = 6 ≥ 6, the number of observed"):
        Kron2Sum(Y, None, rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))
