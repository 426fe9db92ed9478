"""Parametric-bootstrap calibration of the fixed-variance-component F test.

The scans test every candidate at the variance components of the fitted null
(:mod:`kronlmm.scan`). Their F test is exact when C₀ and C₁ are the true ones; when they
are estimated from the same small sample (n = 100, several traits) the test is
conservative, more so in the tails and for more traits (docs/calibration.rst). This module
calibrates it by simulation from the fitted null::

    vec(Y*) ~ N((A ⊗ X) vec(B̂), Ĉ₀ ⊗ GGᵀ + Ĉ₁ ⊗ Iₙ)

with B̂, Ĉ₀, Ĉ₁ the null's estimates. Each of ``replicates`` (B) simulated phenotype sets
is refit with the null's model (same A, X, G, trait covariance models, ML or REML, started
from Ĉ₀, Ĉ₁), and the same M reference candidates are scanned at the refit's estimates
with the same test. The B·M null F p-values p* are pooled, and an observed F p-value p_F
is calibrated to the Monte Carlo p-value ::

    p_boot = (1 + #{p* ≤ p_F}) / (1 + B·M)

(B·M: the pooled p-values, fewer where refits did not converge or candidates are
untestable). The F p-value, not the F statistic, is the pivot, because the statistic's
second degrees of freedom differ between candidates with missing values.

**Resolution.** ``p_boot ≥ 1/(1 + B·M)``: with B = 100 and M = 1000 the smallest p-value
is about 1e-5, far above genome-wide thresholds such as 5e-8. This is a tool for small
cohorts and candidate sets (where the estimated variance components are uncertain), not
for genome-wide significance.

Symbols: Y (n × p traits), A (p × a trait design), X (n × c covariates), B (c × a fixed
effects), G (n × r genetic factor, ``GGᵀ = U diag(S²) Uᵀ`` with U n × k orthonormal),
C₀, C₁ (p × p genetic and residual trait covariances).

**Drawing.** No n·p × n·p matrix is formed: with ``Ĉ₀ = L₀L₀ᵀ`` (L₀ from the eigenvectors
of Ĉ₀ scaled by the square roots of its eigenvalues, negative ones set to 0) and
``Ĉ₁ = L₁L₁ᵀ`` (Cholesky), ::

    Y* = X B̂ Aᵀ + U diag(S) Z₀ L₀ᵀ + Z₁ L₁ᵀ,   Z₀ (k × p), Z₁ (n × p) iid N(0, 1)

since ``vec(U S Z₀ L₀ᵀ) = (L₀ ⊗ U S) vec Z₀`` has covariance ``C₀ ⊗ U S² Uᵀ = C₀ ⊗ GGᵀ``.
Replicate b draws Z₀ and then Z₁ (``standard_normal``) from one
``numpy.random.default_rng(seed)``. Entries of Y missing in the null (NaN) are missing in
every Y* too.

**Fast double bootstrap** (``method="fast-double"``; Davidson & MacKinnon 2007, "Improving
the reliability of bootstrap tests with the fast double bootstrap", Computational
Statistics & Data Analysis 51). The single bootstrap simulates at Ĉ₀, Ĉ₁, not at the truth;
where the F test's conservativeness depends on C₀, C₁ this leaves an error. For each
first-level refit b that converged (estimates B̂*_b, Ĉ*₀_b, Ĉ*₁_b) ONE second-level set
Y** is drawn from that refit (the same formula at its estimates), refit from them, and the
same M candidates scanned; their F p-values p** are pooled over b (N₂ values; the N₁
first-level p* as above). With the Monte Carlo p-value functions ::

    G₁(t) = (1 + #{p* ≤ t}) / (1 + N₁),    G₂(t) = (1 + #{p** ≤ t}) / (1 + N₂)

the single bootstrap p-value is p̂₁ = G₁(p_F), and the fast double bootstrap p-value is ::

    q = inf{t : G₂(t) ≥ p̂₁},    p_FDB = G₁(q)

i.e. q is the p̂₁-quantile of the p** (the smallest p** at which the second level's
bootstrap p-value reaches p̂₁: the k-th smallest p** with k = ⌈p̂₁ (1 + N₂)⌉ − 1, computed
in integers; q = −∞ when k ≤ 0) and p_FDB is the first level's bootstrap p-value of q. In
the τ = −log p form of Davidson & MacKinnon (larger = more extreme): τ** = the (1 − p̂₁)
quantile of the second-level statistics, p_FDB = share of first-level τ* beyond it.
Conventions: ties count as "at or below" on both levels; the floor is 1/(1 + N₁) (when
p̂₁ ≤ 1/(1 + N₂), q = −∞); p_FDB ≤ 1; p_FDB is non-decreasing in p_F. When the p** are the
p* (identical pools), G₂ = G₁ and G₁(inf{t : G₁(t) ≥ G₁(p_F)}) = G₁(p_F): p_FDB = p̂₁
exactly, ties included. The second-level draws come from a second generator,
``numpy.random.default_rng([seed, 1])``, so the first level (and the single bootstrap
p-values) are the same as with ``method="single"``. A failed second-level refit leaves
that replicate's second level out and is counted (``failed_second_level``). Cost: up to
2B refits instead of B.
"""

