"""Fitting the null model of a GWAS from files: align by sample ID, fit Kron2Sum once."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence

import numpy as np

from ..core.progress import Progress
from ..io import PlinkGenotypes
from ._inputs import PLINK_MISSING_CODE, KinshipSpec, TableSpec, prepare_inputs
from .null import NullFit

__all__ = ["fit_null"]

logger = logging.getLogger("kronlmm")

PathLike = str | os.PathLike[str]


def fit_null(
    bfile: PathLike | PlinkGenotypes,
    pheno: TableSpec,
    pheno_cols: str | Sequence[str] | None = None,
    covar: TableSpec | None = None,
    covar_cols: str | Sequence[str] | None = None,
    kinship: KinshipSpec = "grm",
    *,
    rank: int = 1,
    restricted: bool = False,
    block_size: int = 1000,
    missing_code: float | None = PLINK_MISSING_CODE,
    progress: Progress = False,
) -> NullFit:
    """Align the inputs by sample ID and fit the multi-trait null model once.

    Parameters
    ----------
    bfile : str, os.PathLike or PlinkGenotypes
        PLINK 1 prefix (``prefix.bed/.bim/.fam``) or an open genotype set.
    pheno : str, os.PathLike or pandas.DataFrame
        Phenotype file (``FID IID trait…``, see :func:`kronlmm.io.read_table`) or a
        DataFrame indexed by sample ID.
    pheno_cols : str or sequence of str, optional
        Traits to use (default: every column).
    covar : str, os.PathLike or pandas.DataFrame, optional
        Covariates, as ``pheno``. An intercept is added unless the covariates already span
        a constant column.
    covar_cols : str or sequence of str, optional
        Covariates to use (default: every column).
    kinship : "grm", str, os.PathLike, kronlmm.io.Kinship or None, default "grm"
        ``"grm"``: the standardised GRM of all variants of ``bfile`` (see Notes);
        a path: a kinship file read by :func:`kronlmm.io.read_kinship` (checked to be
        positive semidefinite); ``None``: no genetic random effect.
    rank : int, default 1
        Maximum rank of C₀.
    restricted : bool, default False
        Fit by REML instead of ML.
    block_size : int, default 1000
        Variants read at a time when building the GRM.
    missing_code : float or None, default -9
        Trait value read as missing, as PLINK and GEMMA do (a WARNING counts them per
        trait); ``None`` keeps every value. Covariates are not affected (a WARNING names
        covariate values equal to it).
    progress : bool, "auto" or callable, default False
        Progress of the GRM (a bar, log lines without a terminal with ``"auto"``, or
        ``progress(done, total)``); the eigendecomposition logs its start and duration.

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
    *Samples.* A sample is used when it is in every source and has every selected trait
    and covariate (complete cases); samples dropped for a missing value are counted in
    :attr:`NullFit.alignment` and logged on the ``"kronlmm"`` logger, and only an error when
    none is left. The phenotype table's samples that are not analysed are counted by
    reason in :attr:`NullFit.sample_losses` (a WARNING when more than 5 %). Samples are put
    in sorted ID order, so results do not depend on the order of the samples in any file.

    *Checks.* Covariates that are linear combinations of the columns before them are left
    out with a WARNING (:attr:`NullFit.aliased_covariates`, as R's ``lm`` reports NA);
    fewer than 50 residual degrees of freedom give a WARNING that the tests are
    anti-conservative; a fit that does not converge gives a WARNING with the optimiser's
    reason.

    *Kinship "grm".* With ``Z`` the standardised dosages of all ``m`` variable variants
    (:func:`kronlmm.io.grm_from_genotypes`), ``G = Z/√m`` is used directly when ``m ≤ n``
    (:func:`kronlmm.io.low_rank_G`); otherwise the GRM ``K = ZZᵀ/m`` is eigendecomposed and
    ``G = V·√λ`` (tiny and negative eigenvalues dropped). A kinship file is factored the same
    way. The GRM includes the tested variant (proximal contamination, as in GEMMA's default),
    which makes tests slightly conservative; leave-one-chromosome-out kinships are not
    implemented yet.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> null = fit_null(paths.prefix, paths.pheno, covar=paths.covar, rank=1)
    >>> null.covariate_names, null.intercept_added
    (['intercept', 'age', 'sex'], True)
    >>> null.alignment["missing_values"], null.alignment["kept"]
    (18, 377)
    >>> null.C1.shape, null.converged
    ((3, 3), True)
    >>> sorted(null.to_dict())[:4]
    ['B', 'B_se', 'C0', 'C1']
    """
    from ..lmm import Kron2Sum

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
    )
    model = Kron2Sum(
        prep.Y, np.eye(prep.Y.shape[1]), prep.X, prep.G, rank=rank, restricted=restricted
    )
    result = model.fit(verbose=False)
    kind = "REML" if restricted else "ML"
    if result.success:
        logger.info("null model (%s): %s", kind, result)
    else:
        logger.warning(
            "the null model (%s) did NOT converge: %s",
            kind,
            _name_traits(str(result), prep.trait_names),
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
    )


def _name_traits(message: str, names: list[str]) -> str:
    """``"traits [0, 2]"`` in an optimiser message → ``"traits 'height', 'weight'"``."""

    def named(match: re.Match[str]) -> str:
        idx = [int(i) for i in match.group(1).split(",") if i.strip()]
        if not all(0 <= i < len(names) for i in idx):
            return match.group(0)
        return "traits " + ", ".join(repr(names[i]) for i in idx)

    return re.sub(r"traits \[([\d, ]+)\]", named, message)
