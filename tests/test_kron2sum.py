"""Tests of the multi-trait model kronlmm.lmm.Kron2Sum.

Model (Y: n × p, column-major vec)::

    vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

Where the reference values come from:

- "dense": the n·p × n·p covariance built with ``numpy.kron`` from the model definition
  and evaluated by the O(N³) helpers of :mod:`kronlmm.testing` (``dense_ml_lml``,
  ``dense_reml_lml``, ``dense_gls``), and, independently of kronlmm, by
  ``scipy.stats.multivariate_normal.logpdf`` (ML: at the GLS β computed here with
  ``numpy.linalg``; REML: the density of the error contrasts ``Qᵀy``, Q an orthonormal
  basis of the orthogonal complement of span(A ⊗ X) from ``scipy.linalg.null_space``,
  which equals the GEMMA/glimix-core REML with its ``+½ log|MᵀM|`` term);
- "finite differences": central differences of ``lml`` in the flat parameter space
  (``model.cov.get_flat``/``set_flat``);
- "brute force": ``scipy.optimize.minimize`` (L-BFGS-B, numeric gradient) of the dense
  lml over a parameterisation of (C₀, C₁) that kronlmm does not use (C₀ = L Lᵀ with L
  p × rank lower-trapezoidal, C₁ = expm(S) + f·I with S symmetric and f the model's C₁
  floor), from 10 random starts;
- "simulation truth": the C₀, C₁, B used to simulate the data;
- "algebra": exact identities of the model (scaling of G or Y, reparameterisation of X);
- "glimix-core": glimix-core 3.1.14's Kron2Sum (peer tests, rank 1 only, where its
  gradient is right).
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings

import numpy as np
import peers
import pytest
import scipy.linalg as sla
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

try:  # the brute-force search makes many tiny BLAS calls: one thread avoids oversubscription
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from kronlmm.lmm import FitWarning, Kron2Sum
from kronlmm.testing import (
    dense_gls,
    dense_kron2sum_cov,
    dense_ml_lml,
    dense_reml_lml,
)

RTOL_LML = 1e-9


# ----------------------------------------------------------------------------- helpers
def _random_C(rng, p, rank, scale=1.0):
    """A random PSD C₀ of rank ≤ ``rank`` and a random positive definite C₁."""
    L0 = rng.standard_normal((p, rank)) * scale
    B1 = rng.standard_normal((p, p)) * scale
    return L0 @ L0.T, B1 @ B1.T / p + 0.5 * scale**2 * np.eye(p)


def _dense_K(C0, G, C1):
    """K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ written out with numpy.kron (no kronlmm code)."""
    n = G.shape[0]
    return np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))


def _yM(model):
    """``vec(Y)`` (column-major) and ``M = A ⊗ X`` from the model's inputs."""
    return model.Y.ravel(order="F"), np.kron(model.A, model.X)


def _scipy_ml(y, M, K):
    """ML lml: scipy's Gaussian log-density at the GLS β (numpy, pseudo-inverse)."""
    Ki = np.linalg.inv(K)
    H = M.T @ Ki @ M
    beta = np.linalg.pinv(H, rcond=1e-10, hermitian=True) @ (M.T @ Ki @ y)
    return float(multivariate_normal.logpdf(y, M @ beta, K))


def _scipy_reml(y, M, K):
    """REML lml: scipy's log-density of the error contrasts Qᵀy ~ N(0, QᵀKQ)."""
    Q = sla.null_space(M.T)
    return float(multivariate_normal.logpdf(Q.T @ y, np.zeros(Q.shape[1]), Q.T @ K @ Q))


def _dense_lml(model, C0=None, C1=None):
    """Dense (kronlmm.testing) ML or REML lml of the model's data at (C₀, C₁)."""
    C0 = model.C0 if C0 is None else C0
    C1 = model.C1 if C1 is None else C1
    y, M = _yM(model)
    K = dense_kron2sum_cov(C0, model.cov.G, C1)
    return (dense_reml_lml if model.restricted else dense_ml_lml)(y, M, K)


def _flat_gradient(model):
    """``model.gradient()`` concatenated in ``model.cov.get_flat()`` order."""
    grad = model.gradient()
    free = model.cov.free_parameters()
    assert set(grad) == set(free)
    return np.concatenate([grad[k] for k in free]) if free else np.empty(0)


def _fd_gradient(model, step=1e-5):
    """Central finite differences of ``lml`` in the flat parameter space."""
    x0 = model.cov.get_flat()
    out = np.empty_like(x0)
    try:
        for k in range(x0.size):
            h = step * max(1.0, abs(x0[k]))
            x = x0.copy()
            x[k] += h
            model.cov.set_flat(x)
            fp = model.lml()
            x[k] -= 2 * h
            model.cov.set_flat(x)
            fm = model.lml()
            out[k] = (fp - fm) / (2 * h)
    finally:
        model.cov.set_flat(x0)
    return out


