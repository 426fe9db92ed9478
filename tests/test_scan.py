"""Tests of the association scanners (kronlmm.scan: KronFastScanner, FastScanner, ScanResult).

Model of a scan (variance components C₀, C₁ fixed at the fitted null, scale s profiled)::

    H0: vec(Y) ~ N((A₀ ⊗ X) vec(B₀) [+ (A₁,null ⊗ g) b],   s·K)
    H1: vec(Y) ~ N((A₀ ⊗ X) vec(B₀) + (A₁ ⊗ g) vec(B₁),     s·K)
    K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ            (single trait: K = v₀·GGᵀ + v₁·Iₙ)

Where the reference values come from:

- "closed form": K written out with ``numpy.kron`` from the fitted C₀, C₁ (or v₀, v₁), the
  design ``[A₀ ⊗ X, A₁ ⊗ g]`` written out with ``numpy.kron``, β̂ the GLS estimate
  (numpy.linalg on the Cholesky-whitened system), ŝ = rᵀK⁻¹r / N, the lml the dense
  Gaussian log-density log N(y; Mβ̂, ŝK) (Cholesky; checked once against
  ``scipy.stats.multivariate_normal.logpdf``) and SE = √(ŝ·diag((MᵀK⁻¹M)⁻¹));
- "optimiser": ``scipy.optimize.minimize`` (trust-ncg) of the dense Gaussian
  log-density over (β, log s), with its analytic gradient and Hessian (objective in
  numpy.longdouble), so that the closed form above is itself checked; SEs from the
  observed information;
- "algebra": identities of the model (a design and a basis of its column space give the
  same fit; imputing by hand equals imputing inside; blocks are independent);
- "scipy.stats": ``chi2.sf`` / ``chi2.logsf`` / ``chi2.ppf``; far in the tail, log sf of
  χ² by ``scipy.integrate.quad`` of the χ² density (scaled by e^(x/2), so no underflow);
- "simulation": data simulated under the null (λ_GC of independent candidates);
- "glimix-core": glimix-core 3.1.14's LMM / Kron2Sum fast scanners (peer tests, rank 1,
  ML), at the same variance components.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import pandas as pd
import peers
import pytest
import scipy.linalg as sla
from scipy.integrate import quad
from scipy.optimize import brentq, minimize
from scipy.special import gammaln
from scipy.stats import chi2 as chi2_dist
from scipy.stats import multivariate_normal

from kronlmm.lmm import Kron2Sum
from kronlmm.lmm.lmm import LMM
from kronlmm.scan import (
    FastScanner,
    KronFastScanner,
    ScanResult,
    array_blocks,
    make_plan,
    scan_block,
    scan_blocks,
)

RTOL = 1e-8  # agreement with the dense references
P = 3
#: An explicit p × 2 candidate design: rank 2, neither Iₚ nor 1ₚ (nor a sub-matrix of them).
A1_TWO = np.array([[1.0, 1.0], [1.0, 0.0], [1.0, -2.0]])


@pytest.fixture(autouse=True, scope="module")
def _single_blas_thread():
    """One BLAS thread: the arrays here are small, and multi-threaded OpenBLAS on a busy
    2-core machine is up to 50 times slower. Results do not depend on it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a test extra
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=1, user_api="blas")
    with limits:
        yield


# ----------------------------------------------------------------------------- data
def _dosages(rng, n, m, maf_low=0.05, maf_high=0.5):
    """Genotype-like data: binomial(2, maf) allele counts, one MAF per column."""
    maf = rng.uniform(maf_low, maf_high, size=m)
    return rng.binomial(2, maf, size=(n, m)).astype(float)


def _standardised(D):
    sd = D.std(axis=0)
    sd[sd == 0] = 1.0
    return (D - D.mean(axis=0)) / sd


#: G cases (n = 60): standardised dosages (rank ≤ n − 1), r < n and r > n; a full-rank
#: Gaussian G with r = n (k = n: nothing is orthogonal to U); no G at all (r = 0).
G_CASES = {"r<n": 20, "r>n": 90, "r=n": 60, "r=0": 0}


def _make_G(rng, n, case):
    r = G_CASES[case]
    if case == "r=0":
        return np.zeros((n, 0))
    if case == "r=n":
        return rng.standard_normal((n, r)) / np.sqrt(r)
    return _standardised(_dosages(rng, n, r)) / np.sqrt(r)


def _trait_covariances(p):
    """True C₀ (rank 1, ≠ 0) and C₁ (positive definite) used to simulate."""
    L0 = np.array([0.8, 0.5, -0.4, 0.3][:p])[:, None]
    C1 = 0.8 * np.eye(p) + 0.2 * np.ones((p, p))
    return L0 @ L0.T, C1


def _simulate(seed, n, p, G, A0):
    """Y = X B A₀ᵀ + G Z L₀ᵀ + E L₁ᵀ, i.e. vec(Y) ~ N((A₀ ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ I)."""
    rng = np.random.default_rng(seed)
    X = np.c_[np.ones(n), rng.standard_normal(n)]
    C0, C1 = _trait_covariances(p)
    L0 = np.linalg.cholesky(C0 + 1e-12 * np.eye(p))
    L1 = np.linalg.cholesky(C1)
    B = rng.standard_normal((2, A0.shape[1]))
    Y = X @ B @ A0.T + rng.standard_normal((n, p)) @ L1.T
    if G.shape[1]:
        Y += G @ rng.standard_normal((G.shape[1], p)) @ L0.T
    return Y, X


A0_CASES = {"I": np.eye(P), "p×2": np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])}


@functools.cache
def _kron_fit(gcase="r<n", rank=1, restricted=False, a0="I", n=60, seed=1):
    """A fitted Kron2Sum null (cached: tests only read it)."""
    rng = np.random.default_rng(seed)
    G = _make_G(rng, n, gcase)
    A0 = A0_CASES[a0]
    Y, X = _simulate(seed + 100, n, P, G, A0)
    model = Kron2Sum(Y, A0, X, G, rank=rank, restricted=restricted)
    model.fit(verbose=False)
    return {"Y": Y, "A0": A0, "X": X, "G": G}, model


