"""Small-sample tests of the scanners: the exact F test at fixed variance components, the
refit likelihood-ratio test, and the calibration of the F test under the null.

References are independent of the scan kernel:

- the F statistic from a dense GLS on the full np × np covariance
  ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ`` (Cholesky-whitened least squares), its p-value from
  :func:`scipy.stats.f.sf`;
- for one trait, the textbook formulas written out with NumPy (GLS normal equations with
  ``V⁻¹``) and the p-value from mpmath's regularised incomplete beta function (no SciPy);
- the refit LRT from two separate multi-start fits of the independent block-dense
  reference likelihood (:func:`kronlmm.testing.reference_kron2sum_fit`), whose optima are
  checked against :func:`kronlmm.testing.dense_ml_lml`;
- the calibration against the exact binomial 99 % interval of the rejection count.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st

from kronlmm.core import EconomicSVD, economic_svd
from kronlmm.core.stats import f_logsf
from kronlmm.lmm import Kron2Sum, refit_lrt
from kronlmm.scan import FastScanner, KronFastScanner, make_plan, scan_block
from kronlmm.testing import dense_ml_lml, reference_kron2sum_fit


# ------------------------------------------------------------------------ helpers
def _problem(seed: int, n: int = 40, p: int = 3, r: int = 8, c: int = 2):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, r)) / np.sqrt(r)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, c - 1))])
    L0 = rng.standard_normal((p, p)) * 0.6
    L1 = np.tril(rng.standard_normal((p, p)) * 0.3) + np.eye(p)
    C0, C1 = L0 @ L0.T, L1 @ L1.T
    K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))
    y = np.linalg.cholesky(K) @ rng.standard_normal(n * p)
    Y = y.reshape(p, n).T + X @ rng.standard_normal((c, p))
    dosages = rng.binomial(2, 0.3, size=(n, 5)).astype(float)
    return Y, X, G, C0, C1, K, dosages


def _dense_Q(y, M, K):
    """``rᵀK⁻¹r`` at the GLS estimate and rank(M), by Cholesky whitening."""
    L = np.linalg.cholesky(K)
    yw = np.linalg.solve(L, y)
    Mw = np.linalg.solve(L, M)
    beta, *_ = np.linalg.lstsq(Mw, yw, rcond=None)
    r = yw - Mw @ beta
    return float(r @ r), int(np.linalg.matrix_rank(Mw))


def _dense_F(Y, A0, X, g, A1, A1_null, K):
    """F, df1, df2 of ``A₁ ⊗ g`` beyond ``[A₀ ⊗ X, A₁,null ⊗ g]`` (g: n × c₁)."""
    y = Y.ravel(order="F")
    g = g.reshape(len(g), -1)
    M0 = np.kron(A0, X)
    if A1_null is not None:
        M0 = np.hstack([M0, np.kron(A1_null, g)])
    M1 = np.hstack([np.kron(A0, X), np.kron(A1, g)])
    Q0, k0 = _dense_Q(y, M0, K)
    Q1, k1 = _dense_Q(y, M1, K)
    d, df2 = k1 - k0, y.size - k1
    return ((Q0 - Q1) / d) / (Q1 / df2), d, df2


# ------------------------------------------------------- 1. the F test against dense GLS
NON_SQUARE = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, -1.0]])  # p × 2: a common + a contrast


@pytest.mark.parametrize(
    "test, A1, A1_null",
    [
        ("any", np.eye(3), None),
        ("common", np.ones((3, 1)), None),
        ("interaction", np.eye(3), np.ones((3, 1))),
        (None, NON_SQUARE, None),
        (None, NON_SQUARE, np.ones((3, 1))),
    ],
)
@pytest.mark.parametrize("A0", [np.eye(3), np.array([[1.0], [1.0], [2.0]])])
def test_F_equals_dense_gls_multi_trait(test, A1, A1_null, A0):
    Y, X, G, C0, C1, K, dosages = _problem(1)
    scanner = KronFastScanner(Y, A0, X, G, C0, C1)
    if test is None:
        res = scanner.scan_variants(dosages, None, A1=A1, A1_null=A1_null)
    else:
        res = scanner.scan_variants(dosages, test)
    assert res.statistic == "F"
    for j in range(dosages.shape[1]):
        F, d, df2 = _dense_F(Y, A0, X, dosages[:, j], A1, A1_null, K)
        assert res.df1[j] == d == res.dof[j]
        assert res.df2[j] == df2
        np.testing.assert_allclose(res.F[j], F, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(res.p_value[j], st.f.sf(F, d, df2), rtol=1e-8)
        np.testing.assert_allclose(res.neg_log10_p_value[j], -np.log10(st.f.sf(F, d, df2)),
                                   rtol=1e-8)  # fmt: skip
    # the χ² test of the same fit: N log(Q₀/Q₁), on request
    chi = scanner.scan_variants(dosages, test, A1=None if test else A1,
                                A1_null=None if test else A1_null, statistic="chi2")  # fmt: skip
    assert chi.statistic == "chi2"
    np.testing.assert_allclose(chi.p_value, st.chi2.sf(chi.chi2, chi.dof), rtol=1e-10)
    np.testing.assert_array_equal(chi.F, res.F)
    N = Y.size
    np.testing.assert_allclose(res.F, np.expm1(res.chi2 / N) * res.df2 / res.df1, rtol=1e-10)


def test_F_of_one_candidate_set_equals_dense_gls():
    """``scan`` of a 2-column candidate set with a non-square A₁ (dof 4)."""
    Y, X, G, C0, C1, K, dosages = _problem(2)
    scanner = KronFastScanner(Y, np.eye(3), X, G, C0, C1)
    X1 = dosages[:, :2]
    out = scanner.scan(NON_SQUARE, X1)
    F, d, df2 = _dense_F(Y, np.eye(3), X, X1, NON_SQUARE, None, K)
    assert (out["df1"], out["df2"], out["statistic"]) == (d, df2, "F") and d == 4
    np.testing.assert_allclose(out["F"], F, rtol=1e-9)
    np.testing.assert_allclose(out["p_value"], st.f.sf(F, d, df2), rtol=1e-8)
    chi = scanner.scan(NON_SQUARE, X1, statistic="chi2")
    np.testing.assert_allclose(chi["p_value"], st.chi2.sf(chi["chi2"], 4), rtol=1e-10)
    with pytest.raises(ValueError, match="statistic must be one of"):
        scanner.scan(NON_SQUARE, X1, statistic="t")
    with pytest.raises(ValueError, match="statistic must be one of"):
        make_plan(3, "any", statistic="LRT")


def test_F_single_trait_equals_hand_formulas():
    """FastScanner (N = n) against the GLS formulas with V⁻¹ and mpmath's incomplete beta."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 30
    rng = np.random.default_rng(3)
    n, c = 50, 2
    Gf = rng.standard_normal((n, 10))
    U, s, _ = np.linalg.svd(Gf, full_matrices=False)
    S2 = s**2
    v0, v1 = 0.7, 0.4
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    y = X @ [1.0, -0.5] + rng.standard_normal(n)
    dosages = rng.binomial(2, 0.4, size=(n, 4)).astype(float)
    res = FastScanner(y, X, U, S2, v0, v1).scan_variants(dosages)
    Vinv = np.linalg.inv(v0 * (U * S2) @ U.T + v1 * np.eye(n))

    def Q(M):
        beta = np.linalg.solve(M.T @ Vinv @ M, M.T @ Vinv @ y)
        r = y - M @ beta
        return r @ Vinv @ r

    for j in range(dosages.shape[1]):
        Q0, Q1 = Q(X), Q(np.column_stack([X, dosages[:, j]]))
        df2 = n - c - 1
        F = (Q0 - Q1) / (Q1 / df2)
        # P(F(1, df2) > F) = I_w(df2/2, 1/2), w = df2 / (df2 + F)
        w = mp.mpf(df2) / (df2 + mp.mpf(F))
        p = float(mp.betainc(mp.mpf(df2) / 2, mp.mpf(1) / 2, 0, w, regularized=True))
        assert (res.df1[j], res.df2[j]) == (1, df2)
        np.testing.assert_allclose(res.F[j], F, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(res.p_value[j], p, rtol=1e-8)
    one = FastScanner(y, X, U, S2, v0, v1).scan(dosages[:, [0]])
    np.testing.assert_allclose(one["F"], res.F[0], rtol=1e-12)


def test_f_logsf_beyond_underflow_matches_mpmath():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    for d1, d2, x in [(1, 98, 1e10), (2, 396, 1e5), (8, 800, 1e5), (3, 5000, 600.0)]:
        w = mp.mpf(d2) / (d2 + d1 * mp.mpf(x))
        ref = float(mp.log(mp.betainc(mp.mpf(d2) / 2, mp.mpf(d1) / 2, 0, w, regularized=True)))
        got = float(f_logsf(x, d1, d2))
        assert ref < -700 and np.isfinite(got)
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    x = np.array([0.5, 3.0, 40.0])
    np.testing.assert_allclose(f_logsf(x, 2, 30), st.f.logsf(x, 2, 30), rtol=1e-12)
    edge = f_logsf(np.array([np.nan, np.inf, 0.0]), 2, 10)
    assert np.isnan(edge[0]) and edge[1] == -np.inf and edge[2] == 0.0


def test_scan_result_underflowing_F_p_value_keeps_its_log():
    """A huge effect: p_value underflows to 0, neg_log10_p_value is the exact tail."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    Y, X, G, C0, C1, K, dosages = _problem(4)
    g = dosages[:, 0]
    Y = Y + 5000.0 * np.outer(g - g.mean(), [1.0, -1.0, 0.5])
    res = KronFastScanner(Y, np.eye(3), X, G, C0, C1).scan_variants(g)
    assert res.p_value[0] == 0.0
    F, d1, d2 = float(res.F[0]), int(res.df1[0]), int(res.df2[0])
    w = mp.mpf(d2) / (d2 + d1 * mp.mpf(F))
    ref = -float(mp.log10(mp.betainc(mp.mpf(d2) / 2, mp.mpf(d1) / 2, 0, w, regularized=True)))
    assert ref > 310
    np.testing.assert_allclose(res.neg_log10_p_value[0], ref, rtol=1e-10)


# -------------------------------------------------------------- 2. the refit LRT
def test_refit_lrt_equals_two_separate_dense_checked_fits():
    rng = np.random.default_rng(5)
    n, p = 60, 2
    G = rng.standard_normal((n, 8)) / np.sqrt(8)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    dosages = rng.binomial(2, 0.3, size=(n, 2)).astype(float)
    Y = G @ rng.standard_normal((8, p)) + rng.standard_normal((n, p))
    Y[:, 0] += 0.6 * dosages[:, 0]
    model = Kron2Sum(Y, np.eye(p), X, G, rank=p, restricted=True)  # a REML null …
    model.fit(verbose=False)
    res = refit_lrt(model, dosages)  # … the refit LRT is of ML fits
    assert res.dof == p and list(res.reason) == ["", ""]
    y = Y.ravel(order="F")

    def dense_checked(Xm):
        ref = reference_kron2sum_fit(Y, np.eye(p), Xm, G, p, False, floor=np.zeros(p), nstarts=6)
        K = np.kron(ref.C0, G @ G.T) + np.kron(ref.C1, np.eye(n))
        np.testing.assert_allclose(ref.lml, dense_ml_lml(y, np.kron(np.eye(p), Xm), K), rtol=1e-10)
        return ref.lml

    lml0 = dense_checked(X)
    np.testing.assert_allclose(res.lml_null, lml0, rtol=0, atol=1e-6)
    for j in range(dosages.shape[1]):
        lml1 = dense_checked(np.column_stack([X, dosages[:, j]]))
        np.testing.assert_allclose(res.lml_alt[j], lml1, rtol=0, atol=1e-6)
        np.testing.assert_allclose(res.chi2[j], 2 * (lml1 - lml0), rtol=0, atol=2e-6)
    np.testing.assert_allclose(res.p_value, st.chi2.sf(res.chi2, p), rtol=1e-10)
    # and the model's own ML fits from their default starts agree
    alt = Kron2Sum(Y, np.eye(p), np.column_stack([X, dosages[:, 0]]), G, rank=p)
    alt.fit(verbose=False)
    np.testing.assert_allclose(res.lml_alt[0], alt.lml(), rtol=0, atol=1e-6)


def test_refit_lrt_refuses_designs_it_cannot_fit_and_flags_untestable():
    rng = np.random.default_rng(6)
    n, p = 50, 2
    G = rng.standard_normal((n, 6))
    Y = rng.standard_normal((n, p))
    model = Kron2Sum(Y, np.eye(p), np.ones((n, 1)), G, rank=p)
    model.fit(verbose=False)
    with pytest.raises(ValueError, match="'common' and 'interaction'.*refit='none'"):
        refit_lrt(model, rng.standard_normal((n, 2)), A1=np.ones((p, 1)))
    with pytest.raises(ValueError, match=r"G has shape \(10, 1\), expected \(50, m\)"):
        refit_lrt(model, np.zeros((10, 1)))
    block = np.column_stack([np.full(n, 2.0), np.full(n, np.nan), rng.standard_normal(n)])
    res = refit_lrt(model, block)
    assert list(res.reason[:2]) == ["constant or collinear with covariates", "all values missing"]
    assert res.reason[2] == "" and np.isnan(res.chi2[:2]).all() and np.isfinite(res.chi2[2])


# ------------------------------------------------------- 3. null calibration (fast)
def test_F_test_is_calibrated_at_fixed_variance_components():
    """n = 100, p = 2: 1000 null data sets × 8 candidates simulated at the scanner's C₀, C₁.

    At fixed C₀, C₁ the F test is exact, so its rejection count at α = 0.05 and 0.01 must
    lie in the binomial 99 % interval (8000 tests). Seeded: deterministic. The blocks are
    scanned by the pure kernel (scan_block), as every scan does.
    """
    rng = np.random.default_rng(2024)
    n, p, reps, m = 100, 2, 1000, 8
    G = rng.standard_normal((n, 20)) / np.sqrt(20)
    svd = economic_svd(G)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    C0 = np.array([[0.6, 0.2], [0.2, 0.4]])
    C1 = np.array([[0.5, 0.1], [0.1, 0.7]])
    L = np.linalg.cholesky(np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n)))
    dosages = rng.binomial(2, 0.25, size=(n, m)).astype(float)
    plan = make_plan(p, "any")
    p_f, p_chi = [], []
    for _ in range(reps):
        Y = (L @ rng.standard_normal(n * p)).reshape(p, n).T + X @ [[1.0, 0.5], [0.2, -0.3]]
        scanner = KronFastScanner(Y, np.eye(p), X, EconomicSVD(svd.U, svd.S2), C0, C1)
        res = scan_block(scanner.null, dosages, plan)
        p_f.append(res.p_value)
        p_chi.append(st.chi2.sf(res.chi2, res.dof))
    pf = np.concatenate(p_f)
    total = pf.size
    for alpha in (0.05, 0.01):
        lo, hi = st.binom.interval(0.99, total, alpha)
        count = int(np.sum(pf < alpha))
        assert lo <= count <= hi, (alpha, count, lo, hi)
    # the χ² p-values of the same fits are smaller in every one of these 8000 tests: the
    # χ² test is the liberal one at this size (benchmarks/README.md measures by how much)
    assert np.all(np.concatenate(p_chi) <= pf * (1 + 1e-12))


# ------------------------------------------------- 4. checkpoints across statistics
def test_checkpoint_resumed_with_the_other_statistic_gives_its_p_values(tmp_path):
    """Blocks stored by a chi2 scan (or before the F test existed: no F in the file) resume
    in an F scan with the F test's values, and the other way round."""
    from kronlmm.gwas import ArraySource, scan_source

    Y, X, G, C0, C1, K, dosages = _problem(7)
    scanner = KronFastScanner(Y, np.eye(3), X, G, C0, C1)
    F_plan, chi_plan = scanner.plan("any"), scanner.plan("any", statistic="chi2")
    fresh_F = scan_source(scanner.null, F_plan, ArraySource(dosages), block_size=2)
    fresh_chi = scan_source(scanner.null, chi_plan, ArraySource(dosages), block_size=2)
    for first, then, fresh in ((chi_plan, F_plan, fresh_F), (F_plan, chi_plan, fresh_chi)):
        ckpt = tmp_path / first.statistic
        scan_source(scanner.null, first, ArraySource(dosages), block_size=2, checkpoint=ckpt)
        back = scan_source(scanner.null, then, ArraySource(dosages), block_size=2, checkpoint=ckpt)
        assert back.statistic == then.statistic
        for name in ("F", "df1", "df2", "p_value", "neg_log10_p_value", "chi2"):
            np.testing.assert_allclose(getattr(back, name), getattr(fresh, name), rtol=1e-12)
    # a block file without the F arrays (written before they existed) reads as chi2's
    first_block = tmp_path / "chi2" / "chunk-000000.npz"
    with np.load(first_block) as z:
        assert str(z["statistic"]) == "chi2"
        old = {k: z[k] for k in z.files if k not in ("F", "df1", "df2", "statistic")}
    with open(first_block, "wb") as fh:
        np.savez(fh, **old)
    back = scan_source(scanner.null, F_plan, ArraySource(dosages), block_size=2,
                       checkpoint=tmp_path / "chi2")  # fmt: skip
    np.testing.assert_allclose(back.p_value, fresh_F.p_value, rtol=1e-12)