def _simulate(rng, n, p, c, r, rank, C0_scale=1.0, C1_scale=1.0):
    """Y from the model with G = N(0, 1/r) entries (so diag(GGᵀ) ≈ 1); returns truth."""
    G = rng.standard_normal((n, r)) / math.sqrt(r)
    X = np.c_[np.ones(n), rng.standard_normal((n, c - 1))]
    L0 = rng.standard_normal((p, rank)) * math.sqrt(C0_scale)
    C0 = L0 @ L0.T
    B1 = rng.standard_normal((p, p))
    C1 = C1_scale * (B1 @ B1.T / p + 0.5 * np.eye(p))
    B = rng.standard_normal((c, p))
    U = G @ rng.standard_normal((r, rank)) @ L0.T  # vec(U) ~ N(0, C₀ ⊗ GGᵀ)
    E = rng.standard_normal((n, p)) @ np.linalg.cholesky(C1).T  # vec(E) ~ N(0, C₁ ⊗ I)
    Y = X @ B + U + E
    return Y, X, G, C0, C1, B


# ---------------------------------------------------------------- 1. lml vs dense density
def _case(name, n, p, c, r, rank, A="eye", X="full", G="normal"):
    return pytest.param(dict(n=n, p=p, c=c, r=r, rank=rank, A=A, X=X, G=G), id=name)


CASES = [
    _case("A=I,r<n,rank1", 20, 3, 2, 5, 1),
    _case("A=I,r<n,rank=p", 20, 3, 2, 5, 3),
    _case("A=1p(shared),a<p", 18, 3, 2, 6, 2, A="ones"),
    _case("A_3x2,a<p", 18, 3, 2, 6, 2, A="3x2"),
    _case("A_2x3,a>p,rank-deficient", 16, 2, 2, 5, 2, A="2x3"),
    _case("A_3x2,rank-deficient", 16, 3, 2, 5, 1, A="dup"),
    _case("r>n", 12, 2, 1, 30, 1),
    _case("r>n,rank=p", 12, 3, 2, 30, 3),
    _case("r=n", 15, 2, 2, 15, 2),
    _case("rank(G)<r<n", 16, 2, 2, 6, 1, G="lowrank"),
    _case("rank-deficient X", 16, 3, 3, 5, 2, X="deficient"),
    _case("single trait", 25, 1, 2, 7, 1),
    _case("G all zero", 15, 2, 2, 4, 1, G="zero"),
    _case("r=0", 15, 3, 2, 0, 2, G="empty"),
]


def _build(rng, spec, restricted):
    n, p, c, r = spec["n"], spec["p"], spec["c"], spec["r"]
    A = {
        "eye": lambda: np.eye(p),
        "ones": lambda: np.ones((p, 1)),
        "3x2": lambda: rng.standard_normal((p, 2)),
        "2x3": lambda: rng.standard_normal((p, 3)),
        "dup": lambda: np.repeat(rng.standard_normal((p, 1)), 2, axis=1),
    }[spec["A"]]()
    X = np.c_[np.ones(n), rng.standard_normal((n, c - 1))]
    if spec["X"] == "deficient":  # third column = 2·(second) + first: rank 2
        X[:, 2] = 2 * X[:, 1] + X[:, 0]
    G = {
        "normal": lambda: rng.standard_normal((n, r)),
        "lowrank": lambda: rng.standard_normal((n, 3)) @ rng.standard_normal((3, r)),
        "zero": lambda: np.zeros((n, r)),
        "empty": lambda: np.zeros((n, 0)),
    }[spec["G"]]()
    Y = rng.standard_normal((n, p)) + X @ rng.standard_normal((c, p))
    if spec["X"] == "deficient":  # glimix-core's warning, kept (B is the minimum-norm one)
        with pytest.warns(UserWarning, match=r"X is not full column rank: rank\(X\) = 2 < c = 3"):
            model = Kron2Sum(Y, A, X, G, rank=spec["rank"], restricted=restricted)
    else:
        model = Kron2Sum(Y, A, X, G, rank=spec["rank"], restricted=restricted)
    return model, Y, A, X, G


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("spec", CASES)
def test_lml_matches_dense_density(rng, spec, restricted):
    model, Y, A, X, G = _build(rng, spec, restricted)
    no_genetic = spec["G"] in ("zero", "empty")
    for _ in range(2):  # two random parameter values per case
        C0, C1 = _random_C(rng, spec["p"], spec["rank"], scale=1.5)
        model.set_start(None if no_genetic else C0, C1)
        if no_genetic:
            C0 = np.zeros_like(C0)
        # set_start stores exactly what was given (C₀ has rank ≤ rank)
        np.testing.assert_allclose(model.C0, C0, rtol=0, atol=1e-12 * max(1.0, np.abs(C0).max()))
        np.testing.assert_allclose(model.C1, C1, rtol=1e-12, atol=1e-12)
        y = Y.ravel(order="F")
        M = np.kron(A, X)
        K = _dense_K(C0, G, C1)
        lml = model.lml()
        if restricted:
            refs = [dense_reml_lml(y, M, K), _scipy_reml(y, M, K)]
        else:
            refs = [dense_ml_lml(y, M, K), _scipy_ml(y, M, K)]
        for ref in refs:
            assert lml == pytest.approx(ref, rel=RTOL_LML)


