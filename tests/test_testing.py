"""Tests of kronlmm.testing: the dense references and the gradient checker.

References: ``scipy.stats.multivariate_normal.logpdf`` (Gaussian density), the REML
definition as the density of error contrasts ``Qᵀy`` (Harville 1974; Q an orthonormal
basis of the orthogonal complement of col(M)), and glimix-core's LMM (peer test).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from kronlmm.core.parameters import Function, Parameter
from kronlmm.cov import EyeCov, FreeFormCov, LinearCov, SumCov
from kronlmm.mean import KronMean
from kronlmm.testing import (
    GradientCheck,
    check_gradient,
    dense_gls,
    dense_kron2sum_cov,
    dense_lml,
    dense_ml_lml,
    dense_reml_lml,
)


def _problem(rng: np.random.Generator, n: int = 12, c: int = 3):
    A = rng.normal(size=(n, n))
    K = A @ A.T / n + 0.5 * np.eye(n)
    M = np.c_[np.ones(n), rng.normal(size=(n, c - 1))]
    y = M @ rng.normal(size=c) + rng.multivariate_normal(np.zeros(n), K)
    return y, M, K


def _complement(M: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the orthogonal complement of col(M), via a full SVD."""
    U, s, _ = np.linalg.svd(M, full_matrices=True)
    rank = int(np.sum(s > s.max() * max(M.shape) * np.finfo(float).eps))
    return U[:, rank:]


# ---- dense references ---------------------------------------------------------------------------
def test_dense_lml_matches_scipy(rng):
    y, M, K = _problem(rng)
    m = rng.normal(size=y.size)
    assert dense_lml(y, m, K) == pytest.approx(
        multivariate_normal(mean=m, cov=K).logpdf(y), rel=1e-12
    )


def test_dense_ml_lml_is_the_density_at_the_gls_estimate(rng):
    y, M, K = _problem(rng)
    Ki = np.linalg.inv(K)
    beta = np.linalg.solve(M.T @ Ki @ M, M.T @ Ki @ y)  # normal equations, dense inverse
    ml = dense_ml_lml(y, M, K)
    assert ml == pytest.approx(multivariate_normal(M @ beta, K).logpdf(y), rel=1e-12)
    for _ in range(5):  # and it is the maximum over β
        other = beta + 0.1 * rng.normal(size=beta.size)
        assert dense_lml(y, M @ other, K) < ml
    b, cov = dense_gls(y, M, K)
    np.testing.assert_allclose(b, beta, rtol=1e-10)
    np.testing.assert_allclose(cov, np.linalg.inv(M.T @ Ki @ M), rtol=1e-10)


@pytest.mark.parametrize("deficient", [False, True], ids=["full-rank", "rank-deficient"])
def test_dense_reml_equals_error_contrast_density(rng, deficient):
    y, M, K = _problem(rng, n=10, c=3)
    if deficient:  # a redundant column: rank stays 3
        M = np.c_[M, M[:, 1] - 2 * M[:, 2]]
    Q = _complement(M)
    assert Q.shape == (10, 7)
    want = multivariate_normal(np.zeros(Q.shape[1]), Q.T @ K @ Q).logpdf(Q.T @ y)
    assert dense_reml_lml(y, M, K) == pytest.approx(want, rel=1e-10)


def test_dense_reml_invariant_to_basis_of_M(rng):
    y, M, K = _problem(rng)
    T = rng.normal(size=(M.shape[1], M.shape[1])) + 3 * np.eye(M.shape[1])
    assert dense_reml_lml(y, M @ T, K) == pytest.approx(dense_reml_lml(y, M, K), rel=1e-10)


def test_dense_reml_constant_terms(rng):
    """Spell the formula out once with dense determinants (full-rank M)."""
    y, M, K = _problem(rng)
    n, c = M.shape
    Ki = np.linalg.inv(K)
    beta = np.linalg.solve(M.T @ Ki @ M, M.T @ Ki @ y)
    r = y - M @ beta
    want = -0.5 * (
        (n - c) * np.log(2 * np.pi)
        - np.linalg.slogdet(M.T @ M)[1]
        + np.linalg.slogdet(K)[1]
        + np.linalg.slogdet(M.T @ Ki @ M)[1]
        + r @ Ki @ r
    )
    assert dense_reml_lml(y, M, K) == pytest.approx(want, rel=1e-12)


def test_dense_kron2sum_cov_blocks(rng):
    n, r, p = 4, 2, 3
    G = rng.normal(size=(n, r))
    C0 = np.cov(rng.normal(size=(p, 5)))
    C1 = np.cov(rng.normal(size=(p, 6)))
    K = dense_kron2sum_cov(C0, G, C1)
    assert K.shape == (n * p, n * p)
    GG = G @ G.T
    for i in range(p):  # block (i, j) of vec(Y)'s covariance is C0[i,j]·GGᵀ + C1[i,j]·I
        for j in range(p):
            block = K[i * n : (i + 1) * n, j * n : (j + 1) * n]
            np.testing.assert_allclose(block, C0[i, j] * GG + C1[i, j] * np.eye(n))


def test_dense_helpers_reject_bad_input(rng):
    y, M, K = _problem(rng, n=5)
    with pytest.raises(ValueError, match="K .*not positive definite"):
        dense_lml(y, y, -K)
    with pytest.raises(ValueError, match=r"m has shape \(4,\), expected \(5,\)"):
        dense_lml(y, y[:4], K)
    with pytest.raises(ValueError, match=r"M has shape \(4, 3\), expected \(5, any\)"):
        dense_ml_lml(y, M[:4], K)
    with pytest.raises(ValueError, match=r"K has shape \(4, 4\), expected \(5, 5\)"):
        dense_reml_lml(y, M, K[:4, :4])
    with pytest.raises(ValueError, match=r"C1 has shape \(2, 2\), expected \(3, 3\)"):
        dense_kron2sum_cov(np.eye(3), np.ones((4, 1)), np.eye(2))


