import pytest
import scipy.stats as st
from numpy import (
    array,
    concatenate,
    errstate,
    exp,
    eye,
    inf,
    isnan,
    log,
    nan,
    ones,
    reshape,
    sqrt,
    zeros,
)
from numpy.linalg import inv, matrix_rank, pinv, solve
from numpy.random import default_rng
from numpy.testing import assert_allclose
from numpy_sugar.linalg import economic_qs, economic_qs_linear
from scipy.linalg import toeplitz
from scipy.optimize import minimize

from glimix_core._util import assert_interface
from kronlmm.cov import EyeCov, LinearCov, SumCov
from glimix_core.lik import DeltaProdLik
from kronlmm.lmm import LMM, FastScanner
from kronlmm.mean import OffsetMean
from glimix_core.random import GGPSampler

from kronlmm.testing import dense_ml_lml

from .glimix_evidence import gls_reference, lmm_profile_lml, lmm_projected_lml, mp_gls_se

# DEVIATION (kronlmm), used below: where the ML likelihood of y has no maximum, kronlmm
#   fits the ML likelihood of Q0ᵀy. The kinship XXᵀ of a centred X has 1ₙ in its null
#   space (n − k = 1); where the covariates have a component there they absorb the data's,
#   and the density of y grows like −½(n − k)·log δ as δ → 0. kronlmm then evaluates and
#   fits the likelihood of Q0ᵀy (lmm.ml_projected; kronlmm.core.projections); glimix-core
#   fits the density of y and stops at a local maximum. The scanners always use all the
#   data (ML) at the fitted δ. Evidence (dense, _check_projected_lmm and _check_scan):
#   kronlmm's lml() is the density of Q0ᵀy, glimix-core's fitted value is the profile
#   density of y at its δ, that density rises by ½(n − k)·log(10⁴) from δ = 10⁻⁸ to
#   10⁻¹², and kronlmm's scan results are the dense GLS fits at its fitted v₀, v₁.


def _check_projected_lmm(lmm, y, M, QS, glimix_delta, glimix_lml):
    K = QS[0][0] @ (QS[1][:, None] * QS[0][0].T)
    nk = len(y) - QS[1].size
    assert lmm.ml_projected
    assert_allclose(lmm.lml(), lmm_projected_lml(lmm, y, M, QS), rtol=1e-10)
    assert_allclose(lmm_profile_lml(y, M, K, glimix_delta), glimix_lml, rtol=1e-8)
    rise = lmm_profile_lml(y, M, K, 1e-12) - lmm_profile_lml(y, M, K, 1e-8)
    assert_allclose(rise, 0.5 * nk * log(1e4), rtol=1e-3)


def _check_scan(r, y, M, markers, lmm):
    for j in range(markers.shape[1]):
        ref = gls_reference(y, concatenate((M, markers[:, [j]]), axis=1), lmm.covariance())
        assert_allclose(r["lml"][j], ref["lml"], rtol=1e-10)
        assert_allclose(r["scale"][j], ref["scale"], rtol=1e-9)
        assert_allclose(r["effsizes0"][j], ref["beta"][:-1], rtol=1e-8, atol=1e-12)
        assert_allclose(r["effsizes1"][j], ref["beta"][-1], rtol=1e-8, atol=1e-12)
        assert_allclose(r["effsizes0_se"][j], ref["se"][:-1], rtol=1e-8)
        assert_allclose(r["effsizes1_se"][j], ref["se"][-1], rtol=1e-8)