@functools.cache
def _lmm_fit(gcase="r<n", restricted=False, n=60, seed=2):
    """A fitted single-trait LMM null (cached)."""
    rng = np.random.default_rng(seed)
    G = _make_G(rng, n, gcase)
    Y, X = _simulate(seed + 100, n, 1, G, np.eye(1))
    y = Y[:, 0]
    if gcase == "r=0":
        model = LMM(y, X, None, restricted=restricted)
    else:
        model = LMM.from_G(y, X, G, restricted=restricted)
    model.fit(verbose=False)
    return {"y": y, "X": X, "G": G}, model


def _candidates(seed, n, Y):
    """Three candidates: dosages, a continuous column, one associated with Y."""
    rng = np.random.default_rng(seed)
    g0 = _dosages(rng, n, 1)[:, 0]
    g1 = rng.standard_normal(n) + 0.5
    g2 = Y @ np.linspace(1.0, -0.5, Y.shape[1]) + rng.standard_normal(n)
    return np.c_[g0, g1, g2]


# ----------------------------------------------------------------------------- references
def _dense_K(C0, G, C1):
    """K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ written out with numpy.kron (no kronlmm code)."""
    n = G.shape[0]
    return np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))


def _gauss_logpdf(y, m, V):
    """Dense Gaussian log-density −½[N log 2π + log|V| + (y − m)ᵀV⁻¹(y − m)] (Cholesky).

    (scipy's multivariate_normal.logpdf gives the same value; it is only used once below,
    in test_dense_log_density_matches_scipy, because its eigendecomposition is slow.)
    """
    L = np.linalg.cholesky(V)
    z = sla.solve_triangular(L, y - m, lower=True)
    return float(-0.5 * (y.size * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(L))) + z @ z))


def _ml_closed_form(y, M, K):
    """Max over (β, s) of log N(y; Mβ, sK) by GLS: β̂ = (MᵀK⁻¹M)⁻¹MᵀK⁻¹y, ŝ = rᵀK⁻¹r/N.

    Returns lml (the dense log-density at β̂, ŝ), β̂, SE = √(ŝ·diag((MᵀK⁻¹M)⁻¹)) and ŝ.
    """
    L = np.linalg.cholesky(K)
    Mw = sla.solve_triangular(L, M, lower=True)
    yw = sla.solve_triangular(L, y, lower=True)
    H = Mw.T @ Mw
    beta = np.linalg.solve(H, Mw.T @ yw)
    rw = yw - Mw @ beta
    s = float(rw @ rw) / y.size
    lml = _gauss_logpdf(y, M @ beta, s * K)
    return {"lml": lml, "beta": beta, "se": np.sqrt(s * np.diag(np.linalg.inv(H))), "scale": s}


#: The optimiser's objective is evaluated in extended precision where numpy has it.
_EXTENDED = np.finfo(np.longdouble).eps < 1e-18


def _ml_optimiser(y, M, K):
    """Max over (β, log s) of the dense Gaussian log-density by scipy.optimize.minimize.

    −log N(y; Mβ, sK) = ½[N log 2π + log|K| + N log s + rᵀK⁻¹r / s], r = y − Mβ, is
    minimised over θ = (β, log s) by trust-ncg with its exact gradient and Hessian, from
    the OLS β and s = 1. The θ-free constant ½(N log 2π + log|K|) is left out and the
    rest evaluated in numpy.longdouble, shifted by its value at the start: near the optimum
    the objective changes by ∝ δβ², far below the double rounding of a value of order N,
    which would stop the trust region early. SEs: √diag of the inverse observed
    information of β at the optimum. The lml is the dense log-density there.
    """
    N = y.size
    Ki = np.linalg.inv(K)
    Kl, yl, Ml = (a.astype(np.longdouble) for a in (Ki, y, M))

    def half_dev(th):
        t = th.astype(np.longdouble)
        r = yl - Ml @ t[:-1]
        return 0.5 * (N * t[-1] + (r @ (Kl @ r)) * np.exp(-t[-1]))

    def grad(th):
        r = y - M @ th[:-1]
        Kir, e = Ki @ r, np.exp(-th[-1])
        return np.r_[-(M.T @ Kir) * e, 0.5 * (N - r @ Kir * e)]

    def hess(th):
        r = y - M @ th[:-1]
        Kir, e = Ki @ r, np.exp(-th[-1])
        c = M.shape[1]
        Hm = np.empty((c + 1, c + 1))
        Hm[:c, :c] = M.T @ Ki @ M * e
        Hm[:c, c] = Hm[c, :c] = M.T @ Kir * e
        Hm[c, c] = 0.5 * (r @ Kir) * e
        return Hm

    x0 = np.r_[np.linalg.lstsq(M, y, rcond=None)[0], 0.0]
    f0 = half_dev(x0)
    res = minimize(lambda th: float(half_dev(th) - f0), x0, jac=grad, hess=hess,
                   method="trust-ncg", options={"gtol": 1e-13})  # fmt: skip
    beta, s = res.x[:-1], float(np.exp(res.x[-1]))
    info = hess(res.x)[:-1, :-1]  # observed information of β
    return {
        "lml": _gauss_logpdf(y, M @ beta, s * K),
        "beta": beta,
        "se": np.sqrt(np.diag(np.linalg.inv(info))),
        "scale": s,
        "grad": np.max(np.abs(grad(res.x))),
    }


def _designs(test, p=P):
    """(A₁, A₁,null, scan_variants keywords) per test, from make_plan's documentation."""
    if test == "any":
        return np.eye(p), None, {"test": "any"}
    if test == "common":
        return np.ones((p, 1)), None, {"test": "common"}
    if test == "interaction":
        return np.eye(p), np.ones((p, 1)), {"test": "interaction"}
    if test == "A1":
        return A1_TWO, None, {"test": None, "A1": A1_TWO}
    if test == "A1|A1_null":
        return A1_TWO, A1_TWO[:, :1], {"test": None, "A1": A1_TWO, "A1_null": A1_TWO[:, :1]}
    raise AssertionError(test)


def _reference(y, K, M0, A1, A1_null, g, fit=_ml_closed_form):
    """Reference null and alternative fits of one candidate g."""
    alt = fit(y, np.hstack([M0, np.kron(A1, g[:, None])]), K)
    Mn = M0 if A1_null is None else np.hstack([M0, np.kron(A1_null, g[:, None])])
    null = fit(y, Mn, K)
    c0 = M0.shape[1]
    return null, {**alt, "beta": alt["beta"][c0:], "se": alt["se"][c0:]}


