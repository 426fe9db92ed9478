from numpy import array, eye
from numpy.linalg import slogdet
from numpy.testing import assert_allclose

from kronlmm.cov import FreeFormCov


# DEVIATION (kronlmm): no hidden ε·I in FreeFormCov.
#   glimix-core's FreeFormCov is C = LLᵀ + εI with ε = 1.49e-5 (numpy_sugar's
#   epsilon.small·1000), so its logdet() is log|LLᵀ + εI|; kronlmm's is C = LLᵀ + diag(f)
#   with the floor f = 0 by default, so logdet() = log|LLᵀ|:
#     L (3×3): glimix-core 1.8486202109176444,     kronlmm 1.8485178030466625
#     L (2×2): glimix-core 0.00012292724603080174, kronlmm 8.9e-16 (|LLᵀ| = 1)
#     L (1×1): glimix-core -1.3862347582514014,    kronlmm -1.3862943611198906 = log 0.25
#   Evidence: slogdet of the dense LLᵀ (kronlmm) and of LLᵀ + εI (glimix-core) below; with
#   floor = ε kronlmm reproduces glimix-core's numbers.
GLIMIX_EPSILON = 1.4901161193847656e-05


def _check_logdet(cov, L, glimix_value):
    assert_allclose(cov.logdet(), slogdet(L @ L.T)[1], atol=1e-12)
    assert_allclose(slogdet(L @ L.T + GLIMIX_EPSILON * eye(L.shape[0]))[1], glimix_value)
    cov.floor = GLIMIX_EPSILON
    assert_allclose(cov.logdet(), glimix_value)
    cov.floor = 0.0


def test_freeformcov():

    cov = FreeFormCov(3)
    L = array([[1.5, 0, 0], [2.5, 0.8, 0], [-0.3, 0.4, 2.1]], float)
    cov.L = L
    assert_allclose(cov.value(), L @ L.T, rtol=1e-4)
    assert_allclose(cov._check_grad(), 0, atol=1e-5)
    _check_logdet(cov, L, 1.8486202109176444)  # DEVIATION: see above

    cov = FreeFormCov(2)
    L = array([[1, 0], [2.5, 1]], float)
    cov.L = L
    assert_allclose(cov.value(), L @ L.T, rtol=1e-4)
    assert_allclose(cov._check_grad(), 0, atol=1e-5)
    _check_logdet(cov, L, 0.00012292724603080174)  # DEVIATION: see above

    cov = FreeFormCov(1)
    L = array([[0.5]], float)
    cov.L = L
    assert_allclose(cov.value(), L @ L.T, rtol=1e-4)
    assert_allclose(cov._check_grad(), 0, atol=1e-5)
    _check_logdet(cov, L, -1.3862347582514014)  # DEVIATION: see above
