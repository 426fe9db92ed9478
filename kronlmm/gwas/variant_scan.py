"""Scanning the variants of a fitted GWAS null: PLINK source + scan driver → result tables."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.progress import Progress
from ..lmm import DEFAULT_REFIT_THRESHOLD, refit_lrt
from ..lmm.refit import check_refit
from ..scan import make_plan
from ..scan.kron_scanner import default_block_size
from .driver import scan_source
from .execution import DaskExecution, dask_client
from .progress_log import ScanLog, scan_progress
from .result import GwasResult
from .sources import PlinkSource
from .tables import assoc_table, effects_table
from .timing import stage

if TYPE_CHECKING:
    from .null import NullFit

__all__ = ["scan_genotypes"]

logger = logging.getLogger("kronlmm")


def scan_genotypes(
    null: NullFit,
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
) -> GwasResult:
    """Test every variant of a fitted null's genotypes (what :meth:`NullFit.scan` does).

    The variants are a :class:`~kronlmm.gwas.PlinkSource` for the null's samples, scanned
    by the driver (:func:`~kronlmm.gwas.scan_source`): serially in this process, or on Dask
    when ``scheduler`` or ``workers`` is given (each worker reading its own blocks of the
    ``.bed``), with per-block results kept in ``checkpoint`` if given.

    Parameters
    ----------
    null : NullFit
        From :func:`kronlmm.gwas.fit_null`.
    test : {"any", "common", "interaction"}
        See :meth:`NullFit.scan <kronlmm.gwas.NullFit.scan>`.
    chunk_size : int, optional
        Variants per block (default: about 16 MiB of dosages).
    progress : bool, "auto" or callable
        Progress bar or ``progress(done, total)`` callback (variants); ``"auto"`` without a
        terminal logs a line at least every 30 s (done/total, elapsed, time left).
    scheduler : str or distributed.Client, optional
        An existing Dask cluster (address or client).
    workers : int, optional
        A local Dask cluster of this many single-threaded worker processes.
    checkpoint : path, optional
        Directory of per-block results, for resuming.
    statistic : {"F", "chi2"}, default "F"
        What ``p_value`` is from: the exact F test at the fixed variance components, or the
        asymptotic χ² likelihood-ratio test (both statistics are in the table).
    refit : {"significant", "all", "none"}, default "significant"
        Variants whose test is repeated with C₀, C₁ re-estimated under both hypotheses
        (:func:`kronlmm.lmm.refit_lrt`; columns ``*_refit``): those with
        ``p_value < refit_threshold``, every tested variant, or none. Available for the
        ``"any"`` test (the alternative must be a Kron2Sum); for ``"common"`` and
        ``"interaction"``, ``"all"`` raises ValueError and ``"significant"`` leaves the
        columns NaN with the reason in ``refit_reason`` (and a WARNING when a variant
        would have been refit).
    refit_threshold : float, default 1e-5

    Returns
    -------
    GwasResult

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null, scan_genotypes
    >>> paths = example_paths()
    >>> null = fit_null(paths.prefix, paths.pheno, covar=paths.covar)
    >>> scan_genotypes(null, "common", chunk_size=1000).top(1)["variant_id"].item()
    'rs26858614'
    """
    check_refit(refit)
    if not 0 < refit_threshold <= 1:
        raise ValueError(f"refit_threshold must be in (0, 1], got {refit_threshold!r}")
    scanner_null = null.model.get_fast_scanner().null
    p = len(null.trait_names)
    plan = make_plan(p, test, trait_names=list(null.trait_names), statistic=statistic)
    if refit == "all" and test != "any":
        raise ValueError(
            f"refit='all' is available for the 'any' test only, not {test!r}: its alternative "
            "is not a Kron2Sum model (see kronlmm.lmm.refit); use refit='none'"
        )
    if null.rank < p and null.kinship.rank > 0:
        logger.warning(
            "the scan runs with C0 of rank %d < p = %d traits: genetic correlations are "
            "forced to ±1, which inflates the tests where that is not true of the data; "
            "prefer full rank (rank='full', --rank full) or rank='auto'",
            null.rank,
            p,
        )
    source = PlinkSource(null.genotypes, null.genotype_index, null.variant_index)
    variants = source.variants
    dup = variants["variant_id"].duplicated()
    if dup.any():
        logger.warning(
            "%d variant ID(s) occur more than once in the .bim file (e.g. %r); rows of "
            "the effects table follow the assoc table's order, %d per variant",
            int(dup.sum()),
            str(variants["variant_id"][dup].iloc[0]),
            plan.Va.shape[0],
        )
    manifest = None
    if checkpoint is not None:  # what kronlmm 0.1.0 recorded, so its checkpoints resume
        size = chunk_size or default_block_size(
            scanner_null.n, scanner_null.U.shape[1], scanner_null.p
        )
        manifest = {"chunk_size": int(size)}
    with dask_client(scheduler, workers) as client, stage(f"scan ({test!r} test)"):
        report = scan_progress(progress, len(variants), "scan", "variant")
        try:
            res = scan_source(
                scanner_null,
                plan,
                source,
                block_size=chunk_size,
                execution=None if client is None else DaskExecution(client),
                checkpoint=checkpoint,
                manifest=manifest,
                progress=report,
                unit="variant",
            )
        finally:
            if isinstance(report, ScanLog):
                report.close()
    assoc = assoc_table(variants, res, scanner_null.n, refit_reason=f"refit={refit!r}")
    if refit != "none":
        _refit(null, test, assoc, refit, refit_threshold)
    effects = effects_table(variants, res)
    result = GwasResult(assoc=assoc, effects=effects, null=null, test=test, dof=plan.dof)
    untestable = len(assoc) - result.n_tested
    logger.info(
        "scanned %d variant(s) with the %r test (dof %d): %d tested, %d untestable",
        len(assoc),
        test,
        plan.dof,
        result.n_tested,
        untestable,
    )
    if untestable:
        counts = assoc.loc[assoc["reason"] != "", "reason"].value_counts()
        logger.info("untestable variants: %s", ", ".join(f"{k} ({v})" for k, v in counts.items()))
    return result


def _refit(null: NullFit, test: str, assoc: pd.DataFrame, refit: str, threshold: float) -> None:
    """Fill in the refit columns of ``assoc`` (in place) for the variants ``refit`` selects."""
    tested = (assoc["reason"] == "").to_numpy()
    if refit == "all":
        chosen = tested
        assoc.loc[~tested, "refit_reason"] = "not tested"
    else:
        chosen = tested & (assoc["p_value"].to_numpy() < threshold)
        assoc.loc[~chosen, "refit_reason"] = f"p_value ≥ {threshold:g} (refit='significant')"
        assoc.loc[~tested, "refit_reason"] = "not tested"
    rows = np.flatnonzero(chosen)
    if rows.size == 0:
        return
    if test != "any":
        why = (
            f"not available for the {test!r} test: its alternative is not a Kron2Sum model "
            "(kronlmm.lmm.refit)"
        )
        assoc.loc[rows, "refit_reason"] = why
        # INFO, not WARNING: refit="significant" is the default, and these tests are valid
        # scans that simply have no refit (the refit_reason column says so per variant)
        logger.info(
            "%d variant(s) have p_value < %g but were not refit: the refit likelihood-ratio "
            "test is %s",
            rows.size,
            threshold,
            why,
        )
        return
    positions = rows if null.variant_index is None else np.asarray(null.variant_index)[rows]
    with stage(f"refit of {rows.size} variant(s)"):
        dosage = null.genotypes.read(positions, null.genotype_index)
        out = refit_lrt(null.model, dosage)
    assoc.loc[rows, "lml_null_refit"] = out.lml_null
    assoc.loc[rows, "lml_alt_refit"] = out.lml_alt
    assoc.loc[rows, "chi2_refit"] = out.chi2
    assoc.loc[rows, "p_value_refit"] = out.p_value
    assoc.loc[rows, "neg_log10_p_value_refit"] = out.neg_log10_p_value
    assoc.loc[rows, "refit_reason"] = out.reason.astype(str)
    logger.info(
        "refit C0, C1 under the alternative for %d variant(s) (%s): %d refit",
        rows.size,
        "all tested" if refit == "all" else f"p_value < {threshold:g}",
        int(np.sum(out.reason == "")),
    )