def test_fast_scanner_statsmodel_gls():
    from numpy.linalg import lstsq

    def _lstsq(A, B):
        return lstsq(A, B, rcond=None)[0]

    # data = sm.datasets.longley.load()
    # data.exog = sm.add_constant(data.exog)
    # ols_resid = sm.OLS(data.endog, data.exog).fit().resid
    # resid_fit = sm.OLS(ols_resid[1:], sm.add_constant(ols_resid[:-1])).fit()
    # rho = resid_fit.params[1]
    rho = -0.3634294908774683
    # order = toeplitz(range(len(ols_resid)))
    order = toeplitz(range(16))
    sigma = rho**order
    sigma0 = sigma

    QS = economic_qs(sigma)
    endog = reshape(
        [
            60323.0,
            61122.0,
            60171.0,
            61187.0,
            63221.0,
            63639.0,
            64989.0,
            63761.0,
            66019.0,
            67857.0,
            68169.0,
            66513.0,
            68655.0,
            69564.0,
            69331.0,
            70551.0,
        ],
        (16,),
    )
    exog = reshape(
        [
            1.0,
            83.0,
            234289.0,
            2356.0,
            1590.0,
            107608.0,
            1947.0,
            1.0,
            88.5,
            259426.0,
            2325.0,
            1456.0,
            108632.0,
            1948.0,
            1.0,
            88.2,
            258054.0,
            3682.0,
            1616.0,
            109773.0,
            1949.0,
            1.0,
            89.5,
            284599.0,
            3351.0,
            1650.0,
            110929.0,
            1950.0,
            1.0,
            96.2,
            328975.0,
            2099.0,
            3099.0,
            112075.0,
            1951.0,
            1.0,
            98.1,
            346999.0,
            1932.0,
            3594.0,
            113270.0,
            1952.0,
            1.0,
            99.0,
            365385.0,
            1870.0,
            3547.0,
            115094.0,
            1953.0,
            1.0,
            100.0,
            363112.0,
            3578.0,
            3350.0,
            116219.0,
            1954.0,
            1.0,
            101.2,
            397469.0,
            2904.0,
            3048.0,
            117388.0,
            1955.0,
            1.0,
            104.6,
            419180.0,
            2822.0,
            2857.0,
            118734.0,
            1956.0,
            1.0,
            108.4,
            442769.0,
            2936.0,
            2798.0,
            120445.0,
            1957.0,
            1.0,
            110.8,
            444546.0,
            4681.0,
            2637.0,
            121950.0,
            1958.0,
            1.0,
            112.6,
            482704.0,
            3813.0,
            2552.0,
            123366.0,
            1959.0,
            1.0,
            114.2,
            502601.0,
            3931.0,
            2514.0,
            125368.0,
            1960.0,
            1.0,
            115.7,
            518173.0,
            4806.0,
            2572.0,
            127852.0,
            1961.0,
            1.0,
            116.9,
            554894.0,
            4007.0,
            2827.0,
            130081.0,
            1962.0,
        ],
        (16, 7),
    )
    lmm = LMM(endog, exog, QS)
    lmm.fit(verbose=False)

    sigma = lmm.covariance()
    scanner = lmm.get_fast_scanner()
    best_beta_se = _lstsq(exog.T @ _lstsq(lmm.covariance(), exog), eye(7))
    best_beta_se = sqrt(best_beta_se.diagonal())
    # DEVIATION (kronlmm): a better fit, and standard errors checked against an exact
    # reference instead of the lstsq one above, which truncates the ill-conditioned
    # XᵀΣ⁻¹X (cond(exog) = 4.9e9) and gives 2.61e-3 for the first entry at kronlmm's fit.
    #   glimix-core: δ ≈ 1, lml -124.6239520 (its own number: the dense profile density at
    #                its δ is -109.6174348); null_beta_se[0] = 8.98e-3, whereas the exact
    #                value at its covariance is 1.706e6
    #   kronlmm:     δ = 0, lml -107.4975969 (= the dense profile density, higher);
    #                null_beta_se = [5.030165e5, 52.07311, 0.01968576, ...], equal to the
    #                40-digit (mpmath) √diag((XᵀΣ⁻¹X)⁻¹) to 1e-8
    assert_allclose(lmm.lml(), lmm_profile_lml(endog, exog, sigma0, lmm.delta), rtol=1e-10)
    assert lmm.lml() > lmm_profile_lml(endog, exog, sigma0, 1.0) + 2
    assert_allclose(scanner.null_beta_se, mp_gls_se(exog, sigma), rtol=1e-8)

    endog = endog.copy()
    endog -= endog.mean(0)
    endog /= endog.std(0)

    exog = exog.copy()
    exog -= exog.mean(0)
    with errstate(invalid="ignore", divide="ignore"):
        exog /= exog.std(0)
    exog[:, 0] = 1

    lmm = LMM(endog, exog, QS)
    lmm.fit(verbose=False)

    sigma = lmm.covariance()
    scanner = lmm.get_fast_scanner()

    # gls_model = sm.GLS(endog, exog, sigma=sigma)
    # gls_results = gls_model.fit()
    # scale = gls_results.scale
    scale = 1.7777777777782937
    # beta_se = gls_results.bse
    beta_se = array(
        [
            0.014636888951505144,
            0.21334653097414055,
            0.7428559936739378,
            0.10174713767252333,
            0.032745906589939845,
            0.3494488802468581,
            0.4644879873404213,
        ]
    )
    our_beta_se = sqrt(scanner.null_beta_covariance.diagonal())
    # statsmodels scales the covariance matrix we pass, that is why
    # we need to account for it here.
    assert_allclose(our_beta_se, beta_se / sqrt(scale), rtol=1e-6)
    assert_allclose(scanner.null_beta_se, beta_se / sqrt(scale), rtol=1e-6)


def test_fast_scanner_redundant_candidates():
    random = default_rng(9458)
    n = 10
    X = _covariates_sample(random, n, n + 1)
    offset = 1.0

    y = _outcome_sample(random, offset, X)

    QS = economic_qs_linear(X)

    M = ones((n, 5))
    lmm = LMM(y, M, QS, restricted=False)

    lmm.fit(verbose=False)

    markers = M.copy()

    scanner = lmm.get_fast_scanner()

    scanner.fast_scan(markers, verbose=False)


def test_fast_scanner_set_scale_1covariate():
    random = default_rng(9458)
    n = 10
    X = _covariates_sample(random, n, n + 1)
    offset = 1.0

    y = _outcome_sample(random, offset, X)
    y = [
        -0.13236439,
        1.73814339,
        0.01887333,
        0.19446565,
        -1.97241074,
        2.71334746,
        0.10450538,
        -1.20267789,
        0.22580307,
        -0.25728245,
    ]

    QS = economic_qs_linear(X)

    M = random.normal(size=(n, 1))
    lmm = LMM(y, M, QS)

    lmm.fit(verbose=False)
    # DEVIATION: projected ML (see the top).
    #   glimix-core: scale 1.4839295672, δ 0.6325686596, β 0.4213925685, lml -15.8921523
    #   kronlmm:     scale 1.5896122858, δ 1, β 0.4662205882, lml -14.8561524 (of Q0ᵀy)
    _check_projected_lmm(lmm, y, M, QS, 0.6325686596, -15.8921523036)
    assert_allclose([lmm.scale, lmm.delta], [1.5896122858, 1.0], rtol=1e-8)

    markers = M.copy() + random.normal(size=(n, 1))

    scanner = lmm.get_fast_scanner()
    r = scanner.fast_scan(markers, verbose=False)

    # DEVIATION: so the scan is at another δ (see the top).
    #   glimix-core: lml -15.3969612863, effsizes0 1.0027728509, effsizes1 -0.3696495044,
    #                scale 0.9057081079
    #   kronlmm:     lml -15.5051035778, effsizes0 0.9453826719, effsizes1 -0.3761370717,
    #                scale 0.8184471186 (the dense GLS fit at kronlmm's v₀, v₁)
    _check_scan(r, y, M, markers, lmm)

    # DEVIATION (kronlmm): an untestable candidate (here all zero) gets a NaN row and a
    # reason; glimix-core reports the null's β as effsizes0 and an arbitrary effsizes1.
    r = scanner.fast_scan(zeros((10, 1)), verbose=False)
    assert r["reason"][0] == "constant"
    assert all(isnan(r[key][0]).all() for key in ("lml", "effsizes0", "effsizes1", "scale"))