def test_lml_matches_dense_with_L_parameters(rng):
    """Parameters set through ``cov.C0.L`` / ``cov.C1.L`` (C₁ = L₁L₁ᵀ + diag(floor), one
    floor value per trait)."""
    n, p, r = 14, 3, 5
    Y = rng.standard_normal((n, p))
    X = np.c_[np.ones(n), rng.standard_normal(n)]
    G = rng.standard_normal((n, r))
    for restricted in (False, True):
        model = Kron2Sum(Y, np.eye(p), X, G, rank=2, restricted=restricted)
        L0 = rng.standard_normal((p, 2))
        L1 = np.tril(rng.standard_normal((p, p)))
        L1[np.diag_indices(p)] = np.abs(L1[np.diag_indices(p)]) + 0.5
        model.cov.C0.L = L0
        model.cov.C1.L = L1
        floor = model.cov.C1.floor
        assert np.shape(floor) == (p,) and np.all(floor > 0)
        K = _dense_K(L0 @ L0.T, G, L1 @ L1.T + np.diag(floor))
        y, M = Y.ravel(order="F"), np.kron(np.eye(p), X)
        ref = (_scipy_reml if restricted else _scipy_ml)(y, M, K)
        assert model.lml() == pytest.approx(ref, rel=RTOL_LML)
        np.testing.assert_allclose(model.covariance(), K, rtol=1e-12, atol=1e-12)


def test_no_genetic_term_fixes_C0(rng):
    """All-zero G or r = 0: C₀ is 0, fixed, absent from the gradient, and the fit works."""
    n, p = 20, 2
    Y = rng.standard_normal((n, p))
    for G in (np.zeros((n, 3)), np.zeros((n, 0))):
        model = Kron2Sum(Y, None, None, G, rank=1)
        assert np.all(model.C0 == 0)
        assert set(model.gradient()) == {"C1.Llow", "C1.Llogd"}
        res = model.fit(verbose=False)
        assert res.success
        # closed form (algebra): with K = C₁ ⊗ I and an intercept, the ML C₁ is the
        # sample covariance of the centred Y with divisor n
        R = Y - Y.mean(axis=0)
        np.testing.assert_allclose(model.C1, R.T @ R / n, rtol=1e-5)
        assert np.all(model.C0 == 0)


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("offset", [1e3, 1e6])
def test_lml_accurate_for_traits_with_large_mean(rng, offset, restricted):
    """Adding a constant to every trait (X has an intercept) leaves K and the GLS residual
    unchanged (algebra); the dense density keeps ~1e-11 relative accuracy here, so the
    model must keep RTOL_LML too (trait sd ≈ 1, mean = offset)."""
    n, p = 40, 2
    G = rng.standard_normal((n, 8))
    X = np.c_[np.ones(n), rng.standard_normal(n)]
    Y0 = rng.standard_normal((n, p))
    C0, C1 = _random_C(rng, p, 1)
    m0 = Kron2Sum(Y0, np.eye(p), X, G, rank=1, restricted=restricted)
    m = Kron2Sum(Y0 + offset, np.eye(p), X, G, rank=1, restricted=restricted)
    m0.set_start(C0, C1)
    m.set_start(C0, C1)
    y, M = _yM(m)
    K = _dense_K(C0, G, C1)
    ref = (dense_reml_lml if restricted else dense_ml_lml)(y, M, K)
    assert ref == pytest.approx(m0.lml(), rel=RTOL_LML)  # the dense reference is accurate
    assert m.lml() == pytest.approx(ref, rel=RTOL_LML)
    np.testing.assert_allclose(m.B - m0.B, [[offset] * p, [0.0] * p], rtol=1e-9, atol=1e-6)


def test_trait_with_large_mean_is_not_constant(rng):
    """A trait with mean 1e7 and sd 1 has variance left after the intercept (its values
    are resolved to ~1e-9 in double precision): it must not be rejected as constant."""
    n, p = 40, 2
    Y = rng.standard_normal((n, p)) + np.array([0.0, 1e7])
    model = Kron2Sum(Y, np.eye(p), None, rng.standard_normal((n, 8)), rank=1)
    assert model.ntraits == p


def test_set_start_on_model_without_genetic_term(rng):
    """No genetic term (C₀ documented as "0 and fixed"): set_start(C0=…) must not make the
    reported C₀ non-zero (it may instead raise a ValueError naming C0)."""
    n, p = 20, 2
    Y = rng.standard_normal((n, p))
    model = Kron2Sum(Y, None, None, np.zeros((n, 0)), rank=1)
    try:
        model.set_start(np.eye(p), 2 * np.eye(p))
    except ValueError as err:
        assert "C0" in str(err)
    else:
        np.testing.assert_array_equal(model.C0, np.zeros((p, p)))
        model.fit(verbose=False, start="current")
        np.testing.assert_array_equal(model.C0, np.zeros((p, p)))


