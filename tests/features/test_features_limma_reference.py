"""kronlmm.features against R limma 3.54 (reference files made by
reference/make_limma_reference.R; no R needed here).

Real microarray data (ALL, bladderbatch subsets of 600 probes) and simulated data (800
features with weights, 600 duplicated genes, 1000 genes of counts). Tolerances are
relative (max over features of |ours − R| / |R|): 1e-8 for least squares, F-tests,
contrasts, treat, weights and block GLS; 1e-6 for trend + robust, robust M-estimation
and voom; 1e-5 for duplicateCorrelation's consensus.
"""

from __future__ import annotations

import warnings
from typing import Any

import limma_reference as ref
import numpy as np
import pytest

from kronlmm.features import (
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

EB_FIELDS = ("t", "p_value", "lods", "F", "F_p_value", "s2_prior", "df_prior", "s2_post")
FIT_FIELDS = ("coefficients", "stdev_unscaled", "sigma", "df_residual")


def assert_matches(fit: Any, case: str, tol: float, fields: tuple[str, ...]) -> None:
    """Every listed field of ``fit`` within ``tol`` (relative) of R's, NaN where R's is."""
    r = ref.limma_fit(case)
    scalars = ref.scalars()[case]
    checked = []
    for field in fields:
        if field in r:
            expected = r[field]
        elif field in scalars:
            expected = np.asarray(scalars[field])
        else:
            continue
        ours = np.broadcast_to(np.asarray(fit[field], dtype=float), np.shape(expected))
        err = ref.max_rel_err(ours, expected)
        assert err <= tol, f"{case}: {field} differs from R by {err:.3g} (relative)"
        checked.append(field)
    assert len(checked) >= min(4, len(fields)), f"{case}: compared only {checked}"
    assert fit.coefficients.shape[0] >= 500


@pytest.fixture(scope="module")
def all_data() -> tuple[Any, Any]:
    return ref.all_data()


@pytest.fixture(scope="module")
def all_fit(all_data: tuple[Any, Any]) -> Any:
    E, samples = all_data
    return lm_fit(E, "~ BT + sex", samples=samples)


def test_ols_real_data(all_fit: Any) -> None:
    assert_matches(all_fit, "all_ols", 1e-8, FIT_FIELDS + ("amean",))
    eb = e_bayes(all_fit)
    assert_matches(eb, "all_ols", 1e-8, EB_FIELDS)
    cov = np.asarray(ref.scalars()["all_ols"]["cov_coefficients"])
    np.testing.assert_allclose(eb.cov_coefficients, cov, rtol=1e-12)
    np.testing.assert_allclose(eb.var_prior, ref.scalars()["all_ols"]["var_prior"], rtol=1e-8)
    assert eb.coef_names == ["Intercept", "BT[T.T]", "sex[T.M]"]
    assert list(eb.feature_names[:2]) == list(ref.all_data()[0].index[:2])


def test_top_table_and_decide_tests(all_fit: Any) -> None:
    eb = e_bayes(all_fit)
    table = top_table(eb, coef="BT[T.T]", number=np.inf, sort_by="none")
    err = ref.max_rel_err(table["adj_p_value"].to_numpy(), ref.all_ols_adj_p())
    assert err <= 1e-8
    np.testing.assert_array_equal(table["t"].to_numpy(), eb.t[:, 1])
    top = top_table(eb, coef=1, number=5)
    assert np.all(np.diff(top["b"].to_numpy()) <= 0)
    assert top.index[0] == table["b"].idxmax()
    # decideTests(eb): Down and Up counts per coefficient, as R's summary()
    up_down = ref.scalars()["all_ols"]["decide_tests_up_down"]
    summary = decide_tests(eb).summary()
    assert summary.loc[["Down", "Up"]].to_numpy().T.ravel().tolist() == up_down


def test_trend_robust(all_fit: Any) -> None:
    assert_matches(e_bayes(all_fit, trend=True), "all_trend", 1e-8, EB_FIELDS)
    assert_matches(e_bayes(all_fit, robust=True), "all_robust", 1e-8, EB_FIELDS)
    both = e_bayes(all_fit, trend=True, robust=True)
    assert_matches(both, "all_trend_robust", 1e-6, EB_FIELDS)
    assert np.ndim(both.df_prior) == 1 and np.ndim(both.s2_prior) == 1


def test_robust_m_estimation(all_data: tuple[Any, Any]) -> None:
    E, samples = all_data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # R's rlm converged for every gene; so must we
        fit = lm_fit(E, "~ BT + sex", samples=samples, method="robust")
    assert_matches(fit, "all_mrlm", 1e-6, FIT_FIELDS)
    assert_matches(e_bayes(fit), "all_mrlm", 1e-6, EB_FIELDS)


def test_contrasts_f_test_and_treat(all_data: tuple[Any, Any]) -> None:
    E, samples = all_data
    groups = samples.BT + "." + samples.sex
    design = np.equal.outer(groups.to_numpy(), ["B.F", "B.M", "T.F", "T.M"]).astype(float)
    import pandas as pd

    fit = lm_fit(E, pd.DataFrame(design, columns=["B.F", "B.M", "T.F", "T.M"]))
    cm = make_contrasts(
        TvsB_F="T.F - B.F",
        TvsB_M="T.M - B.M",
        TvsB="(T.F + T.M)/2 - (B.F + B.M)/2",
        levels=fit,
    )
    np.testing.assert_array_equal(cm.to_numpy(), ref.all_contrasts().to_numpy())
    cfit = contrasts_fit(fit, cm)
    assert cfit.coef_names == ["TvsB_F", "TvsB_M", "TvsB"]
    eb = e_bayes(cfit)
    assert_matches(eb, "all_contrast", 1e-8, FIT_FIELDS + EB_FIELDS)
    tr = treat(cfit, lfc=0.3)
    assert_matches(tr, "all_treat", 1e-8, ("t", "p_value", "s2_prior", "df_prior", "s2_post"))
    assert "lods" not in tr and tr.treat_lfc == 0.3


def test_nan_per_feature(all_data: tuple[Any, Any]) -> None:
    _, samples = all_data
    values = ref.all_with_nan()
    fit = lm_fit(values, "~ BT + sex", samples=samples)
    rows = ref.all_nan_rows()
    assert np.isnan(fit.sigma[rows[0]]) and fit.df_residual[rows[0]] == 0
    assert fit.df_residual[rows[1]] <= 1  # three observations (all B cells: BT dropped)
    assert np.isnan(fit.coefficients[rows[2], 1])  # BT not estimable without T samples
    assert_matches(fit, "all_nan", 1e-8, FIT_FIELDS)
    assert_matches(e_bayes(fit), "all_nan", 1e-8, EB_FIELDS)
    keep = np.setdiff1d(np.arange(values.shape[0]), rows[:1])
    trend = e_bayes(lm_fit(values[keep], "~ BT + sex", samples=samples), trend=True)
    assert_matches(trend, "all_nan_trend", 1e-8, EB_FIELDS)


def test_weights_1d_and_2d() -> None:
    E, samples, w, W = ref.sim_data()
    fit1 = lm_fit(E, "~ group + x", samples=samples, weights=w)
    assert_matches(fit1, "sim_weights1d", 1e-8, FIT_FIELDS)
    assert_matches(e_bayes(fit1), "sim_weights1d", 1e-8, EB_FIELDS)
    fit2 = lm_fit(ref.sim_with_nan(), "~ group + x", samples=samples, weights=W)
    assert_matches(fit2, "sim_weights2d", 1e-8, FIT_FIELDS)
    assert_matches(e_bayes(fit2), "sim_weights2d", 1e-8, EB_FIELDS)


def test_block_gls_and_duplicate_correlation() -> None:
    E, samples = ref.bladder_data()
    dc = duplicate_correlation(E, "~ cancer", samples=samples, block=samples.batch)
    consensus = ref.scalars()["bladder_dupcor"]["consensus"]
    assert abs(dc.consensus_correlation - consensus) <= 1e-5
    assert np.nanmax(np.abs(dc.atanh_correlations - ref.bladder_dupcor())) <= 1e-5
    fit = lm_fit(E, "~ cancer", samples=samples, block=samples.batch, correlation=consensus)
    assert_matches(fit, "bladder_gls", 1e-8, FIT_FIELDS)
    assert_matches(e_bayes(fit), "bladder_gls", 1e-8, EB_FIELDS)
    fitw = lm_fit(
        E,
        "~ cancer",
        samples=samples,
        block=samples.batch,
        correlation=0.3,
        weights=ref.bladder_weights(),
    )
    assert_matches(e_bayes(fitw), "bladder_gls_weights", 1e-8, FIT_FIELDS + EB_FIELDS)


def test_duplicate_spots() -> None:
    E = ref.dups_data()
    design = np.c_[np.ones(10), np.repeat([0.0, 1.0], 5)]
    dc = duplicate_correlation(E, design, ndups=2, spacing=1)
    consensus = ref.scalars()["dups_dupcor"]["consensus"]
    assert abs(dc.consensus_correlation - consensus) <= 1e-5
    fit = lm_fit(E, design, ndups=2, spacing=1, correlation=consensus)
    assert fit.coefficients.shape == (600, 2)
    assert_matches(e_bayes(fit), "dups_gls", 1e-8, FIT_FIELDS + EB_FIELDS)


def test_voom() -> None:
    counts, samples = ref.voom_data()
    v = voom(counts, "~ group", samples=samples)
    E, W = ref.voom_output()
    assert ref.max_rel_err(v.E, E) <= 1e-6
    assert ref.max_rel_err(v.weights, W) <= 1e-6
    assert_matches(e_bayes(lm_fit(v)), "voom_fit", 1e-6, EB_FIELDS)