def test_fast_scanner_set_scale_1covariate_redundant():
    random = default_rng(9458)
    n = 10
    X = _covariates_sample(random, n, n + 1)
    offset = 1.0

    y = _outcome_sample(random, offset, X)
    y = [
        -0.13236439,
        1.73814339,
        0.01887333,
        0.19446565,
        -1.97241074,
        2.71334746,
        0.10450538,
        -1.20267789,
        0.22580307,
        -0.25728245,
    ]

    QS = economic_qs_linear(X)

    M = random.normal(size=(n, 1))
    lmm = LMM(y, M, QS)

    lmm.fit(verbose=False)

    markers = M.copy()

    scanner = lmm.get_fast_scanner()
    r = scanner.fast_scan(markers, verbose=False)
    # DEVIATION (kronlmm): a candidate in the span of the covariates gets a NaN row and a
    # reason. The alternative then is the null: glimix-core reports the null's lml
    # (-15.892152294, scale 1) and splits the not identifiable effect between effsizes0
    # and effsizes1 (0.2106962842 each, summing to the null β 0.4213925685).
    # Evidence: rank([M, markers]) = 1.
    assert matrix_rank(concatenate((M, markers), axis=1)) == 1
    assert r["reason"][0] == "collinear with covariates"
    assert all(isnan(r[key][0]).all() for key in ("lml", "effsizes0", "effsizes1", "scale"))
    # DEVIATION: projected ML (see the top); glimix-core's δ 0.6325686596, lml -15.8921523
    _check_projected_lmm(lmm, y, M, QS, 0.6325686596, -15.8921523036)


def test_fast_scanner_set_scale_multicovariates():
    random = default_rng(9458)
    n = 10
    X = _covariates_sample(random, n, n + 1)
    offset = 1.0

    y = _outcome_sample(random, offset, X)
    y = [
        -0.13236439,
        1.73814339,
        0.01887333,
        0.19446565,
        -1.97241074,
        2.71334746,
        0.10450538,
        -1.20267789,
        0.22580307,
        -0.25728245,
    ]

    QS = economic_qs_linear(X)

    M = random.normal(size=(n, 3))
    lmm = LMM(y, M, QS)

    lmm.fit(verbose=False)

    markers = M.copy()

    scanner = lmm.get_fast_scanner()
    r = scanner.fast_scan(markers, verbose=False)

    # DEVIATION (kronlmm): each candidate is a covariate (collinear): NaN rows with a
    # reason. glimix-core reports the null's lml (-13.2139209068, scale 1) and splits each
    # not identifiable effect in two (e.g. effsizes1[0] -0.4584476242, half of the null
    # β₀ -0.9168952484). Evidence: each candidate is a column of M.
    assert list(r["reason"]) == ["collinear with covariates"] * 3
    assert isnan(r["lml"]).all() and isnan(r["effsizes1"]).all()
    # DEVIATION: projected ML (see the top). glimix-core δ ≈ 1, lml -13.2139209194 (of y);
    # kronlmm δ = 1, lml -12.0331353693 (of Q0ᵀy), the same β.
    _check_projected_lmm(lmm, y, M, QS, 1.0, -13.2139209194)
    assert_allclose(lmm.beta, [-0.9168952484, -0.0684451035, -0.2299335518], rtol=1e-7)


def test_fast_scanner_effsizes_se():
    full_rank_K = array([[6.0, 14.0, 23.0], [14.0, 51.0, 86.0], [23.0, 86.0, 150.0]])
    full_rank_QS = economic_qs(full_rank_K)
    _test_fast_scanner_effsizes_se(full_rank_K, full_rank_QS, 0.2)
    _test_fast_scanner_effsizes_se(full_rank_K, full_rank_QS, 0.0)

    low_rank_K = array([[5.0, 14.0, 23.0], [14.0, 50.0, 86.0], [23.0, 86.0, 149.0]])
    low_rank_QS = economic_qs(low_rank_K)
    _test_fast_scanner_effsizes_se(low_rank_K, low_rank_QS, 0.2)


