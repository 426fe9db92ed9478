"""The fitted null model of a GWAS, presented with labels: estimates, summary, JSON.

Fitting it from files is :func:`kronlmm.gwas.fit_null`; scanning its variants is
:func:`kronlmm.gwas.scan_genotypes` (what :meth:`NullFit.scan` calls).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .. import __version__
from ..core.progress import Progress
from ..io import PlinkGenotypes
from ..lmm import (
    DEFAULT_BOOTSTRAP_CANDIDATES,
    DEFAULT_BOOTSTRAP_REPLICATES,
    DEFAULT_REFIT_THRESHOLD,
)
from ._inputs import KinshipInfo
from .output import jsonable, write_json
from .qc import QCReport
from .rank import RankChoice

if TYPE_CHECKING:  # the model and scan modules are imported when first needed
    from ..lmm import FitResult, Kron2Sum
    from .loco import LocoFit
    from .result import GwasResult

__all__ = ["NullFit"]

PathLike = str | os.PathLike[str]

SHOWN_IDS = 20
"""Sample IDs listed per reason under ``sample_losses`` in the JSON summary."""


@dataclass(eq=False)
class NullFit:
    """A fitted multi-trait null model with labelled estimates, ready to scan variants.

    Model: ``vec(Y) ~ N((Iₚ ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)`` (see :mod:`kronlmm.lmm`).

    Attributes
    ----------
    model : kronlmm.lmm.Kron2Sum
        The fitted model.
    genotypes : kronlmm.io.PlinkGenotypes
        Where the variants to scan are read from.
    samples : numpy.ndarray
        IDs of the samples used, in model row order (sorted IDs).
    genotype_index : numpy.ndarray
        Their ``.fam`` positions.
    trait_names : list of str
        Traits (columns of Y).
    covariate_names : list of str
        Covariates (columns of X), ``"intercept"`` first when it was added.
    intercept_added : bool
        Whether the intercept was added (it is, unless the covariates already span a
        constant column).
    alignment : dict
        Sample counts from :func:`kronlmm.io.align_samples` (per source,
        ``"in_all_sources"``, ``"missing_values"`` dropped, ``"kept"``).
    kinship : KinshipInfo
        How ``G`` was obtained.
    fit : kronlmm.lmm.FitResult
        What the optimiser did (convergence, iterations, gradient norm).
    aliased_covariates : dict
        Covariates left out of the model because they are linear combinations of the
        columns before them (name → those columns); R's ``lm`` reports them as NA.
    missing_code : float or None
        The trait value read as missing (PLINK's -9 by default; ``None``: none).
    missing_code_counts : dict
        Trait → values equal to ``missing_code`` read as missing.
    sample_losses : dict
        Samples of the phenotype table not analysed, by reason (see
        :data:`kronlmm.io.LOSS_REASONS`): reason → their IDs.
    variant_index : numpy.ndarray or None
        ``.bim`` positions of the variants to scan (those that passed the variant lists and
        QC filters); ``None``: every variant.
    qc : QCReport or None
        What the sample and variant filters removed (:mod:`kronlmm.gwas.qc`).
    rank_choice : RankChoice or None
        The rank of C₀ and why it was chosen (:mod:`kronlmm.gwas.rank`).
    loco : list of LocoFit or None
        With ``fit_null(..., loco=True)``: one null per chromosome, fitted with the kinship
        of the other chromosomes (:mod:`kronlmm.gwas.loco`), in ``.bim`` order of first
        appearance; :meth:`scan` tests each chromosome's variants against its own. ``None``:
        every variant is tested against this (genome-wide) null.
    missing_traits : str
        ``"observed"`` (every observed trait value used) or ``"complete-case"``.
    observed_values : dict
        Trait → number of its values the model used (observed, among the samples kept).

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> null = fit_null(paths.prefix, paths.pheno, covar=paths.covar)
    >>> null.nsamples, null.trait_names, null.converged, null.rank
    (395, ['trait1', 'trait2', 'trait3'], True, 3)
    >>> null.C0.round(2)
            trait1  trait2  trait3
    trait1    0.45    0.12    0.21
    trait2    0.12    0.37    0.34
    trait3    0.21    0.34    0.48
    >>> null.B.shape  # covariates × traits
    (3, 3)

    Fitted once, the null serves any number of scans:

    >>> null.scan("any").top(1)["variant_id"].item()
    'rs26858614'
    >>> null.scan("common", chunk_size=1000).top(1)["variant_id"].item()
    'rs26858614'
    """

    model: Kron2Sum
    genotypes: PlinkGenotypes
    samples: NDArray[np.object_]
    genotype_index: NDArray[np.intp]
    trait_names: list[str]
    covariate_names: list[str]
    intercept_added: bool
    alignment: dict[str, int]
    kinship: KinshipInfo
    fit: FitResult
    aliased_covariates: dict[str, list[str]] = field(default_factory=dict)
    missing_code: float | None = None
    missing_code_counts: dict[str, int] = field(default_factory=dict)
    sample_losses: dict[str, list[str]] = field(default_factory=dict)
    variant_index: NDArray[np.intp] | None = None
    qc: QCReport | None = None
    rank_choice: RankChoice | None = None
    loco: list[LocoFit] | None = None
    missing_traits: str = "observed"
    observed_values: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ estimates
    @property
    def C0(self) -> pd.DataFrame:
        """Genetic trait covariance C₀ (traits × traits)."""
        return pd.DataFrame(self.model.C0, index=self.trait_names, columns=self.trait_names)

    @property
    def C1(self) -> pd.DataFrame:
        """Residual trait covariance C₁ (traits × traits)."""
        return pd.DataFrame(self.model.C1, index=self.trait_names, columns=self.trait_names)

    @property
    def B(self) -> pd.DataFrame:
        """Covariate effects B (covariates × traits), GLS estimate at C₀, C₁."""
        return pd.DataFrame(self.model.B, index=self.covariate_names, columns=self.trait_names)

    @property
    def B_se(self) -> pd.DataFrame:
        """Standard errors of :attr:`B` (covariates × traits)."""
        c, p = len(self.covariate_names), len(self.trait_names)
        se = np.sqrt(np.maximum(np.diag(self.model.beta_covariance), 0.0))
        return pd.DataFrame(
            se.reshape((c, p), order="F"), index=self.covariate_names, columns=self.trait_names
        )

    @property
    def lml(self) -> float:
        """Log-likelihood (ML) or restricted log-likelihood (REML) at the optimum."""
        return float(self.model.lml())

    @property
    def converged(self) -> bool:
        """Whether the optimiser met its convergence criteria."""
        return bool(self.fit.success)

    @property
    def restricted(self) -> bool:
        """Whether the variance components were fitted by REML."""
        return self.model.restricted

    @property
    def rank(self) -> int:
        """Maximum rank of C₀."""
        return self.model.rank

    @property
    def nsamples(self) -> int:
        """Samples used."""
        return int(self.samples.size)

    def to_dict(self) -> dict[str, Any]:
        """Everything about the null as plain JSON-ready values.

        Returns
        -------
        dict
            ``kronlmm_version``, ``model``, ``restricted``, ``rank``, ``nsamples``,
            ``trait_names``, ``covariate_names``, ``intercept_added``,
            ``aliased_covariates`` (left out: name → the columns it combines), ``C0``,
            ``C1``, ``B``, ``B_se`` (nested lists: rows × columns as named), ``lml``,
            ``ml_projected`` (whether the likelihood is that of the data projected onto
            span(U) because the whole data's has no maximum; see
            :attr:`kronlmm.lmm.Kron2Sum.ml_projected`), ``convergence``, ``alignment``,
            ``sample_losses`` (reason → ``count`` and the first ``ids``),
            ``missing_traits`` (``mode`` and ``observed_values`` per trait), ``missing_code``
            (``code`` and ``counts`` per trait), ``kinship``, ``rank_choice`` (rank of C₀
            and why) and ``qc`` (filters and counts removed per reason); plain JSON types
            only (NaN as ``None``).
        """
        summary: dict[str, Any] = jsonable(
            {
                "kronlmm_version": __version__,
                "model": "vec(Y) ~ N((I_p kron X) vec(B), C0 kron G G^T + C1 kron I_n)",
                "restricted": self.restricted,
                "rank": self.rank,
                "nsamples": self.nsamples,
                "trait_names": list(self.trait_names),
                "covariate_names": list(self.covariate_names),
                "intercept_added": self.intercept_added,
                "aliased_covariates": dict(self.aliased_covariates),
                "C0": self.model.C0,
                "C1": self.model.C1,
                "B": self.model.B,
                "B_se": self.B_se.to_numpy(),
                "lml": self.lml,
                "ml_projected": bool(self.model.ml_projected),
                "convergence": {
                    "converged": self.converged,
                    "message": self.fit.message,
                    "iterations": self.fit.niter,
                    "evaluations": self.fit.nfev,
                    "gradient_norm": self.fit.grad_norm,
                    "start_lmls": list(self.fit.starts),
                },
                "alignment": dict(self.alignment),
                "sample_losses": {
                    reason: {"count": len(ids), "ids": ids[:SHOWN_IDS]}
                    for reason, ids in self.sample_losses.items()
                },
                "missing_traits": {
                    "mode": self.missing_traits,
                    "observed_values": dict(self.observed_values),
                },
                "missing_code": {
                    "code": self.missing_code,
                    "counts": dict(self.missing_code_counts),
                },
                "kinship": asdict(self.kinship),
                "rank_choice": None if self.rank_choice is None else self.rank_choice.to_dict(),
                "qc": None if self.qc is None else self.qc.to_dict(),
                "loco": None if self.loco is None else [f.to_dict() for f in self.loco],
            }
        )
        return summary

    def write_json(self, path: PathLike) -> Path:
        """Write :meth:`to_dict` as JSON, atomically.

        Parameters
        ----------
        path : str or os.PathLike
            Destination.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        return write_json(self.to_dict(), path)

    # ------------------------------------------------------------------ scanning
    def scan(
        self,
        test: str = "any",
        *,
        chunk_size: int | None = None,
        progress: Progress = False,
        scheduler: Any = None,
        workers: int | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        statistic: str = "F",
        refit: str = "significant",
        refit_threshold: float = DEFAULT_REFIT_THRESHOLD,
        bootstrap_replicates: int = DEFAULT_BOOTSTRAP_REPLICATES,
        bootstrap_variants: int = DEFAULT_BOOTSTRAP_CANDIDATES,
        bootstrap_method: str = "single",
        seed: int = 0,
    ) -> GwasResult:
        """Test every variant of :attr:`genotypes`, reading and scanning one block at a time.

        The scan driver (:func:`kronlmm.gwas.scan_source`) runs over a
        :class:`~kronlmm.gwas.PlinkSource`: serially in this process, or on Dask with
        ``scheduler``/``workers``; see :func:`kronlmm.gwas.scan_genotypes`.

        Parameters
        ----------
        test : {"any", "common", "interaction"}
            ``"any"``: an effect on any trait (dof = p); ``"common"``: one effect shared by
            all traits (dof = 1); ``"interaction"``: trait-specific effects beyond a common
            one (dof = p − 1).
        chunk_size : int, optional
            Variants per block (default: sized so that a block takes about 16 MiB).
        progress : bool, "auto" or callable
            See :data:`Progress`.
        scheduler : str or distributed.Client, optional
            Run the scan on an existing Dask cluster (scheduler address such as
            ``"tcp://host:8786"``, or a client). Each worker reads its own variant blocks
            from the ``.bed`` file, which must be reachable at the same path.
        workers : int, optional
            Start a local Dask cluster with this many single-threaded worker processes.
        checkpoint : path, optional
            Directory for per-block results: an interrupted scan started again with the
            same inputs recomputes only the blocks not yet written (with or without Dask).
        statistic : {"F", "chi2", "bootstrap"}, default "F"
            What ``p_value`` is from: the exact F test at the fixed variance components,
            the asymptotic χ² likelihood-ratio test, or the F test calibrated by a
            parametric bootstrap of this null (small cohorts; not with :attr:`loco`); see
            :func:`kronlmm.gwas.scan_genotypes`.
        refit : {"significant", "all", "none"}, default "significant"
            Which variants also get the likelihood-ratio test with C₀, C₁ re-estimated
            (``*_refit`` columns); see :func:`kronlmm.gwas.scan_genotypes`.
        refit_threshold : float, default 1e-5
            ``p_value`` below which ``refit="significant"`` refits a variant.
        bootstrap_replicates, bootstrap_variants : int, default 100 and 1000
            B simulated phenotype sets and M reference variants of ``statistic="bootstrap"``.
        bootstrap_method : {"single", "fast-double"}, default "single"
            The single parametric bootstrap or the fast double bootstrap (2B refits;
            :mod:`kronlmm.lmm.bootstrap`).
        seed : int, default 0
            Seed of the bootstrap (the choice of the M variants and the simulations).

        Returns
        -------
        GwasResult
            With :attr:`loco` set, one table in the usual variant order, each chromosome's
            variants tested against its own null (:func:`kronlmm.gwas.loco_scan.scan_loco`).
        """
        from .variant_scan import check_bootstrap_options

        check_bootstrap_options(
            statistic,
            bootstrap_replicates,
            bootstrap_variants,
            self.loco is not None,
            bootstrap_method,
        )
        if self.loco is not None:
            from .loco_scan import scan_loco

            return scan_loco(
                self,
                test,
                chunk_size=chunk_size,
                progress=progress,
                scheduler=scheduler,
                workers=workers,
                checkpoint=checkpoint,
                statistic=statistic,
                refit=refit,
                refit_threshold=refit_threshold,
            )
        from .variant_scan import scan_genotypes

        return scan_genotypes(
            self,
            test,
            chunk_size=chunk_size,
            progress=progress,
            scheduler=scheduler,
            workers=workers,
            checkpoint=checkpoint,
            statistic=statistic,
            refit=refit,
            refit_threshold=refit_threshold,
            bootstrap_replicates=bootstrap_replicates,
            bootstrap_variants=bootstrap_variants,
            bootstrap_method=bootstrap_method,
            seed=seed,
        )

    def __repr__(self) -> str:
        kind = "REML" if self.restricted else "ML"
        state = "converged" if self.converged else "NOT converged"
        loco = "" if self.loco is None else f", LOCO over {len(self.loco)} chromosomes"
        return (
            f"NullFit(n={self.nsamples}, traits={self.trait_names}, covariates="
            f"{self.covariate_names}, {kind}, rank={self.rank}, lml={self.lml:.6g}, {state}"
            f"{loco})"
        )
