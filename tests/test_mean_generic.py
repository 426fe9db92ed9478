"""Generic checks run on one parametrised list of mean objects.

Values are compared with independent dense constructions (for ``KronMean``: both
``np.kron(A, X) @ vec(B)`` and ``vec(X B Aᵀ)``), gradients with central finite
differences, and fix/unfix and the flat view with the framework's promises.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from kronlmm.core.parameters import Function
from kronlmm.mean import KronMean, LinearMean, OffsetMean, SumMean
from kronlmm.testing import check_gradient


def unvec(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of the column-major vec, written out element by element."""
    out = np.empty(shape)
    for j in range(shape[1]):
        for i in range(shape[0]):
            out[i, j] = v[i + j * shape[0]]
    return out


def dense_reference(mean: Function) -> np.ndarray:
    """Dense value of ``mean`` computed from its raw parameter values."""
    par = {k: p.value for k, p in mean.parameters().items()}
    if isinstance(mean, OffsetMean):
        return par["offset"] * np.ones(mean.size)
    if isinstance(mean, LinearMean):
        return np.asarray(mean.X) @ par["effsizes"]
    if isinstance(mean, KronMean):
        A, X = np.asarray(mean.A), np.asarray(mean.X)
        return np.kron(A, X) @ par["vecB"]
    if isinstance(mean, SumMean):
        return sum(dense_reference(m) for m in mean.means)
    raise TypeError(f"no dense reference for {type(mean).__name__}")


def _offset(g: np.random.Generator, n: int) -> OffsetMean:
    m = OffsetMean(n)
    m.offset = g.normal()
    return m


def _linear(g: np.random.Generator, n: int, c: int) -> LinearMean:
    m = LinearMean(g.normal(size=(n, c)))
    m.effsizes = g.normal(size=c)
    return m


def _kron(g: np.random.Generator, n: int, c: int, p: int, a: int) -> KronMean:
    m = KronMean(g.normal(size=(p, a)), g.normal(size=(n, c)))
    m.B = g.normal(size=(c, a))
    return m


def _fixed(f: Function, *names: str) -> Function:
    for name in names:
        f.fix(name)
    return f


@dataclass
class Case:
    id: str
    build: Callable[[np.random.Generator], Function]

    def make(self) -> Function:
        return self.build(np.random.default_rng(zlib.crc32(self.id.encode())))


CASES = [
    Case("offset", lambda g: _offset(g, 5)),
    Case("offset-fixed", lambda g: _fixed(_offset(g, 5), "offset")),
    Case("linear", lambda g: _linear(g, 6, 3)),
    Case("linear-1col", lambda g: _linear(g, 4, 1)),
    Case("kron-square", lambda g: _kron(g, 5, 2, 3, 3)),
    Case("kron-wide", lambda g: _kron(g, 4, 3, 2, 3)),  # A is 2 × 3
    Case("kron-tall", lambda g: _kron(g, 5, 2, 3, 1)),  # A is 3 × 1 (shared effect)
    Case("sum2", lambda g: SumMean([_kron(g, 4, 2, 3, 2), _offset(g, 12)])),
    Case(
        "sum3-fixed",
        lambda g: _fixed(
            SumMean([_linear(g, 6, 2), _offset(g, 6), _linear(g, 6, 3)]), "1", "2.effsizes"
        ),
    ),
    Case(
        "sum-nested-named",
        lambda g: SumMean(
            [SumMean([_linear(g, 5, 2), _offset(g, 5)], name="inner"), _kron(g, 5, 1, 1, 1)]
        ),
    ),
]


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def mean(request: pytest.FixtureRequest) -> Function:
    return request.param.make()


def test_value_matches_dense_reference(mean):
    m = mean.value()
    assert m.ndim == 1 and m.shape == (mean.size,)
    np.testing.assert_allclose(m, dense_reference(mean), rtol=1e-12, atol=1e-12)


def test_gradient_keys_and_shapes(mean):
    grad, free = mean.gradient(), mean.free_parameters()
    assert list(grad) == list(free)
    for name, g in grad.items():
        assert g.shape == (mean.size, free[name].size), name


def test_gradient_matches_finite_differences(mean):
    before = mean.get_flat().copy()
    res = check_gradient(mean)
    assert res.max_rel_error <= 1e-5, (res.worst, res.max_rel_error)
    np.testing.assert_array_equal(mean.get_flat(), before)
    # independent of kronlmm.testing: a mean is linear in its parameters, so one
    # central difference with a large step is exact up to round-off.
    x0, G = mean.get_flat().copy(), mean.flat_gradient()
    for k in range(x0.size):
        xp, xm = x0.copy(), x0.copy()
        xp[k] += 0.5
        xm[k] -= 0.5
        mean.set_flat(xp)
        fp = mean.value()
        mean.set_flat(xm)
        fm = mean.value()
        mean.set_flat(x0)
        np.testing.assert_allclose(fp - fm, G[:, k], rtol=1e-10, atol=1e-12)


def test_contract_gradient_equals_tensordot(mean, rng):
    v = rng.normal(size=mean.size)
    got, grad = mean.contract_gradient(v), mean.gradient()
    assert list(got) == list(grad)
    for name, g in grad.items():
        np.testing.assert_allclose(got[name], v @ g, rtol=1e-10, atol=1e-12, err_msg=name)


