"""Scanning the variants of a fitted GWAS null: PLINK source + scan driver → result tables."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from ..core.progress import Progress
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
    scanner_null = null.model.get_fast_scanner().null
    p = len(null.trait_names)
    plan = make_plan(p, test, trait_names=list(null.trait_names))
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
    assoc = assoc_table(variants, res, scanner_null.n)
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