@pytest.mark.peer
@pytest.mark.parametrize("restricted", [False, True])
def test_dense_lml_constants_match_glimix_core(rng, restricted):
    lmm_mod = pytest.importorskip("glimix_core.lmm")
    economic_qs = pytest.importorskip("numpy_sugar.linalg").economic_qs
    n = 15
    G = rng.normal(size=(n, 4))
    K0 = G @ G.T / 4
    X = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    y = rng.normal(size=n)
    lmm = lmm_mod.LMM(y, X, economic_qs(K0), restricted=restricted)
    lmm.delta, lmm.scale = 0.3, 1.7
    lmm.fix("delta")
    lmm.fix("scale")
    K = 1.7 * (0.7 * K0 + 0.3 * np.eye(n))
    ours = (dense_reml_lml if restricted else dense_ml_lml)(y, X, K)
    assert ours == pytest.approx(lmm.value(), rel=1e-10)  # value() profiles β, then lml()


# ---- check_gradient ------------------------------------------------------------------------
class BuggyEyeCov(EyeCov):
    """Gradient off by 10%."""

    def _own_gradient(self):
        return {k: 1.1 * g for k, g in super()._own_gradient().items()}


class BuggyFreeFormCov(FreeFormCov):
    """Drops the derivative of one off-diagonal entry of L (a subtle bug)."""

    def _own_gradient(self):
        grad = super()._own_gradient()
        grad["Llow"] = grad["Llow"].copy()
        grad["Llow"][..., 1] = 0.0
        return grad


class Unused(Function):
    """Value ``a·1`` with a second parameter that the value does not depend on."""

    def __init__(self):
        super().__init__()
        self._a = self._add_parameter("a", Parameter(2.0))
        self._b = self._add_parameter("b", Parameter(np.zeros(2)))

    def value(self):
        return float(self._a.value) ** 2 * np.ones(3)

    def _own_gradient(self):
        return {"a": 2 * float(self._a.value) * np.ones((3, 1)), "b": np.zeros((3, 2))}


def test_check_gradient_passes_on_correct_gradients(rng):
    cov = SumCov([LinearCov(rng.normal(size=(4, 2))), EyeCov(4)])
    cov.set_flat([0.3, -0.2])
    res = check_gradient(cov)
    assert isinstance(res, GradientCheck)
    assert res.passed and res.max_rel_error < 1e-8
    assert res.analytic.shape == res.numeric.shape == (4, 4, 2)
    assert res.labels == ("0.logscale", "1.logscale")
    res.raise_if_failed()


def test_check_gradient_detects_wrong_gradient():
    cov = BuggyEyeCov(3)
    cov.scale = 2.0
    res = check_gradient(cov)
    assert not res.passed
    assert res.max_rel_error == pytest.approx(0.1 / 1.1, rel=1e-4)
    with pytest.raises(AssertionError, match=r"worst at logscale"):
        res.raise_if_failed()


def test_check_gradient_pinpoints_a_single_wrong_entry(rng):
    cov = BuggyFreeFormCov(3)
    cov.L = np.tril(rng.normal(size=(3, 3)), -1) + np.eye(3)
    res = check_gradient(cov)
    assert not res.passed
    assert res.worst == "Llow[1]"
    assert np.sum(res.rel_errors > 1e-5) == 1
    inside = SumCov([EyeCov(3), cov])  # also found inside a composite
    assert check_gradient(inside).worst == "1.Llow[1]"


def test_check_gradient_handles_zero_derivatives_fixed_and_empty():
    f = Unused()
    assert check_gradient(f).passed  # ∂f/∂b ≡ 0 must not fail on round-off
    f.fix("a")
    res = check_gradient(f)
    assert res.labels == ("b[0]", "b[1]") and res.passed
    f.fix()
    res = check_gradient(f)
    assert res.passed and res.max_rel_error == 0.0 and res.worst is None


def test_check_gradient_on_a_mean_and_restores_parameters(rng):
    mean = KronMean(rng.normal(size=(2, 3)), rng.normal(size=(4, 2)))
    mean.B = rng.normal(size=(2, 3))
    x0, v0 = mean.get_flat().copy(), mean.value()
    assert check_gradient(mean, step=1e-4).passed
    np.testing.assert_array_equal(mean.get_flat(), x0)
    np.testing.assert_array_equal(mean.value(), v0)


def test_check_gradient_restores_parameters_on_error():
    class Fails(EyeCov):
        calls = 0

        def value(self):
            Fails.calls += 1
            if Fails.calls > 2:
                raise RuntimeError("boom")
            return super().value()

    cov = Fails(2)
    cov.scale = 3.0
    x0 = cov.get_flat().copy()
    with pytest.raises(RuntimeError, match="boom"):
        check_gradient(cov)
    np.testing.assert_array_equal(cov.get_flat(), x0)


def test_check_gradient_rejects_bad_step_and_bad_gradient_shape():
    with pytest.raises(ValueError, match="step must be"):
        check_gradient(EyeCov(2), step=0.0)

    class WrongShape(EyeCov):
        def _own_gradient(self):
            return {"logscale": np.zeros((2, 2))}

    with pytest.raises(ValueError, match=r"flat_gradient\(\) has shape \(2, 2\)"):
        check_gradient(WrongShape(2))