def _close(actual, expected, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def _assert_rows_match_reference(res, j, null, alt, rtol=RTOL):
    _close(res.lml_null[j], null["lml"])
    _close(res.lml_alt[j], alt["lml"])
    _close(res.beta[j], alt["beta"], rtol=rtol)
    _close(res.se[j], alt["se"], rtol=rtol)
    _close(res.scale[j], alt["scale"], rtol=rtol)
    # chi2 is a difference of two lml values: compare on the lml scale
    _close(res.chi2[j], 2 * (alt["lml"] - null["lml"]), rtol=1e-6, atol=RTOL * abs(alt["lml"]))


# ------------------------------------------------------- 1. agreement with dense references
def test_dense_log_density_matches_scipy():
    """The reference log-density used everywhere below is scipy's."""
    data, model = _kron_fit()
    Y, G = data["Y"], data["G"]
    y = Y.ravel(order="F")
    V = 1.3 * _dense_K(model.C0, G, model.C1)
    m = np.linspace(-1, 1, y.size)
    _close(_gauss_logpdf(y, m, V), multivariate_normal.logpdf(y, m, V), rtol=1e-12)


KRON_GRID = [
    (gcase, rank, restricted, "I")
    for gcase in ("r<n", "r>n", "r=n")
    for rank in (1, P)
    for restricted in (False, True)
] + [("r<n", 1, False, "p×2"), ("r=0", 1, True, "I"), ("r>n", P, True, "p×2")]
TEST_NAMES = ["any", "common", "interaction", "A1", "A1|A1_null"]


@pytest.mark.parametrize("test", TEST_NAMES)
@pytest.mark.parametrize(
    "gcase,rank,restricted,a0",
    KRON_GRID,
    ids=[f"{g}-rank{k}-{'REML' if r else 'ML'}-A0={a}" for g, k, r, a in KRON_GRID],
)
def test_kron_scan_matches_closed_form(gcase, rank, restricted, a0, test):
    data, model = _kron_fit(gcase, rank, restricted, a0)
    Y, A0, X, G = data["Y"], data["A0"], data["X"], data["G"]
    n = Y.shape[0]
    K = _dense_K(model.C0, G, model.C1)
    np.testing.assert_allclose(K, model.covariance(), rtol=1e-12, atol=1e-14)
    y, M0 = Y.ravel(order="F"), np.kron(A0, X)
    A1, A1_null, kw = _designs(test)
    Gc = _candidates(7, n, Y)
    res = model.get_fast_scanner().scan_variants(Gc, **kw)
    assert np.all(res.reason == "")
    for j in range(Gc.shape[1]):
        null, alt = _reference(y, K, M0, A1, A1_null, Gc[:, j])
        _assert_rows_match_reference(res, j, null, alt)


@pytest.mark.parametrize("test", ["any", "interaction", "A1"])
def test_kron_scan_matches_generic_optimiser(test):
    """The closed form above is itself checked against a numerical maximisation."""
    data, model = _kron_fit("r<n", 1, True)  # REML null: the scan's s is then not 1
    Y, A0, X, G = data["Y"], data["A0"], data["X"], data["G"]
    K = _dense_K(model.C0, G, model.C1)
    A1, A1_null, kw = _designs(test)
    Gc = _candidates(8, Y.shape[0], Y)[:, [0, 2]]
    res = model.get_fast_scanner().scan_variants(Gc, **kw)
    for j in range(Gc.shape[1]):
        null, alt = _reference(Y.ravel(order="F"), K, np.kron(A0, X), A1, A1_null, Gc[:, j],
                               fit=_ml_optimiser)  # fmt: skip
        assert alt["grad"] < 1e-6 and null["grad"] < 1e-6  # converged
        # without extended precision the optimiser resolves β only to ~1e-7
        _assert_rows_match_reference(res, j, null, alt, rtol=RTOL if _EXTENDED else 1e-6)


def test_kron_scan_of_a_candidate_set_matches_closed_form():
    """scan(A1, X1) with a 2-column X1: effsizes0/1 and their SEs (glimix-core's layout:
    effsizes1 is c₁ × a₁ with vec(effsizes1) the coefficients of A₁ ⊗ X₁)."""
    data, model = _kron_fit("r>n", P, True)
    Y, A0, X, G = data["Y"], data["A0"], data["X"], data["G"]
    K = _dense_K(model.C0, G, model.C1)
    X1 = _candidates(9, Y.shape[0], Y)[:, :2]
    scanner = model.get_fast_scanner()
    y, M0 = Y.ravel(order="F"), np.kron(A0, X)
    for A1 in (np.eye(P), A1_TWO):
        out = scanner.scan(A1, X1)
        ref = _ml_closed_form(y, np.hstack([M0, np.kron(A1, X1)]), K)
        c0 = M0.shape[1]
        unvec = lambda v, r: v.reshape(-1, r).T  # noqa: E731 - column-major unvec
        _close(out["lml"], ref["lml"])
        _close(out["scale"], ref["scale"])
        _close(out["effsizes0"], unvec(ref["beta"][:c0], X.shape[1]))
        _close(out["effsizes0_se"], unvec(ref["se"][:c0], X.shape[1]))
        _close(out["effsizes1"], unvec(ref["beta"][c0:], 2))
        _close(out["effsizes1_se"], unvec(ref["se"][c0:], 2))
        assert out["dof"] == 2 * A1.shape[1]
        _close(out["chi2"], 2 * (ref["lml"] - scanner.null_lml()), rtol=1e-6)


LMM_GRID = [(g, r) for g in ("r<n", "r>n", "r=n", "r=0") for r in (False, True)]


@pytest.mark.parametrize(
    "gcase,restricted", LMM_GRID, ids=[f"{g}-{'REML' if r else 'ML'}" for g, r in LMM_GRID]
)
def test_fast_scanner_matches_closed_form(gcase, restricted):
    data, model = _lmm_fit(gcase, restricted)
    y, X, G = data["y"], data["X"], data["G"]
    K = model.v0 * (G @ G.T) + model.v1 * np.eye(y.size)
    Gc = _candidates(10, y.size, y[:, None])
    scanner = model.get_fast_scanner()
    assert isinstance(scanner, FastScanner)
    res = scanner.scan_variants(Gc)
    fast = scanner.fast_scan(Gc)
    null_ref = _ml_closed_form(y, X, K)
    _close(scanner.null_lml(), null_ref["lml"])
    for j in range(Gc.shape[1]):
        null, alt = _reference(y, K, X, np.ones((1, 1)), None, Gc[:, j])
        _assert_rows_match_reference(res, j, null, alt)
        _close(fast["lml"][j], alt["lml"])
        _close(fast["effsizes1"][j], alt["beta"][0])
        _close(fast["effsizes1_se"][j], alt["se"][0])
        _close(fast["scale"][j], alt["scale"])
    # a two-column candidate set, with the covariate effects
    out = scanner.scan(Gc[:, :2])
    ref = _ml_closed_form(y, np.hstack([X, Gc[:, :2]]), K)
    _close(out["lml"], ref["lml"])
    _close(out["effsizes0"], ref["beta"][:2])
    _close(out["effsizes0_se"], ref["se"][:2])
    _close(out["effsizes1"], ref["beta"][2:])
    _close(out["effsizes1_se"], ref["se"][2:])
    assert out["dof"] == 2


def test_fast_scanner_matches_generic_optimiser():
    data, model = _lmm_fit("r<n", True)
    y, X, G = data["y"], data["X"], data["G"]
    K = model.v0 * (G @ G.T) + model.v1 * np.eye(y.size)
    Gc = _candidates(11, y.size, y[:, None])
    res = model.get_fast_scanner().scan_variants(Gc)
    for j in range(Gc.shape[1]):
        null, alt = _reference(y, K, X, np.ones((1, 1)), None, Gc[:, j], fit=_ml_optimiser)
        assert alt["grad"] < 1e-6 and null["grad"] < 1e-6  # converged
        _assert_rows_match_reference(res, j, null, alt, rtol=RTOL if _EXTENDED else 1e-6)


# ----------------------------------------------- 2. batched == one at a time == other blocks
def _mixed_block(seed, n, X, m=23):
    """m candidates incl. missing values and untestable ones (rows 3, 11, 17)."""
    rng = np.random.default_rng(seed)
    Gc = _dosages(rng, n, m)
    Gc[rng.integers(0, n, 4), 5] = np.nan
    Gc[:, 3] = 1.0
    Gc[:, 11] = 2 * X[:, 1] - 3
    Gc[:, 17] = np.nan
    return Gc


FIELDS = ("lml_null", "lml_alt", "chi2", "p_value", "neg_log10_p_value", "scale", "beta", "se")


def _assert_results_equal(a, b, rtol=1e-10):
    for f in FIELDS:
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=rtol, atol=0, err_msg=f)
    for f in ("dof", "n_missing", "reason"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.trait_names == b.trait_names


@pytest.mark.parametrize("test", TEST_NAMES)
def test_batched_equals_one_at_a_time(test):
    data, model = _kron_fit("r<n", P, False)
    Y, X = data["Y"], data["X"]
    n = Y.shape[0]
    Gc = _mixed_block(12, n, X)
    m = Gc.shape[1]
    A1, A1_null, kw = _designs(test)
    scanner = model.get_fast_scanner()
    calls = []
    results = {
        bs: scanner.scan_variants(
            Gc,
            **kw,
            block_size=bs,
            progress=(lambda d, t: calls.append((d, t))) if bs == 1 else False,
        )
        for bs in (1, 7, None, m)
    }
    assert calls == [(j + 1, m) for j in range(m)]  # block_size=1: after every candidate
    for bs in (7, None, m):
        _assert_results_equal(results[bs], results[1])
    res = results[7]
    # one at a time with the glimix-compatible single-set API (on the imputed column)
    for j in range(m):
        g = Gc[:, j].copy()
        if res.reason[j]:
            assert np.isnan(res.lml_alt[j]) and np.all(np.isnan(res.beta[j]))
            continue
        g[np.isnan(g)] = np.nanmean(g)
        out = scanner.scan(A1, g[:, None])
        assert out["reason"] == ""
        _close(res.lml_alt[j], out["lml"], rtol=1e-12)
        _close(res.beta[j], out["effsizes1"][0], rtol=1e-10)
        _close(res.se[j], out["effsizes1_se"][0], rtol=1e-10)
        _close(res.scale[j], out["scale"], rtol=1e-12)
        lml_null = scanner.null_lml() if A1_null is None else scanner.scan(A1_null, g)["lml"]
        _close(res.lml_null[j], lml_null, rtol=1e-12)
        if A1_null is None:
            _close(res.chi2[j], out["chi2"], rtol=1e-10, atol=1e-12)
            _close(res.p_value[j], out["p_value"], rtol=1e-10)
            assert res.dof[j] == out["dof"]


def test_fast_scanner_batched_equals_one_at_a_time():
    data, model = _lmm_fit("r>n", False)
    Gc = _mixed_block(13, data["y"].size, data["X"])
    scanner = model.get_fast_scanner()
    results = [scanner.scan_variants(Gc, block_size=bs) for bs in (1, 7, None)]
    for r in results[1:]:
        _assert_results_equal(r, results[0])
    for j in np.flatnonzero(results[0].reason == ""):
        g = Gc[:, j].copy()
        g[np.isnan(g)] = np.nanmean(g)
        out = scanner.scan(g[:, None])
        _close(results[0].lml_alt[j], out["lml"], rtol=1e-12)
        _close(results[0].beta[j, 0], out["effsizes1"][0], rtol=1e-10)
        _close(results[0].se[j, 0], out["effsizes1_se"][0], rtol=1e-10)


# ------------------------------------------------------------------------- 3. null_lml
@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
@pytest.mark.parametrize("rank", [1, P])
@pytest.mark.parametrize("gcase", ["r<n", "r>n"])
def test_kron_null_lml(gcase, rank, restricted):
    data, model = _kron_fit(gcase, rank, restricted)
    Y, A0, X, G = data["Y"], data["A0"], data["X"], data["G"]
    scanner = model.get_fast_scanner()
    ref = _ml_closed_form(Y.ravel(order="F"), np.kron(A0, X), _dense_K(model.C0, G, model.C1))
    _close(scanner.null_lml(), ref["lml"])
    _close(scanner.null_scale, ref["scale"])
    _close(scanner.null_beta, ref["beta"])
    _close(scanner.null_beta_se, ref["se"])
    if restricted:
        assert abs(scanner.null_lml() - model.lml()) > 1e-3  # REML ≠ ML
    elif model.ml_projected:
        # standardised genotypes: 1ₙ spans the null space of GGᵀ and X holds an intercept,
        # so the model's ML is that of the data projected onto span(U) (the full-data ML
        # has no maximum); the scanner tests on all the data at the fitted C₀, C₁
        assert np.linalg.matrix_rank(G) == Y.shape[0] - 1
        U = np.linalg.svd(G, full_matrices=False)[0][:, : Y.shape[0] - 1]
        T = np.kron(np.eye(Y.shape[1]), U.T)
        K = T @ _dense_K(model.C0, G, model.C1) @ T.T
        M = T @ np.kron(A0, X)
        Mu, sv, Mv = np.linalg.svd(M, full_matrices=False)
        M = Mu[:, sv > 1e-8 * sv[0]]  # U ⊥ 1ₙ: the intercept's column vanishes
        y = T @ Y.ravel(order="F")
        L = np.linalg.cholesky(K)
        Mw, yw = sla.solve_triangular(L, M, lower=True), sla.solve_triangular(L, y, lower=True)
        rw = yw - Mw @ np.linalg.lstsq(Mw, yw, rcond=None)[0]
        dense = -0.5 * (y.size * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(L))) + rw @ rw)
        _close(model.lml(), dense, rtol=1e-10)
    else:
        _close(scanner.null_lml(), model.lml(), rtol=1e-10)
        assert scanner.null_scale == pytest.approx(1.0, abs=1e-5)  # ML optimum in the scale