# ---------------------------------------------------------------- 2. gradient vs FD
GRAD_CASES = [
    _case("p3,rank1", 16, 3, 2, 5, 1),
    _case("p3,rank2", 16, 3, 2, 5, 2),
    _case("p3,rank3", 16, 3, 2, 5, 3),
    _case("p2,rank2,r>n", 10, 2, 2, 25, 2),
    _case("A_3x2,rank3", 14, 3, 2, 6, 3, A="3x2"),
    _case("A_2x3,rank-deficient", 14, 2, 2, 6, 1, A="2x3"),
    _case("rank-deficient X", 14, 3, 3, 6, 2, X="deficient"),
    _case("G all zero", 12, 3, 2, 4, 2, G="zero"),
    _case("single trait", 20, 1, 2, 6, 1),
]


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("spec", GRAD_CASES)
def test_gradient_matches_finite_differences(rng, spec, restricted):
    model, *_ = _build(rng, spec, restricted)
    expected = {"C1.Llow", "C1.Llogd"} | ({"C0.Lu"} if spec["G"] == "normal" else set())
    assert set(model.gradient()) == expected
    for _ in range(2):
        C0, C1 = _random_C(rng, spec["p"], spec["rank"])
        model.set_start(C0 if spec["G"] == "normal" else None, C1)
        analytic = _flat_gradient(model)
        numeric = _fd_gradient(model)
        scale = max(1.0, float(np.max(np.abs(numeric))))
        np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-6 * scale)


# ---------------------------------------------------------------- 3. optimum
def _dense_objective(model):
    """−lml from the dense K (Cholesky + QR of the whitened design; no kronlmm code).

    Same value as ``dense_ml_lml``/``dense_reml_lml`` for a full-column-rank ``A ⊗ X``,
    with less overhead per call, for the brute-force search.
    """
    y, M = _yM(model)
    N, m = M.shape
    GG = model.cov.G @ model.cov.G.T
    eye = np.eye(model.nsamples)
    logdet_MtM = np.linalg.slogdet(M.T @ M)[1]
    log2pi = math.log(2 * math.pi)

    def objective(C0, C1):
        K = np.kron(C0, GG) + np.kron(C1, eye)
        try:
            L = np.linalg.cholesky(K)
        except np.linalg.LinAlgError:  # exp(S) overflowed: a finite penalty
            return 1e300
        Mw = sla.solve_triangular(L, M, lower=True)
        yw = sla.solve_triangular(L, y, lower=True)
        Q, R = np.linalg.qr(Mw)
        rw = yw - Q @ (Q.T @ yw)
        logdet_K = 2 * np.sum(np.log(np.diag(L)))
        if model.restricted:
            logdet_H = 2 * np.sum(np.log(np.abs(np.diag(R))))
            val = (N - m) * log2pi - logdet_MtM + logdet_K + logdet_H + rw @ rw
        else:
            val = N * log2pi + logdet_K + rw @ rw
        return 0.5 * val

    return objective


def _brute_force_optimum(model, rng, nstarts=10):
    """Best dense lml over ``nstarts`` random starts of L-BFGS-B (numeric gradient) in a
    parameterisation kronlmm does not use: C₀ = LLᵀ with L p × rank lower-trapezoidal,
    C₁ = exp(S) + f·I (matrix exponential of a symmetric S, plus the model's documented
    floor f = ``cov.C1.floor``: the model's C₁ cannot go below it, and where the ML
    optimum has a singular C₁, e.g. r > n, an unfloored search gains ~1e-6 in lml).
    Returns (best lml, its C₀, C₁)."""
    floor = model.cov.C1.floor
    p, rank = model.ntraits, model.rank
    il = np.tril_indices(p, 0, rank)
    iu = np.triu_indices(p)
    objective = _dense_objective(model)
    tvar = float(np.var(model.Y, axis=0).mean())

    def unpack(theta):
        L = np.zeros((p, rank))
        L[il] = theta[: il[0].size]
        S = np.zeros((p, p))
        S[iu] = theta[il[0].size :]
        w, V = np.linalg.eigh(S + np.triu(S, 1).T)
        return L @ L.T, (V * np.exp(w)) @ V.T + np.diag(floor)

    best = (-np.inf, None, None)
    limit = threadpool_limits(1) if threadpool_limits else contextlib.nullcontext()
    with limit:
        for _ in range(nstarts):
            L = rng.standard_normal((p, rank)) * math.sqrt(tvar / 2)
            S = np.diag(np.log(tvar * rng.uniform(0.2, 1.0, p)))
            S[iu[0][iu[0] != iu[1]], iu[1][iu[0] != iu[1]]] = 0.1 * rng.standard_normal(
                p * (p - 1) // 2
            )
            theta0 = np.r_[L[il], S[iu]]
            res = minimize(lambda t: objective(*unpack(t)), theta0, method="L-BFGS-B")
            if -res.fun > best[0]:
                best = (-float(res.fun), *unpack(res.x))
    return best


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("p,rank", [(2, 1), (2, 2), (3, 1), (3, 3)])
def test_fit_reaches_stationary_point_and_global_optimum(rng, p, rank, restricted):
    n, c, r = 30, 2, 10
    Y, X, G, *_ = _simulate(rng, n, p, c, r, rank=max(1, rank - 1), C0_scale=2.0)
    model = Kron2Sum(Y, np.eye(p), X, G, rank=rank, restricted=restricted)
    g_start = np.linalg.norm(_flat_gradient(model))  # at the moment start
    res = model.fit(verbose=False)
    assert res.success, str(res)
    assert res.lml == model.lml()
    g_end = np.linalg.norm(_flat_gradient(model))
    # grad_norm is the gradient of −lml/(n·p) over the parameters in units of the trait
    # standard deviations (θ = shift + scale·z); no bound is active here
    sc = model.projections.scaling
    scale = np.concatenate(
        [
            model.cov.C0.unit_scaling(sc.trait_sd / sc.genetic)[0],
            model.cov.C1.unit_scaling(sc.trait_sd)[0],
        ]
    )
    g_scaled = _flat_gradient(model) * scale / (n * p)
    assert res.grad_norm == pytest.approx(np.linalg.norm(g_scaled), rel=1e-6, abs=1e-14)
    assert g_end <= 1e-4 * g_start
    assert res.grad_norm <= res.grad_tol
    best, C0_best, C1_best = _brute_force_optimum(model, rng)
    assert best == pytest.approx(_dense_lml(model, C0_best, C1_best), rel=RTOL_LML)
    assert model.lml() >= best - 1e-6
    # the fitted lml is itself the dense density at the fitted C₀, C₁
    assert model.lml() == pytest.approx(_dense_lml(model), rel=RTOL_LML)


