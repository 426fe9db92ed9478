"""Reading, aligning and checking the inputs of a GWAS; building the genetic factor G."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..core.linalg import EconomicSVD, economic_eigh
from ..core.numerics import no_variance_left
from ..core.progress import Progress
from ..io import (
    TOOL_PSD_TOLERANCE,
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
from .progress_log import Heartbeat, phase_progress
from .qc import (
    DEFAULT_QC,
    QCFilters,
    QCReport,
    SampleSpec,
    VariantList,
    filter_variants,
    select_genotype_samples,
    select_listed_variants,
)
from .timing import stage

#: The accepted values of ``missing_traits``: use every observed value (default), or only
#: the samples with every trait observed.
MISSING_TRAIT_MODES = ("observed", "complete-case")

__all__ = [
    "KinshipInfo",
    "Prepared",
    "prepare_inputs",
    "KinshipSpec",
    "TableSpec",
    "MISSING_TRAIT_MODES",
]

logger = logging.getLogger("kronlmm")

PathLike = str | os.PathLike[str]
TableSpec = PathLike | pd.DataFrame
KinshipSpec = PathLike | Kinship | None

INTERCEPT_NAME = "intercept"

EIGEN_RTOL = 1e-10
"""Eigenvalues of a kinship below ``EIGEN_RTOL × largest`` are treated as 0 (dropped from G)."""

PLINK_MISSING_CODE = -9.0
"""PLINK's (and GEMMA's) phenotype missing code, read as missing by default."""

ALIAS_RTOL = 1e-7
"""A covariate column whose part outside the span of the columns before it is below
``ALIAS_RTOL ×`` its norm is aliased (a linear combination of them; R's ``lm`` tolerance)."""

DEPENDENT_TRAITS_RTOL = 1e-6
"""Traits whose standardised residuals (after the covariates) have a singular value below
``DEPENDENT_TRAITS_RTOL ×`` the largest are linearly dependent: the fit is refused."""

SMALL_SAMPLE_DOF = 50
"""Below this many residual degrees of freedom (samples − covariate columns) the scan's
likelihood-ratio tests are noticeably anti-conservative: a WARNING says so. In null
simulations (``benchmarks/small_sample_lambda.py``; 3 traits, 3 covariate columns) the
genomic-control λ was about 1.8 at 7 residual degrees of freedom, 1.3 at 17, 1.2 at 27 and
1.05-1.1 at 47."""


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
    ('grm', 'eigendecomposition', 394)
    >>> info.n_variants, info.n_monomorphic, info.n_clipped  # the variants passing QC
    (2970, 0, 1)
    >>> fit_null(paths.prefix, paths.pheno, covar=paths.covar, kinship=None).kinship
    KinshipInfo(source='none', method='none', rank=0, n_variants=None, ...)
    """

    source: str
    method: str
    rank: int
    n_variants: int | None = None
    n_monomorphic: int | None = None
    n_clipped: int = 0


GeneticFactor = Callable[
    [PlinkGenotypes, AlignedSamples, int | None, NDArray[np.intp], Progress],
    tuple[NDArray[np.float64] | EconomicSVD, KinshipInfo],
]
"""``factor(genotypes, aligned, block_size, variant_index, progress) → (G, info)``: builds
the genetic factor of the ``"grm"`` kinship instead of the default (e.g. the LOCO pass,
:class:`kronlmm.gwas.loco.LocoKinships`)."""


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
        ``n × p`` traits (NaN where missing, with ``missing_traits="observed"``).
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
    variant_index : numpy.ndarray
        ``.bim`` positions of the variants that passed the lists and QC filters (tested and,
        for ``"grm"``, used for the kinship).
    qc : QCReport
        What the sample and variant filters removed.
    aliased_covariates : dict
        Covariates left out because they are linear combinations of the columns before
        them (name → the columns it is a combination of), as R's ``lm`` reports NA.
    missing_code_counts : dict
        Trait → number of values equal to the missing code that were read as missing.
    missing_traits : str
        ``"observed"`` (samples with some trait observed are kept, every observed value is
        used) or ``"complete-case"`` (samples with every trait observed only).
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
    variant_index: NDArray[np.intp]
    qc: QCReport
    aliased_covariates: dict[str, list[str]] = field(default_factory=dict)
    missing_code_counts: dict[str, int] = field(default_factory=dict)
    missing_traits: str = "observed"


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


def aliased_columns(X: NDArray[np.float64], names: list[str]) -> dict[str, list[str]]:
    """Columns of ``X`` that are linear combinations of the columns before them.

    Taken in order, as R's ``lm`` does: a column is aliased when its part outside the span
    of the kept columns before it is below :data:`ALIAS_RTOL` times its norm (a zero column
    is aliased with nothing).

    Returns
    -------
    dict
        Aliased column → the kept columns with a non-negligible share in it.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.gwas._inputs import aliased_columns
    >>> age = np.array([30.0, 41, 52, 63])
    >>> X = np.column_stack([np.ones(4), age, 2 * age, [1.0, 0, 1, 0]])
    >>> aliased_columns(X, ["intercept", "age", "age2", "sex"])
    {'age2': ['age']}
    """
    basis: list[NDArray[np.float64]] = []
    kept: list[int] = []
    out: dict[str, list[str]] = {}
    for j in range(X.shape[1]):
        x = X[:, j]
        norm = float(np.linalg.norm(x))
        r = x.copy()
        for _ in range(2):  # twice: classical Gram-Schmidt, reorthogonalised
            for q in basis:
                r -= (q @ r) * q
        rest = float(np.linalg.norm(r))
        if norm == 0.0 or rest <= ALIAS_RTOL * norm:
            if kept and norm > 0:
                coef, *_ = np.linalg.lstsq(X[:, kept], x, rcond=None)
                share = np.abs(coef) * np.linalg.norm(X[:, kept], axis=0)
                out[names[j]] = [
                    names[k] for k, c in zip(kept, share, strict=True) if c > 1e-6 * norm
                ]
            else:
                out[names[j]] = []
            continue
        basis.append(r / rest)
        kept.append(j)
    return out


def _drop_aliased(
    X: NDArray[np.float64], names: list[str]
) -> tuple[NDArray[np.float64], list[str], dict[str, list[str]]]:
    aliased = aliased_columns(X, names)
    if not aliased:
        return X, names, aliased
    for name, parts in aliased.items():
        with_ = (
            f"a linear combination of {', '.join(repr(p) for p in parts)}"
            if parts
            else "zero for every sample used"
        )
        logger.warning(
            "covariate %r is %s (aliased: its coefficient is not identifiable); it is left "
            "out of the model, as R's lm reports NA, and listed under aliased_covariates in "
            "the null model's summary; drop it from the covariates (--covar-cols)",
            name,
            with_,
        )
    keep = [j for j, name in enumerate(names) if name not in aliased]
    return X[:, keep], [names[j] for j in keep], aliased


def _apply_missing_code(
    phenotypes: pd.DataFrame, code: float | None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read trait values equal to ``code`` as missing; count them per trait."""
    if code is None:
        return phenotypes, {}
    hits = phenotypes.to_numpy() == code
    counts = {str(c): int(n) for c, n in zip(phenotypes.columns, hits.sum(axis=0), strict=True)}
    counts = {c: n for c, n in counts.items() if n}
    if not counts:
        return phenotypes, {}
    out = phenotypes.mask(hits)
    out.attrs = phenotypes.attrs
    logger.warning(
        "phenotype value %g read as missing, as PLINK and GEMMA do (%s); "
        "--missing-code none (missing_code=None) keeps it as a value",
        code,
        ", ".join(f"{c}: {n} value(s)" for c, n in counts.items()),
    )
    return out, counts


def _warn_covariate_missing_code(covariates: pd.DataFrame | None, code: float | None) -> None:
    if covariates is None or code is None:
        return
    hits = (covariates.to_numpy() == code).sum(axis=0)
    found = {str(c): int(n) for c, n in zip(covariates.columns, hits, strict=True) if n}
    if found:
        logger.warning(
            "covariate value %g, PLINK's missing code, is used as a value (%s); if it means "
            "missing, write NA in the covariate table",
            code,
            ", ".join(f"{c}: {n} value(s)" for c, n in found.items()),
        )


def _check_sample_size(n: int, c: int, names: list[str]) -> None:
    """Refuse fewer residual degrees of freedom than traits; warn below SMALL_SAMPLE_DOF."""
    dof = n - c
    p = len(names)
    if dof < p:
        raise ValueError(
            f"only {n} samples for {c} covariate column(s) (intercept included) leave {dof} "
            f"residual degree(s) of freedom, fewer than the {p} traits: the residual trait "
            "covariance C1 cannot be estimated; use more samples, or fewer traits or "
            "covariates"
        )
    if dof < SMALL_SAMPLE_DOF:
        logger.warning(
            "only %d samples for %d covariate column(s) (%d residual degrees of freedom): "
            "the likelihood-ratio tests rely on the asymptotic chi-square distribution, which "
            "is anti-conservative at this size (under the null, genomic-control lambda about "
            "1.8 at 7 residual degrees of freedom, 1.3 at 17, 1.2 at 27); treat the p-values "
            "as approximate",
            n,
            c,
            dof,
        )


def _check_traits(Y: NDArray[np.float64], X: NDArray[np.float64], names: list[str]) -> None:
    if np.isnan(Y).any():
        _check_traits_observed(Y, X, names)
        return
    n = Y.shape[0]
    for j, name in enumerate(names):
        y = Y[:, j]
        if np.ptp(y) == 0:
            raise ValueError(
                f"trait {name!r} is constant (every one of the {n} samples used has the value "
                f"{y[0]:g}); drop it with --pheno-cols / pheno_cols"
            )
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    resid = Y - X @ coef
    resid_var = (resid**2).sum(axis=0) / max(n - X.shape[1], 1)
    bad = [names[j] for j in no_variance_left(resid_var, np.mean(Y * Y, axis=0))]
    if bad:
        raise ValueError(
            f"trait(s) {', '.join(repr(b) for b in bad)} are explained exactly by the "
            "covariates (no variance left); drop them or the covariates that explain them"
        )
    _check_dependent_traits(resid, names)


def _check_traits_observed(
    Y: NDArray[np.float64], X: NDArray[np.float64], names: list[str]
) -> None:
    """:func:`_check_traits` for traits with missing values: each trait on the samples
    where it is observed; the dependence check on the samples with every trait observed
    (when there are enough of them)."""
    for j, name in enumerate(names):
        rows = ~np.isnan(Y[:, j])
        y = Y[rows, j]
        if y.size == 0:
            raise ValueError(
                f"trait {name!r} has no value for any of the {Y.shape[0]} samples kept (all "
                "missing): drop it with --pheno-cols / pheno_cols"
            )
        if np.ptp(y) == 0:
            raise ValueError(
                f"trait {name!r} is constant (every one of its {y.size} observed values is "
                f"{y[0]:g}); drop it with --pheno-cols / pheno_cols"
            )
        x = X[rows]
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        var = float((resid**2).sum()) / max(y.size - x.shape[1], 1)
        if no_variance_left(np.array([var]), np.array([np.mean(y * y)])).size:
            raise ValueError(
                f"trait {name!r} is explained exactly by the covariates at its observed "
                "values (no variance left); drop it or the covariates that explain it"
            )
    complete = ~np.isnan(Y).any(axis=1)
    if complete.sum() > X.shape[1] + Y.shape[1]:
        Yc, Xc = Y[complete], X[complete]
        coef, *_ = np.linalg.lstsq(Xc, Yc, rcond=None)
        _check_dependent_traits(Yc - Xc @ coef, names)


def _check_dependent_traits(resid: NDArray[np.float64], names: list[str]) -> None:
    """Refuse traits whose residuals are linearly dependent (e.g. a trait given twice)."""
    if len(names) < 2:
        return
    scaled = resid / np.linalg.norm(resid, axis=0)
    _, sv, Vt = np.linalg.svd(scaled, full_matrices=False)
    if sv[-1] > DEPENDENT_TRAITS_RTOL * sv[0]:
        return
    v = Vt[-1]
    involved = [names[j] for j in np.flatnonzero(np.abs(v) > 1e-3 * np.abs(v).max())]
    how = (
        "identical up to scale and shift"
        if len(involved) == 2
        else "a linear combination of each other"
    )
    raise ValueError(
        f"traits {', '.join(repr(t) for t in involved)} are {how} once the covariates are "
        "accounted for (their residuals are linearly dependent): the residual trait "
        "covariance C1 would be singular and the likelihood has no maximum; drop "
        f"{'one of them' if len(involved) == 2 else 'one or more of them'} with --pheno-cols "
        "(pheno_cols)"
    )


EIGH_ESTIMATE_MIN = 2000
"""From this size on, the eigendecomposition's duration is estimated before it starts."""

EIGH_CALIBRATION = 400
"""Size of the eigendecomposition timed to estimate a larger one (time × (n/400)³)."""


def eigh_seconds_estimate(n: int) -> float:
    """Rough duration of an ``n × n`` symmetric eigendecomposition on this machine now.

    Times one of :data:`EIGH_CALIBRATION` × :data:`EIGH_CALIBRATION` (best of three) and
    scales it by ``(n / 400)³``; larger problems use BLAS more efficiently, so this tends to
    overestimate (by up to 2× in our measurements), which is why it is stated as "about".

    Examples
    --------
    >>> from kronlmm.gwas._inputs import eigh_seconds_estimate
    >>> eigh_seconds_estimate(4000) > eigh_seconds_estimate(2000) > 0
    True
    """
    k = EIGH_CALIBRATION
    A = np.random.default_rng(0).standard_normal((k, k))
    A = A @ A.T
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        np.linalg.eigh(A)
        best = min(best, time.perf_counter() - start)
    return float(best * (n / k) ** 3)


def _factor_from_kinship(
    K: NDArray[np.float64],
    *,
    max_rank: int | None = None,
    overwrite: bool = False,
    expected: float | None = None,
) -> tuple[EconomicSVD, int]:
    """``K = V diag(λ) Vᵀ`` keeping eigenvalues above ``EIGEN_RTOL ×`` the largest
    (:func:`kronlmm.core.economic_eigh`: LAPACK syevd, or syevr for the ``max_rank``
    largest pairs when K's rank is known to be at most ``max_rank < n``).

    The decomposition itself is what the model needs (``G = V·√λ`` would be decomposed
    again), so it is returned as an :class:`~kronlmm.core.EconomicSVD`. ``overwrite``: K
    is not needed afterwards (LAPACK works in place). It cannot report progress from
    inside LAPACK: its start (with an estimated duration for large ``K``), a line every
    30 s while it runs and its duration are logged. ``expected``: the estimated duration when
    already known (many kinships of one size), else estimated here from size
    :data:`EIGH_ESTIMATE_MIN` on.
    """
    n = K.shape[0]
    if expected is None and n >= EIGH_ESTIMATE_MIN:
        expected = eigh_seconds_estimate(n)
    beat = Heartbeat(f"eigendecomposition of the {n} x {n} kinship", None, expected=expected)
    try:
        svd = economic_eigh(K, EIGEN_RTOL, max_rank=max_rank, overwrite=overwrite)
    finally:
        beat.close()
    return svd, int(n - svd.S2.size)


def _genetic_factor(
    kinship: KinshipSpec,
    genotypes: PlinkGenotypes,
    aligned: AlignedSamples,
    block_size: int | None,
    variant_index: NDArray[np.intp],
    progress: Progress = False,
) -> tuple[NDArray[np.float64] | EconomicSVD, KinshipInfo]:
    n = aligned.nsamples
    if kinship is None:
        logger.info("no kinship: the model has no genetic random effect")
        return np.zeros((n, 0)), KinshipInfo(source="none", method="none", rank=0)
    if isinstance(kinship, str) and kinship == "grm":
        idx = aligned.genotype_index
        report = phase_progress(progress, int(variant_index.size), "GRM", "variant")
        try:
            if variant_index.size <= n:
                with stage("kinship (low-rank G from the genotypes)"):
                    lr = low_rank_G(
                        genotypes,
                        idx,
                        block_size,
                        variant_index=variant_index,
                        progress=lambda d, t: report(d),
                    )
                info = KinshipInfo(
                    source="grm",
                    method="low-rank genotypes",
                    rank=lr.G.shape[1],
                    n_variants=lr.n_variants,
                    n_monomorphic=lr.n_monomorphic,
                )
                return lr.G, info
            with stage("kinship (GRM from the genotypes)"):
                grm = grm_from_genotypes(
                    genotypes,
                    idx,
                    block_size,
                    variant_index=variant_index,
                    progress=lambda d, t: report(d),
                )
        finally:
            report(None)
        with stage("kinship eigendecomposition"):
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
    source = "Kinship object" if isinstance(kinship, Kinship) else str(kinship)
    if not np.any(aligned.K):
        raise ValueError(
            f"kinship {source!r} is zero for all {n} samples used: it would give the model no "
            "genetic random effect; check the file, or use --kinship none (kinship=None) if "
            "no genetic term is what you want"
        )
    rank = kinship.n_variants if isinstance(kinship, Kinship) else None  # rank ≤ variants
    with stage("kinship eigendecomposition"):
        G, clipped = _factor_from_kinship(aligned.K, max_rank=rank)
    return G, KinshipInfo(
        source=source, method="eigendecomposition", rank=G.S2.size, n_clipped=clipped
    )


def _read_kinship_spec(kinship: KinshipSpec, genotypes: PlinkGenotypes) -> Kinship | None:
    """The kinship of a file or object (``None`` for "grm" and None); a file's sample IDs
    may come from the genotypes (GEMMA's kinship files have none)."""
    if kinship is None or (isinstance(kinship, str) and kinship == "grm"):
        return None
    if isinstance(kinship, Kinship):
        return check_kinship(kinship.ids, kinship.K, psd_tolerance=TOOL_PSD_TOLERANCE)
    path = Path(kinship)
    word = str(kinship).strip().lower()
    if not path.exists() and word in ("grm", "none"):
        if word == "grm":
            fix = "for the GRM of the genotypes write --kinship grm (kinship='grm')"
        else:
            fix = "for no genetic random effect write --kinship none (kinship=None)"
        case = ", in lower case" if str(kinship).strip() != word else ""
        raise ValueError(f"kinship file {str(kinship)!r} does not exist; {fix}{case}")
    return read_kinship(kinship, ids=genotypes.sample_ids)


def _phenotypes(
    pheno: TableSpec | None,
    pheno_cols: str | Sequence[str] | None,
    genotypes: PlinkGenotypes,
    pheno_from_fam: bool,
    id_col: str | None,
) -> pd.DataFrame:
    if pheno_from_fam:
        if pheno is not None:
            raise ValueError(
                "give the phenotypes either as a table (--pheno / pheno=) or from the .fam "
                "(--pheno-from-fam / pheno_from_fam=True), not both"
            )
        fam = genotypes.fam_phenotypes
        cols = _columns(pheno_cols)
        if cols is not None:
            unknown = [c for c in cols if c not in fam.columns]
            if unknown:
                raise ValueError(
                    f"column {unknown[0]!r} not in the .fam's phenotypes: it has "
                    f"{', '.join(fam.columns)} (pheno1 is column 6, pheno2 column 7, ...)"
                )
            fam = fam[cols]
        return fam
    if pheno is None:
        raise ValueError(
            "no phenotypes: give a phenotype table (--pheno FILE / pheno=) or read them "
            "from the .fam (--pheno-from-fam / pheno_from_fam=True)"
        )
    return read_table(pheno, id_col=id_col, columns=_columns(pheno_cols))


def prepare_inputs(
    bfile: PathLike | PlinkGenotypes,
    pheno: TableSpec | None,
    pheno_cols: str | Sequence[str] | None = None,
    covar: TableSpec | None = None,
    covar_cols: str | Sequence[str] | None = None,
    kinship: KinshipSpec = "grm",
    *,
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
    genetic_factor: GeneticFactor | None = None,
    missing_traits: str = "observed",
) -> Prepared:
    """Read, align and check the inputs; filter samples and variants; build ``Y``, ``X``, ``G``.

    See :func:`kronlmm.gwas.fit_null` for the parameters and :mod:`kronlmm.gwas.qc` for the
    order of the filters. Samples are kept when present in every source with complete
    covariate values and at least one observed trait (``missing_traits="observed"``) or
    every trait observed (``"complete-case"``), and are put in sorted sample-ID order, so
    that the results are the same whatever the order of the samples in each file.
    ``genetic_factor``: builds ``G`` for ``kinship="grm"`` instead of the default (see
    :data:`GeneticFactor`).
    """
    if missing_traits not in MISSING_TRAIT_MODES:
        raise ValueError(
            f"missing_traits must be one of {MISSING_TRAIT_MODES}, got {missing_traits!r}"
        )
    for given, what, option in (
        (pheno_cols, "trait", "pheno_cols / --pheno-cols"),
        (covar_cols, "covariate", "covar_cols / --covar-cols"),
    ):
        if given is not None and not _columns(given):
            raise ValueError(
                f"{option} selects no {what} (got {given!r}): give one or more column names, "
                "or leave it out to use every column"
            )
    with stage("read inputs"):
        genotypes = bfile if isinstance(bfile, PlinkGenotypes) else PlinkGenotypes(bfile)
        phenotypes = _phenotypes(pheno, pheno_cols, genotypes, pheno_from_fam, id_col)
        if phenotypes.shape[1] == 0:
            raise ValueError("the phenotype table has no trait column")
        phenotypes, missing_counts = _apply_missing_code(phenotypes, missing_code)
        covariates = None
        if covar is not None:
            covariates = read_table(covar, id_col=id_col, columns=_columns(covar_cols))
            _warn_covariate_missing_code(covariates, missing_code)
        elif covar_cols is not None:
            raise ValueError("covariate columns were given without a covariate table")
        kin = _read_kinship_spec(kinship, genotypes)

    report = QCReport(qc)
    with stage("sample filters (--keep, --remove, --mind)"):
        listed = select_listed_variants(genotypes, extract=extract, exclude=exclude, report=report)
        fam_rows = select_genotype_samples(
            genotypes, qc, keep=keep, remove=remove, variant_index=listed, report=report
        )
    with stage("sample alignment"):
        filtered_out = np.delete(genotypes.sample_ids, fam_rows)
        aligned = align_samples(
            genotypes.sample_ids[fam_rows],
            phenotypes,
            covariates,
            kin,
            filtered_ids=filtered_out,
            partial_traits=missing_traits == "observed",
        )
        assert aligned.genotype_index is not None
        aligned = dataclasses.replace(aligned, genotype_index=fam_rows[aligned.genotype_index])
        aligned = _sorted_by_id(aligned)
    assert aligned.genotype_index is not None
    with stage("variant QC (--geno, --hwe, --maf)"):
        variant_index = filter_variants(
            genotypes, aligned.genotype_index, listed, qc, report=report
        )

    X, covariate_names, intercept_added = _design(aligned)
    X, covariate_names, aliased = _drop_aliased(X, covariate_names)
    Y = aligned.Y
    trait_names = aligned.trait_names
    n = aligned.nsamples
    if n <= X.shape[1]:
        raise ValueError(
            f"only {n} sample(s) left for {X.shape[1]} covariate column(s) (intercept "
            "included): not enough samples"
        )
    _check_sample_size(n, X.shape[1], trait_names)
    _check_traits(Y, X, trait_names)
    if genetic_factor is not None and isinstance(kinship, str) and kinship == "grm":
        G, info = genetic_factor(genotypes, aligned, block_size, variant_index, progress)
    else:
        G, info = _genetic_factor(kinship, genotypes, aligned, block_size, variant_index, progress)
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
        variant_index=variant_index,
        qc=report,
        aliased_covariates=aliased,
        missing_code_counts=missing_counts,
        missing_traits=missing_traits,
    )