@pytest.mark.parametrize("restricted", [False, True], ids=["ML", "REML"])
def test_lmm_null_lml(restricted):
    data, model = _lmm_fit("r<n", restricted)
    y, X, G = data["y"], data["X"], data["G"]
    scanner = model.get_fast_scanner()
    ref = _ml_closed_form(y, X, model.v0 * (G @ G.T) + model.v1 * np.eye(y.size))
    _close(scanner.null_lml(), ref["lml"])
    _close(scanner.null_beta, ref["beta"])
    _close(scanner.null_beta_se, ref["se"])
    if restricted:
        assert abs(scanner.null_lml() - model.lml()) > 1e-3
    else:
        _close(scanner.null_lml(), model.lml(), rtol=1e-10)
        _close(scanner.null_scale, 1.0, rtol=1e-10)  # v₀, v₁ already carry the ML scale


# ---------------------------------------------------------------------------- 4. dof
def test_dof_is_the_design_rank():
    data, model = _kron_fit("r<n", 1, False)
    Y = data["Y"]
    Gc = _candidates(14, Y.shape[0], Y)
    scanner = model.get_fast_scanner()
    any_ = scanner.scan_variants(Gc, "any")
    A1_rd = np.c_[np.ones(P), np.eye(P)]  # p + 1 columns, rank p
    rd = scanner.scan_variants(Gc, None, A1=A1_rd)
    assert np.all(any_.dof == P) and np.all(rd.dof == P)
    _close(rd.chi2, any_.chi2, rtol=1e-10)
    _close(rd.lml_alt, any_.lml_alt, rtol=1e-12)
    _close(rd.p_value, any_.p_value, rtol=1e-9)
    assert rd.beta.shape == (3, P + 1) and len(rd.trait_names) == P + 1
    _close(rd.beta @ A1_rd.T, any_.beta, rtol=1e-9)  # same fitted trait effects A₁β
    assert np.all(scanner.scan_variants(Gc, "interaction").dof == P - 1)
    assert np.all(scanner.scan_variants(Gc, "common").dof == 1)
    assert np.all(scanner.scan_variants(Gc, None, A1=A1_TWO).dof == 2)
    assert np.all(scanner.scan_variants(Gc, None, A1=A1_TWO, A1_null=A1_TWO[:, :1]).dof == 1)
    # single-set API: rank of A₁ times rank of X₁
    g = Gc[:, 0]
    assert scanner.scan(A1_rd, g[:, None])["dof"] == P
    out = scanner.scan(np.eye(P), np.c_[g, 2 * g])
    assert out["dof"] == P
    _close(out["lml"], scanner.scan(np.eye(P), g[:, None])["lml"], rtol=1e-12)
    # single trait: 1
    assert np.all(_lmm_fit()[1].get_fast_scanner().scan_variants(Gc).dof == 1)


