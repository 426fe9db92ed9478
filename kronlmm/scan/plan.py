"""What a multi-trait scan tests for each candidate (:class:`TestPlan`, :func:`make_plan`)
and which statistic its p-values come from (:data:`STATISTICS`; see
:mod:`kronlmm.scan.block_scan`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.linalg import column_basis
from ..core.stats import chi2_logsf, f_logsf
from ..core.validation import as_matrix

__all__ = ["STATISTICS", "TESTS", "TestPlan", "check_statistic", "make_plan", "statistic_logsf"]

#: Named multi-trait tests (p traits): (alternative design, null design) for the candidate.
TESTS = ("any", "common", "interaction")

#: Statistics a scan's p-values can come from (module docstring): the exact F test at
#: fixed variance components (default) or the asymptotic χ² likelihood-ratio test.
STATISTICS = ("F", "chi2")


def check_statistic(statistic: str) -> str:
    """``statistic`` if it is one of :data:`STATISTICS`, else ValueError."""
    if statistic not in STATISTICS:
        raise ValueError(
            f"statistic must be one of {STATISTICS} (the exact F test at fixed variance "
            f"components, or the asymptotic chi2 likelihood-ratio test), got {statistic!r}"
        )
    return statistic


def statistic_logsf(
    statistic: str,
    chi2: NDArray[np.float64],
    dof: NDArray[np.int64] | int,
    F: NDArray[np.float64],
    df1: NDArray[np.int64] | int,
    df2: NDArray[np.int64] | int,
) -> NDArray[np.float64]:
    """Natural log of the p-value of ``statistic``: ``log P(F(df1, df2) > F)`` or
    ``log P(χ²_dof > chi2)`` (finite where the p-value underflows)."""
    if check_statistic(statistic) == "F":
        return f_logsf(F, df1, df2)
    return chi2_logsf(chi2, dof)


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
    statistic : {"F", "chi2"}
        What the p-values come from (:data:`STATISTICS`; module docstring).

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
    statistic: str = "F"


def make_plan(
    p: int,
    test: str | None = "any",
    A1: ArrayLike | None = None,
    A1_null: ArrayLike | None = None,
    trait_names: list[str] | None = None,
    statistic: str = "F",
) -> TestPlan:
    """Build a :class:`TestPlan` from a named test or explicit designs.

    - ``"any"``: A₁ = Iₚ vs nothing — any effect on any trait, dof = p;
    - ``"common"``: A₁ = 1ₚ — one effect shared by all traits, dof = 1;
    - ``"interaction"``: A₁ = Iₚ beyond A₁,null = 1ₚ — trait-specific effects beyond a
      common one, dof = p − 1.

    Or pass ``test=None`` with ``A1`` (p × a₁) and optionally ``A1_null`` (p × a₀),
    whose column space must lie inside that of A₁ (columns of ``[A1_null, A1]`` are used
    for the alternative otherwise). ``statistic``: ``"F"`` (exact, the default) or
    ``"chi2"`` (module docstring).

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
    check_statistic(statistic)
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
    return TestPlan(
        A1r=A1 @ Va, A1r_null=A1r_null, Va=Va, dof=dof, effect_names=names, statistic=statistic
    )
