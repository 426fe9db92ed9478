"""The pure block scan: one candidate block + fitted null terms → a :class:`ScanResult`."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..core.stats import chi2_logsf
from .kernel import NullModel, degenerate_reason, fit_block, impute_block, rotate_block
from .observed_kernel import ObservedNullModel, scan_observed_block
from .plan import TESTS, TestPlan, make_plan
from .result import ScanResult

__all__ = ["TestPlan", "make_plan", "scan_block", "TESTS", "ScanNull"]

#: The null terms a block scan takes: all the data (:class:`~kronlmm.scan.kernel.NullModel`)
#: or the observed values of a Y with missing entries
#: (:class:`~kronlmm.scan.observed_kernel.ObservedNullModel`).
ScanNull = NullModel | ObservedNullModel


def scan_block(
    null: ScanNull, G: NDArray[np.float64], plan: TestPlan, ids: NDArray[np.generic] | None = None
) -> ScanResult:
    """Test every column of ``G`` (n × m; NaN = missing, mean-imputed per column).

    A pure function of its inputs, so blocks can be mapped over in any order or on any
    worker. Untestable candidates (all values missing, constant, collinear with X) get a
    NaN row and a ``reason``; they never stop the scan.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import KronFastScanner, ScanResult, make_plan, scan_block
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.1 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.4, size=(n, 6)).astype(float)
    >>> plan = make_plan(p, "common")
    >>> parts = [scan_block(scanner.null, dosages[:, j : j + 3], plan) for j in (0, 3)]
    >>> whole = scanner.scan_variants(dosages, "common")
    >>> bool(np.allclose(ScanResult.concat(parts).chi2, whole.chi2))
    True
    """
    if isinstance(null, ObservedNullModel):
        return scan_observed_block(null, G, plan, ids)
    G = np.asarray(G, dtype=float)
    if G.ndim != 2 or G.shape[0] != null.n:
        raise ValueError(f"candidate block has shape {G.shape}, expected ({null.n}, m)")
    n, m = G.shape
    Gi, nmiss, means = impute_block(G)
    rb = rotate_block(null, Gi)
    reason = degenerate_reason(rb)
    flagged = np.flatnonzero(reason != "")
    reason[flagged[np.ptp(Gi[:, flagged], axis=0) == 0]] = "constant"
    reason[nmiss == n] = "all values missing"
    ok = np.flatnonzero(reason == "")
    q = plan.Va.shape[0]
    out = {
        key: np.full(m, np.nan)
        for key in ("lml_null", "lml_alt", "chi2", "pvalue", "neg_log10_pvalue", "scale")
    }
    beta = np.full((m, q), np.nan)
    se = np.full((m, q), np.nan)
    if ok.size:
        rbo = rb.take(ok)
        alt = fit_block(null, rbo, plan.A1r)
        dq_null = np.zeros(ok.size)
        if plan.A1r_null is not None:
            dq_null = fit_block(null, rbo, plan.A1r_null).dquad
        N = null.N
        quad_alt = null.quad0 - alt.dquad
        quad_null = null.quad0 - dq_null
        chi2 = np.maximum(N * np.log1p((alt.dquad - dq_null) / quad_alt), 0.0)
        logsf = chi2_logsf(chi2, plan.dof)
        scale = quad_alt / N
        out["lml_alt"][ok] = null.profiled_lml(quad_alt)
        out["lml_null"][ok] = null.profiled_lml(quad_null)
        out["chi2"][ok] = chi2
        out["pvalue"][ok] = np.exp(logsf)
        out["neg_log10_pvalue"][ok] = -logsf / np.log(10.0)
        out["scale"][ok] = scale
        beta[ok] = alt.beta1 @ plan.Va.T
        cov_diag = np.einsum("ab,jbc,ac->ja", plan.Va, alt.S_inv, plan.Va)
        se[ok] = np.sqrt(np.maximum(scale[:, None] * cov_diag, 0.0))
    return ScanResult(
        lml_null=out["lml_null"],
        lml_alt=out["lml_alt"],
        chi2=out["chi2"],
        dof=np.full(m, plan.dof, dtype=np.int64),
        p_value=out["pvalue"],
        neg_log10_p_value=out["neg_log10_pvalue"],
        scale=out["scale"],
        beta=beta,
        se=se,
        n_missing=nmiss.astype(np.int64),
        mean=means,
        reason=reason,
        trait_names=list(plan.effect_names),
        ids=None if ids is None else np.asarray(ids),
    )