def test_make_plan_validates_designs():
    plan = make_plan(P, None, A1=A1_TWO, A1_null=A1_TWO @ [[2.0], [-1.0]])
    assert plan.dof == 1 and plan.effect_names == ["A1_0", "A1_1"]
    assert make_plan(P, "interaction").dof == P - 1
    with pytest.raises(ValueError, match="A1_null must lie inside"):
        make_plan(P, None, A1=A1_TWO, A1_null=np.eye(P)[:, [1]])  # e₂ ∉ span(A1_TWO)
    with pytest.raises(ValueError, match="A1_null must lie inside"):
        make_plan(P, None, A1=np.ones((P, 1)), A1_null=np.eye(P))
    with pytest.raises(ValueError, match="dof would be 0"):
        make_plan(P, None, A1=np.ones((P, 1)), A1_null=2 * np.ones((P, 1)))
    with pytest.raises(ValueError, match="test must be one of"):
        make_plan(P, "all")
    _, model = _kron_fit()
    with pytest.raises(ValueError, match="A1_null must lie inside"):
        model.get_fast_scanner().scan_variants(
            np.ones((60, 1)), None, A1=np.ones((P, 1)), A1_null=np.eye(P)[:, :1]
        )


# -------------------------------------------------------- 5. calibration under the null
@functools.cache
def _null_simulation(n=1000, r=400, m=5000, seed=3):
    """Polygenic background from genotype-like G, true C₀ ≠ 0; candidates independent."""
    rng = np.random.default_rng(seed)
    G = _standardised(_dosages(rng, n, r)) / np.sqrt(r)
    Y, X = _simulate(seed + 1, n, P, G, np.eye(P))
    Gc = _dosages(np.random.default_rng(seed + 2), n, m)
    return Y, X, G, Gc


