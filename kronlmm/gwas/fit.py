"""Fitting the null model of a GWAS from files: align by sample ID, fit Kron2Sum once."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from ..io import PlinkGenotypes
from ._inputs import KinshipSpec, TableSpec, prepare_inputs
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
    block_size: int | None = None,
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
    block_size : int, optional
        Variants read at a time when building the GRM (default
        :func:`kronlmm.io.grm_block_size`, about 64 MiB of values).

    Returns
    -------
    NullFit

    Raises
    ------
    ValueError
        For any problem with the inputs (missing file, unknown column, non-numeric value,
        duplicate IDs, no overlapping samples, constant trait, kinship not PSD, …); the
        message names the file, column or sample.

    Notes
    -----
    *Samples.* A sample is used when it is in every source and has every selected trait
    and covariate (complete cases); samples dropped for a missing value are counted in
    :attr:`NullFit.alignment` and logged on the ``"kronlmm"`` logger, and only an error when
    none is left. Samples are put in sorted ID order, so results do not depend on the order
    of the samples in any file.

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
        bfile, pheno, pheno_cols, covar, covar_cols, kinship, block_size=block_size
    )
    model = Kron2Sum(
        prep.Y, np.eye(prep.Y.shape[1]), prep.X, prep.G, rank=rank, restricted=restricted
    )
    result = model.fit(verbose=False)
    logger.info("null model (%s): %s", "REML" if restricted else "ML", result)
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
    )
