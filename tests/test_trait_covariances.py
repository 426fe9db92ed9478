"""Every trait covariance model through Kron2Sum: the likelihood equals the dense Gaussian
density at random parameters (ML and REML), the gradient matches finite differences, and
structured models recover simulated truth.

References: ``kronlmm.testing.dense_ml_lml`` / ``dense_reml_lml`` on the full n·p × n·p
covariance ``C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ`` built with ``numpy.kron``; central differences of the
model's own lml; the simulation's true C₀, C₁.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

from kronlmm.cov import (
    DiagonalCov,
    FactorAnalyticCov,
    FixedCov,
    FreeFormCov,
    LRFreeFormCov,
    SumCov,
)
from kronlmm.lmm import Kron2Sum
from kronlmm.testing import dense_ml_lml, dense_reml_lml, simulate_kron2sum

P = 3


def _spd(rng, p):
    M = rng.normal(size=(p, p))
    return M @ M.T / p + 0.5 * np.eye(p)


C0_MODELS = {
    "lowrank1": lambda rng: LRFreeFormCov(P, 1),
    "lowrank-p": lambda rng: LRFreeFormCov(P, P),
    "freeform": lambda rng: FreeFormCov(P),
    "diagonal": lambda rng: DiagonalCov(P),
    "factor1": lambda rng: FactorAnalyticCov(P, 1),
    "fixed": lambda rng: FixedCov(0.3 * _spd(rng, P)),
    "lowrank+diag": lambda rng: SumCov([LRFreeFormCov(P, 1), DiagonalCov(P)]),
}
C1_MODELS = {
    "freeform": lambda rng: FreeFormCov(P),
    "diagonal": lambda rng: DiagonalCov(P),
    "factor1": lambda rng: FactorAnalyticCov(P, 1),
    "fixed": lambda rng: FixedCov(_spd(rng, P)),
    "lowrank+diag": lambda rng: SumCov([LRFreeFormCov(P, 1), DiagonalCov(P)]),
}
PAIRS = [(a, b) for a in C0_MODELS for b in C1_MODELS if not (a == "fixed" and b == "fixed")]


def _data(seed, n=12, r=5):
    rng = np.random.default_rng(seed)
    Y = rng.normal(size=(n, P)) * np.array([1.0, 3.0, 0.3])
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    G = rng.normal(size=(n, r))
    return rng, Y, X, G


def _dense(model, Y, X, G, A=None):
    A = np.eye(P) if A is None else A
    K = np.kron(model.C0, G @ G.T) + np.kron(model.C1, np.eye(Y.shape[0]))
    f = dense_reml_lml if model.restricted else dense_ml_lml
    return f(Y.ravel(order="F"), np.kron(A, X), K)


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("c0,c1", PAIRS, ids=[f"{a}|{b}" for a, b in PAIRS])
def test_lml_and_gradient_match_dense_at_random_parameters(c0, c1, restricted):
    rng, Y, X, G = _data(zlib.crc32(f"{c0}|{c1}".encode()))
    model = Kron2Sum(
        Y, None, X, G, C0=C0_MODELS[c0](rng), C1=C1_MODELS[c1](rng), restricted=restricted
    )
    # random parameters around the start, perturbed in units of the trait standard
    # deviations (the traits here differ in scale by 10×)
    sc = model.projections.scaling
    d = sc.trait_sd
    s0, h0 = model.cov.C0.unit_scaling(d / sc.genetic)
    s1, h1 = model.cov.C1.unit_scaling(d)
    scale, shift = np.concatenate([s0, s1]), np.concatenate([h0, h1])
    z0 = (model.cov.get_flat() - shift) / scale
    for trial in range(2):
        x = shift + scale * (z0 + 0.3 * rng.normal(size=z0.size))
        model.cov.set_flat(x)
        assert model.lml() == pytest.approx(_dense(model, Y, X, G), rel=1e-10, abs=1e-10)
        # gradient (dict keyed by parameter) against central differences of lml
        grad = model.gradient()
        g = np.concatenate([grad[k] for k in model.cov.free_parameters()]) if grad else np.empty(0)
        num = np.empty_like(g)
        for i in range(x.size):
            h = 1e-6 * max(1.0, abs(x[i]))
            xp, xm = x.copy(), x.copy()
            xp[i] += h
            xm[i] -= h
            model.cov.set_flat(xp)
            fp = model.lml()
            model.cov.set_flat(xm)
            fm = model.lml()
            num[i] = (fp - fm) / (2 * h)
        model.cov.set_flat(x)
        big = max(1.0, float(np.max(np.abs(num))) if num.size else 1.0)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-6 * big, err_msg=f"trial {trial}")


@pytest.mark.parametrize("c0,c1", PAIRS, ids=[f"{a}|{b}" for a, b in PAIRS])
def test_flat_trait_gradient_is_the_named_one_in_flat_order(c0, c1):
    """The optimiser's flat chain rule equals the named trait gradient, concatenated in
    the order of get_flat, also after a parameter of a child is fixed (which changes the
    flat layout the parent caches)."""
    rng, Y, X, G = _data(zlib.crc32(f"flat|{c0}|{c1}".encode()))
    model = Kron2Sum(Y, None, X, G, C0=C0_MODELS[c0](rng), C1=C1_MODELS[c1](rng))
    cov = model.cov
    for fix_one in (False, True):
        if fix_one:
            child = cov.C1 if cov.C1.nparams else cov.C0
            name = next(iter(child.free_parameters()))
            before = cov.nparams
            child.fix(name)
            assert cov.nparams == before - child.parameters()[name].size
        M0, M1 = rng.normal(size=(P, P)), rng.normal(size=(P, P))
        named = cov.trait_gradient(M0, M1)
        expected = [np.ravel(named[k]) for k in cov.free_parameters()]
        flat = cov.flat_trait_gradient(M0, M1)
        assert flat.shape == (cov.nparams,) == cov.get_flat().shape
        np.testing.assert_array_equal(flat, np.concatenate(expected) if expected else [])


@pytest.mark.parametrize("c0,c1", [("factor1", "diagonal"), ("lowrank+diag", "freeform")])
def test_fit_with_structured_covariances_is_stationary(c0, c1):
    rng, Y, X, G = _data(7, n=40, r=30)
    model = Kron2Sum(Y, None, X, G, C0=C0_MODELS[c0](rng), C1=C1_MODELS[c1](rng))
    res = model.fit(verbose=False)
    assert res.success, str(res)
    assert res.lml == pytest.approx(_dense(model, Y, X, G), rel=1e-10)


def test_c1_must_be_positive_definite():
    rng, Y, X, G = _data(0)
    with pytest.raises(ValueError, match="C1 must be positive definite"):
        Kron2Sum(Y, None, X, G, C1=LRFreeFormCov(P, 1))
    with pytest.raises(ValueError, match="C0 is 2 × 2, expected 3 × 3"):
        Kron2Sum(Y, None, X, G, C0=DiagonalCov(2))
    with pytest.raises(TypeError, match="trait covariance object"):
        Kron2Sum(Y, None, X, G, C0=np.eye(P))  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["factor", "diagonal"])
def test_structured_fits_recover_truth_at_p20(kind):
    """p = 20 traits: C₀ factor-analytic (2 factors) or diagonal, C₁ diagonal; n = 800."""
    p, n = 20, 800
    rng = np.random.default_rng(20)
    if kind == "factor":
        L = rng.normal(size=(p, 2))
        C0 = 0.5 * (L @ L.T / 2 + np.diag(rng.uniform(0.1, 0.3, p)))
        model_C0 = FactorAnalyticCov(p, 2)
    else:
        C0 = np.diag(rng.uniform(0.2, 0.8, p))
        model_C0 = DiagonalCov(p)
    C1 = np.diag(rng.uniform(0.3, 1.0, p))
    data = simulate_kron2sum(n, p, r=n, C0=C0, C1=C1, seed=21)
    model = Kron2Sum(data.Y, None, data.X, data.G, C0=model_C0, C1=DiagonalCov(p), restricted=True)
    res = model.fit(verbose=False)
    assert res.success, str(res)
    err0 = np.linalg.norm(model.C0 - C0) / np.linalg.norm(C0)
    err1 = np.linalg.norm(model.C1 - C1) / np.linalg.norm(C1)
    assert err0 < 0.3 and err1 < 0.15, (err0, err1)
    # the estimate's likelihood is at least the truth's (it is the maximum)
    lml = model.lml()
    model.cov.C0.set_value(C0)
    model.cov.C1.set_value(C1)
    assert lml >= model.lml()


@pytest.mark.slow
def test_factor_analytic_p100_lml_matches_dense():
    """p = 100 traits with factor-analytic C₀ and C₁ (the many-trait case): at the fitted
    parameters of a small sample the likelihood equals the dense density."""
    p, n = 100, 12
    data = simulate_kron2sum(n, p, r=n + 4, seed=5)  # GGᵀ of rank n − 1: no ⊥ residual left
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # more parameters than observations
        model = Kron2Sum(
            data.Y, None, data.X, data.G,
            C0=FactorAnalyticCov(p, 2), C1=FactorAnalyticCov(p, 1), restricted=True,
        )  # fmt: skip
        model.fit(verbose=False, maxiter=50)
    K = np.kron(model.C0, data.G @ data.G.T) + np.kron(model.C1, np.eye(n))
    ref = dense_reml_lml(data.Y.ravel(order="F"), np.kron(np.eye(p), data.X), K)
    assert model.lml() == pytest.approx(ref, rel=1e-9)
