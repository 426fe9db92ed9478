"""The statistics of a scanned block from its generalised residual sums of squares — shared
by the complete-data kernel (:func:`kronlmm.scan.scan_block`) and the observed-value kernel
(:func:`kronlmm.scan.observed_kernel.scan_observed_block`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from .plan import TestPlan, statistic_logsf
from .result import ScanResult

__all__ = ["block_result"]


def block_result(
    plan: TestPlan,
    *,
    N: int,
    df2: int,
    quad0: float,
    profiled_lml: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    ok: NDArray[np.intp],
    dquad_alt: NDArray[np.float64],
    dquad_null: NDArray[np.float64],
    beta1: NDArray[np.float64],
    S_inv: NDArray[np.float64],
    n_missing: NDArray[np.int64],
    means: NDArray[np.float64],
    reason: NDArray[np.object_],
    ids: NDArray[np.generic] | None,
) -> ScanResult:
    """The :class:`ScanResult` of a block of ``m = reason.size`` candidates.

    For the tested candidates ``ok`` (the others are NaN rows with their ``reason``):
    ``dquad_alt`` and ``dquad_null`` are the reductions of ``Q = rᵀK⁻¹r`` from the null's
    ``quad0`` by the alternative and by the test's null (``A₁,null ⊗ g``; zeros if none),
    ``beta1`` (|ok|, a′) and ``S_inv`` (|ok|, a′, a′) the candidate's GLS effects and the
    inverse of its Schur complement in the reduced design of ``plan``. ``N`` observations,
    ``df2`` the F test's residual degrees of freedom, ``profiled_lml(Q)`` the ML
    log-likelihood with the scale profiled (module docstring of
    :mod:`kronlmm.scan.block_scan`).
    """
    m = reason.size
    q = plan.Va.shape[0]
    out = {
        key: np.full(m, np.nan)
        for key in ("lml_null", "lml_alt", "chi2", "F", "p_value", "neg_log10", "scale")
    }
    beta = np.full((m, q), np.nan)
    se = np.full((m, q), np.nan)
    if ok.size:
        quad_alt = quad0 - dquad_alt
        quad_null = quad0 - dquad_null
        dquad = np.maximum(dquad_alt - dquad_null, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2 = np.maximum(N * np.log1p(dquad / quad_alt), 0.0)
            F = (dquad / plan.dof) / (quad_alt / df2)
        logsf = statistic_logsf(plan.statistic, chi2, plan.dof, F, plan.dof, df2)
        scale = quad_alt / N
        out["lml_alt"][ok] = profiled_lml(quad_alt)
        out["lml_null"][ok] = profiled_lml(quad_null)
        out["chi2"][ok] = chi2
        out["F"][ok] = F
        out["p_value"][ok] = np.exp(logsf)
        out["neg_log10"][ok] = -logsf / np.log(10.0)
        out["scale"][ok] = scale
        beta[ok] = beta1 @ plan.Va.T
        cov_diag = np.einsum("ab,jbc,ac->ja", plan.Va, S_inv, plan.Va)
        se[ok] = np.sqrt(np.maximum(scale[:, None] * cov_diag, 0.0))
    return ScanResult(
        lml_null=out["lml_null"],
        lml_alt=out["lml_alt"],
        chi2=out["chi2"],
        dof=np.full(m, plan.dof, dtype=np.int64),
        F=out["F"],
        df1=np.full(m, plan.dof, dtype=np.int64),
        df2=np.full(m, df2, dtype=np.int64),
        p_value=out["p_value"],
        neg_log10_p_value=out["neg_log10"],
        scale=out["scale"],
        beta=beta,
        se=se,
        n_missing=n_missing.astype(np.int64),
        mean=means,
        reason=reason,
        trait_names=list(plan.effect_names),
        ids=None if ids is None else np.asarray(ids),
        statistic=plan.statistic,
    )
