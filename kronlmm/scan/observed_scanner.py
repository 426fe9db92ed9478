"""Multi-trait association scanner on the observed values of a Y with missing entries."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..core.linalg import EconomicSVD, economic_svd, orthonormal_basis
from ..core.missing_likelihood import ObservedData, ObservedLikelihood
from ..core.progress import Progress
from ..core.validation import as_matrix, check_square_symmetric
from .blocks import array_blocks, scan_blocks
from .observed_kernel import ObservedNullModel
from .plan import TestPlan, make_plan
from .result import ScanResult
from .threads import blas_threads

__all__ = ["KronObservedScanner"]


class KronObservedScanner:
    r"""Association scans on the observed values of Y, variance components fixed.

    Null and alternative (scale s re-profiled in both; C₀, C₁ fixed; O the observed
    entries of vec(Y), N_o of them)::

        H0: y_O ~ N((A₀ ⊗ X)_O vec(B₀),                        s·K_OO)
        H1: y_O ~ N((A₀ ⊗ X)_O vec(B₀) + (A₁ ⊗ g)_O vec(B₁),   s·K_OO)
        K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ

    The statistics are exactly those of a dense GLS on the observed entries
    (:mod:`kronlmm.scan.observed_kernel` for the method and its cost); the tests and the
    result are those of :class:`~kronlmm.scan.KronFastScanner` (``"any"``, ``"common"``,
    ``"interaction"`` or explicit ``A1``/``A1_null``; :class:`~kronlmm.scan.ScanResult`).
    ``lml`` values are ML, whatever the fit of the null.

    Parameters
    ----------
    Y : array_like (n, p)
        Outcomes, NaN where missing (every sample must have an observed trait).
    A, X, G : array_like
        As in :class:`kronlmm.lmm.Kron2Sum` (A is A₀).
    C0, C1 : array_like (p, p)
        Fixed trait covariances.
    trait_names : list of str, optional
    trait_sd : array_like (p,), optional
        Internal trait units (default: from the observed values).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import KronObservedScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> dosages = rng.binomial(2, 0.3, size=(n, 50)).astype(float)
    >>> Y = G @ rng.standard_normal((20, p)) + rng.standard_normal((n, p))
    >>> Y[:, 0] += dosages[:, 7]
    >>> Y[rng.random(n) < 0.2, 1] = np.nan  # a fifth of the second trait missing
    >>> scanner = KronObservedScanner(Y, np.eye(p), np.ones((n, 1)), G, np.eye(p), np.eye(p))
    >>> result = scanner.scan_variants(dosages, "any")
    >>> int(np.argmin(result.p_value)), int(result.dof[7])
    (7, 2)
    """

    def __init__(
        self,
        Y: ArrayLike,
        A: ArrayLike,
        X: ArrayLike,
        G: ArrayLike | EconomicSVD,
        C0: ArrayLike,
        C1: ArrayLike,
        *,
        trait_names: list[str] | None = None,
        trait_sd: ArrayLike | None = None,
    ) -> None:
        Y = as_matrix("Y", Y, finite=False)
        if np.any(np.isinf(Y)):
            raise ValueError("Y has infinite values; missing values must be NaN")
        n, p = Y.shape
        empty = np.flatnonzero(np.isnan(Y).all(axis=1)).tolist()
        if empty:
            raise ValueError(f"rows {empty[:20]} of Y have no observed trait; drop those samples")
        A = as_matrix("A", A, nrows=p)
        X = as_matrix("X", X, nrows=n)
        svd = G if isinstance(G, EconomicSVD) else economic_svd(as_matrix("G", G, nrows=n))
        C0 = check_square_symmetric("C0", C0, size=p)
        C1 = check_square_symmetric("C1", C1, size=p)
        sd = None if trait_sd is None else np.asarray(trait_sd, dtype=float)
        data = ObservedData.build(Y, A, X, svd, restricted=False, trait_sd=sd)
        self._null = ObservedNullModel.build(
            ObservedLikelihood(data), C0, C1, orthonormal_basis(X).Q
        )
        self._trait_names = trait_names

    @property
    def null(self) -> ObservedNullModel:
        """The fixed null terms (what :func:`~kronlmm.scan.scan_block` needs)."""
        return self._null

    def null_lml(self) -> float:
        """ML log-likelihood of the observed values under the null, scale profiled."""
        return float(self._null.profiled_lml(self._null.quad0))

    @property
    def null_scale(self) -> float:
        """Profiled scale s of the null (1 after an ML fit of the same model)."""
        return self._null.quad0 / self._null.N

    def plan(
        self,
        test: str | None = "any",
        A1: ArrayLike | None = None,
        A1_null: ArrayLike | None = None,
        statistic: str = "F",
    ) -> TestPlan:
        """The :class:`TestPlan` for a named test or explicit designs, with p-values from
        ``statistic`` (``"F"``, exact, default; or ``"chi2"``)."""
        return make_plan(self._null.p, test, A1, A1_null, self._trait_names, statistic)

    def scan_variants(
        self,
        G: ArrayLike,
        test: str | None = "any",
        *,
        A1: ArrayLike | None = None,
        A1_null: ArrayLike | None = None,
        ids: ArrayLike | None = None,
        block_size: int | None = None,
        progress: Progress = False,
        statistic: str = "F",
    ) -> ScanResult:
        """Test every column of ``G`` (n × m) as a separate candidate, in blocks (as
        :meth:`KronFastScanner.scan_variants <kronlmm.scan.KronFastScanner.scan_variants>`,
        whose ``statistic`` this takes too)."""
        plan = self.plan(test, A1, A1_null, statistic)
        null = self._null
        Ga = np.asarray(G, dtype=float)
        if Ga.ndim == 1:
            Ga = Ga[:, None]
        if Ga.ndim != 2 or Ga.shape[0] != null.n:
            raise ValueError(f"G has shape {Ga.shape}, expected ({null.n}, m)")
        if block_size is None:
            block_size = min(
                default_observed_block_size(null), max(1, -(-Ga.shape[1] // blas_threads()))
            )
        return scan_blocks(null, plan, array_blocks(Ga, block_size, ids), progress=progress)

    def __repr__(self) -> str:
        nl = self._null
        return (
            f"KronObservedScanner(n={nl.n}, p={nl.p}, observed={nl.N}, missing={nl.miss_rows.size})"
        )


def default_observed_block_size(null: Any) -> int:
    """Candidates per block (64 to 4096) keeping the per-block work arrays near 16 MiB:
    the largest is m × p × block (m missing values)."""
    width = max(null.n, null.miss_rows.size * null.p, 1)
    return int(np.clip((16 << 20) // (8 * width), 64, 4096))
