"""The exact likelihood-ratio test of a candidate with C₀, C₁ re-estimated (refit LRT).

The scanners test each candidate at the null's variance components (:mod:`kronlmm.scan`).
For the candidates that matter (e.g. those significant at that test) this module refits
C₀ and C₁ under the alternative too and reports the likelihood ratio of two maximum
likelihood fits::

    H0: vec(Y) ~ N((A ⊗ X) vec(B),                     C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)
    H1: vec(Y) ~ N((A ⊗ X) vec(B) + (A₁ ⊗ g) vec(β),   C₀′ ⊗ GGᵀ + C₁′ ⊗ Iₙ)

    χ² = 2 (ℓ₁ − ℓ₀),  ℓ = ML log-likelihood maximised over B (β) and C₀, C₁ (C₀′, C₁′)

against χ² with ``dof = rank(A₁)`` degrees of freedom (asymptotic: with the variance
components estimated, no exact small-sample test exists; see benchmarks/README.md for its
calibration at n = 100).

Y: n × p traits; A: p × a trait design; X: n × c covariates; G: the genetic factor; g: one
candidate (n-vector); A₁: p × a₁ candidate trait design; C₀, C₁: p × p trait covariances
(their models, e.g. the rank of C₀, are the null model's).

**Which A₁.** The alternative is a :class:`~kronlmm.lmm.Kron2Sum` when its mean is of the
form ``(A ⊗ X′) vec(B′)``: that is when span(A₁) = span(A) (``(A₁ ⊗ g) vec β = (A ⊗ g)
vec β′``), and then ``X′ = [X, g]``. That covers the ``"any"`` test with ``A = Iₚ`` (the
GWAS workflow's null). For other A₁ (``"common"``: A₁ = 1ₚ with A = Iₚ; ``"interaction"``,
whose null already contains ``1ₚ ⊗ g``) the means are sums of Kronecker products of
different trait designs, which the likelihood engine does not profile yet; they are refused
with a ValueError.

**Cost and local maxima.** Each alternative is a Kron2Sum on the projections of
``[X, g]`` (one O(n·k·(p + c)) pass over the data, k the rank of G; it recomputes UᵀY,
which could be shared); every likelihood evaluation of its fit is then n-free
(:mod:`kronlmm.core.likelihood`). The fit starts from the null's ML estimates (one
L-BFGS-B run, no restarts), where its likelihood is already at least the null's, so
``ℓ₁ ≥ ℓ₀`` holds by construction. Then the null is refit from the alternative's
optimum: where that reaches a higher null likelihood (the null's first maximum was local:
with many variance parameters and few samples the likelihood has several), ℓ₀ is raised
to it and, once all candidates are done, every alternative is refit from the better null
(keeping its better fit), so that a ratio is never inflated by a null maximum that was
not the best one found. Two or three fits per candidate.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.linalg import column_basis
from ..core.stats import chi2_logsf
from ..core.validation import as_matrix
from ..core.warnings import FitWarning
from ..scan.kernel import impute_block
from .kron2sum import Kron2Sum

__all__ = ["REFIT_MODES", "DEFAULT_REFIT_THRESHOLD", "RefitResult", "refit_lrt", "check_refit"]

#: Which candidates a scan refits: none, those with the fixed-variance-component p-value
#: below a threshold, or all tested candidates.
REFIT_MODES = ("none", "significant", "all")

#: Default p-value threshold of ``refit="significant"`` (on the fixed-VC test).
DEFAULT_REFIT_THRESHOLD = 1e-5


def check_refit(refit: str) -> str:
    """``refit`` if it is one of :data:`REFIT_MODES` (ValueError otherwise)."""
    if refit not in REFIT_MODES:
        raise ValueError(f"refit must be one of {REFIT_MODES}, got {refit!r}")
    return refit


@dataclass
class RefitResult:
    """Refit likelihood-ratio tests of m candidates.

    Attributes
    ----------
    lml_null : float
        ML log-likelihood of the null, C₀ and C₁ re-estimated by ML (the same for every
        candidate).
    C0_null, C1_null : ndarray (p, p)
        The null's ML estimates (the start of every alternative's fit).
    lml_alt : ndarray (m,)
        ML log-likelihood of each alternative (C₀′, C₁′ re-estimated).
    chi2 : ndarray (m,)
        ``2(lml_alt − lml_null)`` (≥ 0).
    dof : int
        ``rank(A₁)``.
    p_value, neg_log10_p_value : ndarray (m,)
        ``P(χ²_dof > chi2)`` and its ``−log10`` from the log survival function (exact where
        the p-value underflows).
    reason : ndarray (m,) of str
        ``""`` for a refit candidate; else why its row is NaN (untestable, or the fit of
        the alternative did not converge, with the fit's message).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum, refit_lrt
    >>> rng = np.random.default_rng(1)
    >>> n, p = 80, 2
    >>> G = rng.standard_normal((n, 10)) / np.sqrt(10)
    >>> Y = G @ rng.standard_normal((10, p)) + rng.standard_normal((n, p))
    >>> model = Kron2Sum(Y, np.eye(p), np.ones((n, 1)), G, rank=p)
    >>> _ = model.fit(verbose=False)
    >>> res = refit_lrt(model, np.column_stack([rng.standard_normal(n), np.ones(n)]))
    >>> bool(np.isclose(res.lml_null, model.lml())), res.reason.tolist()
    (True, ['', 'constant or collinear with covariates'])
    """

    lml_null: float
    C0_null: NDArray[np.float64]
    C1_null: NDArray[np.float64]
    lml_alt: NDArray[np.float64]
    chi2: NDArray[np.float64]
    dof: int
    p_value: NDArray[np.float64]
    neg_log10_p_value: NDArray[np.float64]
    reason: NDArray[np.object_]


def _same_span(A: NDArray[np.float64], A1: NDArray[np.float64]) -> bool:
    ra, r1 = column_basis(A).shape[1], column_basis(A1).shape[1]
    return bool(ra == r1 == column_basis(np.hstack([A, A1])).shape[1])


def _ml_model(model: Kron2Sum, X: NDArray[np.float64]) -> Kron2Sum:
    """An ML Kron2Sum with ``model``'s data, trait covariance models and values, and X."""
    return Kron2Sum(
        model.Y,
        model.A,
        X,
        model.cov.svd,
        restricted=False,
        C0=copy.deepcopy(model.cov.C0),
        C1=copy.deepcopy(model.cov.C1),
    )


def _fit_from(
    base: Kron2Sum, X: NDArray[np.float64], C0: NDArray[np.float64], C1: NDArray[np.float64]
) -> tuple[Kron2Sum, str]:
    """ML fit of ``base``'s model with covariates X from (C₀, C₁) (one L-BFGS-B run): the
    model and ``""``, or why the fit is not to be trusted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _ml_model(base, X)
        model.set_start(C0, C1)
        fit = model.fit(verbose=False, start="current", restarts=0)
    if not fit.success:
        return model, f"did not converge ({fit})"
    bad = [w for w in caught if issubclass(w.category, FitWarning)]
    if bad:
        return model, f"warned: {bad[0].message}"
    return model, ""


def refit_lrt(model: Kron2Sum, G: ArrayLike, A1: ArrayLike | None = None) -> RefitResult:
    """Likelihood-ratio tests of the columns of ``G`` with C₀, C₁ refit (module docstring).

    Parameters
    ----------
    model : Kron2Sum
        The null model (ML or REML; its current C₀, C₁ start the null's ML fit, and its
        trait covariance models are those of both fits).
    G : array_like (n, m)
        Candidates as columns (NaN = missing, replaced by the candidate's mean as in the
        scans).
    A1 : array_like (p, a₁), optional
        The candidate's trait design; default: the model's A (the ``"any"`` test for
        A = Iₚ). Its column span must equal that of A.

    Returns
    -------
    RefitResult

    Raises
    ------
    ValueError
        If span(A₁) ≠ span(A) (the ``"common"`` and ``"interaction"`` tests with A = Iₚ),
        or G has the wrong number of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum, refit_lrt
    >>> rng = np.random.default_rng(0)
    >>> n, p = 120, 2
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> dosages = rng.binomial(2, 0.3, size=(n, 3)).astype(float)
    >>> Y = G @ rng.standard_normal((20, p)) + rng.standard_normal((n, p))
    >>> Y[:, 1] += 0.8 * dosages[:, 0]
    >>> model = Kron2Sum(Y, np.eye(p), np.ones((n, 1)), G, rank=p)
    >>> _ = model.fit(verbose=False)
    >>> res = refit_lrt(model, dosages)
    >>> res.dof, bool(res.p_value[0] < 1e-4), res.reason.tolist()
    (2, True, ['', '', ''])
    """
    A = model.A
    p = A.shape[0]
    A1m = A if A1 is None else as_matrix("A1", A1, nrows=p)
    if not _same_span(A, A1m):
        raise ValueError(
            "the refit likelihood-ratio test needs the candidate's trait design A1 to span the "
            "same columns as the null's A (e.g. the 'any' test with A = I): for other designs "
            "(the 'common' and 'interaction' tests with A = I) the alternative's mean "
            "(A ⊗ X) vec B + (A1 ⊗ g) vec β is not of the Kron2Sum form (A ⊗ X′) vec B′, "
            "which is the only mean the likelihood engine profiles; use refit='none' for them"
        )
    dof = column_basis(A1m).shape[1]
    X = model.X
    n = X.shape[0]
    Gm = np.asarray(G, dtype=float)
    if Gm.ndim == 1:
        Gm = Gm[:, None]
    if Gm.ndim != 2 or Gm.shape[0] != n:
        raise ValueError(f"G has shape {Gm.shape}, expected ({n}, m): one column per candidate")
    Gi, nmiss, _ = impute_block(Gm)
    m = Gi.shape[1]
    null = _ml_model(model, X)
    null.set_start(model.C0, model.C1)
    fit0 = null.fit(verbose=False, start="current", restarts=0)
    lml0 = null.lml()
    C0, C1 = null.C0, null.C1
    lml_alt = np.full(m, np.nan)
    reason = np.full(m, "", dtype=object)
    if not fit0.success:
        reason[:] = f"the null's ML fit did not converge ({fit0})"
    rank_x = column_basis(X).shape[1]
    designs: dict[int, NDArray[np.float64]] = {}
    for j in range(m):
        if reason[j]:
            continue
        if nmiss[j] == n:
            reason[j] = "all values missing"
            continue
        X1 = np.column_stack([X, Gi[:, j]])
        if column_basis(X1).shape[1] <= rank_x:
            reason[j] = "constant or collinear with covariates"
            continue
        designs[j] = X1
    improved = False
    for j, X1 in designs.items():
        alt, why = _fit_from(null, X1, C0, C1)
        if why:
            reason[j] = f"the alternative's ML fit {why}"
            continue
        lml_alt[j] = alt.lml()
        # the null refit from the alternative's optimum: where that basin is better for the
        # null too, the null's maximum was not global and the ratio would be inflated
        back, why = _fit_from(null, X, alt.C0, alt.C1)
        if not why and back.lml() > lml0 + 1e-9 * max(1.0, abs(lml0)):
            lml0, C0, C1, improved = back.lml(), back.C0, back.C1, True
    if improved:  # every alternative again from the better null (keeping the better fit)
        for j, X1 in designs.items():
            if np.isnan(lml_alt[j]):
                continue
            alt, why = _fit_from(null, X1, C0, C1)
            if not why:
                lml_alt[j] = max(lml_alt[j], alt.lml())
    chi2 = np.maximum(2.0 * (lml_alt - lml0), 0.0)
    chi2[np.isnan(lml_alt)] = np.nan
    logsf = chi2_logsf(chi2, dof)
    return RefitResult(
        lml_null=float(lml0),
        C0_null=C0,
        C1_null=C1,
        lml_alt=lml_alt,
        chi2=chi2,
        dof=int(dof),
        p_value=np.exp(logsf),
        neg_log10_p_value=-logsf / np.log(10.0),
        reason=reason,
    )