def _lambda_gc(chi2, dof):
    return float(np.median(chi2) / chi2_dist.ppf(0.5, dof))


def test_genomic_control_under_the_null_multi_trait():
    Y, X, G, Gc = _null_simulation()
    model = Kron2Sum(Y, np.eye(P), X, G, rank=1)
    model.fit(verbose=False)
    assert model.C0[0, 0] > 0.1  # the background is real and estimated as such
    scanner = model.get_fast_scanner()
    res = scanner.scan_variants(Gc, "any")
    assert np.all(res.reason == "") and np.all(res.dof == P)
    lam = _lambda_gc(res.chi2, P)
    assert 0.9 <= lam <= 1.1, lam
    for test, dof in (("common", 1), ("interaction", P - 1)):
        lam = _lambda_gc(scanner.scan_variants(Gc, test).chi2, dof)
        assert 0.9 <= lam <= 1.1, (test, lam)


def test_genomic_control_under_the_null_single_trait():
    Y, X, G, Gc = _null_simulation()
    model = LMM.from_G(Y[:, 0], X, G)
    model.fit(verbose=False)
    assert model.delta < 0.9
    res = model.get_fast_scanner().scan_variants(Gc)
    lam = _lambda_gc(res.chi2, 1)
    assert 0.9 <= lam <= 1.1, lam


# ------------------------------------------------------------ 6. degenerate candidates
@pytest.mark.parametrize("test", ["any", "interaction"])
def test_degenerate_candidates_give_nan_rows(test):
    data, model = _kron_fit("r<n", 1, False)
    Y, X = data["Y"], data["X"]
    n = Y.shape[0]
    rng = np.random.default_rng(15)
    good = _dosages(rng, n, 3)
    good[[2, 9, 30], 1] = np.nan
    block = np.c_[
        good[:, 0],
        np.full(n, 1.0),  # constant
        np.full(n, np.nan),  # all values missing
        2 * X[:, 1] - 3,  # collinear with covariates
        np.zeros(n),  # all zero
        good[:, 1],
        good[:, 2],
    ]
    _, _, kw = _designs(test)
    scanner = model.get_fast_scanner()
    res = scanner.scan_variants(block, **kw)
    bad = [1, 2, 3, 4]
    assert list(res.reason[bad]) == ["constant", "all values missing",
                                     "collinear with covariates", "constant"]  # fmt: skip
    for f in FIELDS:
        assert np.all(np.isnan(getattr(res, f)[bad])), f
    assert np.all(res.reason[[0, 5, 6]] == "")
    np.testing.assert_array_equal(res.n_missing, [0, 0, n, 0, 0, 3, 0])
    # the testable rows equal scanning them alone
    for j, col in ((0, 0), (5, 1), (6, 2)):
        alone = scanner.scan_variants(good[:, col], **kw)
        for f in FIELDS:
            _close(getattr(res, f)[j], getattr(alone, f)[0], rtol=1e-10)
    # missing values are mean-imputed
    imputed = good[:, 1].copy()
    imputed[[2, 9, 30]] = np.nanmean(good[:, 1])
    by_hand = scanner.scan_variants(imputed, **kw)
    assert by_hand.n_missing[0] == 0
    for f in FIELDS:
        _close(getattr(res, f)[5], getattr(by_hand, f)[0], rtol=1e-10)


def test_degenerate_candidates_single_trait():
    data, model = _lmm_fit()
    X = data["X"]
    n = X.shape[0]
    g = _dosages(np.random.default_rng(16), n, 1)[:, 0]
    res = model.get_fast_scanner().scan_variants(np.c_[g, X[:, 1], np.zeros(n)])
    assert list(res.reason) == ["", "collinear with covariates", "constant"]
    assert np.isfinite(res.chi2[0]) and np.all(np.isnan(res.chi2[1:]))


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_candidate_value_raises(bad):
    _, model = _kron_fit()
    block = _dosages(np.random.default_rng(17), 60, 3)
    block[4, 1] = bad
    with pytest.raises(ValueError, match="infinite"):
        model.get_fast_scanner().scan_variants(block)
    with pytest.raises(ValueError, match="infinite"):
        _lmm_fit()[1].get_fast_scanner().scan_variants(block)


# ------------------------------------------------------------------------ 7. p-values
def _chi2_logsf_reference(x, dof):
    """log P(χ²_dof > x) by quadrature, without underflow at any x.

    sf(x) = ∫ₓ^∞ t^(a−1) e^(−t/2) dt / (2^a Γ(a)), a = dof/2; with t = x + u,
    log sf(x) = −x/2 − a log 2 − log Γ(a) + log ∫₀^∞ (x + u)^(a−1) e^(−u/2) du.
    """
    a = dof / 2
    integral, _ = quad(lambda u: (x + u) ** (a - 1) * np.exp(-u / 2), 0, np.inf,
                       epsabs=0, epsrel=1e-13)  # fmt: skip
    return -x / 2 - a * np.log(2) - gammaln(a) + np.log(integral)


def _strong_scan(data, model, g, b):
    """Scan g on Y' = Y + b·(g − ḡ)(1, −1, ½) at the null variance components of ``model``."""
    Y, A0, X, G = data["Y"], data["A0"], data["X"], data["G"]
    Ys = Y + b * np.outer(g - g.mean(), [1.0, -1.0, 0.5])
    scanner = KronFastScanner(Ys, A0, X, G, model.C0, model.C1)
    return scanner.scan_variants(g, "any", statistic="chi2")