from __future__ import annotations

import copy
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.progress import Progress, progress_reporter
from ..scan import TestPlan, make_plan, scan_block
from .kron2sum import Kron2Sum

__all__ = [
    "DEFAULT_BOOTSTRAP_CANDIDATES",
    "BOOTSTRAP_METHODS",
    "DEFAULT_BOOTSTRAP_REPLICATES",
    "BootstrapCalibration",
    "bootstrap_calibration",
    "refit_null",
    "simulate_phenotypes",
]

#: Default number B of simulated phenotype sets (refits of the null).
DEFAULT_BOOTSTRAP_REPLICATES = 100

#: Default number M of reference candidates (fewer when fewer are scanned).
DEFAULT_BOOTSTRAP_CANDIDATES = 1000

#: The bootstrap methods: the single parametric bootstrap and the fast double bootstrap.
BOOTSTRAP_METHODS = ("single", "fast-double")

BootstrapMethod = Literal["single", "fast-double"]


@dataclass(frozen=True)
class BootstrapCalibration:
    """The pooled null F p-values of a parametric bootstrap, and the calibration they give.

    Attributes
    ----------
    null_p_values : ndarray
        The pooled F p-values p* of the reference candidates over the refits that
        converged, sorted (untestable candidates left out).
    replicates : int
        B, the simulated phenotype sets asked for.
    candidates : int
        M, the reference candidates given.
    failed_refits : int
        Refits left out because they did not converge or could not be fitted (their p*
        are not pooled).
    failure_reasons : dict of str to int
        Why those refits were left out (message → count).
    test : str
        The test's label, e.g. ``"any (dof 2)"``.
    second_level_p_values : ndarray or None
        The fast double bootstrap's pooled second-level F p-values p** (sorted), one
        second-level set per converged first-level refit; ``None`` for the single
        bootstrap.
    failed_second_level : int
        Second-level refits left out (did not converge or could not be fitted).
    second_level_failure_reasons : dict of str to int
        Why (message → count).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import BootstrapCalibration
    >>> calibration = BootstrapCalibration(np.array([0.01, 0.2, 0.5, 0.9]), 2, 2, 0)
    >>> calibration.p_values([0.001, 0.2, 1.0]).tolist()
    [0.2, 0.6, 1.0]
    >>> calibration.resolution, calibration.label
    (0.2, 'F, parametric bootstrap (B=2, M=2)')
    """

    null_p_values: NDArray[np.float64]
    replicates: int
    candidates: int
    failed_refits: int
    failure_reasons: dict[str, int] = field(default_factory=dict)
    test: str = ""
    second_level_p_values: NDArray[np.float64] | None = None
    failed_second_level: int = 0
    second_level_failure_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def method(self) -> BootstrapMethod:
        """``"fast-double"`` when second-level p-values are present, else ``"single"``."""
        return "single" if self.second_level_p_values is None else "fast-double"

    @property
    def pooled(self) -> int:
        """The number of pooled null p-values (B·M less failed refits and untestable
        candidates)."""
        return int(self.null_p_values.size)

    @property
    def refits_used(self) -> int:
        """The refits whose p-values are pooled (B less the failed ones)."""
        return self.replicates - self.failed_refits

    @property
    def resolution(self) -> float:
        """The smallest calibrated p-value, ``1 / (1 + pooled)``."""
        return 1.0 / (1.0 + self.pooled)

    @property
    def label(self) -> str:
        """What the calibrated p-values are: ``"F, parametric bootstrap (B=…, M=…)"`` or
        ``"F, fast double bootstrap (B=…, M=…)"``."""
        kind = "parametric" if self.method == "single" else "fast double"
        return f"F, {kind} bootstrap (B={self.replicates}, M={self.candidates})"

    def p_values(self, p_F: ArrayLike) -> NDArray[np.float64]:
        """Calibrated p-values of observed F p-values: :meth:`single_p_values` for the
        single bootstrap, :meth:`fast_double_p_values` for the fast double bootstrap.

        Parameters
        ----------
        p_F : array_like
            F p-values of the fixed-variance-component test (NaN stays NaN).

        Returns
        -------
        ndarray
            Same shape as ``p_F``.
        """
        if self.method == "single":
            return self.single_p_values(p_F)
        return self.fast_double_p_values(p_F)

    def fast_double_p_values(self, p_F: ArrayLike) -> NDArray[np.float64]:
        """Fast double bootstrap p-values ``G₁(q)``, ``q = inf{t : G₂(t) ≥ G₁(p_F)}``.

        G₁, G₂: the first- and second-level Monte Carlo p-value functions (module
        docstring); q is the k-th smallest p** with ``k = ⌈p̂₁ (1 + N₂)⌉ − 1`` (integer
        arithmetic), −∞ when k ≤ 0. Range ``[1/(1 + N₁), 1]``, non-decreasing in p_F.

        Parameters
        ----------
        p_F : array_like
            F p-values (NaN stays NaN).

        Returns
        -------
        ndarray
            Same shape as ``p_F``.

        Raises
        ------
        ValueError
            If there are no second-level p-values (single bootstrap, or every
            second-level refit failed).
        """
        second = self.second_level_p_values
        if second is None or second.size == 0:
            raise ValueError(
                "no second-level p-values: not a fast double bootstrap, or every "
                f"second-level refit failed ({self.second_level_failure_reasons})"
            )
        observed = np.asarray(p_F, dtype=float)
        n1, n2 = self.pooled, int(second.size)
        count = np.searchsorted(self.null_p_values, observed, side="right").astype(np.int64)
        # p̂₁ (1 + N₂) − 1 = ((1 + c)(1 + N₂) − (1 + N₁)) / (1 + N₁); k its ceiling
        numerator = (1 + count) * (1 + n2) - (1 + n1)
        k = -((-numerator) // (1 + n1))
        q = np.where(k >= 1, second[np.clip(k, 1, n2) - 1], -np.inf)
        below = np.searchsorted(self.null_p_values, q, side="right")
        calibrated = (1.0 + below) / (1.0 + n1)
        return np.where(np.isnan(observed), np.nan, calibrated)

    def single_p_values(self, p_F: ArrayLike) -> NDArray[np.float64]:
        """Single bootstrap p-values ``(1 + #{p* ≤ p_F}) / (1 + pooled)``.

        Parameters
        ----------
        p_F : array_like
            F p-values of the fixed-variance-component test (NaN stays NaN).

        Returns
        -------
        ndarray
            Same shape as ``p_F``.
        """
        observed = np.asarray(p_F, dtype=float)
        below = np.searchsorted(self.null_p_values, observed, side="right")
        calibrated = (1.0 + below) / (1.0 + self.pooled)
        return np.where(np.isnan(observed), np.nan, calibrated)


def _trait_factor(C: NDArray[np.float64]) -> NDArray[np.float64]:
    """``L`` with ``L Lᵀ = C`` for a symmetric PSD C (eigenvectors scaled by the square
    roots of the eigenvalues, negative rounding errors set to 0)."""
    eigenvalues, eigenvectors = np.linalg.eigh((C + C.T) / 2)
    return np.asarray(eigenvectors * np.sqrt(np.maximum(eigenvalues, 0.0)), dtype=np.float64)


def simulate_phenotypes(model: Kron2Sum, rng: np.random.Generator) -> NDArray[np.float64]:
    """One phenotype set Y* (n × p) from the model at its current B̂, C₀, C₁.

    ``Y* = X B̂ Aᵀ + U diag(S) Z₀ L₀ᵀ + Z₁ L₁ᵀ`` (module docstring: Z₀ drawn first, then
    Z₁), with NaN where the model's Y is missing.

    Parameters
    ----------
    model : Kron2Sum
        The (fitted) null.
    rng : numpy.random.Generator
        Source of the normal draws.

    Returns
    -------
    ndarray (n, p)

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum, simulate_phenotypes
    >>> rng = np.random.default_rng(0)
    >>> n, p = 50, 2
    >>> G = rng.standard_normal((n, 5))
    >>> model = Kron2Sum(rng.standard_normal((n, p)), np.eye(p), np.ones((n, 1)), G, rank=p)
    >>> simulate_phenotypes(model, np.random.default_rng(1)).shape
    (50, 2)
    """
    svd = model.cov.svd
    U, S = np.asarray(svd.U), np.sqrt(np.asarray(svd.S2))
    n, p = model.nsamples, model.ntraits
    genetic_draws = rng.standard_normal((U.shape[1], p))
    residual_draws = rng.standard_normal((n, p))
    mean = model.X @ model.B @ model.A.T
    genetic = (U * S) @ genetic_draws @ _trait_factor(model.C0).T
    residual = residual_draws @ np.linalg.cholesky(model.C1).T
    Y = mean + genetic + residual
    Y[np.isnan(model.Y)] = np.nan
    return np.asarray(Y, dtype=np.float64)


def refit_null(model: Kron2Sum, Y: NDArray[np.float64]) -> tuple[Kron2Sum, str]:
    """The null model of ``model`` fitted to other phenotypes ``Y`` from its estimates.

    Same A, X, genetic decomposition, trait covariance models (copies) and ML/REML; the
    fit starts from ``model``'s C₀, C₁ (``fit(start="current")``, default restarts).

    Returns
    -------
    (Kron2Sum, str)
        The refit model and ``""``, or why it is not to be used (did not converge, or could
        not be set up).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum, simulate_phenotypes
    >>> from kronlmm.lmm.bootstrap import refit_null
    >>> rng = np.random.default_rng(0)
    >>> n, p = 80, 2
    >>> G = rng.standard_normal((n, 10)) / np.sqrt(10)
    >>> model = Kron2Sum(rng.standard_normal((n, p)), np.eye(p), np.ones((n, 1)), G, rank=p)
    >>> _ = model.fit(verbose=False)
    >>> refit, why = refit_null(model, simulate_phenotypes(model, rng))
    >>> why, refit.restricted == model.restricted, refit is not model
    ('', True, True)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            refit = Kron2Sum(
                Y,
                model.A,
                model.X,
                model.cov.svd,
                restricted=model.restricted,
                C0=copy.deepcopy(model.cov.C0),
                C1=copy.deepcopy(model.cov.C1),
            )
            refit.set_start(model.C0, model.C1)
            fit = refit.fit(verbose=False, start="current")
        except (ValueError, np.linalg.LinAlgError) as error:
            return model, f"could not be fitted: {error}"
    if not fit.success:
        return refit, f"did not converge: {fit.message}"
    return refit, ""


def bootstrap_calibration(
    model: Kron2Sum,
    candidates: ArrayLike,
    test: str | TestPlan = "any",
    *,
    replicates: int = DEFAULT_BOOTSTRAP_REPLICATES,
    seed: int = 0,
    progress: Progress = False,
    method: BootstrapMethod = "single",
) -> BootstrapCalibration:
    """Pooled null F p-values of reference candidates over refits of simulated phenotypes.

    For b = 1, …, B (``replicates``): draw Y* from the fitted null
    (:func:`simulate_phenotypes`), refit the null on Y* from the fitted C₀, C₁, scan the
    ``candidates`` with the F test of ``test`` at the refit's estimates
    (:func:`kronlmm.scan.scan_block`), and pool their p-values (module docstring).

    Parameters
    ----------
    model : Kron2Sum
        The fitted null (its B̂, C₀, C₁ are those simulated from; not changed).
    candidates : array_like (n, M)
        The M reference candidates, one per column, rows as the model's samples (NaN =
        missing, mean-imputed as in the scans). In a GWAS: a random sample of the
        variants being scanned.
    test : {"any", "common", "interaction"} or TestPlan
        The test (:func:`kronlmm.scan.make_plan`); a plan's statistic is replaced by
        ``"F"``, the pivot of the calibration.
    replicates : int
        B ≥ 1 (default :data:`DEFAULT_BOOTSTRAP_REPLICATES`).
    seed : int
        Seed of ``numpy.random.default_rng`` for the draws.
    progress : bool, "auto" or callable
        Progress over the B refits (``progress(done, total)`` for a callable).
    method : {"single", "fast-double"}
        The single parametric bootstrap, or the fast double bootstrap (one second-level
        set simulated from each converged refit, refit and scanned; module docstring).

    Returns
    -------
    BootstrapCalibration
        Its ``p_values(p_F)`` calibrates observed F p-values of the same test.

    Raises
    ------
    ValueError
        If ``replicates`` < 1, ``candidates`` has no column or the wrong number of rows,
        or ``method`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum, bootstrap_calibration
    >>> rng = np.random.default_rng(0)
    >>> n, p = 60, 2
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> Y = G @ rng.standard_normal((20, p)) + rng.standard_normal((n, p))
    >>> model = Kron2Sum(Y, np.eye(p), np.ones((n, 1)), G, rank=p)
    >>> _ = model.fit(verbose=False)
    >>> dosages = rng.binomial(2, 0.3, size=(n, 50)).astype(float)
    >>> calibration = bootstrap_calibration(model, dosages, "any", replicates=4, seed=1)
    >>> calibration.pooled, calibration.failed_refits, calibration.label
    (200, 0, 'F, parametric bootstrap (B=4, M=50)')
    >>> observed = model.get_fast_scanner().scan_variants(dosages).p_value
    >>> bool(np.all(calibration.p_values(observed) >= calibration.resolution))
    True
    """
    if isinstance(replicates, bool) or not isinstance(replicates, int | np.integer):
        raise ValueError(f"replicates must be an integer ≥ 1, got {replicates!r}")
    if replicates < 1:
        raise ValueError(f"replicates must be ≥ 1 (simulated phenotype sets), got {replicates}")
    reference = np.asarray(candidates, dtype=float)
    if reference.ndim == 1:
        reference = reference[:, None]
    n = model.nsamples
    if reference.ndim != 2 or reference.shape[0] != n or reference.shape[1] < 1:
        raise ValueError(
            f"candidates has shape {reference.shape}, expected ({n}, M) with M ≥ 1: one "
            "reference candidate per column, rows as the model's samples"
        )
    if isinstance(test, TestPlan):
        plan = replace(test, statistic="F")
    else:
        plan = make_plan(model.ntraits, test)
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be one of {BOOTSTRAP_METHODS}, got {method!r}")
    double = method == "fast-double"
    rng = np.random.default_rng(seed)
    second_rng = np.random.default_rng([seed, 1])
    second_pooled: list[NDArray[np.float64]] = []
    second_failures: Counter[str] = Counter()
    report = progress_reporter(progress, int(replicates), unit="replicate")
    pooled: list[NDArray[np.float64]] = []
    failures: Counter[str] = Counter()
    try:
        for done in range(1, int(replicates) + 1):
            refit, why = refit_null(model, simulate_phenotypes(model, rng))
            if why:
                failures[why] += 1
            else:
                result = scan_block(refit.get_fast_scanner().null, reference, plan)
                p_values = result.p_value
                pooled.append(p_values[np.isfinite(p_values)])
                if double:
                    refit2, why2 = refit_null(refit, simulate_phenotypes(refit, second_rng))
                    if why2:
                        second_failures[why2] += 1
                    else:
                        result2 = scan_block(refit2.get_fast_scanner().null, reference, plan)
                        p2 = result2.p_value
                        second_pooled.append(p2[np.isfinite(p2)])
            report(done)
    finally:
        report(None)
    null_p_values = np.sort(np.concatenate(pooled)) if pooled else np.zeros(0)
    return BootstrapCalibration(
        null_p_values=null_p_values,
        replicates=int(replicates),
        candidates=int(reference.shape[1]),
        failed_refits=int(sum(failures.values())),
        failure_reasons=dict(failures),
        test=f"{'custom' if isinstance(test, TestPlan) else test} (dof {plan.dof})",
        second_level_p_values=(
            (np.sort(np.concatenate(second_pooled)) if second_pooled else np.zeros(0))
            if double
            else None
        ),
        failed_second_level=int(sum(second_failures.values())),
        second_level_failure_reasons=dict(second_failures),
    )
