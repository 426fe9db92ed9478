"""Generic checks run on one parametrised list of covariance objects.

Every instance's value is compared with an independent dense construction
(:func:`dense_reference`, built from the raw parameter values with NumPy only), its
gradient with central finite differences, and its bookkeeping (fix/unfix, flat view, repr)
with what the framework promises.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from kronlmm.core.parameters import Function
from kronlmm.cov import (
    DiagonalCov,
    EyeCov,
    FactorAnalyticCov,
    FixedCov,
    FreeFormCov,
    GivenCov,
    Kron2SumCov,
    LinearCov,
    LRFreeFormCov,
    SumCov,
)
from kronlmm.testing import check_covariance, check_gradient


# ---- independent dense reference ---------------------------------------------------------
def dense_reference(cov: Function) -> np.ndarray:
    """Dense value of ``cov`` computed from its raw parameter values."""
    par = {k: p.value for k, p in cov.parameters().items()}
    if isinstance(cov, EyeCov):
        return np.exp(par["logscale"]) * np.eye(cov.dim)
    if isinstance(cov, GivenCov):
        return np.exp(par["logscale"]) * np.asarray(cov.K0)
    if isinstance(cov, LinearCov):
        X = np.asarray(cov.X)
        return np.exp(par["logscale"]) * np.einsum("ik,jk->ij", X, X)
    if isinstance(cov, FreeFormCov):
        p = cov.dim
        L = np.zeros((p, p))
        k = 0
        for i in range(p):
            for j in range(i):
                L[i, j] = par["Llow"][k]
                k += 1
            L[i, i] = np.exp(par["Llogd"][i])
        return np.einsum("ik,jk->ij", L, L) + cov.floor * np.eye(p)
    if isinstance(cov, LRFreeFormCov):
        n, m = cov.L.shape
        L = par["Lu"].reshape(n, m)
        return np.einsum("ik,jk->ij", L, L)
    if isinstance(cov, DiagonalCov):
        return np.diag(np.exp(par["logv"]))
    if isinstance(cov, FactorAnalyticCov):
        L = par["Lambda"].reshape(cov.dim, cov.nfactors)
        return np.einsum("ik,jk->ij", L, L) + np.diag(np.exp(par["logpsi"]))
    if isinstance(cov, FixedCov):
        return np.asarray(cov.value_given)
    if isinstance(cov, SumCov):
        return sum(dense_reference(c) for c in cov.covariances)
    if isinstance(cov, Kron2SumCov):
        G = np.asarray(cov.G)
        n = G.shape[0]
        return np.kron(dense_reference(cov.C0), G @ G.T) + np.kron(
            dense_reference(cov.C1), np.eye(n)
        )
    raise TypeError(f"no dense reference for {type(cov).__name__}")


# ---- the instances -----------------------------------------------------------------------
def _spd(rng: np.random.Generator, n: int) -> np.ndarray:
    A = rng.normal(size=(n, n))
    return A @ A.T / n + 0.1 * np.eye(n)


def _freeform(rng: np.random.Generator, p: int, floor: float = 0.0) -> FreeFormCov:
    cov = FreeFormCov(p, floor=floor)
    L = np.tril(rng.normal(size=(p, p)), -1) + np.diag(rng.uniform(0.5, 1.5, p))
    cov.L = L
    return cov


def _lrfree(rng: np.random.Generator, n: int, m: int) -> LRFreeFormCov:
    cov = LRFreeFormCov(n, m)
    cov.L = rng.normal(size=(n, m))
    return cov


def _scaled(cov, scale: float):
    cov.scale = scale
    return cov


def _fixed(cov: Function, *names: str) -> Function:
    for name in names:
        cov.fix(name)
    return cov


def _kron2sum(rng: np.random.Generator, n: int, r: int, p: int, rank: int) -> Function:
    cov = Kron2SumCov(rng.normal(size=(n, r)), p, rank)
    cov.C0.L = rng.normal(size=(p, rank))
    cov.C1.L = np.tril(rng.normal(size=(p, p)), -1) + np.diag(rng.uniform(0.5, 1.5, p))
    return cov


@dataclass
class Case:
    id: str
    build: Callable[[np.random.Generator], Function]
    structured: bool = False  # offers solve/logdet/logdet_gradient

    def make(self) -> Function:
        return self.build(np.random.default_rng(zlib.crc32(self.id.encode())))


CASES = [
    Case("eye", lambda g: _scaled(EyeCov(4), 1.7)),
    Case("given", lambda g: _scaled(GivenCov(_spd(g, 5)), 0.6)),
    Case("linear", lambda g: _scaled(LinearCov(g.normal(size=(5, 3))), 2.3)),
    Case("linear-1d", lambda g: _scaled(LinearCov(g.normal(size=4)), 0.4)),
    Case("freeform", lambda g: _freeform(g, 3)),
    Case("freeform-floor", lambda g: _freeform(g, 4, floor=0.25)),
    Case("freeform-fixed-Llogd", lambda g: _fixed(_freeform(g, 3), "Llogd")),
    Case("lrfreeform", lambda g: _lrfree(g, 4, 2)),
    Case("lrfreeform-rank1", lambda g: _lrfree(g, 3, 1)),
    Case("eye-all-fixed", lambda g: _fixed(_scaled(EyeCov(3), 0.8), "logscale")),
    Case(
        "sum2",
        lambda g: SumCov([_scaled(LinearCov(g.normal(size=(4, 2))), 1.3), _scaled(EyeCov(4), 0.5)]),
    ),
    Case(
        "sum3-named",
        lambda g: SumCov(
            [
                _scaled(GivenCov(_spd(g, 3), name="K"), 0.9),
                FreeFormCov(3, name="C"),
                _scaled(EyeCov(3, name="noise"), 0.2),
            ]
        ),
    ),
    Case(
        "sum3-child-fixed",
        lambda g: _fixed(SumCov([_freeform(g, 3), _lrfree(g, 3, 2), _scaled(EyeCov(3), 0.3)]), "1"),
    ),
    Case(
        "sum-nested",
        lambda g: SumCov(
            [
                SumCov([_scaled(EyeCov(4), 1.1), _scaled(LinearCov(g.normal(size=(4, 2))), 0.7)]),
                _fixed(_freeform(g, 4), "Llow"),
            ]
        ),
    ),
]


def _diagonal(rng: np.random.Generator, p: int) -> DiagonalCov:
    cov = DiagonalCov(p)
    cov.variances = rng.uniform(0.2, 2.0, p)
    return cov


def _factor(rng: np.random.Generator, p: int, k: int) -> FactorAnalyticCov:
    cov = FactorAnalyticCov(p, k)
    cov.Lambda = rng.normal(size=(p, k))
    cov.psi = rng.uniform(0.1, 1.0, p)
    return cov


def _fixed_given(rng: np.random.Generator, p: int) -> FixedCov:
    C = _spd(rng, p)
    cov = FixedCov(C)
    cov.value_given = C  # for the dense reference: the matrix as given
    return cov


# trait covariances (also run through the model in tests/test_trait_covariances.py)
CASES += [
    Case("diagonal", lambda g: _diagonal(g, 4)),
    Case("diagonal-fixed", lambda g: _fixed(_diagonal(g, 3), "logv")),
    Case("factor-analytic", lambda g: _factor(g, 5, 2)),
    Case("factor-analytic-psi-fixed", lambda g: _fixed(_factor(g, 4, 1), "logpsi")),
    Case("fixed", lambda g: _fixed_given(g, 3)),
    Case("sum-lowrank-diagonal", lambda g: SumCov([_lrfree(g, 4, 1), _diagonal(g, 4)])),
]
CASES += [
    Case("kron2sum", lambda g: _kron2sum(g, 5, 3, 2, 1), True),
    Case("kron2sum-rank2", lambda g: _kron2sum(g, 4, 6, 3, 2), True),
    Case("kron2sum-C0-fixed", lambda g: _fixed(_kron2sum(g, 4, 2, 2, 1), "C0"), True),
    Case(
        "sum-kron2sum-eye",
        lambda g: SumCov([_kron2sum(g, 3, 2, 2, 1), _scaled(EyeCov(6), 0.2)]),
    ),
]


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def cov(request: pytest.FixtureRequest) -> Function:
    return request.param.make()


# ---- generic checks ----------------------------------------------------------------------
def test_check_covariance_passes(cov):
    """kronlmm.testing.check_covariance (what users run on their own objects) passes on
    every object of the list, and leaves the parameters as they were."""
    before = cov.get_flat().copy()
    report = check_covariance(cov)
    assert report.passed, str(report)
    assert len(report.results) >= 5
    np.testing.assert_array_equal(cov.get_flat(), before)


def test_check_covariance_catches_a_wrong_gradient():
    class Broken(DiagonalCov):
        def _own_gradient(self):
            g = super()._own_gradient()
            return {"logv": 1.01 * g["logv"]}  # 1% off

        def contract_gradient(self, M):
            return {"logv": 1.01 * np.diag(np.asarray(M)) * self.variances}

    report = check_covariance(Broken(3))
    assert not report.passed
    assert any("finite differences" in f for f in report.failures())
    with pytest.raises(AssertionError, match="failed checks"):
        report.raise_if_failed()


def test_check_covariance_catches_a_wrong_unit_scaling():
    class Unscaled(DiagonalCov):
        def unit_scaling(self, d):
            return np.ones(self.dim), np.log(d)  # should be 2·log d

    report = check_covariance(Unscaled(3))
    assert not report.passed
    assert any("unit scaling" in f for f in report.failures())


TRAIT = [
    c
    for c in CASES
    if c.id.startswith(("freeform", "lrfreeform", "diagonal", "factor", "fixed", "sum-lowrank"))
]


@pytest.mark.parametrize("case", TRAIT, ids=[c.id for c in TRAIT])
def test_unit_scaling_follows_trait_units(case, rng):
    """C(shift + scale·θ) = D C(θ) D for trait units D, from the raw parameters (dense
    reference), the floor of FreeFormCov aside."""
    cov = case.make()
    if cov.nparams == 0 or any(par.fixed for par in cov.parameters().values()):
        pytest.skip("fixed parameters cannot follow a change of units")
    assert cov.follows_units
    p = cov.dim
    d = np.exp(rng.uniform(-4, 4, p))
    theta = cov.get_flat().copy()
    C = dense_reference(cov)
    floor = np.diag(np.broadcast_to(np.asarray(getattr(cov, "floor", 0.0)), (p,)))
    scale, shift = cov.unit_scaling(d)
    assert scale.shape == shift.shape == theta.shape
    cov.set_flat(shift + scale * theta)
    np.testing.assert_allclose(
        dense_reference(cov), d[:, None] * (C - floor) * d[None, :] + floor, rtol=1e-12
    )
    bounds = cov.unit_bounds()
    assert len(bounds) == theta.size


def test_value_matches_dense_reference(cov):
    K = cov.value()
    np.testing.assert_allclose(K, dense_reference(cov), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K, K.T, rtol=0, atol=1e-12)
    if hasattr(cov, "dim"):
        assert K.shape == (cov.dim, cov.dim)


def test_gradient_keys_and_shapes(cov):
    grad = cov.gradient()
    free = cov.free_parameters()
    assert list(grad) == list(free)
    shape = cov.value().shape
    for name, g in grad.items():
        assert g.shape == shape + (free[name].size,), name
    assert cov.flat_gradient().shape == shape + (cov.nparams,)


def test_gradient_matches_finite_differences_helper(cov):
    before = cov.get_flat().copy()
    res = check_gradient(cov, step=1e-6)
    assert res.max_rel_error <= 1e-5, (res.worst, res.max_rel_error)
    assert res.passed
    np.testing.assert_array_equal(cov.get_flat(), before)  # parameters restored


def test_gradient_matches_inline_finite_differences(cov):
    """Independent of kronlmm.testing: perturb each Parameter object directly."""
    grad = cov.gradient()
    for name, par in cov.free_parameters().items():
        x0 = par.value.copy()
        for i in range(par.size):
            h = 1e-6 * max(1.0, abs(x0.flat[i]))
            xp, xm = x0.copy(), x0.copy()
            xp.flat[i] += h
            xm.flat[i] -= h
            par.set(xp)
            Kp = cov.value()
            par.set(xm)
            Km = cov.value()
            par.set(x0)
            num = (Kp - Km) / (2 * h)
            ana = grad[name][..., i]
            scale = max(np.max(np.abs(num)), np.max(np.abs(ana)), 1e-3)
            assert np.max(np.abs(num - ana)) / scale <= 1e-5, (name, i)


def test_contract_gradient_equals_tensordot(cov, rng):
    if not hasattr(cov, "contract_gradient"):
        pytest.skip(f"{type(cov).__name__} has no contract_gradient")
    n = cov.value().shape[0]
    M = rng.normal(size=(n, n))
    got = cov.contract_gradient(M)
    grad = cov.gradient()
    assert list(got) == list(grad)
    for name, g in grad.items():
        want = np.tensordot(M, g, axes=([0, 1], [0, 1]))
        assert got[name].shape == want.shape, name
        np.testing.assert_allclose(got[name], want, rtol=1e-10, atol=1e-10, err_msg=name)


def test_fix_removes_parameter_and_unfix_restores(cov):
    free = cov.free_parameters()
    n0, grad0 = cov.nparams, cov.gradient()
    for name, par in free.items():
        cov.fix(name)
        assert par.fixed
        assert name not in cov.gradient()
        if hasattr(cov, "contract_gradient"):
            assert name not in cov.contract_gradient(np.eye(cov.value().shape[0]))
        assert name not in cov.free_parameters()
        assert cov.nparams == n0 - par.size
        assert cov.get_flat().size == n0 - par.size
        assert len(cov.flat_bounds()) == n0 - par.size
        assert cov.flat_gradient().shape[-1] == n0 - par.size
        cov.unfix(name)
        assert cov.nparams == n0
        grad = cov.gradient()
        assert list(grad) == list(grad0)
        np.testing.assert_array_equal(grad[name], grad0[name])


def test_fix_all_and_unfix_all(cov):
    fixed_before = {k for k, p in cov.parameters().items() if p.fixed}
    cov.fix()
    assert cov.gradient() == {}
    assert cov.get_flat().size == 0
    assert cov.flat_gradient().shape == cov.value().shape + (0,)
    cov.unfix()
    assert set(cov.gradient()) == set(cov.parameters())
    for k in fixed_before:
        cov.fix(k)


def test_flat_roundtrip(cov, rng):
    x0 = cov.get_flat().copy()
    K0 = cov.value()
    v0 = cov.version
    x1 = x0 + 0.05 * rng.normal(size=x0.size)
    cov.set_flat(x1)
    np.testing.assert_array_equal(cov.get_flat(), x1)
    if x0.size:
        assert cov.version != v0
        assert not np.allclose(cov.value(), K0)
    cov.set_flat(x0)
    np.testing.assert_array_equal(cov.get_flat(), x0)
    np.testing.assert_allclose(cov.value(), K0, rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError, match="flat vector has"):
        cov.set_flat(np.zeros(x0.size + 1))
    if x0.size:
        bad = x0.copy()
        bad[0] = np.nan
        with pytest.raises(ValueError, match="finite"):
            cov.set_flat(bad)


def test_flat_bounds(cov):
    bounds = cov.flat_bounds()
    assert len(bounds) == cov.nparams
    i = 0
    for name, par in cov.free_parameters().items():
        if name.split(".")[-1] in ("logscale", "Llogd"):
            assert bounds[i : i + par.size] == [(-50.0, 50.0)] * par.size, name
        i += par.size


def test_repr_mentions_class_and_parameters(cov):
    text = repr(cov)
    assert text.startswith(type(cov).__name__ + "(")
    for name, par in cov.parameters().items():
        assert name in text
        if par.fixed:
            assert f"{name} (fixed)" in text


STRUCTURED = [c for c in CASES if c.structured]


@pytest.mark.parametrize("case", STRUCTURED, ids=[c.id for c in STRUCTURED])
def test_structured_solve_logdet_match_dense(case, rng):
    """Objects offering solve/logdet/logdet_gradient must agree with dense linear algebra,
    also after a parameter change (cache invalidation)."""
    cov = case.make()
    for _ in range(2):
        K = cov.value()
        v = rng.normal(size=(K.shape[0], 2))
        np.testing.assert_allclose(cov.solve(v), np.linalg.solve(K, v), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(
            cov.solve(v[:, 0]), np.linalg.solve(K, v[:, 0]), rtol=1e-8, atol=1e-10
        )
        sign, logdet = np.linalg.slogdet(K)
        assert sign > 0
        assert cov.logdet() == pytest.approx(logdet, rel=1e-10, abs=1e-10)
        Kinv = np.linalg.inv(K)
        got = cov.logdet_gradient()
        grad = cov.gradient()
        assert list(got) == list(grad)
        for name, g in grad.items():
            want = np.tensordot(Kinv.T, g, axes=([0, 1], [0, 1]))  # tr(K⁻¹ ∂K)
            np.testing.assert_allclose(got[name], want, rtol=1e-8, atol=1e-10, err_msg=name)
        x = cov.get_flat()
        cov.set_flat(x + 0.1 * rng.normal(size=x.size))


# ---- scaled covariances ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [lambda: EyeCov(3), lambda: GivenCov(np.eye(3) + 0.5), lambda: LinearCov(np.ones((3, 2)))],
    ids=["eye", "given", "linear"],
)
def test_scale_property(make):
    cov = make()
    K1 = cov.value()
    assert cov.scale == 1.0
    cov.scale = 2.5
    assert cov.scale == pytest.approx(2.5)
    np.testing.assert_allclose(cov.value(), 2.5 * K1)
    assert cov.parameters()["logscale"].value == pytest.approx(np.log(2.5))
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="scale"):
            cov.scale = bad
    cov.fix()  # glimix-core's LinearCov.fix() fixes everything
    assert cov.gradient() == {}


def test_given_and_linear_inputs_are_copied(rng):
    K0 = _spd(rng, 3)
    X = rng.normal(size=(3, 2))
    given, linear = GivenCov(K0), LinearCov(X)
    K0[0, 0] += 10
    X[0, 0] += 10
    assert given.K0[0, 0] != K0[0, 0]
    assert linear.X[0, 0] != X[0, 0]
    with pytest.raises(ValueError):
        given.K0[0, 0] = 1.0


# ---- SumCov naming ---------------------------------------------------------------------------
def test_sumcov_keys_use_unique_names_else_positions():
    assert set(SumCov([EyeCov(2, name="a"), EyeCov(2)]).gradient()) == {
        "a.logscale",
        "1.logscale",
    }
    dup = SumCov([EyeCov(2, name="a"), EyeCov(2, name="a"), EyeCov(2, name="b")])
    assert list(dup.gradient()) == ["0.logscale", "1.logscale", "b.logscale"]
    clash = SumCov([EyeCov(2, name="1"), EyeCov(2)])  # "1" would collide with position 1
    assert list(clash.gradient()) == ["0.logscale", "1.logscale"]
    nested = SumCov([EyeCov(2), SumCov([EyeCov(2), EyeCov(2, name="e")])])
    assert list(nested.gradient()) == ["0.logscale", "1.0.logscale", "1.e.logscale"]
    nested.fix("1")
    assert list(nested.gradient()) == ["0.logscale"]


def test_sumcov_falls_back_to_dense_contraction_for_plain_functions(rng):
    class Plain(Function):  # a user covariance without contract_gradient
        def __init__(self):
            super().__init__()
            from kronlmm.core.parameters import Parameter

            self._a = self._add_parameter("a", Parameter(0.3))

        def value(self):
            return float(self._a.value) * np.ones((3, 3))

        def _own_gradient(self):
            return {"a": np.ones((3, 3, 1))}

    cov = SumCov([Plain(), EyeCov(3)])
    M = rng.normal(size=(3, 3))
    got = cov.contract_gradient(M)
    np.testing.assert_allclose(got["0.a"], [M.sum()])
    np.testing.assert_allclose(got["1.logscale"], [np.trace(M)])


# ---- bad inputs ---------------------------------------------------------------------------------
def test_eye_rejects_bad_dim():
    for bad in (0, -2):
        with pytest.raises(ValueError, match="dim must be ≥ 1"):
            EyeCov(bad)
    with pytest.raises(ValueError, match="dim must be an integer"):
        EyeCov(2.5)


def test_given_rejects_bad_K0():
    with pytest.raises(ValueError, match=r"K0 must be square, got shape \(3, 4\)"):
        GivenCov(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"K0 must be a 2-D array, got shape \(3,\)"):
        GivenCov(np.ones(3))
    K = np.eye(3)
    K[1, 2] = K[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"K0 has 2 non-finite .* \(1, 2\).*shape \(3, 3\)"):
        GivenCov(K)
    K = np.eye(3)
    K[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"K0 has 1 non-finite .* \(0, 0\).*shape \(3, 3\)"):
        GivenCov(K)
    K = np.eye(3)
    K[0, 2] = 0.5
    with pytest.raises(ValueError, match=r"K0 must be symmetric: K0\[0, 2\].*shape \(3, 3\)"):
        GivenCov(K)


def test_linear_rejects_bad_X():
    X = np.ones((4, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"X has 1 non-finite value\(s\).*\(3, 1\)"):
        LinearCov(X)
    with pytest.raises(ValueError, match=r"X must be a 2-D array, got shape \(2, 2, 2\)"):
        LinearCov(np.ones((2, 2, 2)))


def test_sumcov_rejects_bad_terms():
    with pytest.raises(
        ValueError,
        match=r"same dimension.*covariances\[0\] \(EyeCov\): \(3, 3\), "
        r"covariances\[1\] \(LinearCov\): \(4, 4\)",
    ):
        SumCov([EyeCov(3), LinearCov(np.ones((4, 1)))])
    with pytest.raises(ValueError, match="covariances must contain at least one"):
        SumCov([])
    with pytest.raises(TypeError, match=r"covariances\[1\] must be a kronlmm Function"):
        SumCov([EyeCov(2), np.eye(2)])
    e = EyeCov(2)
    with pytest.raises(ValueError, match=r"covariances\[1\].logscale is the same parameter"):
        SumCov([e, e])


def test_contract_gradient_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"M has shape \(2, 2\), expected \(3, 3\)"):
        EyeCov(3).contract_gradient(np.eye(2))
    with pytest.raises(ValueError, match=r"M has shape \(2, 2\), expected \(3, 3\)"):
        SumCov([EyeCov(3), EyeCov(3)]).contract_gradient(np.eye(2))


def test_freeform_rejects_bad_L():
    cov = FreeFormCov(3)
    with pytest.raises(ValueError, match=r"L \(3×3\) must be lower triangular, but L\[0, 1\]"):
        cov.L = np.ones((3, 3))
    with pytest.raises(ValueError, match=r"L has shape \(2, 3\), expected \(3, 3\)"):
        cov.L = np.ones((2, 3))
    L = np.eye(3)
    L[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"L has 1 non-finite .*\(1, 0\)"):
        cov.L = L
    with pytest.raises(ValueError, match=r"L has shape \(3, 2\), expected \(3, 1\)"):
        LRFreeFormCov(3, 1).L = np.ones((3, 2))


# ---- peer ---------------------------------------------------------------------------------------
@pytest.mark.peer
def test_values_agree_with_glimix_core(rng):
    gcov = pytest.importorskip("glimix_core.cov")
    K0, X = _spd(rng, 4), rng.normal(size=(4, 2))
    ours = SumCov([_scaled(GivenCov(K0), 0.7), _scaled(LinearCov(X), 1.9), _scaled(EyeCov(4), 0.3)])
    theirs = [gcov.GivenCov(K0), gcov.LinearCov(X), gcov.EyeCov(4)]
    for t, s in zip(theirs, (0.7, 1.9, 0.3), strict=True):
        t.scale = s
    np.testing.assert_allclose(ours.value(), gcov.SumCov(theirs).value(), rtol=1e-12)
