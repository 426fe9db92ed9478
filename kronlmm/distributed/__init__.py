"""Scans that outgrow one machine — the kronlmm 0.1.0 names, kept as a thin façade.

The scan driver lives in :mod:`kronlmm.gwas` now: candidate sources
(:class:`~kronlmm.gwas.DaskArraySource`, :class:`~kronlmm.gwas.PlinkSource`,
:class:`~kronlmm.gwas.ChunkSource`), execution strategies
(:class:`~kronlmm.gwas.DaskExecution`, :class:`~kronlmm.gwas.Checkpointed`) and
:func:`~kronlmm.gwas.scan_source` / :func:`~kronlmm.gwas.scan_candidates`. This package
keeps the 0.1.0 entry points working on top of it: :func:`scan_chunks` and
:func:`scan_dask_array` are one call of the driver each, on Dask; :data:`BedChunk` is
:class:`kronlmm.io.PlinkSlice`; :class:`ChunkStore`, :class:`ChunkReader` and
:func:`null_fingerprint` are those of :mod:`kronlmm.gwas`.
"""

from ..gwas import ChunkReader, ChunkStore, null_fingerprint
from ..io import PlinkSlice
from .scan import scan_chunks, scan_dask_array

BedChunk = PlinkSlice
"""Variants ``start:stop`` of a ``.bed``, read on the worker: :class:`kronlmm.io.PlinkSlice`
(same fields, same order; build one with :meth:`kronlmm.io.PlinkGenotypes.slice_variants`)."""

__all__ = [
    "BedChunk",
    "ChunkReader",
    "ChunkStore",
    "null_fingerprint",
    "scan_chunks",
    "scan_dask_array",
]
