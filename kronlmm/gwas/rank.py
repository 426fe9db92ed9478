"""Choosing the rank of the genetic trait covariance C₀ of a GWAS null model.

A C₀ of rank r < p (p traits) forces the traits' genetic effects into r dimensions: with
r = 1 every genetic correlation is ±1. Where that is not true of the data, the scans of
the fitted null are inflated, more so as n grows; a full-rank C₀ makes no such
assumption. So the workflow chooses for the user:

``rank=None`` (the default): full rank p when the sample allows it
    — at least :data:`OBSERVATIONS_PER_PARAMETER` observations (samples after covariates ×
    traits, less missing trait values) per variance parameter of C₀ and C₁,
    ``q(r) = r·p − r(r−1)/2 + p(p+1)/2`` — otherwise the largest rank that does (the
    reason is logged and kept in :attr:`RankChoice.reason`).
``rank="full"``
    p, whatever the sample size.
``rank="auto"``
    every rank 1…p is fitted and the one with the smallest BIC,
    ``−2·lml + q(r)·log N`` (N = n·p observations, less rank(X)·p under REML), is kept; the
    table of ranks, log-likelihoods and BICs is reported.
an integer r
    r, as given.

The :class:`~kronlmm.lmm.Kron2Sum` API keeps glimix-core's ``rank=1`` default; this is the
GWAS workflow's choice (:func:`kronlmm.gwas.fit_null`, ``kronlmm scan --rank``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["RankChoice", "RankSpec", "default_rank", "n_variance_parameters", "bic",
           "OBSERVATIONS_PER_PARAMETER"]  # fmt: skip

logger = logging.getLogger("kronlmm")

RankSpec = int | Literal["full", "auto"] | None

OBSERVATIONS_PER_PARAMETER = 10
"""Observations (samples after covariates × traits) the default asks per variance parameter."""


def n_variance_parameters(p: int, rank: int) -> int:
    """Free parameters of a rank-``rank`` C₀ and a full C₁ for ``p`` traits.

    Examples
    --------
    >>> from kronlmm.gwas import n_variance_parameters
    >>> n_variance_parameters(3, 1), n_variance_parameters(3, 3)
    (9, 12)
    """
    return rank * p - rank * (rank - 1) // 2 + p * (p + 1) // 2


def bic(lml: float, n_parameters: int, n_observations: int) -> float:
    """Bayesian information criterion ``−2·lml + k·log N`` (smaller is better).

    Examples
    --------
    >>> from kronlmm.gwas import bic
    >>> round(bic(-100.0, 3, 50), 3)
    211.736
    """
    return -2.0 * lml + n_parameters * math.log(n_observations)


@dataclass(frozen=True)
class RankChoice:
    """The rank of C₀ a null model was fitted with, and why.

    Attributes
    ----------
    rank : int
        The rank used.
    method : str
        ``"default"``, ``"full"``, ``"auto"`` (BIC) or ``"given"``.
    reason : str
        Why, in words (logged, printed in the run summary, kept in ``null.json``).
    table : list of dict
        For ``"auto"``: one row per rank tried (``rank``, ``lml``, ``n_parameters``,
        ``bic``, ``converged``).

    Examples
    --------
    >>> from kronlmm.gwas import default_rank
    >>> choice = default_rank(p=3, n=377, n_covariates=3)
    >>> choice.rank, choice.method
    (3, 'default')
    >>> choice.reason
    'full rank (p = 3): 1122 observations for 12 variance parameters'
    """

    rank: int
    method: str
    reason: str
    table: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "rank": self.rank,
            "method": self.method,
            "reason": self.reason,
            "table": [dict(row) for row in self.table],
        }


def default_rank(p: int, n: int, n_covariates: int, n_missing: int = 0) -> RankChoice:
    """The default rank of C₀: p when the sample allows it (see the module notes).

    Parameters
    ----------
    p : int
        Traits.
    n : int
        Samples.
    n_covariates : int
        Covariate columns (intercept included).
    n_missing : int, optional
        Missing trait values among the n·p (not observations).

    Returns
    -------
    RankChoice

    Examples
    --------
    >>> from kronlmm.gwas import default_rank
    >>> print(default_rank(p=8, n=60, n_covariates=2).reason.replace(", ", ",\\n"))
    rank 1 < p = 8: 464 observations allow 46 variance parameters (10 per parameter),
    full rank needs 72
    """
    observations = max(max(n - n_covariates, 0) * p - n_missing, 0)
    allowed = observations // OBSERVATIONS_PER_PARAMETER
    full = n_variance_parameters(p, p)
    if full <= allowed:
        return RankChoice(
            p, "default", f"full rank (p = {p}): {observations} observations for {full} "
            "variance parameters"
        )  # fmt: skip
    fitting = [r for r in range(1, p + 1) if n_variance_parameters(p, r) <= allowed]
    rank = max(fitting) if fitting else 1
    reason = (
        f"rank {rank} < p = {p}: {observations} observations allow {allowed} variance "
        f"parameters ({OBSERVATIONS_PER_PARAMETER} per parameter), full rank needs {full}"
    )
    return RankChoice(rank, "default", reason)
