from numpy import corrcoef, dot, log, ones, sqrt
from numpy.linalg import solve
from numpy.random import default_rng
from numpy.testing import assert_allclose
from numpy_sugar.linalg import economic_qs_linear

from kronlmm.cov import EyeCov, LinearCov, SumCov
from glimix_core.lik import DeltaProdLik
from kronlmm.lmm import LMM, LMMPredict
from kronlmm.mean import OffsetMean
from glimix_core.random import GGPSampler

from .glimix_evidence import lmm_profile_lml, lmm_projected_lml


def test_lmm_predict():
    random = default_rng(9458)
    n = 30

    X = random.normal(size=(n, n + 1))
    X -= X.mean(0)
    X /= X.std(0)
    X /= sqrt(X.shape[1])

    offset = 1.0

    mean = OffsetMean(n)
    mean.offset = offset

    cov_left = LinearCov(X)
    cov_left.scale = 1.5

    cov_right = EyeCov(n)
    cov_right.scale = 1.5

    cov = SumCov([cov_left, cov_right])

    lik = DeltaProdLik()

    y = GGPSampler(lik, mean, cov).sample(random)

    QS = economic_qs_linear(X)

    lmm = LMM(y, ones((n, 1)), QS)

    lmm.fit(verbose=False)

    plmm = LMMPredict(y, lmm.beta, lmm.v0, lmm.v1, lmm.mean(), lmm.covariance())

    K = dot(X, X.T)
    pm = plmm.predictive_mean(ones((n, 1)), K, K.diagonal())
    # DEVIATION (kronlmm): the ML of y has no maximum here, so kronlmm fits the ML of Q0ᵀy.
    #   X is centred, so K = XXᵀ has 1ₙ in its null space, which the intercept absorbs: the
    #   likelihood of y grows like −½·log δ as δ → 0 (no maximum). kronlmm evaluates and
    #   fits the likelihood of Q0ᵀy (lmm.ml_projected; kronlmm.core.projections).
    #   glimix-core: δ = 0.23571226, lml -56.4375274 (a local maximum of the density of y),
    #                corr(y, predictive mean) 0.966467656
    #   kronlmm:     δ = 0.27122838, lml -55.5976970 (density of Q0ᵀy), corr 0.9630681482
    #   Evidence (dense, below): kronlmm's lml() is the density of Q0ᵀy; the profile
    #   density of y is glimix-core's -56.4375274 at its δ and rises by ½·log(10⁴) from
    #   δ = 10⁻⁸ to 10⁻¹² (unbounded); the prediction is the dense BLUP at kronlmm's fit.
    assert lmm.ml_projected
    assert_allclose(lmm.lml(), lmm_projected_lml(lmm, y, ones((n, 1)), QS), rtol=1e-10)
    glimix_delta = 0.23571226126059364
    assert_allclose(lmm_profile_lml(y, ones((n, 1)), K, glimix_delta), -56.4375274, rtol=1e-8)
    rise = lmm_profile_lml(y, ones((n, 1)), K, 1e-12) - lmm_profile_lml(y, ones((n, 1)), K, 1e-8)
    assert_allclose(rise, 0.5 * log(1e4), rtol=1e-3)
    C = lmm.covariance()
    blup = lmm.mean() + lmm.v0 * K @ solve(C, y - lmm.mean())
    assert_allclose(pm, blup, rtol=1e-9, atol=1e-12)
    assert_allclose(corrcoef(y, pm)[0, 1], 0.9630681482, rtol=1e-6)