def test_fix_removes_parameter_and_unfix_restores(mean):
    n0, grad0 = mean.nparams, mean.gradient()
    for name, par in mean.free_parameters().items():
        mean.fix(name)
        assert name not in mean.gradient()
        assert name not in mean.contract_gradient(np.ones(mean.size))
        assert mean.get_flat().size == n0 - par.size
        assert len(mean.flat_bounds()) == n0 - par.size
        mean.unfix(name)
        assert list(mean.gradient()) == list(grad0)


def test_flat_roundtrip(mean, rng):
    x0, m0 = mean.get_flat().copy(), mean.value()
    x1 = x0 + rng.normal(size=x0.size)
    mean.set_flat(x1)
    np.testing.assert_array_equal(mean.get_flat(), x1)
    mean.set_flat(x0)
    np.testing.assert_allclose(mean.value(), m0, rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError, match="flat vector has"):
        mean.set_flat(np.zeros(x0.size + 2))


def test_repr_mentions_class_and_parameters(mean):
    text = repr(mean)
    assert text.startswith(type(mean).__name__ + "(")
    for name in mean.parameters():
        assert name in text


# ---- KronMean specifics ------------------------------------------------------------------------
@pytest.mark.parametrize("p,a", [(3, 3), (2, 3), (4, 1), (3, 2)])
def test_kronmean_layout_and_nonsquare_A(rng, p, a):
    n, c = 5, 2
    A, X = rng.normal(size=(p, a)), rng.normal(size=(n, c))
    mean = KronMean(A, X)
    B = rng.normal(size=(c, a))
    mean.B = B
    vecB = mean.parameters()["vecB"].value
    assert vecB.shape == (c * a,)
    np.testing.assert_array_equal(unvec(vecB, (c, a)), B)  # column-major vec
    np.testing.assert_array_equal(mean.B, B)
    M = X @ B @ A.T  # n × p
    np.testing.assert_allclose(mean.value(), M.T.ravel(), rtol=1e-12)  # vec stacks columns
    np.testing.assert_allclose(mean.value(), np.kron(A, X) @ vecB, rtol=1e-12)
    np.testing.assert_allclose(mean.gradient()["vecB"], np.kron(A, X))
    np.testing.assert_allclose(mean.AX, np.kron(A, X))
    assert mean.size == n * p
    assert mean.nparams == c * a


def test_kronmean_accepts_vectors(rng):
    mean = KronMean(np.ones(3), rng.normal(size=4))  # A = 1₃, X one column
    assert mean.A.shape == (3, 1) and mean.X.shape == (4, 1)
    mean.B = [[2.0]]
    np.testing.assert_allclose(mean.value(), np.tile(2.0 * mean.X[:, 0], 3))


def test_linear_and_offset_attributes(rng):
    X = rng.normal(size=(4, 2))
    lin = LinearMean(X)
    np.testing.assert_array_equal(lin.effsizes, [0.0, 0.0])
    lin.effsizes = [1.0, -2.0]
    np.testing.assert_allclose(lin.value(), X @ [1.0, -2.0])
    off = OffsetMean(3)
    off.offset = 1.5
    np.testing.assert_array_equal(off.value(), [1.5, 1.5, 1.5])
    off.fix_offset()
    assert off.gradient() == {}
    off.unfix_offset()
    assert list(off.gradient()) == ["offset"]


# ---- bad inputs ----------------------------------------------------------------------------
def test_bad_inputs_name_argument_and_shapes():
    A, X = np.ones((3, 2)), np.ones((5, 4))
    with pytest.raises(ValueError, match=r"B has shape \(3, 3\), expected \(c, a\) = \(4, 2\)"):
        KronMean(A, X).B = np.ones((3, 3))
    bad = X.copy()
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"X has 1 non-finite value\(s\).*\(2, 1\)"):
        KronMean(A, bad)
    badA = A.copy()
    badA[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"A has 1 non-finite value\(s\).*\(0, 1\)"):
        KronMean(badA, X)
    with pytest.raises(ValueError, match=r"A must be a 2-D array, got shape \(1, 2, 3\)"):
        KronMean(np.ones((1, 2, 3)), X)
    with pytest.raises(ValueError, match=r"effsizes has shape \(3,\), expected \(4,\)"):
        LinearMean(X).effsizes = np.ones(3)
    with pytest.raises(ValueError, match=r"X has 1 non-finite"):
        LinearMean(bad)
    with pytest.raises(ValueError, match="n must be ≥ 1"):
        OffsetMean(0)
    with pytest.raises(
        ValueError,
        match=r"same length.*means\[0\] \(OffsetMean\): \(3,\), means\[1\] \(LinearMean\): \(5,\)",
    ):
        SumMean([OffsetMean(3), LinearMean(X)])
    with pytest.raises(ValueError, match="means must contain at least one"):
        SumMean([])
    with pytest.raises(ValueError, match=r"v has shape \(4,\), expected \(15,\)"):
        KronMean(A, X).contract_gradient(np.ones(4))


# ---- peer ---------------------------------------------------------------------------------------
@pytest.mark.peer
def test_kronmean_agrees_with_glimix_core_for_square_A(rng):
    gmean = pytest.importorskip("glimix_core.mean")
    A, X = rng.normal(size=(3, 3)), rng.normal(size=(6, 2))
    B = rng.normal(size=(2, 3))
    ours, theirs = KronMean(A, X), gmean.KronMean(A, X)
    ours.B = B
    theirs.B = B
    np.testing.assert_allclose(ours.value(), theirs.value(), rtol=1e-12)
    np.testing.assert_allclose(ours.gradient()["vecB"], theirs.gradient()["vecB"])
