"""The pure block scan: one candidate block + fitted null terms → a :class:`ScanResult`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.linalg import column_basis
from ..core.stats import chi2_logsf
from ..core.validation import as_matrix
from .kernel import NullModel, degenerate_reason, fit_block, impute_block, rotate_block
from .result import ScanResult

__all__ = ["TestPlan", "make_plan", "scan_block", "TESTS"]

#: Named multi-trait tests (p traits): (alternative design, null design) for the candidate.
TESTS = ("any", "common", "interaction")


@dataclass(frozen=True)
class TestPlan:
    """What is tested for each candidate g (one column).

    The alternative adds ``A₁ ⊗ g`` to the null mean; ``A₁,null ⊗ g`` (if any) is in the
    null too, so the test is "A₁ beyond A₁,null". Designs are stored as orthonormal-column
    reparameterisations ``A₁ Va`` (full column rank) so that
    ``dof = rank(A₁) − rank(A₁,null)``.

    Attributes
    ----------
    A1r, A1r_null : ndarray (p, a′), ndarray (p, a″) or None
    Va : ndarray (a₁, a′)
        Maps reduced effects to the columns of A₁ (minimum-norm where A₁ is rank deficient).
    dof : int
    effect_names : list of str
        One per column of A₁.

    Examples
    --------
    >>> from kronlmm.scan import TestPlan, make_plan
    >>> plan = make_plan(2, "any", trait_names=["a", "b"])
    >>> isinstance(plan, TestPlan), plan.dof, plan.A1r.shape, plan.effect_names
    (True, 2, (2, 2), ['a', 'b'])
    """

    __test__ = False  # not a pytest test class

    A1r: NDArray[np.float64]
    A1r_null: NDArray[np.float64] | None
    Va: NDArray[np.float64]
    dof: int
    effect_names: list[str]


def make_plan(
    p: int,
    test: str | None = "any",
    A1: ArrayLike | None = None,
    A1_null: ArrayLike | None = None,
    trait_names: list[str] | None = None,
) -> TestPlan:
    """Build a :class:`TestPlan` from a named test or explicit designs.

    - ``"any"``: A₁ = Iₚ vs nothing — any effect on any trait, dof = p;
    - ``"common"``: A₁ = 1ₚ — one effect shared by all traits, dof = 1;
    - ``"interaction"``: A₁ = Iₚ beyond A₁,null = 1ₚ — trait-specific effects beyond a
      common one, dof = p − 1.

    Or pass ``test=None`` with ``A1`` (p × a₁) and optionally ``A1_null`` (p × a₀),
    whose column space must lie inside that of A₁ (columns of ``[A1_null, A1]`` are used
    for the alternative otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import make_plan
    >>> [make_plan(3, test).dof for test in ("any", "common", "interaction")]
    [3, 1, 2]
    >>> A1 = np.hstack([np.ones((3, 1)), np.eye(3)])  # 4 columns of rank 3
    >>> make_plan(3, None, A1=A1).dof
    3
    """
    names = trait_names or [f"trait{t}" for t in range(p)]
    if len(names) != p:
        raise ValueError(f"trait_names has {len(names)} names, expected p = {p}")
    if test is not None:
        if A1 is not None or A1_null is not None:
            raise ValueError("give either test= or A1=/A1_null=, not both")
        if test == "any":
            A1, A1_null = np.eye(p), None
        elif test == "common":
            A1, A1_null, names = np.ones((p, 1)), None, ["common"]
        elif test == "interaction":
            if p < 2:
                raise ValueError("the interaction test needs at least 2 traits")
            A1, A1_null = np.eye(p), np.ones((p, 1))
        else:
            raise ValueError(f"test must be one of {TESTS} or None, got {test!r}")
    elif A1 is None:
        raise ValueError("A1 is required when test=None")
    A1 = as_matrix("A1", A1, nrows=p)
    if test is None:
        names = (
            names
            if A1.shape[1] == p and np.allclose(A1, np.eye(p))
            else [f"A1_{j}" for j in range(A1.shape[1])]
        )
    Va = column_basis(A1)
    if Va.shape[1] == 0:
        raise ValueError("A1 has rank 0")
    A1r_null = None
    rank_null = 0
    if A1_null is not None:
        A1_null = as_matrix("A1_null", A1_null, nrows=p)
        Vn = column_basis(A1_null)
        rank_null = Vn.shape[1]
        A1r_null = A1_null @ Vn if rank_null else None
        both = column_basis(np.hstack([A1_null, A1]))
        if both.shape[1] != Va.shape[1]:
            raise ValueError("the column space of A1_null must lie inside that of A1")
    dof = Va.shape[1] - rank_null
    if dof <= 0:
        raise ValueError("A1 adds nothing beyond A1_null (dof would be 0)")
    return TestPlan(A1r=A1 @ Va, A1r_null=A1r_null, Va=Va, dof=dof, effect_names=names)


def scan_block(
    null: NullModel, G: NDArray[np.float64], plan: TestPlan, ids: NDArray[np.generic] | None = None
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
