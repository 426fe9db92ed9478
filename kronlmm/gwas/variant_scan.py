"""Scanning the variants of a fitted GWAS null: PLINK source + scan driver → result tables."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.progress import Progress
from ..lmm import (
    BOOTSTRAP_METHODS,
    DEFAULT_BOOTSTRAP_CANDIDATES,
    DEFAULT_BOOTSTRAP_REPLICATES,
    DEFAULT_REFIT_THRESHOLD,
    BootstrapCalibration,
    bootstrap_calibration,
    refit_lrt,
)
from ..lmm.bootstrap import BootstrapMethod
from ..lmm.refit import check_refit
from ..scan import STATISTICS, TestPlan, make_plan
from ..scan.kron_scanner import default_block_size
from .driver import scan_source
from .execution import DaskExecution, dask_client
from .progress_log import ScanLog, phase_progress, scan_progress
from .result import GwasResult
from .sources import PlinkSource
from .tables import assoc_table, effects_table
from .timing import stage

if TYPE_CHECKING:
    from .null import NullFit

__all__ = ["GWAS_STATISTICS", "check_bootstrap_options", "check_gwas_statistic", "scan_genotypes"]

logger = logging.getLogger("kronlmm")

#: What a GWAS's ``p_value`` can be from: the scans' statistics (the exact F test at the
#: null's variance components, the asymptotic χ² likelihood-ratio test) or ``"bootstrap"``,
#: the F test calibrated by a parametric bootstrap of the fitted null
#: (:func:`kronlmm.lmm.bootstrap_calibration`).
GWAS_STATISTICS = (*STATISTICS, "bootstrap")


def check_gwas_statistic(statistic: str) -> str:
    """``statistic`` if it is one of :data:`GWAS_STATISTICS`, else ValueError.

    Examples
    --------
    >>> from kronlmm.gwas.variant_scan import check_gwas_statistic
    >>> check_gwas_statistic("bootstrap")
    'bootstrap'
    """
    if statistic not in GWAS_STATISTICS:
        raise ValueError(
            f"statistic must be one of {GWAS_STATISTICS} (the exact F test at fixed variance "
            "components, the asymptotic chi2 likelihood-ratio test, or the F test calibrated "
            f"by a parametric bootstrap of the null), got {statistic!r}"
        )
    return statistic


def check_bootstrap_options(
    statistic: str,
    bootstrap_replicates: int,
    bootstrap_variants: int,
    loco: bool,
    bootstrap_method: str = "single",
) -> None:
    """ValueError for bootstrap options out of range, or ``statistic="bootstrap"`` with LOCO.

    Parameters
    ----------
    statistic : str
        The scan's statistic (:data:`GWAS_STATISTICS`).
    bootstrap_replicates, bootstrap_variants : int
        B and M; each must be an integer ≥ 1 (checked whatever the statistic).
    loco : bool
        Whether the scan is leave-one-chromosome-out.
    bootstrap_method : {"single", "fast-double"}
        The bootstrap (:data:`kronlmm.lmm.BOOTSTRAP_METHODS`; checked whatever the
        statistic).

    Examples
    --------
    >>> from kronlmm.gwas.variant_scan import check_bootstrap_options
    >>> check_bootstrap_options("bootstrap", 100, 1000, loco=False)
    >>> check_bootstrap_options("F", 0, 1000, loco=False)
    Traceback (most recent call last):
    ...
    ValueError: bootstrap_replicates must be an integer ≥ 1, got 0
    """
    check_gwas_statistic(statistic)
    for name, value in (
        ("bootstrap_replicates", bootstrap_replicates),
        ("bootstrap_variants", bootstrap_variants),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
    if bootstrap_method not in BOOTSTRAP_METHODS:
        raise ValueError(
            f"bootstrap_method must be one of {BOOTSTRAP_METHODS} (the single parametric "
            f"bootstrap or the fast double bootstrap), got {bootstrap_method!r}"
        )
    if statistic == "bootstrap" and loco:
        raise ValueError(
            "statistic='bootstrap' is not available with leave-one-chromosome-out scans "
            "(loco=True, --loco): each chromosome's null would need its own bootstrap refits; "
            "scan without LOCO, or keep LOCO with statistic='F' and the refit likelihood-ratio "
            "test (refit='significant')"
        )


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
    bootstrap_replicates: int = DEFAULT_BOOTSTRAP_REPLICATES,
    bootstrap_variants: int = DEFAULT_BOOTSTRAP_CANDIDATES,
    bootstrap_method: str = "single",
    seed: int = 0,
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
    statistic : {"F", "chi2", "bootstrap"}, default "F"
        What ``p_value`` is from: the exact F test at the fixed variance components, the
        asymptotic χ² likelihood-ratio test (both statistics are in the table), or
        ``"bootstrap"``: the F test's p-value calibrated by a parametric bootstrap of the
        fitted null (:func:`kronlmm.lmm.bootstrap_calibration`; for small cohorts, where
        the F test at estimated C₀, C₁ is conservative): ``bootstrap_replicates`` (B)
        phenotype sets are simulated from the null and refit, ``bootstrap_variants`` (M)
        variants chosen at random among those tested are scanned at each refit, and
        ``p_value = (1 + #{p* ≤ p_F}) / (1 + B·M)`` over the pooled null F p-values p*.
        It is never below ``1/(1 + B·M)`` (about 1e-5 by default), far above genome-wide
        thresholds. The ``statistic`` column says ``"F, parametric bootstrap (B=…, M=…)"``;
        the F and χ² columns are those of the scan. Not with LOCO (ValueError).
    refit : {"significant", "all", "none"}, default "significant"
        Variants whose test is repeated with C₀, C₁ re-estimated under both hypotheses
        (:func:`kronlmm.lmm.refit_lrt`; columns ``*_refit``): those with
        ``p_value < refit_threshold``, every tested variant, or none. Available for the
        ``"any"`` test (the alternative must be a Kron2Sum); for ``"common"`` and
        ``"interaction"``, ``"all"`` raises ValueError and ``"significant"`` leaves the
        columns NaN with the reason in ``refit_reason`` (and a WARNING when a variant
        would have been refit).
    refit_threshold : float, default 1e-5
    bootstrap_replicates : int, default 100
        B, the simulated phenotype sets of ``statistic="bootstrap"`` (refits that do not
        converge are left out, counted in a log line and in ``result.calibration``).
    bootstrap_method : {"single", "fast-double"}, default "single"
        The single parametric bootstrap, or the fast double bootstrap (one second-level
        phenotype set simulated from each refit and refit in turn: 2B refits;
        :mod:`kronlmm.lmm.bootstrap`); the ``statistic`` column then says
        ``"F, fast double bootstrap (B=…, M=…)"``.
    bootstrap_variants : int, default 1000
        M, the reference variants of ``statistic="bootstrap"`` (all tested variants when
        fewer).
    seed : int, default 0
        Seed of the bootstrap: ``numpy.random.default_rng((seed, 1))`` chooses the M
        variants and ``numpy.random.default_rng(seed)`` draws the phenotypes.

    Returns
    -------
    GwasResult
        With ``statistic="bootstrap"``, its ``calibration`` holds the pooled null p-values.

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
    check_bootstrap_options(
        statistic, bootstrap_replicates, bootstrap_variants, False, bootstrap_method
    )
    if not 0 < refit_threshold <= 1:
        raise ValueError(f"refit_threshold must be in (0, 1], got {refit_threshold!r}")
    scanner_null = null.model.get_fast_scanner().null
    p = len(null.trait_names)
    plan = make_plan(
        p,
        test,
        trait_names=list(null.trait_names),
        statistic="F" if statistic == "bootstrap" else statistic,
    )
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
    calibration = None
    if statistic == "bootstrap":
        calibration = _bootstrap(
            null,
            plan,
            assoc,
            bootstrap_replicates,
            bootstrap_variants,
            seed,
            progress,
            "fast-double" if bootstrap_method == "fast-double" else "single",
        )
    if refit != "none":
        _refit(null, test, assoc, refit, refit_threshold)
    effects = effects_table(variants, res)
    result = GwasResult(
        assoc=assoc,
        effects=effects,
        null=null,
        test=test,
        dof=plan.dof,
        calibration=calibration,
    )
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


def _bootstrap(
    null: NullFit,
    plan: TestPlan,
    assoc: pd.DataFrame,
    replicates: int,
    variants: int,
    seed: int,
    progress: Progress,
    method: BootstrapMethod = "single",
) -> BootstrapCalibration | None:
    """Calibrate ``assoc``'s F p-values by the parametric bootstrap (in place: ``p_value``,
    ``neg_log10_p_value`` and ``statistic``); the calibration, or ``None`` when no variant
    was tested."""
    tested = np.flatnonzero((assoc["reason"] == "").to_numpy())
    if tested.size == 0:
        logger.warning("statistic='bootstrap': no variant was tested, nothing to calibrate")
        return None
    m = min(int(variants), int(tested.size))
    rows = np.sort(np.random.default_rng((seed, 1)).choice(tested, size=m, replace=False))
    positions = rows if null.variant_index is None else np.asarray(null.variant_index)[rows]
    kind = "parametric" if method == "single" else "fast double"
    with stage(f"{kind} bootstrap ({replicates} replicates x {m} variants)"):
        dosage = null.genotypes.read(positions, null.genotype_index)
        report = phase_progress(progress, replicates, "bootstrap", unit="refit")
        try:
            calibration = bootstrap_calibration(
                null.model,
                dosage,
                plan,
                replicates=replicates,
                seed=seed,
                progress=lambda done, total: report(done),
                method=method,
            )
        finally:
            report(None)
    if calibration.second_level_p_values is not None:
        logger.info(
            "fast double bootstrap: %d second-level refits used (%d left out: %s), %d "
            "second-level null F p-values pooled",
            calibration.refits_used - calibration.failed_second_level,
            calibration.failed_second_level,
            calibration.second_level_failure_reasons or "none",
            calibration.second_level_p_values.size,
        )
    observed = assoc["p_value"].to_numpy(dtype=np.float64)
    calibrated = calibration.p_values(observed)
    assoc["p_value"] = calibrated
    assoc["neg_log10_p_value"] = -np.log10(calibrated)
    assoc["statistic"] = calibration.label
    logger.info(
        "parametric bootstrap of the null: %d of %d refits used (%d did not converge and were "
        "left out), %d variants each, %d null F p-values pooled; calibrated p-values are at "
        "least %.3g",
        calibration.refits_used,
        replicates,
        calibration.failed_refits,
        m,
        calibration.pooled,
        calibration.resolution,
    )
    if calibration.failed_refits:
        logger.warning(
            "%d of %d bootstrap refits of the null did not converge and were left out (%s)",
            calibration.failed_refits,
            replicates,
            "; ".join(f"{k} ({v})" for k, v in calibration.failure_reasons.items()),
        )
    return calibration


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
