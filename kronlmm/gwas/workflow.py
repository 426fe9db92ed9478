"""One-call GWAS: PLINK genotypes + phenotype/covariate tables → tidy result tables."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..core.progress import Progress
from ..io import PlinkGenotypes
from ..lmm import (
    DEFAULT_BOOTSTRAP_CANDIDATES,
    DEFAULT_BOOTSTRAP_REPLICATES,
    DEFAULT_REFIT_THRESHOLD,
)
from ._inputs import PLINK_MISSING_CODE, KinshipSpec, TableSpec
from .checkpoint import check_checkpoint_dir
from .fit import fit_null
from .qc import DEFAULT_QC, QCFilters, SampleSpec, VariantList
from .rank import RankSpec
from .result import GwasResult

__all__ = ["scan"]

PathLike = str | os.PathLike[str]


def scan(
    bfile: PathLike | PlinkGenotypes,
    pheno: TableSpec | None,
    pheno_cols: str | Sequence[str] | None = None,
    covar: TableSpec | None = None,
    covar_cols: str | Sequence[str] | None = None,
    kinship: KinshipSpec = "grm",
    test: str = "any",
    rank: RankSpec = None,
    restricted: bool = False,
    chunk_size: int | None = None,
    progress: Progress = False,
    scheduler: Any = None,
    workers: int | None = None,
    checkpoint: PathLike | None = None,
    *,
    missing_code: float | None = PLINK_MISSING_CODE,
    qc: QCFilters = DEFAULT_QC,
    keep: SampleSpec | None = None,
    remove: SampleSpec | None = None,
    extract: VariantList | None = None,
    exclude: VariantList | None = None,
    id_col: str | None = None,
    pheno_from_fam: bool = False,
    loco: bool = False,
    statistic: str = "F",
    refit: str = "significant",
    refit_threshold: float = DEFAULT_REFIT_THRESHOLD,
    bootstrap_replicates: int = DEFAULT_BOOTSTRAP_REPLICATES,
    bootstrap_variants: int = DEFAULT_BOOTSTRAP_CANDIDATES,
    bootstrap_method: str = "single",
    seed: int = 0,
) -> GwasResult:
    """Multi-trait GWAS: align by sample ID, fit the null once, scan every variant in blocks.

    Parameters
    ----------
    bfile : str, os.PathLike or kronlmm.io.PlinkGenotypes
        PLINK 1 prefix (``prefix.bed/.bim/.fam``). Dosages count ``.bim`` allele 1, reported
        as ``effect_allele``.
    pheno : str, os.PathLike, pandas.DataFrame or None
        Phenotype file (``FID IID trait…``; tab, comma or whitespace separated, ``NA`` for
        missing) or a DataFrame indexed by sample ID; ``None`` with ``pheno_from_fam``.
    pheno_cols : str or sequence of str, optional
        Traits to analyse jointly (default: every column).
    covar : str, os.PathLike or pandas.DataFrame, optional
        Covariates, like ``pheno``. An intercept is added unless the covariates already
        span a constant column.
    covar_cols : str or sequence of str, optional
        Covariates to use (default: every column).
    kinship : "grm", str, os.PathLike, kronlmm.io.Kinship or None, default "grm"
        Genetic similarity of the random effect: the GRM of all variants of ``bfile``, a
        kinship file, or ``None`` for none. See :func:`kronlmm.gwas.fit_null`.
    test : {"any", "common", "interaction"}, default "any"
        ``"any"``: effect on any trait (dof = p); ``"common"``: one shared effect (dof = 1);
        ``"interaction"``: trait-specific effects beyond a common one (dof = p − 1).
    rank : None, "full", "auto" or int, default None
        Rank of the genetic trait covariance C₀: ``None`` full rank when the sample
        allows it, ``"auto"`` by BIC (see :mod:`kronlmm.gwas.rank`).
    restricted : bool, default False
        Fit the null's variance components by REML (the scan's likelihoods are always ML at
        those components, so likelihood ratios stay valid).
    chunk_size : int, optional
        Variants read and tested per block; the genotype matrix is never read whole.
    progress : bool, "auto" or callable, default False
        Progress bar (tqdm) or callback ``progress(done, total)``, for the GRM and the
        scan; ``"auto"`` logs a line every 30 s instead of a bar when stderr is not a
        terminal. See :data:`kronlmm.gwas.Progress`.
    scheduler : str or distributed.Client, optional
        Scan on an existing Dask cluster (scheduler address or client); workers read their
        own blocks of the ``.bed`` file. See :meth:`kronlmm.gwas.NullFit.scan`.
    workers : int, optional
        Scan on a local Dask cluster of this many single-threaded worker processes.
    checkpoint : str or os.PathLike, optional
        Directory of per-block results; a rerun recomputes only missing blocks. Checked
        (not a file) before anything is read.
    missing_code : float or None, default -9
        Trait value read as missing (PLINK's and GEMMA's convention); ``None`` keeps it.
    qc, keep, remove, extract, exclude, id_col, pheno_from_fam
        Filters and input options, as in :func:`kronlmm.gwas.fit_null` (default: GEMMA-like
        variant QC, MAF ≥ 0.01 and missingness ≤ 5 %).
    loco : bool, default False
        Leave one chromosome out: test each chromosome's variants against a null whose
        kinship is the GRM of the other chromosomes (needs ``kinship="grm"``); see
        :func:`kronlmm.gwas.fit_null` and :mod:`kronlmm.gwas.loco`.
    statistic : {"F", "chi2", "bootstrap"}, default "F"
        What ``p_value`` is from: the exact F test at the null's variance components (its
        ``F``, ``df1``, ``df2`` columns), the asymptotic χ² likelihood-ratio test
        (``chi2``, ``dof``), or the F test calibrated by a parametric bootstrap of the
        fitted null (for small cohorts, where the F test at estimated C₀, C₁ is
        conservative; p-values never below ``1/(1 + B·M)``; not with ``loco``; see
        :func:`kronlmm.gwas.scan_genotypes`); the ``statistic`` column says which.
    refit : {"significant", "all", "none"}, default "significant"
        Variants also tested with C₀, C₁ re-estimated under both hypotheses (exact
        likelihood ratio of two ML fits, columns ``*_refit``): those with ``p_value <
        refit_threshold``, all, or none; for the ``"any"`` test (see
        :func:`kronlmm.gwas.scan_genotypes`).
    refit_threshold : float, default 1e-5
        The p-value (of ``statistic``) below which ``refit="significant"`` refits a variant.
    bootstrap_replicates : int, default 100
        B, the phenotype sets simulated from the null and refit for ``statistic="bootstrap"``.
    bootstrap_variants : int, default 1000
        M, the variants (a random sample of those tested) scanned at each refit.
    bootstrap_method : {"single", "fast-double"}, default "single"
        The single parametric bootstrap, or the fast double bootstrap (one second-level
        set simulated from each refit and refit: 2B refits; :mod:`kronlmm.lmm.bootstrap`).
    seed : int, default 0
        Seed of the bootstrap (the choice of the M variants and the simulations).

    Returns
    -------
    GwasResult
        ``assoc`` (per-variant joint test), ``effects`` (per-variant, per-trait β and SE),
        ``null`` (:class:`~kronlmm.gwas.NullFit`: C₀, C₁, B, lml, names, convergence,
        alignment counts).

    Raises
    ------
    ValueError
        For any problem with the inputs; the message names the file, column or sample.

    Notes
    -----
    Samples with a missing trait or covariate value are dropped (complete cases), counted in
    ``result.alignment["missing_values"]`` and logged; it is an error only when no sample is
    left. Missing genotype calls are mean-imputed per variant; ``n`` counts the observed
    calls. With ``kinship="grm"`` the tested variant is part of the kinship (proximal
    contamination, as in GEMMA's default), which makes tests slightly conservative, unless
    ``loco=True`` (one kinship and one null per chromosome).

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan
    >>> paths = example_paths()
    >>> result = scan(paths.prefix, paths.pheno, covar=paths.covar)
    >>> result.top(1)["variant_id"].item()
    'rs26858614'
    """
    from ..lmm.refit import check_refit
    from ..scan import TESTS
    from .variant_scan import check_bootstrap_options

    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    check_bootstrap_options(
        statistic, bootstrap_replicates, bootstrap_variants, loco, bootstrap_method
    )
    check_refit(refit)
    if refit == "all" and test != "any":
        raise ValueError(f"refit='all' is available for the 'any' test only, not {test!r}")
    if checkpoint is not None:
        check_checkpoint_dir(checkpoint)
    null = fit_null(
        bfile,
        pheno,
        pheno_cols,
        covar,
        covar_cols,
        kinship,
        rank=rank,
        restricted=restricted,
        missing_code=missing_code,
        progress=progress,
        qc=qc,
        keep=keep,
        remove=remove,
        extract=extract,
        exclude=exclude,
        id_col=id_col,
        pheno_from_fam=pheno_from_fam,
        loco=loco,
    )
    return null.scan(
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
