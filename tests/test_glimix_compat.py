"""glimix-core compatibility items (issue 10, points 4–6), one test each.

Every item is checked against a dense reference computed here; where glimix-core is
installed, also against glimix-core itself (tests marked ``peer``; none of them needs
glimix-core to fit, so they also run under SciPy ≥ 1.18). glimix-core's own suite, run
against kronlmm, is in ``tests/glimix_suite``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from numpy_sugar.linalg import economic_qs, economic_qs_linear

from kronlmm.core.parameters import Gradient
from kronlmm.cov import (
    DiagonalCov,
    EyeCov,
    FactorAnalyticCov,
    FreeFormCov,
    GivenCov,
    Kron2SumCov,
    LinearCov,
    LRFreeFormCov,
    SumCov,
)
from kronlmm.lmm import LMM, FastScanner, Kron2Sum, KronFastScanner, LMMPredict
from kronlmm.mean import KronMean, LinearMean, OffsetMean, SumMean
from kronlmm.testing import check_gradient, dense_ml_lml, dense_reml_lml

GLIMIX_EPSILON = 1.4901161193847656e-05


def _glimix(module: str):
    return pytest.importorskip(f"glimix_core.{module}")


def _gls(y, X, V):
    """Dense ML fit of y ~ N(Xβ, s·V): β, standard errors, s and the log-likelihood."""
    L = np.linalg.cholesky(V)
    Xw, yw = np.linalg.solve(L, X), np.linalg.solve(L, y)
    beta = np.linalg.lstsq(Xw, yw, rcond=None)[0]
    r = yw - Xw @ beta
    s = r @ r / y.size
    se = np.sqrt(s * np.diag(np.linalg.inv(Xw.T @ Xw)))
    return beta, se, s, dense_ml_lml(y, X, s * V)


# ---- FreeFormCov: Lu, logdet, the "Lu" gradient key -------------------------------------
def test_freeform_lu_is_glimix_core_lu():
    cov = FreeFormCov(2)
    cov.Lu = [0.5, 0.1, 0.2]  # strictly lower entries, then the log-diagonal
    L = np.array([[np.exp(0.1), 0.0], [0.5, np.exp(0.2)]])
    assert_allclose(cov.L, L, rtol=1e-15)
    assert_allclose(cov.value(), L @ L.T, rtol=1e-14)
    assert_allclose(cov.value(), [[1.2214, 0.5526], [0.5526, 1.7418]], atol=1e-4)
    assert_allclose(cov.Lu, [0.5, 0.1, 0.2])
    assert_allclose(cov.logdet(), np.linalg.slogdet(L @ L.T)[1], rtol=1e-13)


@pytest.mark.peer
def test_freeform_lu_and_gradient_equal_glimix_core():
    gcov = _glimix("cov")
    rng = np.random.default_rng(1)
    for p in (1, 2, 4):
        Lu = rng.normal(size=p * (p + 1) // 2)
        ours, theirs = FreeFormCov(p), gcov.FreeFormCov(p)
        ours.Lu = Lu
        theirs.Lu = Lu
        assert_allclose(ours.value() + GLIMIX_EPSILON * np.eye(p), theirs.value(), rtol=1e-13)
        assert_allclose(ours.gradient()["Lu"], theirs.gradient()["Lu"], rtol=1e-13, atol=1e-15)
        ours.floor = GLIMIX_EPSILON
        assert_allclose(ours.logdet(), theirs.logdet(), rtol=1e-12)


def test_lu_gradient_key_is_the_derivative_along_lu():
    cov = FreeFormCov(3)
    cov.Lu = np.random.default_rng(2).normal(size=6)
    grad = cov.gradient()
    assert list(grad) == ["Llow", "Llogd"] and "Lu" not in grad
    assert_allclose(grad["Lu"], np.concatenate([grad["Llow"], grad["Llogd"]], axis=-1))
    Lu, h = cov.Lu.copy(), 1e-6
    for i in range(6):
        step = np.zeros(6)
        step[i] = h
        cov.Lu = Lu + step
        up = cov.value()
        cov.Lu = Lu - step
        down = cov.value()
        assert_allclose(grad["Lu"][..., i], (up - down) / (2 * h), rtol=1e-7, atol=1e-9)
    cov.Lu = Lu
    assert Gradient({"a": np.ones(1)}).get("missing") is None


# ---- _check_grad on every function and model; check_gradient on models ---------------------
def _functions():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4, 3))
    K = X @ X.T + np.eye(4)
    ff = FreeFormCov(3)
    ff.Lu = rng.normal(size=6)
    k2 = Kron2SumCov(rng.normal(size=(4, 2)), 2, 1)
    k2.C0.Lu = rng.normal(size=2)
    k2.C1.Lu = rng.normal(size=3)
    lin = LinearMean(X)
    lin.effsizes = rng.normal(size=3)
    km = KronMean(rng.normal(size=(2, 2)), X)
    km.B = rng.normal(size=(3, 2))
    return [
        EyeCov(4),
        GivenCov(K),
        LinearCov(X),
        ff,
        LRFreeFormCov(3, 2),
        DiagonalCov(3),
        FactorAnalyticCov(3, 1),
        SumCov([LinearCov(X), EyeCov(4)]),
        k2,
        OffsetMean(4),
        lin,
        km,
        SumMean([OffsetMean(4), LinearMean(X)]),
    ]


@pytest.mark.parametrize("func", _functions(), ids=lambda f: type(f).__name__)
def test_check_grad_on_every_function(func):
    x0 = func.get_flat()
    assert func._check_grad() < 1e-6 * max(1.0, float(np.max(np.abs(func.flat_gradient()))))
    np.testing.assert_array_equal(func.get_flat(), x0)  # parameters restored


def test_check_grad_detects_a_wrong_gradient():
    class Wrong(FreeFormCov):
        def _own_gradient(self):
            grad = super()._own_gradient()
            return {"Llow": grad["Llow"], "Llogd": 1.01 * grad["Llogd"]}

    cov = Wrong(2)
    cov.Lu = [0.3, 0.2, -0.1]
    assert cov._check_grad() > 1e-2
    assert not check_gradient(cov).passed


def _kron_model(restricted=False, seed=4):
    rng = np.random.default_rng(seed)
    Y = rng.normal(size=(12, 2))
    return Kron2Sum(Y, np.eye(2), np.ones((12, 1)), rng.normal(size=(12, 5)), rank=2,
                    restricted=restricted)  # fmt: skip


@pytest.mark.parametrize("restricted", [False, True])
def test_model_gradients_checked(restricted):
    model = _kron_model(restricted)
    assert model._check_grad(step=1e-7) < 1e-5
    check = check_gradient(model)
    assert check.passed and check.analytic.shape == (model.cov.nparams,)
    rng = np.random.default_rng(5)
    y = rng.normal(size=15)
    lmm = LMM(y, np.ones((15, 1)), economic_qs_linear(rng.normal(size=(15, 4))), restricted)
    lmm.delta = 0.4
    lmm.beta = [0.3]  # held: ∂/∂β ≠ 0
    assert lmm._check_grad() < 1e-6
    assert check_gradient(lmm).passed


def test_check_gradient_detects_a_wrong_model_gradient(monkeypatch):
    model = _kron_model()
    right = model.gradient

    def wrong():
        g = dict(right())
        g["C1.Llogd"] = 1.05 * g["C1.Llogd"]
        return g

    monkeypatch.setattr(model, "gradient", wrong)
    assert not check_gradient(model).passed
    with pytest.raises(TypeError, match="check_gradient needs"):
        check_gradient(object())


# ---- Kron2SumCov: Lx, Lh, gradient_dot, LdKL_dot ----------------------------------------------
def _kron2sumcov(seed=6, n=5, r=3, p=3, rank=2):
    rng = np.random.default_rng(seed)
    cov = Kron2SumCov(rng.normal(size=(n, r)), p, rank)
    cov.C0.Lu = rng.normal(size=p * rank)
    cov.C1.Lu = rng.normal(size=p * (p + 1) // 2)
    return cov, rng


def test_kron2sumcov_whitening_views_mean_what_glimix_core_says():
    cov, _ = _kron2sumcov()
    n, p = cov.nsamples, cov.ntraits
    Lx, Lh = cov.Lx, cov.Lh
    G = cov.G
    assert_allclose(Lx @ Lx.T, np.eye(n), atol=1e-13)
    W = Lx @ G @ G.T @ Lx.T
    assert_allclose(W, np.diag(np.diag(W)), atol=1e-12)
    assert_allclose(Lh @ cov.C1.value() @ Lh.T, np.eye(p), atol=1e-12)
    Sh = Lh @ cov.C0.value() @ Lh.T
    assert_allclose(Sh, np.diag(np.diag(Sh)), atol=1e-12)
    assert np.all(np.diff(np.diag(Sh)) >= -1e-12)  # ascending, as glimix-core's eigh
    L = np.kron(Lh, Lx)
    D = 1.0 / (np.kron(np.diag(Sh), np.diag(W)) + 1.0)
    assert_allclose(L.T @ (D[:, None] * L), np.linalg.inv(cov.value()), rtol=1e-9, atol=1e-12)


def test_gradient_dot_and_ldkl_dot_equal_dense_products():
    cov, rng = _kron2sumcov()
    n, p = cov.nsamples, cov.ntraits
    dK = cov.gradient()
    L = np.kron(cov.Lh, cov.Lx)
    v = rng.normal(size=n * p)
    V = rng.normal(size=(n * p, 4))
    gd1, gd2 = cov.gradient_dot(v), cov.gradient_dot(V)
    ld1, ld2 = cov.LdKL_dot(v), cov.LdKL_dot(V)
    for key in ("C0.Lu", "C1.Llow", "C1.Llogd", "C1.Lu"):
        dense = np.moveaxis(dK[key], -1, 0)  # (q, np, np)
        assert_allclose(gd1[key], np.einsum("qab,b->aq", dense, v), atol=1e-12)
        assert_allclose(gd2[key], np.einsum("qab,bj->jaq", dense, V), atol=1e-12)
        LdL = np.einsum("ab,qbc,dc->qad", L, dense, L)
        assert_allclose(ld1[key], np.einsum("qab,b->aq", LdL, v), atol=1e-11)
        assert_allclose(ld2[key], np.einsum("qab,bj->ajq", LdL, V), atol=1e-11)
    with pytest.raises(ValueError, match="v has shape"):
        cov.gradient_dot(np.ones(3))


@pytest.mark.peer
def test_gradient_dot_and_logdet_gradient_equal_glimix_core():
    gcov = _glimix("cov")
    cov, rng = _kron2sumcov(p=2, rank=1)
    theirs = gcov.Kron2SumCov(cov.G, 2, 1)
    theirs.C0.Lu = cov.C0.Lu
    theirs.C1.Lu = cov.C1.Lu
    v = rng.normal(size=cov.nsamples * 2)
    ours_gd, theirs_gd = cov.gradient_dot(v), theirs.gradient_dot(v)
    for key in ("C0.Lu", "C1.Lu"):
        assert_allclose(ours_gd[key], theirs_gd[key], rtol=1e-10, atol=1e-12)
    cov.C1.floor = GLIMIX_EPSILON  # glimix-core's C₁ = LLᵀ + εI
    assert_allclose(cov.logdet(), theirs.logdet(), rtol=1e-10)
    ours_ld, theirs_ld = cov.logdet_gradient(), theirs.logdet_gradient()
    for key in ("C0.Lu", "C1.Lu"):
        assert_allclose(ours_ld[key], theirs_ld[key], rtol=1e-8)


# ---- names, KronMean.B, warnings -------------------------------------------------------------
def test_models_have_glimix_core_names():
    model = _kron_model()
    assert model.name == "Kron2Sum"
    model.name = "mine"
    assert model.name == "mine"
    lmm = LMM(np.arange(4.0), np.ones((4, 1)))
    assert lmm.name == "LMM"


@pytest.mark.parametrize("shape", ["ca", "flat", "ac"])
def test_kron_mean_b_accepts_glimix_core_shapes(shape):
    rng = np.random.default_rng(7)
    A, X = rng.normal(size=(2, 2)), rng.normal(size=(4, 3))
    B = rng.normal(size=(3, 2))
    vecB = B.ravel(order="F")
    value = {"ca": B, "flat": vecB, "ac": vecB.reshape(2, 3, order="F")}[shape]
    mean = KronMean(A, X)
    mean.B = value
    assert_allclose(mean.value(), np.kron(A, X) @ vecB, rtol=1e-13)
    assert_allclose(mean.B, B)


@pytest.mark.peer
def test_kron_mean_b_equals_glimix_core():
    gmean = _glimix("mean")
    rng = np.random.default_rng(8)
    A, X, B = rng.normal(size=(2, 2)), rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    ours, theirs = KronMean(A, X), gmean.KronMean(A, X)
    ours.B = B  # (p, c): glimix-core reads its column-major vec
    theirs.B = B
    assert_allclose(ours.value(), theirs.value(), rtol=1e-13)


def test_glimix_core_warnings_are_user_warnings():
    rng = np.random.default_rng(9)
    n = 6
    Y, G = rng.normal(size=(n, 2)), rng.normal(size=(n, 3))
    with pytest.warns(UserWarning, match="Y is not full column rank"):
        Kron2Sum(np.hstack([Y, Y]), None, None, G, restricted=True)
    X = rng.normal(size=(n, 2))
    with pytest.warns(UserWarning, match="X is not full column rank"):
        Kron2Sum(Y, None, np.hstack([X, X]), G, restricted=True)
    with pytest.warns(UserWarning, match="more parameters"):
        Kron2Sum(Y[:3], None, X[:3], G[:3], rank=2, restricted=True)
    # ML with rank(A ⊗ X) ≥ n·p warns and goes on; its lml is the dense density
    Xs = rng.normal(size=(3, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = Kron2Sum(Y[:3], None, Xs, G[:3])
    assert any("no residual degrees of freedom" in str(w.message) for w in caught)
    assert all(issubclass(w.category, UserWarning) for w in caught)
    K = np.kron(model.C0, G[:3] @ G[:3].T) + np.kron(model.C1, np.eye(3))
    assert_allclose(model.lml(), dense_ml_lml(Y[:3].ravel(order="F"), np.kron(np.eye(2), Xs), K))
    # REML without residual degrees of freedom stays an error
    with pytest.raises(ValueError, match="REML needs at least one"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Kron2Sum(Y[:3], None, Xs, G[:3], restricted=True)


# ---- Kron2Sum's state after construction: glimix-core's ---------------------------------------
@pytest.mark.parametrize("rank", [1, 2])
def test_kron2sum_starts_in_glimix_core_state(rank):
    rng = np.random.default_rng(10)
    n, p = 8, 2
    Y, A = rng.normal(size=(n, p)), rng.normal(size=(p, p))
    X, G = rng.normal(size=(n, 2)), rng.normal(size=(n, 6))
    model = Kron2Sum(Y, A @ A.T, X, G, rank=rank, restricted=True)
    g = max(G.min(), G.max())
    L1 = np.tril(np.ones((p, p)))
    assert_allclose(model.C0, rank * np.ones((p, p)) / g**2, rtol=1e-12)
    assert_allclose(model.C1, L1 @ L1.T + GLIMIX_EPSILON * np.eye(p), rtol=1e-12)
    K = np.kron(model.C0, G @ G.T) + np.kron(model.C1, np.eye(n))
    M = np.kron(A @ A.T, X)
    assert_allclose(model.lml(), dense_reml_lml(Y.ravel(order="F"), M, K), rtol=1e-10)


@pytest.mark.peer
@pytest.mark.parametrize("rank", [1, 2])
def test_kron2sum_state_and_lml_before_fit_equal_glimix_core(rank):
    glmm = _glimix("lmm")
    rng = np.random.default_rng(11)
    n, p = 10, 3
    Y, A = rng.normal(size=(n, p)), rng.normal(size=(p, p))
    X, G = rng.normal(size=(n, 2)), rng.normal(size=(n, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glimix-core's own warnings (rank ≥ 2)
        theirs = glmm.Kron2Sum(Y, A @ A.T, X, G, rank=rank, restricted=True)
    ours = Kron2Sum(Y, A @ A.T, X, G, rank=rank, restricted=True)
    assert_allclose(ours.C0, theirs.C0, rtol=1e-12)
    assert_allclose(ours.C1, theirs.C1, rtol=1e-12)
    assert_allclose(ours.covariance(), theirs.covariance(), rtol=1e-12)
    assert_allclose(ours.lml(), theirs.lml(), rtol=1e-10)
    assert_allclose(ours.beta, theirs.beta, rtol=1e-8)


# ---- LMM: assigned β and s; LMMPredict ---------------------------------------------------------
def _lmm_data(seed=12, n=20):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(n, 8))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [1.0, -0.5] + G @ rng.normal(size=8) * 0.3 + rng.normal(size=n)
    return y, X, G


@pytest.mark.parametrize("restricted", [False, True])
def test_lmm_lml_honours_assigned_beta_and_scale(restricted):
    y, X, G = _lmm_data()
    K = G @ G.T
    lmm = LMM(y, X, economic_qs_linear(G), restricted=restricted)
    lmm.delta = 0.3
    lmm.beta = [0.5, 0.2]
    lmm.scale = 1.7
    V = 1.7 * (0.7 * K + 0.3 * np.eye(y.size))
    # log N(y; Xβ, V), plus for REML glimix-core's terms ½log|XᵀX| − ½log|XᵀV⁻¹X| + ½c·log 2π
    ref = dense_ml_lml(y - X @ [0.5, 0.2], np.zeros((y.size, 0)), V)
    if restricted:
        ref += 0.5 * (
            np.linalg.slogdet(X.T @ X)[1]
            - np.linalg.slogdet(X.T @ np.linalg.solve(V, X))[1]
            + X.shape[1] * np.log(2 * np.pi)
        )
    assert_allclose(lmm.lml(), ref, rtol=1e-10)
    lmm.fit(verbose=False)  # re-optimises the free parameters
    assert lmm.lml() > ref


@pytest.mark.peer
def test_lmm_assigned_values_give_glimix_core_lml():
    glmm = pytest.importorskip("glimix_core.lmm")
    y, X, G = _lmm_data(13)
    QS = economic_qs_linear(G)
    for restricted in (False, True):
        ours, theirs = LMM(y, X, QS, restricted), glmm.LMM(y, X, QS, restricted)
        for model in (ours, theirs):
            model.delta = 0.25
            model.beta = [0.8, -0.1]
            model.scale = 0.9
        assert_allclose(ours.lml(), theirs.lml(), rtol=1e-10)
        for model in (ours, theirs):
            model.delta = 0.6
        assert_allclose(ours.lml(), theirs.lml(), rtol=1e-10)


def test_lmm_predict_is_the_dense_blup():
    y, X, G = _lmm_data(14, n=25)
    train, new = np.arange(18), np.arange(18, 25)
    K = G @ G.T
    lmm = LMM(y[train], X[train], economic_qs_linear(G[train]))
    lmm.fit(verbose=False)
    pred = LMMPredict.from_lmm(lmm)
    v0, v1 = lmm.v0, lmm.v1
    C = v0 * K[np.ix_(train, train)] + v1 * np.eye(train.size)
    ks, kss = K[np.ix_(new, train)], K[np.ix_(new, new)]
    mean = pred.predictive_mean(X[new], ks, np.diag(kss))
    var = pred.predictive_covariance(X[new], ks, np.diag(kss))
    r = y[train] - X[train] @ lmm.beta
    assert_allclose(mean, X[new] @ lmm.beta + v0 * ks @ np.linalg.solve(C, r), rtol=1e-10)
    full = v0 * kss + v1 * np.eye(new.size) - v0**2 * ks @ np.linalg.solve(C, ks.T)
    assert_allclose(var, np.diag(full), rtol=1e-10)
    with pytest.raises(ValueError, match="not positive definite"):
        LMMPredict(y[train], lmm.beta, v0, v1, lmm.mean(), -C)


@pytest.mark.peer
def test_lmm_predict_equals_glimix_core():
    glmm = pytest.importorskip("glimix_core.lmm")
    y, X, G = _lmm_data(15)
    K = G @ G.T
    args = (y, np.array([0.9, -0.4]), 0.7, 0.4, X @ [0.9, -0.4], 0.7 * K + 0.4 * np.eye(y.size))
    ours, theirs = LMMPredict(*args), glmm.LMMPredict(*args)
    Xs, ks, kss = X[:5] + 0.1, K[:5] * 0.9, np.diag(K)[:5] * 1.1
    assert_allclose(ours.predictive_mean(Xs, ks, kss), theirs.predictive_mean(Xs, ks, kss))
    assert_allclose(
        ours.predictive_covariance(Xs, ks, kss), theirs.predictive_covariance(Xs, ks, kss)
    )


# ---- FastScanner(y, X, QS, v), effsizes0, the δ = 0 scanner ------------------------------------
def _scan_data(seed=16, n=30):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(n, 50)) / np.sqrt(50)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [0.5, 1.0] + G @ rng.normal(size=50) + 0.5 * rng.normal(size=n)
    M = rng.normal(size=(n, 4))
    return y, X, G, M


def test_fast_scanner_glimix_core_signature_and_effsizes0():
    y, X, G, M = _scan_data()
    QS = economic_qs(G @ G.T)
    v = 0.4
    scanner = FastScanner(y, X, QS, v)
    same = FastScanner(y, X, QS[0][0], QS[1], 1.0, v)
    V = G @ G.T + v * np.eye(y.size)
    r = scanner.fast_scan(M)
    assert_allclose(r["lml"], same.fast_scan(M)["lml"], rtol=1e-12)
    for j in range(M.shape[1]):
        beta, se, s, lml = _gls(y, np.column_stack([X, M[:, j]]), V)
        assert_allclose(r["lml"][j], lml, rtol=1e-10)
        assert_allclose(r["scale"][j], s, rtol=1e-9)
        assert_allclose(r["effsizes0"][j], beta[:2], rtol=1e-8)
        assert_allclose(r["effsizes0_se"][j], se[:2], rtol=1e-8)
        assert_allclose(r["effsizes1"][j], beta[2], rtol=1e-8)
        assert_allclose(r["effsizes1_se"][j], se[2], rtol=1e-8)
    for bad in (-1.0, np.nan):
        with pytest.raises(ValueError, match="v1"):
            FastScanner(y, X, QS, bad)
    with pytest.raises(ValueError, match="got QS together with v0/v1"):
        FastScanner(y, X, QS, v, 1.0, 1.0)
    with pytest.raises(ValueError, match="v0 and v1 are missing"):
        FastScanner(y, X, QS[0][0], QS[1])


@pytest.mark.peer
@pytest.mark.parametrize("ncov", [1, 2])
def test_fast_scanner_equals_glimix_core(ncov):
    glmm = pytest.importorskip("glimix_core.lmm")
    y, X, G, M = _scan_data(17)
    X = X[:, :ncov]
    QS = economic_qs(G @ G.T)
    for v in (0.4, 0.0):  # v = 0: K of full rank, so the covariance is not singular
        ours, theirs = FastScanner(y, X, QS, v).fast_scan(M), glmm.FastScanner(y, X, QS, v)
        theirs = theirs.fast_scan(M, verbose=False)
        for key in ("lml", "effsizes0", "effsizes1", "scale"):
            assert_allclose(ours[key], theirs[key], rtol=1e-6, err_msg=key)
        # glimix-core's fast_scan with two or more covariates leaves the scale out of its
        # standard errors (its scan() and its one-covariate fast_scan keep it); kronlmm's
        # are the dense ones (test_fast_scanner_glimix_core_signature_and_effsizes0).
        factor = np.sqrt(ours["scale"]) if ncov > 1 else np.ones(M.shape[1])
        for key in ("effsizes0_se", "effsizes1_se"):
            expected = theirs[key] * (factor[:, None] if key == "effsizes0_se" else factor)
            assert_allclose(ours[key], expected, rtol=1e-6, err_msg=key)


def test_lmm_scanner_at_delta_zero_end_to_end():
    """LMM.from_G on data whose ML optimum is δ = 0 (K of full rank): the scanner works and
    equals a dense GLS with covariance v₀·K (v₁ = 0)."""
    rng = np.random.default_rng(18)
    n = 40
    G = rng.normal(size=(n, 60)) / np.sqrt(60)
    y = 1.0 + G @ rng.normal(size=60)  # no noise term: δ̂ = 0
    X = np.ones((n, 1))
    lmm = LMM.from_G(y, X, G)
    result = lmm.fit(verbose=False)
    assert result.success and lmm.delta == 0.0 and lmm.v1 == 0.0
    K = G @ G.T
    scanner = lmm.get_fast_scanner()
    assert_allclose(scanner.null_lml(), lmm.lml(), rtol=1e-10)
    _, _, s0, lml0 = _gls(y, X, lmm.v0 * K)
    assert_allclose(scanner.null_lml(), lml0, rtol=1e-10)
    assert_allclose(scanner.null_scale, s0, rtol=1e-9)
    M = rng.normal(size=(n, 5))
    res = scanner.scan_variants(M)
    fast = scanner.fast_scan(M)
    for j in range(M.shape[1]):
        beta, se, s, lml = _gls(y, np.column_stack([X, M[:, j]]), lmm.v0 * K)
        assert_allclose([res.lml_alt[j], fast["lml"][j]], lml, rtol=1e-9)
        assert_allclose(res.beta[j, 0], beta[1], rtol=1e-7)
        assert_allclose(res.se[j, 0], se[1], rtol=1e-7)
        assert_allclose(fast["effsizes0"][j], beta[:1], rtol=1e-7)
    assert np.all(np.isfinite(res.p_value))


@pytest.mark.peer
def test_lmm_scanner_at_delta_zero_equals_glimix_core():
    glmm = pytest.importorskip("glimix_core.lmm")
    rng = np.random.default_rng(19)
    n = 30
    G = rng.normal(size=(n, 60)) / np.sqrt(60)
    y = 1.0 + G @ rng.normal(size=60)
    X = np.ones((n, 1))
    lmm = LMM.from_G(y, X, G)
    lmm.fit(verbose=False)
    assert lmm.delta == 0.0
    QS = economic_qs(G @ G.T)
    theirs = glmm.FastScanner(y, X, ((QS[0][0],), lmm.v0 * QS[1]), 0.0)
    ours = lmm.get_fast_scanner()
    assert_allclose(ours.null_lml(), theirs.null_lml(), rtol=1e-9)
    M = rng.normal(size=(n, 3))
    a, b = ours.fast_scan(M), theirs.fast_scan(M, verbose=False)
    for key in ("lml", "effsizes1", "effsizes1_se", "scale"):
        assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)


def test_kron_scanner_empty_a1_is_the_null_and_saturated_set_is_nan():
    model = _kron_model()
    model.set_start(C0=0.3 * np.eye(2), C1=np.eye(2))
    scanner = model.get_fast_scanner()
    F1 = np.random.default_rng(20).normal(size=(12, 3))
    r = scanner.scan(np.empty((2, 0)), F1)
    assert r["lml"] == scanner.null_lml() and r["dof"] == 0 and r["p_value"] == 1.0
    assert_allclose(r["effsizes0"], scanner.null_beta.reshape(2, 1).T)
    assert r["effsizes1"].shape == (3, 0)
    big = np.random.default_rng(21).normal(size=(12, 11))  # with the intercept: 24 = n·p
    r = scanner.scan(np.eye(2), big)
    assert r["reason"].startswith("no residual degrees of freedom") and np.isnan(r["lml"])
    assert isinstance(scanner, KronFastScanner)


def test_lmm_scanner_at_delta_one_is_ordinary_least_squares():
    rng = np.random.default_rng(2)  # pure noise: the ML optimum is δ = 1
    n = 40
    G = rng.normal(size=(n, 5))
    y = 1.0 + rng.normal(size=n)
    X = np.ones((n, 1))
    lmm = LMM.from_G(y, X, G)
    lmm.fit(verbose=False)
    assert lmm.delta == 1.0 and lmm.v0 == 0.0
    scanner = lmm.get_fast_scanner()
    M = rng.normal(size=(n, 3))
    fast = scanner.fast_scan(M)
    for j in range(M.shape[1]):
        beta, se, s, lml = _gls(y, np.column_stack([X, M[:, j]]), np.eye(n))
        assert_allclose(fast["lml"][j], lml, rtol=1e-10)
        assert_allclose(fast["effsizes1"][j], beta[1], rtol=1e-8)
        assert_allclose(fast["effsizes1_se"][j], se[1], rtol=1e-8)


def test_saturated_ml_model_evaluates_but_refuses_to_fit():
    rng = np.random.default_rng(22)
    Y, X, G = rng.normal(size=(3, 2)), rng.normal(size=(3, 3)), rng.normal(size=(3, 4))
    with (
        pytest.warns(UserWarning, match="no residual degrees of freedom"),
        pytest.warns(UserWarning, match="more parameters"),
    ):
        model = Kron2Sum(Y, None, X, G)
    assert np.isfinite(model.lml())
    with pytest.raises(ValueError, match="cannot fit: rank"):
        model.fit(verbose=False)