def test_pvalues_and_their_logs():
    data, model = _kron_fit("r<n", 1, False)
    Y = data["Y"]
    Gc = _candidates(18, Y.shape[0], Y)
    scanner = model.get_fast_scanner()
    for test in ("any", "common", "interaction"):
        res = scanner.scan_variants(Gc, test, statistic="chi2")
        assert res.statistic == "chi2"
        _close(res.p_value, chi2_dist.sf(res.chi2, res.dof), rtol=1e-12)
        assert np.all(res.p_value > 1e-300)
        _close(res.neg_log10_p_value, -np.log10(res.p_value), rtol=1e-12)
    for x, dof in ((30.0, 1), (500.0, 3)):  # the quadrature reference is scipy's logsf
        _close(_chi2_logsf_reference(x, dof), chi2_dist.logsf(x, dof), rtol=1e-10)
    # a huge effect tuned to chi2 = 1430: p ≈ 9e-310 is below 1e-308 (subnormal)
    g = Gc[:, 0]
    b = brentq(lambda b: _strong_scan(data, model, g, b).chi2[0] - 1430.0, 1.0, 1e3, xtol=1e-9)
    res = _strong_scan(data, model, g, b)
    ref = -_chi2_logsf_reference(res.chi2[0], P) / np.log(10)
    assert 308 < ref < 310
    assert 0.0 <= res.p_value[0] < 1e-308
    assert np.isfinite(res.neg_log10_p_value[0])
    _close(res.neg_log10_p_value[0], ref, rtol=1e-9)


def test_neg_log10_pvalue_is_finite_when_pvalue_underflows():
    """A stronger effect (chi2 ≈ 2300, −log10 p ≈ 498): pvalue underflows to 0 but
    neg_log10_pvalue must stay finite (ScanResult: "exact where pvalue underflows")."""
    data, model = _kron_fit("r<n", 1, False)
    g = _candidates(18, 60, data["Y"])[:, 0]
    res = _strong_scan(data, model, g, 1e3)
    ref = -_chi2_logsf_reference(res.chi2[0], P) / np.log(10)
    assert res.chi2[0] > 2000 and ref > 400
    assert res.p_value[0] == 0.0  # underflows
    assert np.isfinite(res.neg_log10_p_value[0]), (res.chi2[0], res.neg_log10_p_value[0], ref)
    _close(res.neg_log10_p_value[0], ref, rtol=1e-9)


# ---------------------------------------------------------------------- 8. ScanResult
def test_scan_result_tables_and_concat():
    data, model = _kron_fit("r<n", 1, False)
    Y, X = data["Y"], data["X"]
    Gc = _mixed_block(19, Y.shape[0], X)
    m = Gc.shape[1]
    ids = np.array([f"rs{j}" for j in range(m)])
    scanner = model.get_fast_scanner()
    res = scanner.scan_variants(Gc, "any", ids=ids, block_size=4)
    assert len(res) == m
    np.testing.assert_array_equal(res.ids, ids)
    df = res.to_dataframe()
    names = [f"trait{t}" for t in range(P)]
    assert list(df.columns) == [
        "lml_null", "lml_alt", "chi2", "dof", "F", "df1", "df2", "statistic", "p_value",
        "neg_log10_p_value", "scale", "n_missing", "reason",
        *[f"beta_{t}" for t in names], *[f"se_{t}" for t in names],
    ]  # fmt: skip
    assert set(df["statistic"]) == {"F"}  # the default: the exact F test
    assert df.index.name == "id"
    np.testing.assert_array_equal(df.index.to_numpy(), ids)
    np.testing.assert_array_equal(df["p_value"].to_numpy(), res.p_value)
    np.testing.assert_array_equal(df["beta_trait1"].to_numpy(), res.beta[:, 1])
    np.testing.assert_array_equal(df["se_trait2"].to_numpy(), res.se[:, 2])
    assert list(df["reason"]) == list(res.reason)
    long = res.effects_dataframe()
    assert list(long.columns) == ["id", "trait", "beta", "se"]
    assert len(long) == m * P
    np.testing.assert_array_equal(long["id"].to_numpy(), np.repeat(ids, P))
    assert list(long["trait"][:P]) == names
    np.testing.assert_array_equal(long["beta"].to_numpy(), res.beta.ravel())
    np.testing.assert_array_equal(long["se"].to_numpy(), res.se.ravel())
    # without ids the index is the position
    plain = scanner.scan_variants(Gc[:, :2], "common")
    assert plain.ids is None
    np.testing.assert_array_equal(plain.to_dataframe().index.to_numpy(), [0, 1])
    assert list(plain.to_dataframe().columns[-2:]) == ["beta_common", "se_common"]
    # concat of block results (pure scan_block on slices) equals one big scan
    plan = scanner.plan("any")
    parts = [scan_block(scanner.null, Gc[:, a : a + 3], plan, ids[a : a + 3])
             for a in range(0, m, 3)]  # fmt: skip
    whole = ScanResult.concat(parts)
    _assert_results_equal(whole, res)
    np.testing.assert_array_equal(whole.ids, ids)
    pd.testing.assert_frame_equal(whole.to_dataframe(), df, check_exact=False, rtol=1e-10)
    with pytest.raises(ValueError, match="nothing to concatenate"):
        ScanResult.concat([])


def test_scan_result_keeps_the_0_1_names_as_deprecated_aliases():
    """pvalue, neg_log10_pvalue, effect_names (kronlmm 0.1.0) read the new fields, warning;
    so do the 0.1.0 keys of scan()'s dict."""
    data, model = _kron_fit("r<n", 1, False)
    Gc = _mixed_block(23, data["Y"].shape[0], data["X"])
    scanner = model.get_fast_scanner()
    res = scanner.scan_variants(Gc, "any")
    for old, new in (("pvalue", "p_value"), ("neg_log10_pvalue", "neg_log10_p_value"),
                     ("effect_names", "trait_names")):  # fmt: skip
        with pytest.warns(DeprecationWarning, match=rf"'{old}' is deprecated.*use '{new}'"):
            value = getattr(res, old)
        assert value is getattr(res, new)
    out = scanner.scan(np.eye(P), np.nan_to_num(Gc[:, :1], nan=1.0))
    with pytest.warns(DeprecationWarning, match="'pvalue' is deprecated"):
        assert out["pvalue"] == out["p_value"]
    with pytest.warns(DeprecationWarning, match="'neg_log10_pvalue' is deprecated"):
        assert out["neg_log10_pvalue"] == out["neg_log10_p_value"]
    with pytest.raises(KeyError):
        out["no_such_key"]
    assert "pvalue" not in out  # the new keys only; the old ones answer when asked


