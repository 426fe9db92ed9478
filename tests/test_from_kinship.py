"""Models built from a kinship matrix K itself (``from_kinship``) against models given the
eigendecomposition of K by hand; the warning when a kinship is passed where a factor G
(K = GGᵀ) is expected."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kronlmm.core import EconomicSVD
from kronlmm.lmm import LMM, Kron2Sum


def _kinship(rng: np.random.Generator, n: int, r: int) -> np.ndarray:
    """A rank-r PSD kinship with unit mean diagonal (as a GRM has)."""
    G = rng.standard_normal((n, r))
    K = G @ G.T
    return K / np.mean(np.diag(K))


def _eig(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w, V = np.linalg.eigh(K)
    keep = w > 1e-10 * w[-1]
    return V[:, keep], w[keep]


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_lmm_from_kinship_equals_eigendecomposition(rng, restricted):
    n, r = 60, 25  # K of rank 25 < n: the null space is dropped by both
    K = _kinship(rng, n, r)
    X = np.c_[np.ones(n), rng.standard_normal(n)]
    y = rng.standard_normal(n) + X @ [1.0, 0.5]
    Q0, S0 = _eig(K)
    Q1 = np.linalg.svd(np.eye(n) - Q0 @ Q0.T)[0][:, : n - Q0.shape[1]]
    by_hand = LMM(y, X, ((Q0, Q1), S0), restricted=restricted)
    from_K = LMM.from_kinship(y, X, K, restricted=restricted)
    for delta in (0.0, 0.1, 0.5, 0.9, 1.0):
        by_hand.delta = from_K.delta = delta
        assert from_K.lml() == pytest.approx(by_hand.lml(), rel=1e-10, abs=1e-10)
    by_hand.fit(verbose=False)
    from_K.fit(verbose=False)
    assert from_K.delta == pytest.approx(by_hand.delta, abs=1e-7)
    np.testing.assert_allclose(from_K.beta, by_hand.beta, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(from_K.covariance(), by_hand.covariance(), rtol=1e-7, atol=1e-9)


def test_lmm_from_kinship_refuses_bad_kinships(rng):
    n = 20
    y, X = rng.standard_normal(n), np.ones((n, 1))
    K = _kinship(rng, n, 5)
    with pytest.raises(ValueError, match="symmetric"):
        LMM.from_kinship(y, X, K + np.triu(np.ones((n, n)), 1))
    with pytest.raises(ValueError, match="positive semi-definite"):
        LMM.from_kinship(y, X, K - 2 * np.eye(n))
    with pytest.raises(ValueError, match=r"K has shape \(19, 19\), expected \(20, 20\)"):
        LMM.from_kinship(y, X, K[:-1, :-1])


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_kron2sum_from_kinship_equals_eigendecomposition(rng, restricted):
    n, p, r = 50, 3, 20
    K = _kinship(rng, n, r)
    X = np.c_[np.ones(n), rng.standard_normal(n)]
    Y = rng.standard_normal((n, p))
    by_hand = Kron2Sum(Y, np.eye(p), X, EconomicSVD(*_eig(K)), rank=p, restricted=restricted)
    from_K = Kron2Sum.from_kinship(Y, np.eye(p), X, K, rank=p, restricted=restricted)
    L0 = rng.standard_normal((p, p))
    L1 = rng.standard_normal((p, p))
    for model in (by_hand, from_K):
        model.set_start(0.3 * L0 @ L0.T, L1 @ L1.T + np.eye(p))
    assert from_K.lml() == pytest.approx(by_hand.lml(), rel=1e-10)
    for key, grad in by_hand.gradient().items():
        np.testing.assert_allclose(from_K.gradient()[key], grad, rtol=1e-8, atol=1e-8)
    by_hand.fit(verbose=False)
    from_K.fit(verbose=False)
    assert from_K.lml() == pytest.approx(by_hand.lml(), rel=1e-8)
    np.testing.assert_allclose(from_K.C0, by_hand.C0, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(from_K.B, by_hand.B, rtol=1e-6, atol=1e-8)


def test_kinship_passed_as_factor_warns_and_points_to_from_kinship(rng):
    n, p = 30, 2
    K = _kinship(rng, n, 10)
    Y = rng.standard_normal((n, p))
    with pytest.warns(UserWarning, match=r"symmetric n × n matrix.*from_kinship"):
        squared = Kron2Sum(Y, None, None, K)
    # what the warning says: K as G is a model of K², not of K (same C₀, C₁ → same lml)
    of_square = Kron2Sum.from_kinship(Y, None, None, K @ K)
    C0, C1 = np.array([[0.7, 0.2], [0.2, 0.4]]), np.array([[1.1, -0.3], [-0.3, 0.9]])
    for model in (squared, of_square):
        model.cov.C0.set_value(C0)
        model.cov.C1.set_value(C1)
    assert squared.lml() == pytest.approx(of_square.lml(), rel=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither the right call nor a non-symmetric factor
        Kron2Sum.from_kinship(Y, None, None, K)
        Kron2Sum(Y, None, None, rng.standard_normal((n, n)))
        Kron2Sum(Y, None, None, rng.standard_normal((n, 10)))
