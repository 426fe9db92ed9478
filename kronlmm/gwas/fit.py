"""Fitting the null model of a GWAS from files: align by sample ID, fit Kron2Sum once."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..core.optimize import FitResult
from ..core.progress import Progress
from ..io import PlinkGenotypes
from ._inputs import PLINK_MISSING_CODE, KinshipSpec, Prepared, TableSpec, prepare_inputs
from .null import NullFit
from .qc import DEFAULT_QC, QCFilters, SampleSpec, VariantList
from .rank import RankChoice, RankSpec, bic, default_rank, n_variance_parameters
from .timing import stage

__all__ = ["fit_null"]

if TYPE_CHECKING:
    from ..lmm import Kron2Sum

logger = logging.getLogger("kronlmm")

PathLike = str | os.PathLike[str]


def fit_null(
    bfile: PathLike | PlinkGenotypes,
    pheno: TableSpec | None,
    pheno_cols: str | Sequence[str] | None = None,
    covar: TableSpec | None = None,
    covar_cols: str | Sequence[str] | None = None,
    kinship: KinshipSpec = "grm",
    *,
    rank: RankSpec = None,
    restricted: bool = False,
    block_size: int | None = None,
    missing_code: float | None = PLINK_MISSING_CODE,
    progress: Progress = False,
    qc: QCFilters = DEFAULT_QC,
    keep: SampleSpec | None = None,
    remove: SampleSpec | None = None,
    extract: VariantList | None = None,
    exclude: VariantList | None = None,
    id_col: str | None = None,
    pheno_from_fam: bool = False,
    loco: bool = False,
    missing_traits: str = "observed",
) -> NullFit:
    """Align the inputs by sample ID and fit the multi-trait null model once.

    Parameters
    ----------
    bfile : str, os.PathLike or PlinkGenotypes
        PLINK 1 prefix (``prefix.bed/.bim/.fam``) or an open genotype set.
    pheno : str, os.PathLike, pandas.DataFrame or None
        Phenotype file (``FID IID trait…``, see :func:`kronlmm.io.read_table`) or a
        DataFrame indexed by sample ID; ``None`` with ``pheno_from_fam=True``.
    pheno_cols : str or sequence of str, optional
        Traits to use (default: every column).
    covar : str, os.PathLike or pandas.DataFrame, optional
        Covariates, as ``pheno``. An intercept is added unless the covariates already span
        a constant column.
    covar_cols : str or sequence of str, optional
        Covariates to use (default: every column).
    kinship : "grm", str, os.PathLike, kronlmm.io.Kinship or None, default "grm"
        ``"grm"``: the standardised GRM of the variants of ``bfile`` that pass the filters
        (see Notes); a path: a kinship file read by :func:`kronlmm.io.read_kinship` in any
        of its formats (GEMMA, GCTA, PLINK, kronlmm's table; checked to be positive
        semidefinite; a GEMMA file's rows are the ``.fam``'s samples); ``None``: no genetic
        random effect.
    rank : None, "full", "auto" or int, default None
        Rank of C₀ (:mod:`kronlmm.gwas.rank`): ``None`` full rank p when the sample
        allows it; ``"full"`` p; ``"auto"`` the rank 1…p with the smallest BIC; an
        integer as given. Recorded in :attr:`NullFit.rank_choice`.
    restricted : bool, default False
        Fit by REML instead of ML.
    block_size : int, optional
        Variants read at a time when building the GRM (default
        :func:`kronlmm.io.grm_block_size`, about 16 MiB of values).
    missing_code : float or None, default -9
        Trait value read as missing, as PLINK and GEMMA do (a WARNING counts them per
        trait); ``None`` keeps every value. Covariates are not affected (a WARNING names
        covariate values equal to it).
    progress : bool, "auto" or callable, default False
        Progress of the GRM (a bar, log lines without a terminal with ``"auto"``, or
        ``progress(done, total)``); the eigendecomposition logs its start and duration.
    qc : QCFilters, default QCFilters()
        Sample and variant filters (:mod:`kronlmm.gwas.qc`); the default removes variants
        with MAF < 0.01 or more than 5 % missing calls, as GEMMA does. ``NO_QC``: none.
    keep, remove : path, SampleList or sequence of IIDs, optional
        PLINK sample lists (``--keep``/``--remove``).
    extract, exclude : path or sequence of variant IDs, optional
        PLINK variant lists (``--extract``/``--exclude``).
    id_col : str, optional
        Sample-ID column of the phenotype and covariate tables (default ``IID``, any
        letter case).
    pheno_from_fam : bool, default False
        Read the phenotypes from the ``.fam`` (column 6 and any further columns, named
        ``pheno1``, ``pheno2``, …; ``-9`` is missing) instead of ``pheno``.
    loco : bool, default False
        Leave one chromosome out: also fit, for each chromosome (``.bim`` column 1) of the
        variants passing the filters, a null whose kinship is the GRM of the *other*
        chromosomes' variants; :meth:`NullFit.scan` then tests each chromosome's variants
        against its own null (:mod:`kronlmm.gwas.loco`). Needs ``kinship="grm"`` and
        variants on at least two chromosomes. Recorded in :attr:`NullFit.loco`.

    Returns
    -------
    NullFit

    Raises
    ------
    ValueError
        For any problem with the inputs (missing file, unknown column, non-numeric value,
        duplicate IDs, no overlapping samples, constant or linearly dependent traits, fewer
        residual degrees of freedom than traits, kinship not PSD or zero, a ``.fam`` that
        does not match the ``.bed``, …); the message names the file, column or sample.

    Notes
    -----
    *Samples.* A sample is used when it is in every source and has every selected
    covariate and at least one observed trait (or, with
    ``missing_traits="complete-case"``, every trait); samples dropped for a missing value
    are counted in :attr:`NullFit.alignment` and logged on the ``"kronlmm"`` logger, and
    only an error when none is left. The phenotype table's samples that are not analysed
    are counted by reason in :attr:`NullFit.sample_losses` (a WARNING when more than 5 %,
    not counting samples removed by the sample filters). Samples are put in sorted ID
    order, so results do not depend on the order of the samples in any file.

    *Checks.* Covariates that are linear combinations of the columns before them are left
    out with a WARNING (:attr:`NullFit.aliased_covariates`, as R's ``lm`` reports NA);
    fewer than 50 residual degrees of freedom give a WARNING that the tests are
    anti-conservative; a fit that does not converge gives a WARNING with the optimiser's
    reason.

    *Filters.* ``keep``/``remove``, ``extract``/``exclude`` and ``qc`` act with PLINK 2's
    meanings and in its order (:mod:`kronlmm.gwas.qc`); the counts removed per reason are
    in :attr:`NullFit.qc`, the log and ``null.json``. The variants that pass are the ones
    scanned and used for the ``"grm"`` kinship.

    *Kinship "grm".* With ``Z`` the standardised dosages of the ``m`` variable variants
    (:func:`kronlmm.io.grm_from_genotypes`), ``G = Z/√m`` is used directly when ``m ≤ n``
    (:func:`kronlmm.io.low_rank_G`); otherwise the GRM ``K = ZZᵀ/m`` is eigendecomposed and
    ``G = V·√λ`` (tiny and negative eigenvalues dropped). A kinship file is factored the same
    way. The GRM includes the tested variant (proximal contamination, as in GEMMA's default),
    which makes tests slightly conservative, unless ``loco=True``.

    *LOCO.* One pass over the ``.bed`` accumulates each chromosome's contribution ``S_c`` to
    the GRM; the genome-wide null is fitted with ``K = Σ_c S_c / m`` as above, then each
    chromosome's with ``K₋c = (Σ S − S_c)/(m − m_c)``, eigendecomposed once and fitted from
    the genome-wide C₀, C₁ (same rank of C₀, same ML/REML). Cost: one eigendecomposition and
    one fit per chromosome more. Memory: at most about ``(C + 5)·n²`` doubles while building
    for ``C`` chromosomes, and about ``C·n²`` held by the fitted nulls (22 chromosomes at
    n = 10,000: 22 GB at most, 18 GB held); see :mod:`kronlmm.gwas.loco`.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> null = fit_null(paths.prefix, paths.pheno, covar=paths.covar)
    >>> null.covariate_names, null.intercept_added
    (['intercept', 'age', 'sex'], True)
    >>> null.alignment["missing_values"], null.alignment["kept"]
    (0, 395)
    >>> null.rank_choice.reason
    'full rank (p = 3): 1158 observations for 12 variance parameters'
    >>> print(null.qc.summary())
    variant QC (MAF >= 0.01, variant missingness <= 0.05): 2970 of 3000 variants kept; ...
    >>> null.C1.shape, null.converged
    ((3, 3), True)
    >>> sorted(null.to_dict())[:4]
    ['B', 'B_se', 'C0', 'C1']
    """
    loco_kinships = None
    if loco:
        from .loco import LocoKinships, check_loco_kinship

        check_loco_kinship(kinship)
        loco_kinships = LocoKinships()
    prep = prepare_inputs(
        bfile,
        pheno,
        pheno_cols,
        covar,
        covar_cols,
        kinship,
        block_size=block_size,
        missing_code=missing_code,
        progress=progress,
        qc=qc,
        keep=keep,
        remove=remove,
        extract=extract,
        exclude=exclude,
        id_col=id_col,
        pheno_from_fam=pheno_from_fam,
        genetic_factor=loco_kinships,
        missing_traits=missing_traits,
    )
    with stage("null model fit"):
        model, result, choice = _fit(prep, rank, restricted)
    kind = "REML" if restricted else "ML"
    if result.success:
        logger.info("null model (%s): %s", kind, result)
    else:
        logger.warning(
            "the null model (%s) did NOT converge: %s",
            kind,
            _name_traits(str(result), prep.trait_names),
        )
    logger.info("rank of C0: %d (%s)", choice.rank, choice.reason)
    loco_fits = None
    if loco_kinships is not None:
        loco_fits = loco_kinships.fit(prep, model, result)
        failed = [f.chrom for f in loco_fits if not f.converged]
        logger.info(
            "leave-one-chromosome-out: %d per-chromosome null(s) fitted%s",
            len(loco_fits),
            f"; NOT converged: chromosome(s) {', '.join(failed)}" if failed else ", all converged",
        )
    assert prep.aligned.genotype_index is not None
    return NullFit(
        model=model,
        genotypes=prep.genotypes,
        samples=prep.aligned.ids,
        genotype_index=prep.aligned.genotype_index,
        trait_names=prep.trait_names,
        covariate_names=prep.covariate_names,
        intercept_added=prep.intercept_added,
        alignment=dict(prep.aligned.counts),
        kinship=prep.kinship,
        fit=result,
        aliased_covariates=prep.aliased_covariates,
        missing_code=missing_code,
        missing_code_counts=prep.missing_code_counts,
        sample_losses={k: [str(i) for i in v] for k, v in prep.aligned.losses.items()},
        variant_index=prep.variant_index,
        qc=prep.qc,
        rank_choice=choice,
        loco=loco_fits,
        missing_traits=missing_traits,
        observed_values={
            name: int(v)
            for name, v in zip(prep.trait_names, (~np.isnan(prep.Y)).sum(axis=0), strict=True)
        },
    )


def _name_traits(message: str, names: list[str]) -> str:
    """``"traits [0, 2]"`` in an optimiser message → ``"traits 'height', 'weight'"``."""

    def named(match: re.Match[str]) -> str:
        idx = [int(i) for i in match.group(1).split(",") if i.strip()]
        if not all(0 <= i < len(names) for i in idx):
            return match.group(0)
        return "traits " + ", ".join(repr(names[i]) for i in idx)

    return re.sub(r"traits \[([\d, ]+)\]", named, message)


def _model(prep: Prepared, rank: int, restricted: bool) -> Kron2Sum:
    from ..lmm import Kron2Sum

    p = prep.Y.shape[1]
    return Kron2Sum(prep.Y, np.eye(p), prep.X, prep.G, rank=rank, restricted=restricted)


def _fit(
    prep: Prepared, rank: RankSpec, restricted: bool
) -> tuple[Kron2Sum, FitResult, RankChoice]:
    """Fit the null with the rank ``rank`` asks for (:mod:`kronlmm.gwas.rank`)."""
    n, p = prep.Y.shape
    if rank is None:
        choice = default_rank(p, n, prep.X.shape[1], n_missing=int(np.isnan(prep.Y).sum()))
    elif rank == "full":
        choice = RankChoice(p, "full", f"full rank (p = {p}), as asked")
    elif rank == "auto":
        return _fit_by_bic(prep, restricted)
    elif isinstance(rank, int | np.integer) and not isinstance(rank, bool):
        if not 1 <= rank <= p:
            raise ValueError(f"rank must be ≥ 1 and ≤ p = {p} (the number of traits), got {rank}")
        choice = RankChoice(int(rank), "given", f"rank {rank}, as given")
    else:
        raise ValueError(f"rank must be None, 'full', 'auto' or an integer 1..p, got {rank!r}")
    model = _model(prep, choice.rank, restricted)
    return model, model.fit(verbose=False), choice


def _fit_by_bic(prep: Prepared, restricted: bool) -> tuple[Kron2Sum, FitResult, RankChoice]:
    n, p = prep.Y.shape
    n_values = int(np.sum(~np.isnan(prep.Y)))  # n·p without missing trait values
    n_obs = n_values - (int(np.linalg.matrix_rank(prep.X)) * p if restricted else 0)
    fits = []
    for r in range(1, p + 1):
        with stage(f"null model fit, rank {r}"):
            model = _model(prep, r, restricted)
            result = model.fit(verbose=False)
        k = n_variance_parameters(p, r)
        fits.append((bic(float(model.lml()), k, n_obs), r, model, result))
        logger.info("rank %d: lml %.6g, BIC %.6g (%s)", r, model.lml(), fits[-1][0], result.message)
    best = min(fits, key=lambda row: (row[0], row[1]))
    table = [
        {
            "rank": r,
            "lml": float(m.lml()),
            "n_parameters": n_variance_parameters(p, r),
            "bic": float(value),
            "converged": bool(res.success),
        }
        for value, r, m, res in fits
    ]
    reason = f"rank {best[1]} of 1..{p}: smallest BIC ({best[0]:.6g})"
    return best[2], best[3], RankChoice(best[1], "auto", reason, table)
