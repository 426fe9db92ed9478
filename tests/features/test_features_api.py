"""kronlmm.features: inputs (arrays, DataFrames, AnnData, formulas, sparse counts), the
vectorised solvers against a dense per-feature reference, and every error path."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from kronlmm.features import (
    FeatureResult,
    LinearModelFit,
    contrasts_fit,
    decide_tests,
    duplicate_correlation,
    e_bayes,
    lm_fit,
    make_contrasts,
    top_table,
    treat,
    voom,
)


@pytest.fixture
def simple(rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    m, n = 40, 12
    samples = pd.DataFrame(
        {"group": np.repeat(["ctrl", "trt"], n // 2), "batch": np.tile(["b1", "b2", "b3"], 4)},
        index=[f"s{i}" for i in range(n)],
    )
    design = np.c_[np.ones(n), samples.group == "trt"].astype(float)
    y = rng.normal(5, 1, (m, n)) + np.outer(rng.normal(0, 1, m), design[:, 1])
    return y, samples, design


def dense_gls(y: np.ndarray, X: np.ndarray, V: np.ndarray) -> tuple[Any, Any, float, int]:
    """One feature by the textbook formulas: β = (XᵀV⁻¹X)⁻¹XᵀV⁻¹y on the observed rows."""
    o = np.isfinite(y)
    Xo, yo, Vo = X[o], y[o], V[np.ix_(o, o)]
    Vi = np.linalg.inv(Vo)
    A = np.linalg.inv(Xo.T @ Vi @ Xo)
    beta = A @ Xo.T @ Vi @ yo
    r = yo - Xo @ beta
    df = int(o.sum()) - X.shape[1]
    return beta, np.sqrt(np.diag(A)), float(np.sqrt(r @ Vi @ r / df)), df


# ---- results and names --------------------------------------------------------------------
def test_fit_fields_as_attributes_and_keys(simple: Any) -> None:
    y, samples, design = simple
    names = [f"gene{i}" for i in range(y.shape[0])]
    fit = lm_fit(pd.DataFrame(y, index=names, columns=samples.index), "~ group", samples=samples)
    assert isinstance(fit, LinearModelFit) and isinstance(fit, FeatureResult)
    assert fit.coefficients is fit["coefficients"]
    assert fit.feature_names == names and fit.coef_names == ["Intercept", "group[T.trt]"]
    eb = e_bayes(fit)
    frame = eb.to_dataframe(["t", "p_value"])
    assert list(frame.index[:2]) == names[:2]
    assert list(frame.columns) == [
        "t_Intercept",
        "t_group[T.trt]",
        "p_value_Intercept",
        "p_value_group[T.trt]",
    ]
    assert "t" not in fit  # e_bayes returned a copy
    table = top_table(eb, number=3)  # default: every coefficient but the intercept
    assert table.index[0] in names and "log_fc" in table


def test_anndata_formula_and_uns(simple: Any) -> None:
    anndata = pytest.importorskip("anndata")
    y, samples, design = simple
    adata = anndata.AnnData(
        X=y.T.copy(), obs=samples, var=pd.DataFrame(index=[f"g{i}" for i in range(len(y))])
    )
    fit = lm_fit(adata, "~ group")
    assert adata.uns["kronlmm"] is fit
    np.testing.assert_allclose(fit.coefficients, lm_fit(y, design).coefficients, rtol=1e-12)
    assert fit.feature_names[:2] == ["g0", "g1"]
    eb = e_bayes(adata)  # pylimma style: the fit is read from and written to .uns
    assert adata.uns["kronlmm"] is eb and "t" in eb
    assert top_table(adata, coef="group[T.trt]", number=2).shape == (2, 6)


def test_voom_anndata_layers_and_sparse(rng: np.random.Generator) -> None:
    anndata = pytest.importorskip("anndata")
    counts = rng.negative_binomial(4, 0.04, size=(80, 8)).astype(float)
    counts[0] = 0
    obs = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4}, index=[f"s{i}" for i in range(8)])
    adata = anndata.AnnData(X=sp.csr_matrix(counts.T), obs=obs)
    v = voom(adata, "~ g")
    dense = voom(counts, np.c_[np.ones(8), [0] * 4 + [1] * 4])
    np.testing.assert_allclose(v.weights, dense.weights, rtol=1e-12)
    np.testing.assert_allclose(adata.layers["voom_E"], dense.E.T, rtol=1e-12)
    fit = lm_fit(adata, "~ g", layer="voom_E")  # weights from layers["voom_weights"]
    direct = lm_fit(dense.E, np.c_[np.ones(8), [0] * 4 + [1] * 4], weights=dense.weights)
    np.testing.assert_allclose(fit.sigma, direct.sigma, rtol=1e-12)
    assert v.voom_line["x"].size == 79  # the all-zero gene is left out of the trend


# ---- vectorised solvers against dense per-feature algebra ---------------------------------
def test_weighted_nan_features_match_dense_formulas(rng: np.random.Generator) -> None:
    m, n = 30, 10
    X = np.c_[np.ones(n), rng.normal(size=n)]
    y = rng.normal(size=(m, n))
    y[rng.random((m, n)) < 0.15] = np.nan
    W = rng.uniform(0.2, 3.0, (m, n))
    fit = lm_fit(y, X, weights=W)
    for g in range(m):
        beta, se, sigma, df = dense_gls(y[g], X, np.diag(1 / W[g]))
        np.testing.assert_allclose(fit.coefficients[g], beta, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit.stdev_unscaled[g], se, rtol=1e-9)
        assert fit.sigma[g] == pytest.approx(sigma, rel=1e-9) and fit.df_residual[g] == df


def test_block_gls_with_nan_matches_dense_formulas(rng: np.random.Generator) -> None:
    m, n, rho = 25, 12, 0.4
    block = np.array(list("aabbbccddeee"))
    X = np.c_[np.ones(n), np.tile([0.0, 1.0], 6)]
    y = rng.normal(size=(m, n))
    y[rng.random((m, n)) < 0.1] = np.nan
    w = rng.uniform(0.5, 2.0, n)
    fit = lm_fit(y, X, block=block, correlation=rho, weights=w)
    same = block[:, None] == block[None, :]
    C = np.where(same, rho, 0.0) + (1 - rho) * np.eye(n)
    V = C / np.sqrt(np.outer(w, w))
    for g in range(m):
        beta, se, sigma, df = dense_gls(y[g], X, V)
        np.testing.assert_allclose(fit.coefficients[g], beta, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit.stdev_unscaled[g], se, rtol=1e-9)
        assert fit.sigma[g] == pytest.approx(sigma, rel=1e-9)


def test_robust_fit_downweights_an_outlier(rng: np.random.Generator) -> None:
    n = 20
    X = np.c_[np.ones(n), np.linspace(0, 1, n)]
    clean = X @ np.array([1.0, 2.0]) + rng.normal(scale=0.1, size=n)
    dirty = clean.copy()
    dirty[3] += 20.0
    fit = lm_fit(np.vstack([clean, dirty]), X, method="robust")
    ols = lm_fit(np.vstack([clean, dirty]), X)
    assert abs(fit.coefficients[1, 0] - 1.0) < 0.15 < abs(ols.coefficients[1, 0] - 1.0)
    assert fit.df_residual.tolist() == [18.0, 18.0]


def test_feature_without_residual_df_gets_nan(simple: Any) -> None:
    y, _, design = simple
    y = y.copy()
    y[0, 1:-1] = np.nan  # two observations (one per group), two coefficients
    y[1, :] = np.nan
    eb = e_bayes(lm_fit(y, design))
    assert eb.df_residual[0] == 0 and np.isnan(eb.sigma[0])
    assert np.all(np.isnan(eb.coefficients[1])) and eb.df_residual[1] == 0
    assert np.isfinite(eb.t[2:]).all()


def test_contrasts_fit_coefficients_subset_and_decide_tests(simple: Any) -> None:
    y, samples, _ = simple
    fit = lm_fit(y, "~ 0 + group", samples=samples)
    sub = contrasts_fit(fit, coefficients="group[trt]")
    np.testing.assert_array_equal(sub.coefficients[:, 0], fit.coefficients[:, 1])
    cm = make_contrasts("group[trt] - group[ctrl]", levels=fit)
    eb = e_bayes(contrasts_fit(fit, cm))
    assert decide_tests(eb).results.shape == (y.shape[0], 1)
    nested = decide_tests(e_bayes(fit), method="nestedF")
    assert set(np.unique(np.asarray(nested))) <= {-1, 0, 1}
    tr = top_table(treat(e_bayes(fit), lfc=0.5), number=np.inf, sort_by="p")
    assert list(tr.columns) == ["log_fc", "ave_expr", "t", "p_value", "adj_p_value"]


def test_duplicate_correlation_fully_converged_option(rng: np.random.Generator) -> None:
    block = np.repeat(np.arange(6), 3)
    y = rng.normal(size=(150, 18)) + 0.8 * rng.normal(size=(150, 6))[:, block]
    r20 = duplicate_correlation(y, block=block)
    r200 = duplicate_correlation(y, block=block, maxit=200)
    assert r20.maxit == 20 and r200.maxit == 200
    assert abs(r20.consensus_correlation - r200.consensus_correlation) < 1e-3
    assert 0.2 < r200.consensus_correlation < 0.6  # truth: 0.64 / 1.64 = 0.39


# ---- error paths -------------------------------------------------------------------------------
def _raises(match: str) -> Any:
    return pytest.raises(ValueError, match=match)


def test_error_design_more_columns_than_samples(rng: np.random.Generator) -> None:
    with _raises(r"design has 6 columns but only 4 samples \(shape \(4, 6\)\)"):
        lm_fit(rng.normal(size=(5, 4)), rng.normal(size=(4, 6)))


def test_error_rank_deficient_design_names_column(simple: Any) -> None:
    y, _, design = simple
    X = pd.DataFrame({"a": design[:, 0], "trt": design[:, 1], "ctrl": 1 - design[:, 1]})
    with _raises(r"rank deficient: column\(s\) \['ctrl'\].*drop them"):
        lm_fit(y, X)


def test_error_design_rows(simple: Any) -> None:
    y, _, design = simple
    with _raises(r"design has 11 rows but the data have 12 samples"):
        lm_fit(y, design[:-1])


@pytest.mark.parametrize(
    "weights,message",
    [
        (np.ones(5), r"weights has length 5 but the data have 12 samples .*data shape \(40, 12\)"),
        (np.ones((12, 40)), r"weights has shape \(12, 40\) but the data have shape \(40, 12\)"),
        (np.r_[np.ones(11), 0.0], r"weights must be finite and > 0; sample\(s\) \[11\]"),
        (-np.ones((40, 12)), r"weights must be finite and > 0 where the data are observed"),
    ],
)
def test_error_weights(simple: Any, weights: np.ndarray, message: str) -> None:
    y, _, design = simple
    with _raises(message):
        lm_fit(y, design, weights=weights)


def test_error_block_length_and_missing_correlation(simple: Any) -> None:
    y, _, design = simple
    with _raises(r"block has 10 label\(s\) \(shape \(10,\)\) but the data have 12 samples"):
        lm_fit(y, design, block=np.arange(10), correlation=0.2)
    with _raises(r"correlation must be given with block="):
        lm_fit(y, design, block=np.repeat(np.arange(6), 2))
    with _raises(r"block has 3 label\(s\)"):
        duplicate_correlation(y, design, block=[1, 2, 3])


def test_error_unknown_coefficient(simple: Any) -> None:
    y, samples, _ = simple
    eb = e_bayes(lm_fit(y, "~ group", samples=samples))
    msg = re.escape(
        "coef='grp' is not a coefficient of the fit; its coefficients are "
        "['Intercept', 'group[T.trt]']"
    )
    with _raises(msg):
        top_table(eb, coef="grp")
    with _raises(r"coef=5 is out of range: the fit has 2 coefficients"):
        top_table(eb, coef=5)
    with _raises(r"coefficients='x' is not a coefficient"):
        contrasts_fit(eb, coefficients="x")
    with _raises(r"contrasts has shape \(3, 1\) but the fit has 2 coefficients"):
        contrasts_fit(eb, np.ones((3, 1)))
    with _raises(r"contrast 'A - B': unknown name"):
        make_contrasts("A - B", levels=["A", "C"])


def test_error_formula_without_samples_and_bad_counts(simple: Any) -> None:
    y, _, _ = simple
    with _raises(r"is a formula, but there is no sample table"):
        lm_fit(y, "~ group")
    with _raises(r"negative values"):
        voom(-np.ones((3, 4)))
    with _raises(r"lib_size has 2 values but counts has 4 samples"):
        voom(np.ones((3, 4)), lib_size=[1, 2])
    with _raises(r"no residual degrees of freedom"):
        e_bayes(lm_fit(y[:, :2], np.eye(2)))