# ---------------------------------------------------------------- 4. recovery
@pytest.mark.slow
@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_recovers_simulated_truth(restricted):
    rng = np.random.default_rng(7)
    n, p, r = 2000, 3, 200
    G = rng.standard_normal((n, r)) / math.sqrt(r)  # diag(GGᵀ) ≈ 1
    X = np.c_[np.ones(n), rng.standard_normal(n)]
    C0 = np.array([[1.0, 0.5, 0.2], [0.5, 0.8, -0.3], [0.2, -0.3, 0.6]])
    C1 = np.array([[1.0, 0.3, 0.0], [0.3, 0.7, 0.2], [0.0, 0.2, 0.9]])
    B = np.array([[1.0, -0.5, 2.0], [0.3, 0.0, -0.7]])
    U = G @ rng.standard_normal((r, p)) @ np.linalg.cholesky(C0).T
    E = rng.standard_normal((n, p)) @ np.linalg.cholesky(C1).T
    Y = X @ B + U + E
    model = Kron2Sum(Y, np.eye(p), X, G, rank=p, restricted=restricted)
    res = model.fit(verbose=False)
    assert res.success, str(res)
    # truth: the simulation parameters above
    assert np.linalg.norm(model.C0 - C0) / np.linalg.norm(C0) < 0.25
    assert np.linalg.norm(model.C1 - C1) / np.linalg.norm(C1) < 0.25
    se = np.sqrt(np.diag(model.beta_covariance))
    z = (model.beta - B.ravel(order="F")) / se
    assert np.all(np.abs(z) < 4), z


