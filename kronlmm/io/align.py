"""Match samples across genotypes, phenotypes, covariates and a kinship matrix by sample ID.

Rules
-----
* Samples are matched by ID (strings, exact), never by position.
* Every source must have unique IDs; a duplicate is an error naming the source and the IDs.
* The kept samples are those present in every given source **and** with a value for every
  selected trait and covariate (complete cases). Samples dropped for a missing value are
  counted and logged.
* Kept samples are in genotype order (``.fam`` order); without genotypes, in kinship order;
  without either, in phenotype order.
* Counts per source, the overlap and the drops are logged at INFO level on the ``"kronlmm"``
  logger. Every sample of the phenotype table that is not analysed is counted under one
  reason (:data:`LOSS_REASONS`, the first that applies) in :attr:`AlignedSamples.losses`;
  when they are more than :data:`LOSS_WARNING_SHARE` of the table, a WARNING gives the
  counts per reason and the first IDs of each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ._common import as_ids, duplicate_ids, format_ids
from .kinship import Kinship
from .plink import PlinkGenotypes
from .tables import FamilyIDs

__all__ = ["align_samples", "AlignedSamples", "LOSS_REASONS", "LOSS_WARNING_SHARE"]

logger = logging.getLogger("kronlmm")

LOSS_REASONS = {
    "sample_filters": "removed by the sample filters (--keep, --remove, --mind)",
    "not_genotyped": "not in the genotypes",
    "no_covariates": "not in the covariate table",
    "not_in_kinship": "not in the kinship",
    "missing_trait": "a missing trait value",
    "missing_all_traits": "no observed trait value",
    "missing_covariate": "a missing covariate value",
}
"""Why a sample of the phenotype table is not analysed (key → words), in the order applied."""

LOSS_WARNING_SHARE = 0.05
"""Share of the phenotype table's samples above which their loss is a WARNING, not INFO
(samples removed by the sample filters, which were asked for, do not count towards it)."""


@dataclass(eq=False)
class AlignedSamples:
    """Samples kept by :func:`align_samples`, with index arrays into each source.

    ``source_values[source_index]`` gives the values of the kept samples in the order of
    :attr:`ids` for every source.

    Attributes
    ----------
    ids : numpy.ndarray
        Kept sample IDs (``str``), in genotype order.
    genotype_index : numpy.ndarray or None
        Positions of the kept samples in the genotype IDs (``.fam`` rows); pass it as
        ``sample_index`` to :meth:`PlinkGenotypes.iter_blocks`.
    phenotype_index : numpy.ndarray
        Row positions into the phenotype table.
    covariate_index : numpy.ndarray or None
        Row positions into the covariate table.
    kinship_index : numpy.ndarray or None
        Row/column positions into the kinship matrix.
    phenotypes : pandas.DataFrame
        Selected traits of the kept samples (index = :attr:`ids`).
    covariates : pandas.DataFrame or None
        Selected covariates of the kept samples (index = :attr:`ids`).
    K : numpy.ndarray or None
        Kinship restricted and reordered to the kept samples.
    counts : dict
        Samples per source (``"genotypes"``, ``"phenotypes"``, ``"covariates"``,
        ``"kinship"``), ``"in_all_sources"``, ``"missing_values"`` (dropped as incomplete) and
        ``"kept"``.
    dropped_missing : numpy.ndarray
        IDs present in every source but dropped for a missing trait or covariate value.
    losses : dict
        Samples of the phenotype table that are not analysed, by reason
        (:data:`LOSS_REASONS` keys → arrays of IDs; every reason present, possibly empty).

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, align_samples, read_table
    >>> paths = example_paths()
    >>> geno = PlinkGenotypes(paths.prefix)
    >>> aligned = align_samples(geno, read_table(paths.pheno), read_table(paths.covar))
    >>> aligned.Y.shape, aligned.covariate_matrix(intercept=True).shape
    ((377, 3), (377, 3))
    >>> aligned.trait_names, aligned.covariate_names
    (['trait1', 'trait2', 'trait3'], ['age', 'sex'])
    >>> bool((geno.sample_ids[aligned.genotype_index] == aligned.ids).all())
    True
    """

    ids: NDArray[np.object_]
    genotype_index: NDArray[np.intp] | None
    phenotype_index: NDArray[np.intp]
    covariate_index: NDArray[np.intp] | None
    kinship_index: NDArray[np.intp] | None
    phenotypes: pd.DataFrame
    covariates: pd.DataFrame | None
    K: NDArray[np.float64] | None
    counts: dict[str, int] = field(default_factory=dict)
    dropped_missing: NDArray[np.object_] = field(default_factory=lambda: np.zeros(0, dtype=object))
    losses: dict[str, NDArray[np.object_]] = field(default_factory=dict)

    @property
    def nsamples(self) -> int:
        """Number of kept samples."""
        return int(self.ids.size)

    @property
    def trait_names(self) -> list[str]:
        """Names of the selected traits (columns of :attr:`Y`)."""
        return [str(c) for c in self.phenotypes.columns]

    @property
    def covariate_names(self) -> list[str]:
        """Names of the selected covariates (without an intercept)."""
        return [] if self.covariates is None else [str(c) for c in self.covariates.columns]

    @property
    def Y(self) -> NDArray[np.float64]:
        """``n × p`` trait matrix of the kept samples (no missing values)."""
        return self.phenotypes.to_numpy(dtype=np.float64)

    def covariate_matrix(self, intercept: bool = True) -> NDArray[np.float64]:
        """``n × c`` covariate matrix of the kept samples.

        Parameters
        ----------
        intercept : bool, default True
            Prepend a column of ones. Covariates are never rescaled.

        Returns
        -------
        numpy.ndarray
            The covariates (and the intercept first, if asked for); ``n × 0`` when there is
            neither.
        """
        cols = []
        if intercept:
            cols.append(np.ones((self.nsamples, 1)))
        if self.covariates is not None:
            cols.append(self.covariates.to_numpy(dtype=np.float64))
        if not cols:
            return np.zeros((self.nsamples, 0))
        return np.hstack(cols)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"AlignedSamples({counts})"


def _source_ids(name: str, ids: Iterable[object]) -> NDArray[np.object_]:
    arr = as_ids(list(ids), name)
    dups = duplicate_ids(arr)
    if dups:
        raise ValueError(f"{name} has duplicate sample IDs {format_ids(dups)}")
    return arr


def _select(df: pd.DataFrame, cols: str | Sequence[str] | None, name: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame indexed by sample ID (see kronlmm.io.read_table)"
            f", got {type(df).__name__}"
        )
    if isinstance(df.index, pd.RangeIndex):
        raise ValueError(
            f"{name} has a default RangeIndex, not sample IDs; index it by sample ID (e.g. with "
            "kronlmm.io.read_table) so that samples are matched by ID and never by position"
        )
    if cols is None:
        return df
    cols = [cols] if isinstance(cols, str) else list(cols)
    unknown = [c for c in cols if c not in df.columns]
    if unknown:
        raise ValueError(
            f"column {unknown[0]!r} not found in {name}; available columns: "
            f"{', '.join(repr(str(c)) for c in df.columns)}"
        )
    return df[cols]


def _as_float(df: pd.DataFrame, name: str) -> NDArray[np.float64]:
    try:
        return df.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must hold numbers only ({err}); read it with kronlmm.io.read_table"
        ) from None


def align_samples(
    genotype_ids: PlinkGenotypes | Sequence[object] | ArrayLike | None = None,
    phenotypes: pd.DataFrame | None = None,
    covariates: pd.DataFrame | None = None,
    kinship: Kinship | tuple[Sequence[object], ArrayLike] | None = None,
    *,
    traits: str | Sequence[str] | None = None,
    covariate_columns: str | Sequence[str] | None = None,
    filtered_ids: Sequence[object] | ArrayLike | None = None,
    partial_traits: bool = False,
) -> AlignedSamples:
    """Match samples by ID across the sources and keep the complete cases.

    Parameters
    ----------
    genotype_ids : PlinkGenotypes or sequence of str, optional
        Genotype sample IDs in genotype order (a :class:`PlinkGenotypes` contributes its
        :attr:`~PlinkGenotypes.sample_ids`, the IIDs).
    phenotypes : pandas.DataFrame
        Traits, indexed by sample ID (as returned by :func:`read_table`).
    covariates : pandas.DataFrame, optional
        Covariates, indexed by sample ID. No intercept is added here; see
        :meth:`AlignedSamples.covariate_matrix`.
    kinship : Kinship or (ids, K), optional
        Kinship matrix with the sample IDs of its rows/columns.
    traits : str or sequence of str, optional
        Phenotype columns to use (default: all).
    covariate_columns : str or sequence of str, optional
        Covariate columns to use (default: all).
    filtered_ids : sequence of str, optional
        Genotyped samples left out of ``genotype_ids`` by sample filters (``--keep``,
        ``--remove``, ``--mind``): counted under ``"sample_filters"`` in
        :attr:`AlignedSamples.losses`, not as ``"not_genotyped"``.
    partial_traits : bool, default False
        Keep samples with some traits missing, as long as one trait is observed (for
        models that use every observed value); samples with no observed trait are then
        counted under ``"missing_all_traits"``. Covariates must still be complete.

    Returns
    -------
    AlignedSamples
        Kept IDs in genotype order, index arrays into each source, aligned tables/kinship and
        counts.

    Raises
    ------
    ValueError
        Duplicate IDs in a source (naming it), no sample in all sources (showing a few IDs of
        each source), no complete case left, an unknown column, a kinship of the wrong shape
        or a table without sample IDs as index.

    Notes
    -----
    A sample is kept when it is in every given source and has no missing value in the
    selected traits and covariates (complete cases); see the module notes for the rules.

    Examples
    --------
    >>> import pandas as pd
    >>> from kronlmm.io import align_samples, read_table
    >>> pheno = read_table(pd.DataFrame({"IID": ["s3", "s1", "s2"], "y": [3.0, 1.0, None]}))
    >>> covar = pd.DataFrame({"IID": ["s4", "s1", "s2", "s3"], "age": [60, 30, 40, 50]})
    >>> covar = read_table(covar)
    >>> aligned = align_samples(["s1", "s2", "s3", "s4"], pheno, covar)
    >>> aligned.ids.tolist(), aligned.counts["missing_values"], aligned.counts["kept"]
    (['s1', 's3'], 1, 2)
    >>> aligned.phenotype_index.tolist(), aligned.covariate_index.tolist()
    ([1, 0], [1, 3])
    """
    if phenotypes is None:
        raise ValueError("phenotypes are required (a DataFrame indexed by sample ID)")
    pheno = _select(phenotypes, traits, "phenotypes")
    covar = None if covariates is None else _select(covariates, covariate_columns, "covariates")

    sources: dict[str, NDArray[np.object_]] = {}
    if genotype_ids is not None:
        gids = genotype_ids.sample_ids if isinstance(genotype_ids, PlinkGenotypes) else genotype_ids
        sources["genotypes"] = _source_ids("genotypes", np.asarray(gids, dtype=object).ravel())
    kin_mat: NDArray[np.float64] | None = None
    if kinship is not None:
        kin_ids, kin_given = kinship
        sources["kinship"] = _source_ids("kinship", np.asarray(kin_ids, dtype=object).ravel())
        kin_mat = np.asarray(kin_given, dtype=np.float64)
        nk = sources["kinship"].size
        if kin_mat.shape != (nk, nk):
            raise ValueError(
                f"kinship matrix has shape {kin_mat.shape}, expected ({nk}, {nk}) for its {nk} IDs"
            )
    sources["phenotypes"] = _source_ids("phenotypes", pheno.index)
    if covar is not None:
        sources["covariates"] = _source_ids("covariates", covar.index)

    counts = {name: int(ids.size) for name, ids in sources.items()}
    for name, n in counts.items():
        logger.info("%s: %d sample(s)", name, n)

    reference = next(iter(sources))  # genotypes, else kinship, else phenotypes
    positions = {
        name: pd.Index(ids).get_indexer(pd.Index(sources[reference]))
        for name, ids in sources.items()
    }
    in_all = np.logical_and.reduce([pos >= 0 for pos in positions.values()])
    if not in_all.any():
        raise ValueError(_no_overlap_message(sources, phenotypes))
    counts["in_all_sources"] = int(in_all.sum())
    logger.info("%d sample(s) in all of %s", counts["in_all_sources"], ", ".join(sources))

    pheno_vals = _as_float(pheno, "phenotypes")[positions["phenotypes"][in_all]]
    if partial_traits:
        complete = ~np.isnan(pheno_vals).all(axis=1)
    else:
        complete = ~np.isnan(pheno_vals).any(axis=1)
    if covar is not None:
        covar_vals = _as_float(covar, "covariates")[positions["covariates"][in_all]]
        complete &= ~np.isnan(covar_vals).any(axis=1)
    ref_in_all = np.flatnonzero(in_all)
    dropped = sources[reference][ref_in_all[~complete]]
    counts["missing_values"] = int(dropped.size)
    if dropped.size:
        logger.info(
            "%d sample(s) dropped for %s, e.g. %s",
            dropped.size,
            "no observed trait or a missing covariate value"
            if partial_traits
            else "a missing trait or covariate value (complete cases only)",
            format_ids(dropped, 3),
        )
    keep = ref_in_all[complete]
    if keep.size == 0:
        raise ValueError(
            f"no sample left: all {counts['in_all_sources']} sample(s) present in every source "
            "have a missing value in a selected trait or covariate"
            + _all_missing_columns(pheno_vals, list(pheno.columns), "trait")
            + (
                ""
                if covar is None
                else _all_missing_columns(covar_vals, list(covar.columns), "covariate")
            )
        )
    counts["kept"] = int(keep.size)
    logger.info("%d sample(s) kept", keep.size)

    ids = sources[reference][keep]
    idx = {name: pos[keep].astype(np.intp) for name, pos in positions.items()}
    pheno_out = pheno.iloc[idx["phenotypes"]].copy()
    pheno_out.index = pd.Index(ids, dtype=object, name=pheno.index.name)
    covar_out = None
    if covar is not None:
        covar_out = covar.iloc[idx["covariates"]].copy()
        covar_out.index = pd.Index(ids, dtype=object, name=covar.index.name)
    K = None
    if kin_mat is not None:
        K = kin_mat[np.ix_(idx["kinship"], idx["kinship"])]
    filtered = None if filtered_ids is None else np.asarray(filtered_ids, dtype=object).ravel()
    losses = _losses(sources, pheno, covar, filtered, partial_traits)
    _report_losses(losses, pheno, covar, counts["phenotypes"])
    return AlignedSamples(
        ids=ids,
        genotype_index=idx.get("genotypes"),
        phenotype_index=idx["phenotypes"],
        covariate_index=idx.get("covariates"),
        kinship_index=idx.get("kinship"),
        phenotypes=pheno_out,
        covariates=covar_out,
        K=K,
        counts=counts,
        dropped_missing=dropped,
        losses=losses,
    )


def _all_missing_columns(values: NDArray[np.float64], names: list[str], what: str) -> str:
    """``"; trait 'x' has no value for any of them"`` for the columns that are all missing."""
    empty = [str(names[j]) for j in np.flatnonzero(np.isnan(values).all(axis=0))]
    if not empty:
        return ""
    if len(empty) == 1:
        return f"; {what} {empty[0]!r} has no value for any of them (all missing): drop it"
    names_text = ", ".join(repr(e) for e in empty)
    return f"; {what}s {names_text} have no value for any of them (all missing): drop them"


def _losses(
    sources: dict[str, NDArray[np.object_]],
    pheno: pd.DataFrame,
    covar: pd.DataFrame | None,
    filtered: NDArray[np.object_] | None = None,
    partial_traits: bool = False,
) -> dict[str, NDArray[np.object_]]:
    """The phenotype table's samples that are not analysed, by the first reason that applies
    (``partial_traits``: samples with some observed trait are analysed)."""
    ids = sources["phenotypes"]
    left = np.ones(ids.size, dtype=bool)
    out: dict[str, NDArray[np.object_]] = {}
    removed = np.zeros(ids.size, dtype=bool)
    if filtered is not None and filtered.size:
        removed = pd.Index(ids).isin(pd.Index(filtered))
    out["sample_filters"] = ids[removed]
    left &= ~removed
    for reason, source in (
        ("not_genotyped", "genotypes"),
        ("no_covariates", "covariates"),
        ("not_in_kinship", "kinship"),
    ):
        absent = np.zeros(ids.size, dtype=bool)
        if source in sources:
            absent = left & ~pd.Index(ids).isin(pd.Index(sources[source]))
        out[reason] = ids[absent]
        left &= ~absent
    nan = np.isnan(_as_float(pheno, "phenotypes"))
    trait_na = nan.all(axis=1) if partial_traits else nan.any(axis=1)
    out["missing_trait"] = ids[:0] if partial_traits else ids[left & trait_na]
    out["missing_all_traits"] = ids[left & trait_na] if partial_traits else ids[:0]
    left &= ~trait_na
    if covar is not None:
        covar_rows = pd.Index(sources["covariates"]).get_indexer(pd.Index(ids))
        values = _as_float(covar, "covariates")
        covar_na = np.zeros(ids.size, dtype=bool)
        present = covar_rows >= 0
        covar_na[present] = np.isnan(values[covar_rows[present]]).any(axis=1)
        out["missing_covariate"] = ids[left & covar_na]
    else:
        out["missing_covariate"] = ids[:0]
    return out


def _report_losses(
    losses: dict[str, NDArray[np.object_]],
    pheno: pd.DataFrame,
    covar: pd.DataFrame | None,
    n_pheno: int,
) -> None:
    """Log the losses: a WARNING above :data:`LOSS_WARNING_SHARE` of the phenotype table."""
    lost = sum(ids.size for ids in losses.values())
    if lost == 0:
        return
    unexpected = lost - losses.get("sample_filters", np.zeros(0)).size
    parts = []
    for reason, ids in losses.items():
        if ids.size == 0:
            continue
        detail = ""
        frame = {
            "missing_trait": pheno,
            "missing_all_traits": None,
            "missing_covariate": covar,
        }.get(reason)
        if frame is not None:
            na = frame.set_axis(frame.index.astype(str)).loc[list(ids)].isna().sum()
            detail = " [" + ", ".join(f"{k}: {v}" for k, v in na.items() if v) + "]"
        parts.append(
            f"{ids.size} with {LOSS_REASONS[reason]}{detail} (e.g. {format_ids(ids, 3)})"
            if reason.startswith("missing")
            else f"{ids.size} {LOSS_REASONS[reason]} (e.g. {format_ids(ids, 3)})"
        )
    share = lost / n_pheno
    level = logging.WARNING if unexpected / n_pheno > LOSS_WARNING_SHARE else logging.INFO
    logger.log(
        level,
        "%d of the %d samples of the phenotype table (%.1f%%) are not analysed: %s",
        lost,
        n_pheno,
        100 * share,
        "; ".join(parts),
    )


def _no_overlap_message(sources: dict[str, NDArray[np.object_]], phenotypes: pd.DataFrame) -> str:
    lines = ["no sample ID is present in all sources:"]
    for name, ids in sources.items():
        lines.append(f"  {name} ({ids.size}): {format_ids(ids, 3)}")
    names = list(sources)
    for a_i, a in enumerate(names):
        for b in names[a_i + 1 :]:
            common = len(set(sources[a]) & set(sources[b]))
            lines.append(f"  {a} and {b} share {common} ID(s)")
    hint = (
        "sample IDs are compared as exact strings; check that every source uses the same ID "
        "(e.g. IID, not FID or 'FID_IID')"
    )
    fid = phenotypes.attrs.get("FID")
    if isinstance(fid, FamilyIDs) and "genotypes" in sources:
        fids = set(fid.values())
        if fids & set(sources["genotypes"]):
            hint += "; the genotype IDs match the phenotype file's FID column, not its IID"
    lines.append(hint)
    return "\n".join(lines)