def _test_fast_scanner_effsizes_se(K0, QS, v):
    X = ones((3, 1))
    y = array([-1.0449132, 1.15229426, 0.79595129])

    M = array([[0.887669, -1.809403], [0.008226, -0.44882], [0.558072, -2.008683]])
    scanner = FastScanner(y, X, QS, v)
    r = scanner.fast_scan(M, verbose=False)
    for i in range(2):
        K = r["scale"][i] * (K0 + v * eye(3))
        XM = concatenate((X, M[:, i : (i + 1)]), axis=1)
        effsizes_se = sqrt(abs(pinv(XM.T @ solve(K, XM)).diagonal()))
        se = concatenate((r["effsizes0_se"][i], r["effsizes1_se"][i : (i + 1)]))
        assert_allclose(se, effsizes_se, atol=1e-5)

    # Redundant covariates
    M = array([[0, 1], [0, 1], [0, 1]])
    scanner = FastScanner(y, X, QS, v)
    r = scanner.fast_scan(M, verbose=False)
    # DEVIATION (kronlmm): untestable candidates (all zero; equal to the intercept) get
    # NaN rows with a reason; glimix-core reports standard errors of effects that are not
    # identifiable (the pseudo-inverse's). Evidence: rank([X, M[:, i]]) = 1 for both.
    for i in range(2):
        assert matrix_rank(concatenate((X, M[:, i : (i + 1)]), axis=1)) == 1
    assert list(r["reason"]) == ["constant", "constant"]
    assert isnan(r["effsizes0_se"]).all() and isnan(r["effsizes1_se"]).all()

    M = array([[0.887669, -1.809403], [0.008226, -0.44882], [0.558072, -2.008683]])
    scanner = FastScanner(y, X, QS, v)
    r = scanner.scan(M)
    # DEVIATION (kronlmm): [X, M] is 3 × 3 of rank 3 = n: the alternative fits y exactly,
    # so its ML (scale → 0) does not exist; kronlmm gives NaN with a reason. glimix-core
    # reports scale 7.4e-17, lml 19.51 (v = 0.2), effsizes1_se 2.1e-7 and 1.0e-7 (values
    # of rounding). Evidence: the rank of [X, M].
    XM = concatenate((X, M), axis=1)
    assert matrix_rank(XM) == 3
    assert r["reason"].startswith("no residual degrees of freedom")
    assert isnan(concatenate((r["effsizes0_se"], r["effsizes1_se"]))).all()

    # Redundant covariates
    M = array([[0, 1], [0, 1], [0, 1]])
    scanner = FastScanner(y, X, QS, v)
    r = scanner.scan(M)
    # DEVIATION (kronlmm): the set adds nothing beyond the intercept (rank([X, M]) = 1):
    # NaN with a reason; glimix-core reports huge standard errors (the test only checked
    # that they exceed those of a 1e-9 ridge). Evidence: the rank below.
    assert matrix_rank(concatenate((X, M), axis=1)) == 1
    assert r["reason"] == "collinear with covariates"
    assert isnan(concatenate((r["effsizes0_se"], r["effsizes1_se"]))).all()


# DEVIATION (kronlmm), used below: a scanner on a singular covariance raises ValueError.
#   With v = 0 and a singular K (rank 2 < n), s·(K + vI) has no density; glimix-core then
#   works on the range of K and reports numbers of rounding: scale ≈ 0 (e.g. -3e-16, 2e-17)
#   and lml ≈ 28.9 (the lines marked "glimix-core:" keep its assertions). Evidence: the
#   rank of K below, and the dense Gaussian log-density, which does not exist (Cholesky
#   fails).
def _singular_scanner(y, X, QS, K):
    assert matrix_rank(K) < K.shape[0]
    with pytest.raises(ValueError, match="not positive definite"):
        dense_ml_lml(y, X, K)
    with pytest.raises(ValueError, match="singular"):
        FastScanner(y, X, QS, 0)


# DEVIATION (kronlmm), used below: an all-zero candidate gets a NaN row with a reason.
#   The alternative then is the null model; glimix-core reports the null's lml, scale and
#   covariate effects for it (its effect size is not identifiable). Evidence: those
#   numbers are kronlmm's null fit (null_lml, null_scale, null_beta), checked here.
def _check_zero_candidate(scanner, r, lml, scale, effsizes0):
    assert r["reason"][0] == "constant"
    assert isnan(r["lml"][0]) and isnan(r["scale"][0]) and isnan(r["effsizes1"][0])
    assert_allclose(scanner.null_lml(), lml, rtol=1e-6, atol=1e-6)
    assert_allclose(scanner.null_scale, scale, rtol=1e-6, atol=1e-6)
    assert_allclose(scanner.null_beta, [effsizes0], rtol=1e-6)