# ---------------------------------------------------------------- 5. fixed effects
@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize(
    "A_kind", ["eye", "ones", "3x2", "3x4 (rank-deficient)"], ids=lambda s: s.split()[0]
)
def test_fixed_effects_match_dense_gls(rng, A_kind, restricted):
    n, p, c, r = 25, 3, 2, 8
    Y, X, G, *_ = _simulate(rng, n, p, c, r, rank=1)
    A = {
        "eye": np.eye(p),
        "ones": np.ones((p, 1)),
        "3x2": rng.standard_normal((p, 2)),
        "3x4 (rank-deficient)": rng.standard_normal((p, 4)),
    }[A_kind]
    a = A.shape[1]
    model = Kron2Sum(Y, A, X, G, rank=2, restricted=restricted)
    model.fit(verbose=False)
    y, M = _yM(model)
    K = _dense_K(model.C0, G, model.C1)
    beta, cov = dense_gls(y, M, K)  # minimum-norm GLS, pseudo-inverse covariance
    assert model.B.shape == (c, a)
    assert model.beta.shape == (c * a,)
    np.testing.assert_allclose(model.beta, beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.B, beta.reshape(c, a, order="F"), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.beta_covariance, cov, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.mean(), M @ beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.mean(), (X @ model.B @ A.T).ravel(order="F"), atol=1e-10)
    # independent of kronlmm: numpy GLS normal equations at the same K
    Ki = np.linalg.inv(K)
    H = M.T @ Ki @ M
    beta_np = np.linalg.pinv(H, rcond=1e-10, hermitian=True) @ (M.T @ Ki @ y)
    np.testing.assert_allclose(model.beta, beta_np, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_invariant_to_reparameterising_X(rng, restricted):
    """X → X T (T invertible c × c): lml unchanged, B → T⁻¹ B (algebra)."""
    n, p, c, r = 40, 3, 3, 10
    Y, X, G, *_ = _simulate(rng, n, p, c, r, rank=1)
    A = rng.standard_normal((p, 2))
    T = rng.standard_normal((c, c)) + 2 * np.eye(c)
    m1 = Kron2Sum(Y, A, X, G, rank=2, restricted=restricted)
    m2 = Kron2Sum(Y, A, X @ T, G, rank=2, restricted=restricted)
    m1.fit(verbose=False)
    m2.set_start(m1.C0, m1.C1)
    assert m2.lml() == pytest.approx(m1.lml(), rel=1e-10)
    np.testing.assert_allclose(m2.B, np.linalg.solve(T, m1.B), rtol=1e-7, atol=1e-9)
    Tk = np.kron(np.eye(A.shape[1]), T)  # β₂ = (I ⊗ T)⁻¹ β₁
    np.testing.assert_allclose(
        m2.beta_covariance,
        np.linalg.solve(Tk, np.linalg.solve(Tk, m1.beta_covariance).T).T,
        rtol=1e-7,
        atol=1e-10,
    )
    m2.fit(verbose=False)
    assert m2.lml() == pytest.approx(m1.lml(), rel=1e-9)
    np.testing.assert_allclose(m2.B, np.linalg.solve(T, m1.B), rtol=1e-3, atol=1e-5)


# ---------------------------------------------------------------- 6. glimix-core
def _glimix_data(rng, n=200, p=2, r=20):
    Y, X, G, *_ = _simulate(rng, n, p, 2, r, rank=1)
    return Y, X, G


@pytest.mark.peer
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # optimix calls L-BFGS-B with disp
@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_agrees_with_glimix_core_rank1(rng, restricted):
    glimix = peers.glimix_lmm(fits=True)
    Y, X, G = _glimix_data(rng)
    p = Y.shape[1]
    peer = glimix.Kron2Sum(Y, np.eye(p), X, G, rank=1, restricted=restricted)
    peer.fit(verbose=False)
    ours = Kron2Sum(Y, np.eye(p), X, G, rank=1, restricted=restricted)
    # lml at glimix-core's fitted C₀, C₁
    ours.set_start(peer.C0, peer.C1)
    assert ours.lml() == pytest.approx(peer.lml(), rel=1e-8)
    np.testing.assert_allclose(ours.B, peer.B, rtol=1e-6, atol=1e-8)
    # lml at other given values: set glimix-core's parameters too (its C₀ is stored for
    # G / max(G), see its C0 property)
    C0, C1 = _random_C(rng, p, 1)
    ours.set_start(C0, C1)
    gnorm = np.sqrt(peer.C0[0, 0] / peer._cov.C0.value()[0, 0])
    L0 = ours.cov.C0.L
    peer._cov.C0.Lu = (L0 / gnorm).ravel()
    # glimix-core's C₁ = L Lᵀ + ϵI with Lu = (strict lower part of L, log diag L)
    L1 = np.linalg.cholesky(C1 - peer._cov.C1._epsilon * np.eye(p))
    peer._cov.C1.Lu = np.r_[L1[np.tril_indices(p, -1)], np.log(np.diag(L1))]
    np.testing.assert_allclose(peer.C0, ours.C0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(peer.C1, ours.C1, rtol=1e-10)
    assert ours.lml() == pytest.approx(peer.lml(), rel=1e-8)
    # after both fit, ours is at least as high
    peer.fit(verbose=False)
    ours.fit(verbose=False)
    assert ours.lml() >= peer.lml() - 1e-6


# ---------------------------------------------------------------- 7. bad input
def _good_inputs(rng, n=20, p=3):
    Y = rng.standard_normal((n, p))
    X = np.c_[np.ones(n), rng.standard_normal(n)]
    G = rng.standard_normal((n, 5))
    return {"Y": Y, "A": np.eye(p), "X": X, "G": G, "rank": 1}


def _with_nan(a, i=2, j=1):
    a = a.copy()
    a[i, j] = np.nan
    return a


def _with_inf(a):
    a = a.copy()
    a[0, 0] = np.inf
    return a


BAD_INPUTS = [
    ("Y 3-D", lambda d: {"Y": d["Y"][:, :, None]}, [r"^Y must be a 2-D", r"\(20, 3, 1\)"]),
    ("A wrong rows", lambda d: {"A": np.eye(4)}, [r"^A has shape \(4, 4\)", r"\(3, any\)"]),
    ("X wrong rows", lambda d: {"X": d["X"][:-1]}, [r"^X has shape \(19, 2\)", r"\(20, any\)"]),
    ("G wrong rows", lambda d: {"G": d["G"][:-2]}, [r"^G has shape \(18, 5\)", r"\(20, any\)"]),
    ("G 3-D", lambda d: {"G": d["G"][:, :, None]}, [r"^G must be a 2-D", r"\(20, 5, 1\)"]),
    ("inf in Y", lambda d: {"Y": _with_inf(d["Y"])}, [r"^Y has 1 infinite", r"\(0, 0\)"]),
    ("NaN in X", lambda d: {"X": _with_nan(d["X"])}, [r"^X has 1 non-finite", r"\(2, 1\)"]),
    ("NaN in G", lambda d: {"G": _with_nan(d["G"])}, [r"^G has 1 non-finite", r"\(2, 1\)"]),
    ("inf in A", lambda d: {"A": _with_inf(d["A"])}, [r"^A has 1 non-finite", r"\(0, 0\)"]),
    ("rank > p", lambda d: {"rank": 4}, [r"rank must be ≤ p = 3", r"got 4"]),
    ("rank 0", lambda d: {"rank": 0}, [r"rank must be ≥ 1", r"got 0"]),
    ("rank float", lambda d: {"rank": 1.5}, [r"rank must be an integer"]),
    ("G missing", lambda d: {"G": None}, [r"G is required"]),
    ("one sample", lambda d: {"Y": d["Y"][:1], "X": d["X"][:1], "G": d["G"][:1]}, [r"\(1, 3\)"]),
    (
        "constant trait",
        lambda d: {"Y": np.c_[d["Y"][:, :2], np.full(20, 3.0)]},
        [r"trait column\(s\) \[2\] of Y"],
    ),
    (
        "trait explained by X",
        lambda d: {"Y": np.c_[d["X"][:, 1] * 2 - 1, d["Y"][:, 1:]]},
        [r"trait column\(s\) \[0\] of Y"],
    ),
    ("A all zero", lambda d: {"A": np.zeros((3, 3))}, [r"rank 0"]),
    ("X all zero", lambda d: {"X": np.zeros((20, 2))}, [r"rank 0"]),
]


@pytest.mark.parametrize(
    "change,patterns", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_raises_naming_argument(rng, change, patterns):
    kwargs = _good_inputs(rng)
    kwargs.update(change(kwargs))
    with pytest.raises(ValueError) as info:
        Kron2Sum(**kwargs)
    for pat in patterns:
        assert re.search(pat, str(info.value)), (pat, str(info.value))


def test_fit_argument_errors(rng):
    model = Kron2Sum(**_good_inputs(rng))
    with pytest.raises(ValueError, match="start must be 'moments' or 'current'"):
        model.fit(verbose=False, start="truth")
    with pytest.raises(ValueError, match="restarts must be ≥ 0"):
        model.fit(verbose=False, restarts=-1)


def test_set_start_errors_name_the_argument(rng):
    model = Kron2Sum(**_good_inputs(rng))  # p = 3
    with pytest.raises(ValueError, match=r"C0.*\(2, 2\)|\(2, 2\).*C0"):
        model.set_start(np.eye(2), None)
    with pytest.raises(ValueError, match=r"C1"):
        model.set_start(None, np.zeros((3, 3)))  # not positive definite


def test_non_converging_fit_warns_with_gradient_norm(rng):
    Y, X, G, *_ = _simulate(rng, 60, 3, 2, 15, rank=2)
    model = Kron2Sum(Y, np.eye(3), X, G, rank=3)
    with pytest.warns(FitWarning) as record:
        res = model.fit(verbose=False, gtol=1e-300)  # a tolerance no fit can meet
    assert not res.success
    assert res.grad_norm > res.grad_tol == 1e-300
    msgs = [str(w.message) for w in record if issubclass(w.category, FitWarning)]
    assert len(msgs) == 1
    assert "NOT converged" in msgs[0]
    found = re.search(r"\|projected gradient\| = ([0-9.eE+-]+)", msgs[0])
    assert found, msgs[0]
    assert float(found.group(1)) == pytest.approx(res.grad_norm, rel=1e-2)
    assert res.grad_norm > 0


def test_converged_fit_is_silent(rng, capsys):
    Y, X, G, *_ = _simulate(rng, 40, 2, 2, 10, rank=1)
    model = Kron2Sum(Y, np.eye(2), X, G, rank=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = model.fit(verbose=False)
    assert res.success
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- 8. no rescaling
@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_scaling_G_scales_C0_only(rng, restricted):
    """G → 10 G: K is unchanged when C₀ → C₀/100 (algebra), so the optimum lml is the same."""
    n, p, c, r = 50, 2, 2, 12
    Y, X, G, *_ = _simulate(rng, n, p, c, r, rank=1, C0_scale=2.0)
    m1 = Kron2Sum(Y, np.eye(p), X, G, rank=2, restricted=restricted)
    m10 = Kron2Sum(Y, np.eye(p), X, 10 * G, rank=2, restricted=restricted)
    C0, C1 = _random_C(rng, p, 2)
    m1.set_start(C0, C1)
    m10.set_start(C0 / 100, C1)
    assert m10.lml() == pytest.approx(m1.lml(), rel=1e-12)
    m1.fit(verbose=False)
    m10.fit(verbose=False)
    assert m10.lml() == pytest.approx(m1.lml(), rel=1e-10)
    np.testing.assert_allclose(m10.C0, m1.C0 / 100, rtol=1e-4, atol=1e-6 * np.abs(m1.C0).max())
    np.testing.assert_allclose(m10.C1, m1.C1, rtol=1e-4)
    np.testing.assert_allclose(m10.B, m1.B, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_scaling_Y_scales_C0_C1_and_shifts_lml(rng, restricted):
    """Y → s·Y: C₀, C₁ → s²·C₀, s²·C₁, B → s·B and lml → lml − (N − m)·log s (algebra:
    log|s²K| = log|K| + N log s², and REML's log|MᵀK⁻¹M| falls by m log s²), with N = n·p,
    m = 0 for ML and m = rank(A ⊗ X) for REML."""
    n, p, c, r = 50, 3, 2, 12
    s = 1000.0
    Y, X, G, *_ = _simulate(rng, n, p, c, r, rank=1, C0_scale=2.0)
    m1 = Kron2Sum(Y, np.eye(p), X, G, rank=1, restricted=restricted)
    ms = Kron2Sum(s * Y, np.eye(p), X, G, rank=1, restricted=restricted)
    m1.fit(verbose=False)
    ms.fit(verbose=False)
    m = p * c if restricted else 0
    shift = -(n * p - m) * math.log(s)
    assert ms.lml() == pytest.approx(m1.lml() + shift, rel=1e-10)
    np.testing.assert_allclose(ms.C0, s**2 * m1.C0, rtol=1e-4, atol=1e-6 * s**2)
    np.testing.assert_allclose(ms.C1, s**2 * m1.C1, rtol=1e-4)
    np.testing.assert_allclose(ms.B, s * m1.B, rtol=1e-4, atol=1e-6 * s)
    # at given parameters the identity is exact
    ms.set_start(s**2 * m1.C0, s**2 * m1.C1)
    assert ms.lml() == pytest.approx(m1.lml() + shift, rel=1e-12)


# ---------------------------------------------------------------- 9. starting values
@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_fit_from_current_start(rng, restricted):
    n, p, c, r = 60, 3, 2, 15
    Y, X, G, C0, C1, _ = _simulate(rng, n, p, c, r, rank=2)
    ref = Kron2Sum(Y, np.eye(p), X, G, rank=2, restricted=restricted)
    ref.fit(verbose=False)
    model = Kron2Sum(Y, np.eye(p), X, G, rank=2, restricted=restricted)
    model.set_start(C0, C1)  # the simulation truth
    x_truth = model.cov.get_flat()
    res = model.fit(verbose=False, start="current", restarts=0)
    assert res.success
    assert len(res.starts) == 1
    assert not np.array_equal(model.cov.get_flat(), x_truth)  # it moved from the truth
    assert model.lml() == pytest.approx(ref.lml(), rel=1e-9)
    # restarting at the optimum stays there
    x_opt = model.cov.get_flat()
    lml_opt = model.lml()
    res = model.fit(verbose=False, start="current", restarts=0)
    assert model.lml() >= lml_opt - 1e-9 * abs(lml_opt)
    np.testing.assert_allclose(model.cov.get_flat(), x_opt, rtol=1e-3, atol=1e-4)
    assert res.niter <= 5


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_restarts_never_lower_lml(seed, restricted):
    rng = np.random.default_rng(seed)
    n, p, c, r = 30, 3, 2, 8
    Y, X, G, *_ = _simulate(rng, n, p, c, r, rank=1, C0_scale=0.5)
    lmls = {}
    for restarts in (0, 1, 3):
        model = Kron2Sum(Y, np.eye(p), X, G, rank=p, restricted=restricted)
        res = model.fit(verbose=False, restarts=restarts)
        assert len(res.starts) == restarts + 1
        # the best start is Newton-polished afterwards: never lower, at most rounding apart
        tol = 1e-10 * abs(res.lml)
        assert res.lml >= max(res.starts) - tol
        assert res.lml - max(res.starts) < 1e-6
        lmls[restarts] = model.lml()
    assert lmls[1] >= lmls[0] - 1e-10 * abs(lmls[0])
    assert lmls[3] >= lmls[0] - 1e-10 * abs(lmls[0])


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_precomputed_decomposition_equals_factor(rng, restricted):
    """G given as its decomposition GGᵀ = U diag(S2) Uᵀ (e.g. an eigendecomposed kinship)
    gives the same model as G itself (reference: the model built from G)."""
    from kronlmm.core.linalg import EconomicSVD

    n, p, r = 40, 3, 60
    Y = rng.standard_normal((n, p))
    X = np.c_[np.ones(n), rng.standard_normal(n)]
    G = rng.standard_normal((n, r))
    w, V = np.linalg.eigh(G @ G.T)
    keep = w > 1e-10 * w[-1]
    from_G = Kron2Sum(Y, np.eye(p), X, G, rank=2, restricted=restricted)
    from_svd = Kron2Sum(Y, np.eye(p), X, EconomicSVD(V[:, keep], w[keep]), rank=2,
                        restricted=restricted)  # fmt: skip
    C0, C1 = _random_C(rng, p, 2)
    for m in (from_G, from_svd):
        m.set_start(C0, C1)
    assert from_svd.lml() == pytest.approx(from_G.lml(), rel=1e-10)
    np.testing.assert_allclose(from_svd.covariance(), from_G.covariance(), atol=1e-9)
    for key, g in from_G.gradient().items():
        np.testing.assert_allclose(from_svd.gradient()[key], g, rtol=1e-8, atol=1e-8)
    with pytest.raises(ValueError, match=r"G.S2 must hold finite, strictly positive"):
        Kron2Sum(Y, None, X, EconomicSVD(V[:, keep], -w[keep]))
    with pytest.raises(ValueError, match=r"G.U has shape"):
        Kron2Sum(Y, None, X, EconomicSVD(V[:-1, keep], w[keep]))
