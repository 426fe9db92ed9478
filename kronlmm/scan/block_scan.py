"""The pure block scan: one candidate block + fitted null terms → a :class:`ScanResult`.

Two tests of the same fit, at the variance components fixed (C₀, C₁ up to the common
scale s, re-profiled). With Q = rᵀK⁻¹r the generalised residual sum of squares at the GLS
estimate, Q₀ under the test's null (with ``A₁,null ⊗ g`` if any), Q₁ under the
alternative, N = n·p observations, d = ``dof`` and k₁ the rank of the alternative's mean
design ``[A₀ ⊗ X, A₁ ⊗ g]``:

- ``"F"`` (the default): ``F = ((Q₀ − Q₁)/d) / (Q₁/(N − k₁))``, p = ``P(F(d, N − k₁) > F)``.
  At fixed C₀, C₁ the model is a linear model with known correlation, so this test is
  *exact* (the F test of the whitened regression), at any sample size;
- ``"chi2"``: the likelihood ratio ``χ² = N log(Q₀/Q₁)`` against ``χ²_d`` — asymptotic,
  inflated at small N (1.11× nominal at α = 0.05, 1.43× at α = 1e-4 for N = 100, d = 1).

Both are monotone in ``Q₀/Q₁`` (``F = (exp(χ²/N) − 1)(N − k₁)/d``), so they rank candidates
identically. ``N − k₁`` is the same whether C₀, C₁ were estimated by ML or REML: the
estimation only chooses the fixed correlation; the scan's scale and effects are always
profiled by GLS over all N observations.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from .block_result import block_result
from .kernel import NullModel, degenerate_reason, fit_block, impute_block, rotate_block
from .observed_kernel import ObservedNullModel, scan_observed_block
from .plan import STATISTICS, TESTS, TestPlan, check_statistic, make_plan, statistic_logsf
from .result import ScanResult

__all__ = [
    "STATISTICS",
    "TESTS",
    "ScanNull",
    "TestPlan",
    "check_statistic",
    "make_plan",
    "residual_dof",
    "restate",
    "scan_block",
    "statistic_logsf",
]

#: The null terms a block scan takes: all the data (:class:`~kronlmm.scan.kernel.NullModel`)
#: or the observed values of a Y with missing entries
#: (:class:`~kronlmm.scan.observed_kernel.ObservedNullModel`).
ScanNull = NullModel | ObservedNullModel


def residual_dof(null: ScanNull, plan: TestPlan) -> int:
    """``N − k₁``: observations minus the rank of the alternative's mean design
    ``[A₀ ⊗ X, A₁ ⊗ g]`` (``rank(A₀)·rank(X) + rank(A₁)`` for g outside span(X); with
    missing trait values, N = N_o and the rank of the null design at the observed values)."""
    if isinstance(null, ObservedNullModel):
        return int(null.N - null.H00.rank - plan.A1r.shape[1])
    k1 = null.UX.shape[1] * null.At0.shape[1] + plan.A1r.shape[1]
    return int(null.N - k1)


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
        return scan_observed_block(null, G, plan, ids, residual_dof(null, plan))
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
    df2 = residual_dof(null, plan)
    if df2 <= 0:
        reason[reason == ""] = (
            f"no residual degrees of freedom: the alternative's mean design has rank "
            f"{null.N - df2} ≥ n·p = {null.N} and fits the data exactly"
        )
    ok = np.flatnonzero(reason == "")
    dq_alt = dq_null = np.zeros(ok.size)
    a1 = plan.A1r.shape[1]
    beta1, S_inv = np.zeros((0, a1)), np.zeros((0, a1, a1))
    if ok.size:
        rbo = rb.take(ok)
        alt = fit_block(null, rbo, plan.A1r)
        dq_alt, beta1, S_inv = alt.dquad, alt.beta1, alt.S_inv
        if plan.A1r_null is not None:
            dq_null = fit_block(null, rbo, plan.A1r_null).dquad
    return block_result(
        plan,
        N=null.N,
        df2=df2,
        quad0=null.quad0,
        profiled_lml=null.profiled_lml,
        ok=ok,
        dquad_alt=dq_alt,
        dquad_null=dq_null,
        beta1=beta1,
        S_inv=S_inv,
        n_missing=nmiss,
        means=means,
        reason=reason,
        ids=ids,
    )


def restate(result: ScanResult, null: ScanNull, plan: TestPlan) -> ScanResult:
    """``result`` with its F statistic and p-values as ``scan_block`` gives them for
    ``plan``, computed from its ``chi2`` (``F = expm1(χ²/N)·df2/df1``): for results stored
    before the F test existed or with the other statistic (checkpoints). Results already
    of ``plan``'s statistic with an F column are returned as they are.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import KronFastScanner, restate
    >>> rng = np.random.default_rng(0)
    >>> n, p = 60, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.1 * np.eye(p), np.eye(p))
    >>> dosages = rng.binomial(2, 0.4, size=(n, 3)).astype(float)
    >>> chi = scanner.scan_variants(dosages, statistic="chi2")
    >>> F = restate(chi, scanner.null, scanner.plan("any"))  # as an F scan gives it
    >>> F.statistic, bool(np.allclose(F.p_value, scanner.scan_variants(dosages).p_value))
    ('F', True)
    """
    missing_F = bool(np.any(np.isnan(result.F) & ~np.isnan(result.chi2)))
    if result.statistic == plan.statistic and not missing_F:
        return result
    df2 = residual_dof(null, plan)
    with np.errstate(divide="ignore", invalid="ignore"):
        F = np.expm1(result.chi2 / null.N) * df2 / plan.dof
    logsf = statistic_logsf(plan.statistic, result.chi2, plan.dof, F, plan.dof, df2)
    return replace(
        result,
        F=F,
        df1=np.full(len(result), plan.dof, dtype=np.int64),
        df2=np.full(len(result), df2, dtype=np.int64),
        p_value=np.exp(logsf),
        neg_log10_p_value=-logsf / np.log(10.0),
        statistic=plan.statistic,
    )
