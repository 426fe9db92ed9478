"""Multi-trait association scanner on a fitted Kron2Sum null model."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.linalg import EconomicSVD, column_basis, economic_svd
from ..core.progress import Progress
from ..core.validation import as_matrix, check_square_symmetric
from .block_scan import TestPlan, check_statistic, make_plan, statistic_logsf
from .blocks import array_blocks, scan_blocks
from .kernel import NullModel, degenerate_reason, fit_block, rotate_block
from .result import ScanDict, ScanResult
from .threads import blas_threads

__all__ = ["KronFastScanner"]


def default_block_size(n: int, k: int, p: int) -> int:
    """Candidates per block, between 64 and 4096.

    The largest work arrays of a block (n × m input, k × m rotation) are kept near 16 MiB:
    small enough for the allocator to reuse them from block to block (fresh large arrays
    are mapped from the OS and page-faulted on first touch, which costs as much as the
    rotation itself).
    """
    return int(np.clip((16 << 20) // (8 * max(n, k + p + 2)), 64, 4096))


class KronFastScanner:
    r"""Association scans with the variance components fixed at a fitted null.

    Null and alternative (``s`` re-profiled in both; C₀, C₁ fixed)::

        H0: vec(Y) ~ N((A₀ ⊗ X) vec(B₀),                      s·K)
        H1: vec(Y) ~ N((A₀ ⊗ X) vec(B₀) + (A₁ ⊗ g) vec(B₁),   s·K)
        K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ

    Y: n × p traits; A₀: p × a₀ null trait design; X: n × c covariates; g: one candidate
    (n-vector, e.g. a variant's allele dosages); A₁: p × a₁ candidate trait design.
    ``lml`` values are maximum likelihoods (ML, never REML, so that likelihood ratios are
    valid), with the scale s profiled: after an ML fit of the null ``null_lml()`` equals the
    model's ``lml()``; after a REML fit it is the ML likelihood at the REML estimates.

    Parameters
    ----------
    Y, A, X, G : array_like
        As in :class:`kronlmm.lmm.Kron2Sum` (A is A₀).
    C0, C1 : array_like (p, p)
        Fixed trait covariances (C₁ positive definite).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> dosages = rng.binomial(2, 0.3, size=(n, 50)).astype(float)
    >>> Y = G @ rng.standard_normal((20, p)) + rng.standard_normal((n, p))
    >>> Y[:, 0] += dosages[:, 7]  # variant 7 affects the first trait
    >>> model = Kron2Sum(Y, np.eye(p), np.ones((n, 1)), G, rank=1)
    >>> _ = model.fit(verbose=False)
    >>> scanner = model.get_fast_scanner()  # C₀, C₁ fixed at the fit
    >>> result = scanner.scan_variants(dosages, "any")
    >>> int(np.argmin(result.p_value)), int(result.dof[7])
    (7, 2)
    >>> one = scanner.scan(np.eye(p), dosages[:, [7]])  # glimix-core's call
    >>> bool(np.isclose(one["lml"], result.lml_alt[7]))
    True
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
        Y = as_matrix("Y", Y)
        n, p = Y.shape
        A = as_matrix("A", A, nrows=p)
        X = as_matrix("X", X, nrows=n)
        svd = G if isinstance(G, EconomicSVD) else economic_svd(as_matrix("G", G, nrows=n))
        C0 = check_square_symmetric("C0", C0, size=p)
        C1 = check_square_symmetric("C1", C1, size=p)
        for name, C in (("C0", C0), ("C1", C1)):
            w = np.linalg.eigvalsh(C)
            if w[0] < -1e-10 * max(float(np.max(np.abs(w))), 1e-300):
                raise ValueError(
                    f"{name} must be positive semi-definite; its smallest eigenvalue is {w[0]:.3g}"
                )
        sd = None if trait_sd is None else np.asarray(trait_sd, dtype=float)
        self._null = NullModel.build(Y, A, X, svd, C0, C1, trait_sd=sd)
        self._A0, self._X = A, X
        self._trait_names = trait_names

    @classmethod
    def from_model(cls, model: Any, trait_names: list[str] | None = None) -> KronFastScanner:
        """Scanner at the current C₀, C₁ of a :class:`~kronlmm.lmm.Kron2Sum` model."""
        if trait_names is not None and len(trait_names) != model.ntraits:
            raise ValueError(
                f"trait_names has {len(trait_names)} names, expected {model.ntraits} "
                "(one per column of Y)"
            )
        return cls(
            model.Y,
            model.A,
            model.X,
            model.cov.svd,
            model.C0,
            model.C1,
            trait_names=None if trait_names is None else [str(t) for t in trait_names],
            trait_sd=model.projections.scaling.trait_sd,
        )

    @property
    def null(self) -> NullModel:
        """The fixed null terms (what :func:`~kronlmm.scan.block_scan.scan_block` needs)."""
        return self._null

    # ---- null model --------------------------------------------------------------------
    def null_lml(self) -> float:
        """ML log-likelihood of the null with the scale profiled."""
        return float(self._null.profiled_lml(self._null.quad0))

    @property
    def null_scale(self) -> float:
        """Profiled scale s of the null (1 after an ML fit of the same model)."""
        return self._null.quad0 / self._null.N

    def _T0(self) -> NDArray[np.float64]:
        return np.asarray(np.kron(self._null.Va0, self._null.Vx), dtype=np.float64)

    @property
    def null_beta(self) -> NDArray[np.float64]:
        """``vec(B₀)`` of the null (minimum norm when A₀ or X is rank deficient)."""
        return self._T0() @ (self._null.beta0 + self._null.beta_offset)

    @property
    def null_beta_covariance(self) -> NDArray[np.float64]:
        """``s · T H₀⁻¹ Tᵀ``: covariance of ``null_beta``."""
        Hinv = self._null.H00.inverse()
        T = self._T0()
        return self.null_scale * T @ Hinv @ T.T

    @property
    def null_beta_se(self) -> NDArray[np.float64]:
        """Standard errors of ``null_beta``: square roots of the diagonal of
        ``null_beta_covariance``."""
        return np.sqrt(np.diag(self.null_beta_covariance))

    # ---- one candidate set (glimix-core compatible) -----------------------------------------
    def scan(self, A1: ArrayLike, X1: ArrayLike, *, statistic: str = "F") -> dict[str, Any]:
        """Test one candidate set: adds ``A₁ ⊗ X₁`` (X₁: n × c₁) to the null mean.

        Returns a dict with ``lml``, ``effsizes0`` (c × a₀), ``effsizes0_se``,
        ``effsizes1`` (c₁ × a₁), ``effsizes1_se``, ``scale``, plus ``chi2``, ``dof``,
        ``F``, ``df1``, ``df2``, ``statistic``, ``p_value``, ``neg_log10_p_value`` and
        ``reason``. ``p_value`` is from ``statistic``: ``"F"`` (default), the exact F test
        ``((Q₀ − Q₁)/df1)/(Q₁/df2)`` at the fixed C₀, C₁ with df1 = rank(A₁)·rank(X₁) and
        df2 = n·p − rank(A₀)·rank(X) − df1, or ``"chi2"``, the likelihood ratio ``chi2``
        against χ²_dof (see :mod:`kronlmm.scan.block_scan`). ``reason`` is "" unless the
        set is untestable (then the values are NaN; an A₁ with no column adds nothing and
        gives the null's fit with dof 0, as in glimix-core). The dict is a
        :class:`~kronlmm.scan.result.ScanDict` (the 0.1.0 keys ``pvalue`` and
        ``neg_log10_pvalue`` still read, with a DeprecationWarning).
        """
        check_statistic(statistic)
        null = self._null
        A1 = as_matrix("A1", A1, nrows=null.p)
        X1 = as_matrix("X1", X1, nrows=null.n)
        c1 = X1.shape[1]
        Va = column_basis(A1)
        Vg = column_basis(X1)
        X1r = X1 @ Vg
        rb = rotate_block(null, X1r, c1=X1r.shape[1])
        reason = str(degenerate_reason(rb)[0]) if X1r.shape[1] else "X1 has rank 0"
        c, a0 = self._X.shape[1], self._A0.shape[1]
        if A1.shape[1] == 0:
            return self._null_as_alternative(c1, statistic)
        rank_alt = null.UX.shape[1] * null.At0.shape[1] + Va.shape[1] * Vg.shape[1]
        if not reason and Va.shape[1] and rank_alt >= null.N:
            reason = (
                f"no residual degrees of freedom: the alternative's mean design has rank "
                f"{rank_alt} ≥ n·p = {null.N} and fits the data exactly"
            )
        if reason or Va.shape[1] == 0:
            nan0, nan1 = np.full((c, a0), np.nan), np.full((c1, A1.shape[1]), np.nan)
            return ScanDict({
                "lml": np.nan, "effsizes0": nan0, "effsizes0_se": nan0.copy(),
                "effsizes1": nan1, "effsizes1_se": nan1.copy(), "scale": np.nan,
                "chi2": np.nan, "dof": 0, "F": np.nan, "df1": 0, "df2": 0,
                "statistic": statistic, "p_value": np.nan, "neg_log10_p_value": np.nan,
                "reason": reason or "A1 has rank 0",
            })  # fmt: skip
        fit = fit_block(null, rb, A1 @ Va)
        quad = null.quad0 - fit.dquad[0]
        scale = quad / null.N
        dof = Va.shape[1] * Vg.shape[1]
        chi2 = max(float(null.N * np.log1p(fit.dquad[0] / quad)), 0.0)
        df2 = null.N - rank_alt
        F = float((fit.dquad[0] / dof) / (quad / df2))
        logsf = float(statistic_logsf(statistic, np.array(chi2), dof, np.array(F), dof, df2))
        # reduced effects are ordered (a′, c₁′), design index outer: map back to c₁ × a₁
        T1 = np.kron(Va, Vg)
        S_inv = fit.S_inv[0]
        se1 = np.sqrt(np.maximum(scale * np.einsum("ab,bc,ac->a", T1, S_inv, T1), 0.0))
        T0 = self._T0()
        X01 = fit.X01[0]
        cov0 = null.H00.inverse() + X01 @ S_inv @ X01.T
        se0 = np.sqrt(np.maximum(scale * np.einsum("ab,bc,ac->a", T0, cov0, T0), 0.0))
        return ScanDict(
            {
                "lml": float(null.profiled_lml(quad)),
                "effsizes0": (T0 @ (fit.beta0[0] + null.beta_offset)).reshape(a0, c).T,
                "effsizes0_se": se0.reshape(a0, c).T,
                "effsizes1": (T1 @ fit.beta1[0]).reshape(A1.shape[1], c1).T,
                "effsizes1_se": se1.reshape(A1.shape[1], c1).T,
                "scale": float(scale),
                "chi2": chi2,
                "dof": dof,
                "F": F,
                "df1": dof,
                "df2": df2,
                "statistic": statistic,
                "p_value": float(np.exp(logsf)),
                "neg_log10_p_value": float(-logsf / np.log(10.0)),
                "reason": "",
            }
        )

    def _null_as_alternative(self, c1: int, statistic: str) -> ScanDict:
        """``scan``'s result when A₁ has no column: the alternative adds nothing, so its
        fit is the null's (as in glimix-core); effects (c₁ × 0), dof 0, χ² 0, F NaN (0/0),
        p-value 1."""
        null = self._null
        df2 = null.N - null.UX.shape[1] * null.At0.shape[1]
        c, a0 = self._X.shape[1], self._A0.shape[1]
        return ScanDict(
            {
                "lml": self.null_lml(),
                "effsizes0": self.null_beta.reshape(a0, c).T,
                "effsizes0_se": self.null_beta_se.reshape(a0, c).T,
                "effsizes1": np.zeros((c1, 0)),
                "effsizes1_se": np.zeros((c1, 0)),
                "scale": self.null_scale,
                "chi2": 0.0,
                "dof": 0,
                "F": np.nan,
                "df1": 0,
                "df2": df2,
                "statistic": statistic,
                "p_value": 1.0,
                "neg_log10_p_value": 0.0,
                "reason": "",
            }
        )

    # ---- many candidates -------------------------------------------------------------------
    def plan(
        self,
        test: str | None = "any",
        A1: ArrayLike | None = None,
        A1_null: ArrayLike | None = None,
        statistic: str = "F",
    ) -> TestPlan:
        """The :class:`TestPlan` for a named test (``"any"``, ``"common"``,
        ``"interaction"``) or explicit designs, with p-values from ``statistic``
        (``"F"``, exact, default; or ``"chi2"``)."""
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
        **removed: Any,
    ) -> ScanResult:
        """Test every column of ``G`` (n × m, in memory) as a separate candidate, in blocks.

        ``p_value`` is from ``statistic``: ``"F"`` (default), the exact F test at the fixed
        variance components, or ``"chi2"``, the asymptotic likelihood-ratio test; both
        statistics are reported (``F``, ``df1``, ``df2``, ``chi2``, ``dof``; see
        :mod:`kronlmm.scan.block_scan`).

        Missing values (NaN) are replaced by the mean of the candidate's observed values
        (``n_missing`` reports how many); untestable candidates get a NaN row with a
        ``reason``. ``progress``: ``True`` shows a bar on stderr, ``"auto"`` only on a
        terminal; a callable is called as ``progress(done, total)`` after each block.

        ``G`` is an in-memory array. Dask arrays, PLINK files, Dask clusters and
        checkpoints are the business of :func:`kronlmm.gwas.scan_candidates` (the scan
        driver), which gives the same results (kronlmm 0.1.0 took ``client=`` and
        ``checkpoint=`` here).
        """
        if removed:
            raise TypeError(
                f"scan_variants() got unexpected keyword argument(s) {sorted(removed)}; "
                "scans on Dask or with checkpoints moved to the scan driver: "
                "kronlmm.gwas.scan_candidates(scanner, G, test, client=..., checkpoint=...)"
            )
        plan = self.plan(test, A1, A1_null, statistic)
        null = self._null
        G = np.asarray(G, dtype=float)
        if G.ndim == 1:
            G = G[:, None]
        if G.ndim != 2 or G.shape[0] != null.n:
            raise ValueError(f"G has shape {G.shape}, expected ({null.n}, m)")
        if block_size is None:
            # at least one block per BLAS thread, so that every core has one to compute
            block_size = min(
                default_block_size(null.n, null.U.shape[1], null.p),
                max(1, -(-G.shape[1] // blas_threads())),
            )
        return scan_blocks(null, plan, array_blocks(G, block_size, ids), progress=progress)