def test_lmm_scan_difficult_settings_offset():
    y = array([-1.0449132, 1.15229426, 0.79595129])
    low_rank_K = array([[5.0, 14.0, 23.0], [14.0, 50.0, 86.0], [23.0, 86.0, 149.0]])
    full_rank_K = array([[6.0, 14.0, 23.0], [14.0, 51.0, 86.0], [23.0, 86.0, 150.0]])
    low_rank_QS = economic_qs(low_rank_K)
    full_rank_QS = economic_qs(full_rank_K)
    X = ones((3, 1))

    M = array(
        [[0.88766985, -1.80940339], [0.00822629, -0.4488265], [0.55807272, -2.00868376]]
    )
    # DEVIATION (kronlmm): K singular → ValueError (see _singular_scanner).
    _singular_scanner(y, X, low_rank_QS, low_rank_K)
    # glimix-core: r = scanner.fast_scan(M, verbose=False)
    # glimix-core: assert_allclose(r["scale"], [-2.9605947323337506e-16, 0.0], atol=1e-6)
    # glimix-core: assert_allclose(r["lml"], [28.896466, 28.896466], rtol=1e-6, atol=1e-6)
    # glimix-core: assert_allclose(r["effsizes0"], [[3.008011016293077], [-12.837513658497771]])
    # glimix-core: assert_allclose(r["effsizes1"], [-5.5851957509459353, -9.2375605785935715])

    X = ones((3, 1))
    M = array(
        [[0.88766985, -1.80940339], [0.00822629, -0.4488265], [0.55807272, -2.00868376]]
    )
    scanner = FastScanner(y, X, low_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    assert_allclose(r["scale"], [0.00476137752581085, 0.012358877799161524], atol=1e-6)
    assert_allclose(r["lml"], [0.823505300549, -0.607251148058])
    assert_allclose(r["effsizes0"], [[0.3495610486128161], [0.21723441738440089]])
    assert_allclose(r["effsizes1"], [-1.79486991632, 0.872439001906])

    M = array([[0.0, -1.80940339], [0.0, -0.4488265], [0.0, -2.00868376]])
    # DEVIATION (kronlmm): K singular → ValueError (see _singular_scanner).
    _singular_scanner(y, X, low_rank_QS, low_rank_K)
    # glimix-core: r = scanner.fast_scan(M, verbose=False)
    # glimix-core: assert_allclose(r["scale"], [0.010459203921428906, 0.0], atol=1e-6)
    # glimix-core: assert_allclose(r["lml"], [8.704135, 28.896466], rtol=1e-6)
    # glimix-core: assert_allclose(r["effsizes0"], [[-0.9261322100000001], [-12.837513658497771]])
    # glimix-core: assert_allclose(r["effsizes1"][1], -9.23756057859)

    M = array([[0.0, -1.80940339], [0.0, -0.4488265], [0.0, -2.00868376]])
    scanner = FastScanner(y, X, low_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    # DEVIATION (kronlmm): the all-zero candidate 0 gets a NaN row (see
    # _check_zero_candidate); glimix-core's values for it are the null's:
    # scale 0.49332480112228455, lml -6.137441, effsizes0 -0.9093206621461191
    _check_zero_candidate(
        scanner, r, scale=0.49332480112228455, lml=-6.137441, effsizes0=-0.9093206621461191
    )
    assert_allclose(r["scale"][1], 0.012358877799161524, atol=1e-6)
    assert_allclose(r["lml"][1], -0.607251, rtol=1e-6, atol=1e-6)
    assert_allclose(r["effsizes0"][1], [0.21723441738440089])
    assert_allclose(r["effsizes1"][1], 0.872439001906)

    M = array(
        [[0.88766985, -1.80940339], [0.00822629, -0.4488265], [0.55807272, -2.00868376]]
    )
    scanner = FastScanner(y, X, full_rank_QS, 0)
    r = scanner.fast_scan(M, verbose=False)
    assert_allclose(r["scale"], [0.004736354793149378, 0.012301930830306581], atol=1e-6)
    assert_allclose(r["lml"], [0.636421389625, -0.795311239268])
    assert_allclose(r["effsizes0"], [[0.355188079803773], [0.2224382967889082]])
    assert_allclose(r["effsizes1"], [-1.79757295968, 0.871806031702])

    M = array(
        [[0.88766985, -1.80940339], [0.00822629, -0.4488265], [0.55807272, -2.00868376]]
    )
    scanner = FastScanner(y, X, full_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    assert_allclose(r["scale"], [0.004662840142176661, 0.012134195778553977], atol=1e-6)
    assert_allclose(r["lml"], [0.251547678451, -1.18305656511])
    assert_allclose(r["effsizes0"], [[0.3717198167493795], [0.2377661184233066]])
    assert_allclose(r["effsizes1"], [-1.80551427016, 0.86994164292])

    M = array([[0.0, -1.80940339], [0.0, -0.4488265], [0.0, -2.00868376]])
    scanner = FastScanner(y, X, full_rank_QS, 0)
    r = scanner.fast_scan(M, verbose=False)
    # DEVIATION (kronlmm): the all-zero candidate 0 gets a NaN row (see
    # _check_zero_candidate); glimix-core's values for it are the null's:
    # scale 0.3725256920525814, lml -5.911136, effsizes0 -0.9038187010303032
    _check_zero_candidate(
        scanner, r, scale=0.3725256920525814, lml=-5.911136, effsizes0=-0.9038187010303032
    )
    assert_allclose(r["scale"][1], 0.012301930830306581, atol=1e-6)
    assert_allclose(r["lml"][1], -0.795311, atol=1e-6, rtol=1e-6)
    assert_allclose(r["effsizes0"][1], [0.2224382967889082])
    assert_allclose(r["effsizes1"][1], 0.871806031702)

    M = array([[0.0, -1.80940339], [0.0, -0.4488265], [0.0, -2.00868376]])
    scanner = FastScanner(y, X, full_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    # DEVIATION (kronlmm): the all-zero candidate 0 gets a NaN row (see
    # _check_zero_candidate); glimix-core's values for it are the null's:
    # scale 0.21713469123194049, lml -5.509792, effsizes0 -0.8876088873393126
    _check_zero_candidate(
        scanner, r, scale=0.21713469123194049, lml=-5.509792, effsizes0=-0.8876088873393126
    )
    assert_allclose(r["scale"][1], 0.012134195778553977, atol=1e-6)
    assert_allclose(r["lml"][1], -1.183057, atol=1e-6, rtol=1e-6)
    assert_allclose(r["effsizes0"][1], [0.2377661184233066])
    assert_allclose(r["effsizes1"][1], 0.86994164292)


def test_lmm_scan_difficult_settings_multicovariates():
    y = array([-1.0449132, 1.15229426, 0.79595129])
    low_rank_K = array([[5.0, 14.0, 23.0], [14.0, 50.0, 86.0], [23.0, 86.0, 149.0]])
    full_rank_K = array([[6.0, 14.0, 23.0], [14.0, 51.0, 86.0], [23.0, 86.0, 150.0]])
    low_rank_QS = economic_qs(low_rank_K)
    full_rank_QS = economic_qs(full_rank_K)
    X = array(
        [
            [-0.40592765, 1.04348945],
            [0.92275415, -0.32394197],
            [-0.98197991, 1.22912219],
        ]
    )

    M = array(
        [[0.88766985, -1.80940339], [0.00822629, -0.4488265], [0.55807272, -2.00868376]]
    )
    # DEVIATION (kronlmm): K singular → ValueError (see _singular_scanner).
    _singular_scanner(y, X, low_rank_QS, low_rank_K)
    # glimix-core: r = scanner.fast_scan(M, verbose=False)
    # glimix-core: assert_allclose(r["lml"], [28.896466, 28.896466], atol=1e-6, rtol=1e-6)
    # glimix-core: assert_allclose(
    # glimix-core: r["effsizes0"],
    # glimix-core: [
    # glimix-core: [-2.247703714834354, 0.8190282920748556],
    # glimix-core: [-3.1760541039273127, 0.40265319454969883],
    # glimix-core: ],
    # glimix-core: )
    # glimix-core: assert_allclose(r["effsizes1"], [-1.195493, 0.318417], atol=1e-6, rtol=1e-6)
    # glimix-core: assert_allclose(
    # glimix-core: r["scale"], [1.850371707708594e-17, 1.3877787807814457e-17], atol=1e-6
    # glimix-core: )

    X = ones((3, 1))
    M = array(
        [[0.88766985, -1.80940339], [0.00822629, -0.4488265], [0.55807272, -2.00868376]]
    )
    scanner = FastScanner(y, X, low_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    assert_allclose(r["lml"], [0.823505300549, -0.607251148058])
    assert_allclose(r["effsizes0"], [[0.3495610486128161], [0.21723441738440089]])
    assert_allclose(r["effsizes1"], [-1.79486991632, 0.872439001906])
    assert_allclose(r["scale"], [0.00476137752581085, 0.012358877799161524], atol=1e-6)

    M = array([[0.0, -1.80940339], [0.0, -0.4488265], [0.0, -2.00868376]])
    # DEVIATION (kronlmm): K singular → ValueError (see _singular_scanner).
    _singular_scanner(y, X, low_rank_QS, low_rank_K)
    # glimix-core: r = scanner.fast_scan(M, verbose=False)
    # glimix-core: assert_allclose(r["lml"], [8.704135, 28.896466])
    # glimix-core: assert_allclose(r["effsizes0"], [[-0.9261322100000001], [-12.837513658497771]])
    # glimix-core: assert_allclose(r["effsizes1"][1], -9.23756057859)
    # glimix-core: assert_allclose(r["scale"], [0.010459203921428906, 0.0], atol=1e-6)

    M = array([[0.0, -1.80940339], [0.0, -0.4488265], [0.0, -2.00868376]])
    scanner = FastScanner(y, X, low_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    # DEVIATION (kronlmm): the all-zero candidate 0 gets a NaN row (see
    # _check_zero_candidate); glimix-core's values for it are the null's:
    # lml -6.137441, effsizes0 -0.9093206621461191, scale 0.49332480112228455
    _check_zero_candidate(
        scanner, r, lml=-6.137441, effsizes0=-0.9093206621461191, scale=0.49332480112228455
    )
    assert_allclose(r["lml"][1], -0.607251, atol=1e-6, rtol=1e-6)
    assert_allclose(r["effsizes0"][1], [0.21723441738440089])
    assert_allclose(r["effsizes1"][1], 0.872439001906)
    assert_allclose(r["scale"][1], 0.012358877799161524, atol=1e-6)

    M = array(
        [[0.88766985, -1.80940339], [0.00822629, -0.4488265], [0.55807272, -2.00868376]]
    )
    scanner = FastScanner(y, X, full_rank_QS, 0)
    r = scanner.fast_scan(M, verbose=False)
    assert_allclose(r["lml"], [0.636421389625, -0.795311239268])
    assert_allclose(r["effsizes1"], [-1.79757295968, 0.871806031702])
    assert_allclose(r["scale"], [0.004736354793149378, 0.012301930830306581], atol=1e-6)

    M = array(
        [[0.88766985, -1.80940339], [0.00822629, -0.4488265], [0.55807272, -2.00868376]]
    )
    scanner = FastScanner(y, X, full_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    assert_allclose(r["lml"], [0.251547678451, -1.18305656511])
    assert_allclose(r["effsizes0"], [[0.3717198167493795], [0.2377661184233066]])
    assert_allclose(r["effsizes1"], [-1.80551427016, 0.86994164292])
    assert_allclose(r["scale"], [0.004662840142176661, 0.012134195778553977], atol=1e-6)

    M = array([[0.0, -1.80940339], [0.0, -0.4488265], [0.0, -2.00868376]])
    scanner = FastScanner(y, X, full_rank_QS, 0)
    r = scanner.fast_scan(M, verbose=False)
    # DEVIATION (kronlmm): the all-zero candidate 0 gets a NaN row (see
    # _check_zero_candidate); glimix-core's values for it are the null's:
    # lml -5.911136, effsizes0 -0.9038187010303032, scale 0.3725256920525814
    _check_zero_candidate(
        scanner, r, lml=-5.911136, effsizes0=-0.9038187010303032, scale=0.3725256920525814
    )
    assert_allclose(r["lml"][1], -0.795311, atol=1e-6, rtol=1e-6)
    assert_allclose(r["effsizes0"][1], [0.2224382967889082])
    assert_allclose(r["effsizes1"][1], 0.871806031702)
    assert_allclose(r["scale"][1], 0.012301930830306581, atol=1e-6)

    M = array([[0.0, -1.80940339], [0.0, -0.4488265], [0.0, -2.00868376]])
    scanner = FastScanner(y, X, full_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    # DEVIATION (kronlmm): the all-zero candidate 0 gets a NaN row (see
    # _check_zero_candidate); glimix-core's values for it are the null's:
    # lml -5.509792, effsizes0 -0.8876088873393126, effsizes1 0.0, scale 0.21713469123194049
    _check_zero_candidate(
        scanner, r, lml=-5.509792, effsizes0=-0.8876088873393126, scale=0.21713469123194049
    )
    assert_allclose(r["lml"][1], -1.183057, atol=1e-6, rtol=1e-6)
    assert_allclose(r["effsizes0"][1], [0.2377661184233066])
    assert_allclose(r["effsizes1"][1], 0.8699416429204303)
    assert_allclose(r["scale"][1], 0.012134195778553977, atol=1e-6)


def test_lmm_scan_very_low_rank():
    y = array([-1.0449132, 1.15229426, 0.79595129, 2.1])
    X = array(
        [
            [-0.40592765, 1.04348945],
            [0.92275415, -0.32394197],
            [-0.98197991, 1.22912219],
            [-1.0007991, 2.22912219],
        ]
    )
    G = array(
        [
            [-0.14505449, -1.1000817],
            [0.45714984, 1.82214436],
            [-1.23763742, 1.38771103],
            [-2.27377329, 0.9577192],
        ]
    )
    K = G @ G.T
    low_rank_QS = economic_qs(K)

    M = array(
        [
            [0.88766985, -1.80940339],
            [0.00822629, -0.4488265],
            [0.55807272, -2.00868376],
            [3.2, 2.1],
        ]
    )
    # DEVIATION (kronlmm): K singular → ValueError (see _singular_scanner).
    _singular_scanner(y, X, low_rank_QS, K)
    # glimix-core: r = scanner.fast_scan(M, verbose=False)
    # glimix-core: assert_allclose(
    # glimix-core: r["lml"], [46.512791016862764, 46.512791016862764], atol=1e-6, rtol=1e-6
    # glimix-core: )
    # glimix-core: assert_allclose(
    # glimix-core: r["effsizes0"],
    # glimix-core: [
    # glimix-core: [3.8616635463341358, 0.43233789455471455],
    # glimix-core: [4.534162667593971, 3.573393734139044],
    # glimix-core: ],
    # glimix-core: )
    # glimix-core: assert_allclose(
    # glimix-core: r["effsizes1"], [2.1553245206596263, -0.684698367443129], atol=1e-6, rtol=1e-6
    # glimix-core: )
    # glimix-core: assert_allclose(
    # glimix-core: r["scale"], [5.551115123125783e-17, 2.5326962749261384e-16], atol=1e-6
    # glimix-core: )

    X = ones((4, 1))
    M = array(
        [
            [0.88766985, -1.80940339],
            [0.00822629, -0.4488265],
            [0.55807272, -2.00868376],
            [3.2, 2.1],
        ]
    )
    scanner = FastScanner(y, X, low_rank_QS, 0.75)
    r = scanner.fast_scan(M, verbose=False)
    assert_allclose(r["lml"], [-3.988506684733393, -2.852200552237104])
    assert_allclose(r["effsizes0"], [[-0.4955288599792398], [0.36297469139979893]])
    assert_allclose(r["effsizes1"], [0.5929013274071214, 0.36216887594630626])
    assert_allclose(r["scale"], [0.18324637118292808, 0.10382205995195082], atol=1e-6)


def _outcome_sample(random, offset, X):
    n = X.shape[0]
    mean = OffsetMean(n)
    mean.offset = offset

    cov_left = LinearCov(X)
    cov_left.scale = 1.5

    cov_right = EyeCov(n)
    cov_right.scale = 1.5

    cov = SumCov([cov_left, cov_right])

    lik = DeltaProdLik()

    return GGPSampler(lik, mean, cov).sample(random)


def _covariates_sample(random, n, p):
    X = random.normal(size=(n, p))
    X -= X.mean(0)
    X /= X.std(0)
    X /= sqrt(X.shape[1])
    return X


def test_lmm_scan_lmm_iid_prior():
    random = default_rng(9458)
    n = 30
    X = _covariates_sample(random, n, n + 1)
    markers = random.normal(size=(n, 2))

    offset = 1.0

    y = _outcome_sample(random, offset, X)

    lmm = LMM(y, ones((n, 1)), None)

    lmm.fit(verbose=False)
    scanner = lmm.get_fast_scanner()
    lmls = scanner.fast_scan(markers, verbose=False)["lml"]
    assert_allclose(lmls[:2], [-58.2215119324, -58.9637766889])


def test_lmm_scan_interface():
    y = array([-1.0449132, 1.15229426, 0.79595129])
    low_rank_K = array([[5.0, 14.0, 23.0], [14.0, 50.0, 86.0], [23.0, 86.0, 149.0]])
    QS = economic_qs(low_rank_K)
    X = ones((3, 1))

    y[0] = nan
    with pytest.raises(ValueError):
        FastScanner(y, X, QS, 0.5)

    y[0] = inf
    with pytest.raises(ValueError):
        FastScanner(y, X, QS, 0.5)

    y[0] = 1
    X[0, 0] = nan
    with pytest.raises(ValueError):
        FastScanner(y, X, QS, 0.5)

    y[0] = 1
    X[0, 0] = 1
    with pytest.raises(ValueError):
        FastScanner(y, X, QS, -1)

    with pytest.raises(ValueError):
        FastScanner(y, X, QS, nan)


def test_lmm_scan_public_attrs():
    # DEVIATION (kronlmm): extra public methods and properties (from_lmm, plan,
    # scan_variants: blocked scans; null: the fixed null terms). glimix-core's interface is
    # all there; the exact interface asserted is glimix-core's plus these.
    assert_interface(
        FastScanner,
        ["null_lml", "fast_scan", "scan"] + ["from_lmm", "plan", "scan_variants"],
        ["null_beta", "null_beta_covariance", "null_scale", "null_beta_se"] + ["null"],
    )


def test_lmm_scan():
    random = default_rng(9458)
    n = 30
    X = _covariates_sample(random, n, n + 1)
    offset = 1.0
    y = _outcome_sample(random, offset, X)
    QS = economic_qs_linear(X)
    M0 = random.normal(size=(n, 2))
    M1 = random.normal(size=(n, 2))

    lmm = LMM(y, M0, QS)
    lmm.fit(verbose=False)

    v0 = lmm.v0
    v1 = lmm.v1
    K = v0 * X @ X.T + v1 * eye(n)
    M = concatenate((M0, M1), axis=1)

    def fun(x):
        beta = x[:4]
        scale = exp(x[4])
        return -st.multivariate_normal(M @ beta, scale * K).logpdf(y)

    res = minimize(fun, [0, 0, 0, 0, 0])
    scanner = lmm.get_fast_scanner()
    r = scanner.scan(M1)

    assert_allclose(r["lml"], -res.fun)
    assert_allclose(r["effsizes0"], res.x[:2], rtol=1e-5)
    assert_allclose(r["effsizes1"], res.x[2:4], rtol=1e-5)
    assert_allclose(r["scale"], exp(res.x[4]), rtol=1e-5)
    K = r["scale"] * lmm.covariance()
    M = concatenate((M0, M1), axis=1)
    effsizes_se = sqrt(inv(M.T @ solve(K, M)).diagonal())
    assert_allclose(effsizes_se, concatenate((r["effsizes0_se"], r["effsizes1_se"])))

    # DEVIATION: projected ML (see the top), so the scanner's null is at another δ.
    #   glimix-core: δ 0.7075985727, null_lml -63.5275082441, null_beta [-0.0125674619,
    #                -0.3388028688], null_beta_covariance [[0.1531099667, 0.03440119],
    #                [.., 0.1462911924]], null_scale 1 (its fit is an ML fit of all the data)
    #   kronlmm:     δ 0.2278266624 (lml -53.4475357 of Q0ᵀy), null_lml -67.5446537,
    #                null_beta [-0.2282890600, -0.0296688400], null_beta_covariance
    #                [[0.2002220, 0.0464854], [.., 0.1555355]], null_scale 2.3575734
    #   Evidence: the dense GLS fit of the null at kronlmm's v₀, v₁ (below).
    _check_projected_lmm(lmm, y, M0, QS, 0.7075985726689699, -63.5275082441)
    ref = gls_reference(y, M0, lmm.covariance())
    assert_allclose(scanner.null_lml(), ref["lml"], rtol=1e-10)
    assert_allclose(scanner.null_beta, ref["beta"], rtol=1e-8)
    assert_allclose(sqrt(scanner.null_beta_covariance.diagonal()), ref["se"], rtol=1e-8)
    assert_allclose(scanner.null_scale, ref["scale"], rtol=1e-9)

    assert_allclose(scanner.null_beta, lmm.beta, rtol=1e-5)
    assert_allclose(
        scanner.null_beta_covariance, scanner.null_scale * lmm.beta_covariance, rtol=1e-5
    )


def test_lmm_scan_fast_scan():
    random = default_rng(9458)
    n = 30
    X = _covariates_sample(random, n, n + 1)
    offset = 1.0
    y = _outcome_sample(random, offset, X)
    QS = economic_qs_linear(X)
    M0 = random.normal(size=(n, 2))
    M1 = random.normal(size=(n, 2))

    lmm = LMM(y, M0, QS)
    lmm.fit(verbose=False)

    v0 = lmm.v0
    v1 = lmm.v1
    K = v0 * X @ X.T + v1 * eye(n)
    M = concatenate((M0, M1[:, [0]]), axis=1)

    def fun(x):
        beta = x[:3]
        scale = exp(x[3])
        return -st.multivariate_normal(M @ beta, scale * K).logpdf(y)

    res = minimize(fun, [0, 0, 0, 0])
    scanner = lmm.get_fast_scanner()
    r = scanner.fast_scan(M1, verbose=False)

    assert_allclose(r["lml"][0], -res.fun)
    assert_allclose(r["effsizes0"][0], res.x[:2], rtol=1e-4)
    assert_allclose(r["effsizes1"][0], res.x[2:3], rtol=1e-4)
    assert_allclose(r["scale"][0], exp(res.x[3]), rtol=1e-4)
