"""Reading, aligning and checking the inputs of a GWAS; building the genetic factor G."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..core.linalg import EconomicSVD, economic_eigh
from ..core.numerics import no_variance_left
from ..io import (
    AlignedSamples,
    Kinship,
    PlinkGenotypes,
    align_samples,
    check_kinship,
    grm_from_genotypes,
    low_rank_G,
    read_kinship,
    read_table,
)

__all__ = ["KinshipInfo", "Prepared", "prepare_inputs", "KinshipSpec", "TableSpec"]

logger = logging.getLogger("kronlmm")

PathLike = str | os.PathLike[str]
TableSpec = PathLike | pd.DataFrame
KinshipSpec = PathLike | Kinship | None

INTERCEPT_NAME = "intercept"

EIGEN_RTOL = 1e-10
"""Eigenvalues of a kinship below ``EIGEN_RTOL × largest`` are treated as 0 (dropped from G)."""


@dataclass(frozen=True)
class KinshipInfo:
    """How the genetic factor ``G`` (``K = G Gᵀ``) of the null model was obtained.

    Attributes
    ----------
    source : str
        ``"grm"`` (from the genotypes), ``"none"`` (no genetic term), or the kinship file /
        ``"Kinship object"``.
    method : str
        ``"low-rank genotypes"`` (``G = Z/√m``, when m ≤ n), ``"eigendecomposition"`` (``G =
        V·√λ`` of a GRM or given kinship) or ``"none"``.
    rank : int
        Columns of ``G``.
    n_variants : int or None
        Variants used for a GRM (``None`` otherwise).
    n_monomorphic : int or None
        Variants skipped for a GRM because they did not vary among the samples used.
    n_clipped : int
        Eigenvalues set to 0 (negative or below ``1e-10 ×`` the largest).

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> info = fit_null(paths.prefix, paths.pheno, covar=paths.covar).kinship
    >>> info.source, info.method, info.rank
    ('grm', 'eigendecomposition', 376)
    >>> info.n_variants, info.n_monomorphic, info.n_clipped
    (2984, 16, 1)
    >>> fit_null(paths.prefix, paths.pheno, covar=paths.covar, kinship=None).kinship
    KinshipInfo(source='none', method='none', rank=0, n_variants=None, ...)
    """

    source: str
    method: str
    rank: int
    n_variants: int | None = None
    n_monomorphic: int | None = None
    n_clipped: int = 0


@dataclass(eq=False)
class Prepared:
    """Aligned, checked inputs of the null model.

    Attributes
    ----------
    genotypes : PlinkGenotypes
        Genotype source (variants are read from it in blocks).
    aligned : AlignedSamples
        Kept samples, in sorted sample-ID order (see :func:`prepare_inputs`).
    Y : numpy.ndarray
        ``n × p`` traits.
    X : numpy.ndarray
        ``n × c`` covariates (with the intercept when added).
    G : numpy.ndarray or EconomicSVD
        ``n × r`` genetic factor, or the eigendecomposition ``K = U diag(S2) Uᵀ`` when the
        kinship was decomposed (passed to the model as is, so it is not decomposed twice).
    trait_names, covariate_names : list of str
        Columns of ``Y`` and ``X``.
    intercept_added : bool
        Whether an intercept column was prepended to the covariates.
    kinship : KinshipInfo
        How ``G`` was obtained.
    """

    genotypes: PlinkGenotypes
    aligned: AlignedSamples
    Y: NDArray[np.float64]
    X: NDArray[np.float64]
    G: NDArray[np.float64] | EconomicSVD
    trait_names: list[str]
    covariate_names: list[str]
    intercept_added: bool
    kinship: KinshipInfo


def _columns(cols: str | Sequence[str] | None) -> list[str] | None:
    if cols is None:
        return None
    return [cols] if isinstance(cols, str) else [str(c) for c in cols]


def _sorted_by_id(aligned: AlignedSamples) -> AlignedSamples:
    """Put the kept samples in sorted ID order, so results never depend on file order."""
    order = np.argsort(np.asarray(aligned.ids, dtype=str), kind="stable")

    def take(idx: NDArray[np.intp] | None) -> NDArray[np.intp] | None:
        return None if idx is None else idx[order]

    return dataclasses.replace(
        aligned,
        ids=aligned.ids[order],
        genotype_index=take(aligned.genotype_index),
        phenotype_index=aligned.phenotype_index[order],
        covariate_index=take(aligned.covariate_index),
        kinship_index=take(aligned.kinship_index),
        phenotypes=aligned.phenotypes.iloc[order],
        covariates=None if aligned.covariates is None else aligned.covariates.iloc[order],
        K=None if aligned.K is None else aligned.K[np.ix_(order, order)],
    )


def _spans_ones(C: NDArray[np.float64]) -> bool:
    """Whether the all-ones vector lies in the column space of ``C``."""
    if C.shape[1] == 0:
        return False
    ones = np.ones(C.shape[0])
    coef, *_ = np.linalg.lstsq(C, ones, rcond=None)
    return bool(np.linalg.norm(C @ coef - ones) <= 1e-8 * np.sqrt(C.shape[0]))


def _design(aligned: AlignedSamples) -> tuple[NDArray[np.float64], list[str], bool]:
    covs = aligned.covariate_matrix(intercept=False)
    names = aligned.covariate_names
    if _spans_ones(covs):
        logger.info("covariates already include an intercept: none added")
        return covs, names, False
    name = INTERCEPT_NAME
    while name in names:
        name = "_" + name
    return np.hstack([np.ones((covs.shape[0], 1)), covs]), [name, *names], True


def _check_traits(Y: NDArray[np.float64], X: NDArray[np.float64], names: list[str]) -> None:
    n = Y.shape[0]
    for j, name in enumerate(names):
        y = Y[:, j]
        if np.ptp(y) == 0:
            raise ValueError(
                f"trait {name!r} is constant (every one of the {n} samples used has the value "
                f"{y[0]:g}); drop it with --pheno-cols / pheno_cols"
            )
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    resid_var = ((Y - X @ coef) ** 2).sum(axis=0) / max(n - X.shape[1], 1)
    bad = [names[j] for j in no_variance_left(resid_var, np.mean(Y * Y, axis=0))]
    if bad:
        raise ValueError(
            f"trait(s) {', '.join(repr(b) for b in bad)} are explained exactly by the "
            "covariates (no variance left); drop them or the covariates that explain them"
        )


def _factor_from_kinship(
    K: NDArray[np.float64], *, max_rank: int | None = None, overwrite: bool = False
) -> tuple[EconomicSVD, int]:
    """``K = V diag(λ) Vᵀ`` keeping eigenvalues above ``EIGEN_RTOL ×`` the largest
    (:func:`kronlmm.core.economic_eigh`: LAPACK syevd, or syevr for the ``max_rank``
    largest pairs when K's rank is known to be at most ``max_rank < n``).

    The decomposition itself is what the model needs (``G = V·√λ`` would be decomposed
    again), so it is returned as an :class:`~kronlmm.core.EconomicSVD`. ``overwrite``: K
    is not needed afterwards (LAPACK works in place).
    """
    n = K.shape[0]
    svd = economic_eigh(K, EIGEN_RTOL, max_rank=max_rank, overwrite=overwrite)
    return svd, int(n - svd.S2.size)


def _genetic_factor(
    kinship: KinshipSpec,
    genotypes: PlinkGenotypes,
    aligned: AlignedSamples,
    block_size: int | None,
) -> tuple[NDArray[np.float64] | EconomicSVD, KinshipInfo]:
    n = aligned.nsamples
    if kinship is None:
        logger.info("no kinship: the model has no genetic random effect")
        return np.zeros((n, 0)), KinshipInfo(source="none", method="none", rank=0)
    if isinstance(kinship, str) and kinship == "grm":
        idx = aligned.genotype_index
        if genotypes.nvariants <= n:
            lr = low_rank_G(genotypes, idx, block_size)
            info = KinshipInfo(
                source="grm",
                method="low-rank genotypes",
                rank=lr.G.shape[1],
                n_variants=lr.n_variants,
                n_monomorphic=lr.n_monomorphic,
            )
            return lr.G, info
        grm = grm_from_genotypes(genotypes, idx, block_size)
        G, clipped = _factor_from_kinship(grm.K, overwrite=True)  # K is not kept
        info = KinshipInfo(
            source="grm",
            method="eigendecomposition",
            rank=G.S2.size,
            n_variants=grm.n_variants,
            n_monomorphic=grm.n_monomorphic,
            n_clipped=clipped,
        )
        return G, info
    assert aligned.K is not None
    rank = kinship.n_variants if isinstance(kinship, Kinship) else None  # rank ≤ variants
    G, clipped = _factor_from_kinship(aligned.K, max_rank=rank)
    source = "Kinship object" if isinstance(kinship, Kinship) else str(kinship)
    return G, KinshipInfo(
        source=source, method="eigendecomposition", rank=G.S2.size, n_clipped=clipped
    )


def prepare_inputs(
    bfile: PathLike | PlinkGenotypes,
    pheno: TableSpec,
    pheno_cols: str | Sequence[str] | None = None,
    covar: TableSpec | None = None,
    covar_cols: str | Sequence[str] | None = None,
    kinship: KinshipSpec = "grm",
    *,
    block_size: int | None = None,
) -> Prepared:
    """Read, align and check the inputs; build ``Y``, ``X`` and ``G``.

    See :func:`kronlmm.gwas.fit_null` for the parameters. Samples are kept when present in
    every source with complete trait and covariate values, and are put in sorted sample-ID
    order, so that the results are the same whatever the order of the samples in each file.
    """
    genotypes = bfile if isinstance(bfile, PlinkGenotypes) else PlinkGenotypes(bfile)
    phenotypes = read_table(pheno, columns=_columns(pheno_cols))
    if phenotypes.shape[1] == 0:
        raise ValueError("the phenotype table has no trait column")
    covariates = None
    if covar is not None:
        covariates = read_table(covar, columns=_columns(covar_cols))
    elif covar_cols is not None:
        raise ValueError("covariate columns were given without a covariate table")

    kin: Kinship | None = None
    if kinship is not None and not (isinstance(kinship, str) and kinship == "grm"):
        if isinstance(kinship, Kinship):
            kin = check_kinship(kinship.ids, kinship.K)
        else:
            kin = read_kinship(kinship)
    aligned = align_samples(genotypes, phenotypes, covariates, kin)
    aligned = _sorted_by_id(aligned)

    X, covariate_names, intercept_added = _design(aligned)
    Y = aligned.Y
    trait_names = aligned.trait_names
    n = aligned.nsamples
    if n <= X.shape[1]:
        raise ValueError(
            f"only {n} sample(s) left for {X.shape[1]} covariate column(s) (intercept "
            "included): not enough samples"
        )
    _check_traits(Y, X, trait_names)
    G, info = _genetic_factor(kinship, genotypes, aligned, block_size)
    logger.info(
        "null model inputs: %d samples, %d trait(s), %d covariate column(s), G of rank %d (%s, %s)",
        n,
        Y.shape[1],
        X.shape[1],
        info.rank,
        info.source,
        info.method,
    )
    return Prepared(
        genotypes=genotypes,
        aligned=aligned,
        Y=Y,
        X=X,
        G=G,
        trait_names=trait_names,
        covariate_names=covariate_names,
        intercept_added=intercept_added,
        kinship=info,
    )
