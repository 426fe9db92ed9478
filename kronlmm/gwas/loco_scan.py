"""Scanning with leave-one-chromosome-out nulls: each chromosome against its own, one table.

Each chromosome's variants are scanned by :func:`kronlmm.gwas.scan_genotypes` with that
chromosome's null (:class:`~kronlmm.gwas.loco.LocoFit`); the per-chromosome tables are then
put back in the order of the variants passing the filters (the ``.bim`` order), with the
usual columns, so a LOCO table reads like any other (the nulls are in ``null.json``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.progress import Progress
from ..lmm import DEFAULT_REFIT_THRESHOLD
from .execution import dask_client
from .result import GwasResult
from .variant_scan import scan_genotypes

if TYPE_CHECKING:
    from .null import NullFit

__all__ = ["scan_loco"]

logger = logging.getLogger("kronlmm")


def scan_loco(
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
    """Test each chromosome's variants against its LOCO null (what :meth:`NullFit.scan` does
    when :attr:`NullFit.loco` is set).

    Parameters
    ----------
    null : NullFit
        From ``fit_null(..., loco=True)``.
    test, chunk_size, scheduler, workers
        As for :func:`kronlmm.gwas.scan_genotypes`; one Dask cluster serves every
        chromosome.
    progress : bool, "auto" or callable
        A callable is called as ``progress(done, total)`` over all chromosomes; a bar or
        log lines are shown per chromosome.
    checkpoint : path, optional
        Directory of per-block results; each chromosome keeps its blocks in its own
        sub-directory ``chrom-<name>`` (its null differs from the others').
    statistic, refit, refit_threshold
        As for :func:`kronlmm.gwas.scan_genotypes`: a refit re-estimates C₀, C₁ from the
        chromosome's own null.

    Returns
    -------
    GwasResult
        One ``assoc`` and one ``effects`` table in the usual order and columns; ``null`` is
        the genome-wide null, whose :attr:`~NullFit.loco` holds the per-chromosome ones.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> null = fit_null(paths.prefix, paths.pheno, covar=paths.covar, loco=True)
    >>> [fit.chrom for fit in null.loco], [fit.kinship.n_variants for fit in null.loco]
    (['1', '2', '3'], [1978, 1984, 1978])
    >>> result = null.scan("any")
    >>> result.top(1)["variant_id"].item(), len(result.assoc)
    ('rs26858614', 2970)
    """
    if null.loco is None:
        raise ValueError("scan_loco needs a null fitted with loco=True (NullFit.loco is None)")
    total = sum(int(f.variant_index.size) for f in null.loco)
    parts: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    dof = 0
    offset = 0
    with dask_client(scheduler, workers) as client:
        for fit in null.loco:
            if fit.variant_index.size == 0:
                continue
            sub = dataclasses.replace(
                null,
                model=fit.model(),
                fit=fit.fit,
                kinship=fit.kinship,
                variant_index=fit.variant_index,
                loco=None,
            )
            logger.info(
                "LOCO scan of chromosome %s: %d variant(s), kinship of the other %d variant(s)",
                fit.chrom,
                fit.variant_index.size,
                fit.kinship.n_variants,
            )
            part = scan_genotypes(
                sub,
                test,
                chunk_size=chunk_size,
                progress=_shifted(progress, offset, total),
                scheduler=client,
                checkpoint=None
                if checkpoint is None
                else Path(checkpoint) / f"chrom-{_safe(fit.chrom)}",
                statistic=statistic,
                refit=refit,
                refit_threshold=refit_threshold,
            )
            # only the tables are kept: the chromosome's model (about 2·n² doubles) goes
            parts.append((part.assoc, part.effects))
            dof = part.dof
            del sub, part
            offset += int(fit.variant_index.size)
    positions = np.concatenate([f.variant_index for f in null.loco])
    assoc, effects = _in_variant_order(parts, positions, null.variant_index)
    result = GwasResult(assoc=assoc, effects=effects, null=null, test=test, dof=dof)
    logger.info(
        "LOCO scan: %d variant(s) on %d chromosome(s), %d tested; genomic-control lambda %.3f",
        len(assoc),
        len(parts),
        result.n_tested,
        result.lambda_gc,
    )
    return result


def _shifted(progress: Progress, offset: int, total: int) -> Progress:
    """A callable ``progress`` counted over every chromosome; anything else as it is."""
    if callable(progress):
        call = progress
        return lambda done, _: call(offset + done, total)
    return progress


def _safe(chrom: str) -> str:
    """A chromosome name usable as a folder name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in chrom)


def _in_variant_order(
    parts: list[tuple[pd.DataFrame, pd.DataFrame]],
    positions: np.ndarray[Any, Any],
    order: np.ndarray[Any, Any] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate per-chromosome ``(assoc, effects)`` tables and put their rows in the
    order of ``order`` (the ``.bim`` positions of the scanned variants); ``positions`` are
    those of the rows."""
    assoc = pd.concat([a for a, _ in parts], ignore_index=True)
    effects = pd.concat([e for _, e in parts], ignore_index=True)
    if len(positions) != len(assoc):
        raise RuntimeError(f"LOCO scan: {len(assoc)} rows for {len(positions)} variants")
    reference = np.sort(positions) if order is None else np.asarray(order)
    rank = np.empty(int(reference.max()) + 1 if reference.size else 0, dtype=np.intp)
    rank[reference] = np.arange(reference.size)
    rows = np.argsort(rank[positions], kind="stable")
    per = len(effects) // max(len(assoc), 1)
    effect_rows = (rows[:, None] * per + np.arange(per)).ravel()
    assoc = assoc.iloc[rows].reset_index(drop=True)
    effects = effects.iloc[effect_rows].reset_index(drop=True)
    return assoc, effects