def test_scan_variants_is_in_memory_only():
    """client= and checkpoint= moved to the scan driver: a clear TypeError says where."""
    data, model = _kron_fit("r<n", 1, False)
    scanner = model.get_fast_scanner()
    Gc = _mixed_block(24, data["Y"].shape[0], data["X"])
    for kw in ({"client": None}, {"checkpoint": "ck"}, {"blas_threads": 1}):
        with pytest.raises(TypeError, match=r"kronlmm\.gwas\.scan_candidates"):
            scanner.scan_variants(Gc, **kw)
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        scanner.scan_variants(Gc, block_size=-3)


def test_scan_blocks_assembles_by_block_whatever_the_order():
    """The one loop: results of a strategy that finishes blocks in any order come back in
    block order, with progress counted per finished block; broken strategies are caught."""
    data, model = _kron_fit("r<n", 1, False)
    Gc = _mixed_block(25, data["Y"].shape[0], data["X"])
    scanner = model.get_fast_scanner()
    null, plan = scanner.null, scanner.plan("common")
    ids = np.array([f"v{j}" for j in range(Gc.shape[1])])
    blocks = array_blocks(Gc, 5, ids)
    order = np.random.default_rng(3).permutation(len(blocks))

    def shuffled(task, null, plan, blocks):
        return ((blocks[i], task(null, plan, blocks[i])) for i in order)

    seen = []
    got = scan_blocks(null, plan, blocks, execution=shuffled,
                      progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    ref = scanner.scan_variants(Gc, "common", ids=ids, block_size=5)
    _assert_results_equal(got, ref, rtol=0)
    np.testing.assert_array_equal(got.ids, ids)
    sizes = np.array([blocks[i].size for i in order])
    assert seen == [(int(d), Gc.shape[1]) for d in np.cumsum(sizes)]

    def loses_one(task, null, plan, blocks):
        return ((b, task(null, plan, b)) for b in blocks[1:])

    with pytest.raises(RuntimeError, match=r"no result for blocks \[0\]"):
        scan_blocks(null, plan, blocks, execution=loses_one)
    with pytest.raises(ValueError, match="no candidate blocks"):
        scan_blocks(null, plan, [])
    with pytest.raises(ValueError, match="block indices must be"):
        scan_blocks(null, plan, [blocks[1]])


# --------------------------------------------------------------------- 9. glimix-core
@pytest.mark.peer
@pytest.mark.parametrize("covariates", ["intercept", "intercept+x"])
def test_fast_scanner_agrees_with_glimix_core(covariates):
    glimix = peers.glimix_lmm(fits=True)
    from numpy_sugar.linalg import economic_qs

    rng = np.random.default_rng(21)
    n = 150
    G = _standardised(_dosages(rng, n, 40)) / np.sqrt(40)
    Y, X = _simulate(22, n, 1, G, np.eye(1))
    y = Y[:, 0]
    if covariates == "intercept":
        X = X[:, :1]
    QS = economic_qs(G @ G.T)
    theirs = glimix.LMM(y, X, QS, restricted=False)
    theirs.fit(verbose=False)
    ours = LMM(y, X, QS)
    ours.delta = theirs.delta  # the same variance ratio
    Gc = np.c_[_dosages(rng, n, 20), y + rng.standard_normal(n)]
    t_scan = theirs.get_fast_scanner()
    o_scan = ours.get_fast_scanner()
    _close(o_scan.null_lml(), t_scan.null_lml(), rtol=1e-10)
    t, o = t_scan.fast_scan(Gc, verbose=False), o_scan.fast_scan(Gc)
    _close(o["lml"], t["lml"], rtol=1e-10)
    _close(o["effsizes1"], t["effsizes1"], rtol=1e-8)
    _close(o["scale"], t["scale"], rtol=1e-8)
    if covariates == "intercept":
        _close(o["effsizes1_se"], t["effsizes1_se"], rtol=1e-8)
    else:
        # glimix-core 3.1.14's fast_scan with ≥ 2 covariates (_multicovariate_loop)
        # returns √diag((EᵀBE)⁻¹) without the factor √scale that its scan() and its
        # 1-covariate loop apply; ours is √(scale·diag(...)) (= the dense formula above).
        _close(o["effsizes1_se"], t["effsizes1_se"] * np.sqrt(t["scale"]), rtol=1e-8)
    t, o = t_scan.scan(Gc[:, :2]), o_scan.scan(Gc[:, :2])
    for key in ("lml", "effsizes0", "effsizes0_se", "effsizes1", "effsizes1_se", "scale"):
        _close(o[key], t[key], rtol=1e-8)
    # each fitted on its own, the null likelihoods agree to the optimisers' tolerance
    ours.fit(verbose=False)
    assert ours.get_fast_scanner().null_lml() == pytest.approx(t_scan.null_lml(), abs=1e-6)


@pytest.mark.peer
def test_kron_scanner_agrees_with_glimix_core_rank1():
    glimix = peers.glimix_lmm(fits=True)
    rng = np.random.default_rng(23)
    n, p = 120, P
    G = _standardised(_dosages(rng, n, 30)) / np.sqrt(30)
    Y, X = _simulate(24, n, p, G, np.eye(p))
    peer = glimix.Kron2Sum(Y, np.eye(p), X, G, rank=1, restricted=False)  # ML: see below
    peer.fit(verbose=False)
    C0, C1 = peer.C0, peer.C1
    theirs = peer.get_fast_scanner()
    ours = KronFastScanner(Y, np.eye(p), X, G, (C0 + C0.T) / 2, (C1 + C1.T) / 2)
    # after glimix-core's ML fit both nulls are the model's lml (with REML its null scale
    # would be re-profiled differently)
    _close(ours.null_lml(), theirs.null_lml(), rtol=1e-10)
    _close(ours.null_lml(), peer.lml(), rtol=1e-8)
    Gc = np.c_[_dosages(rng, n, 2), Y[:, 0] - Y[:, 2] + rng.standard_normal(n)]
    for A1 in (np.eye(p), np.ones((p, 1)), A1_TWO):
        for X1 in (Gc[:, [0]], Gc[:, [2]], Gc[:, :2]):
            t, o = theirs.scan(A1, X1), ours.scan(A1, X1)
            _close(o["lml"], t["lml"], rtol=1e-10)
            _close(o["scale"], t["scale"], rtol=1e-8)
            for key in ("effsizes0", "effsizes1", "effsizes0_se", "effsizes1_se"):
                _close(o[key], t[key], rtol=1e-8)
