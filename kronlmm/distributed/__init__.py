"""Scans that outgrow one machine: Dask arrays and Dask clusters.

:func:`scan_dask_array` maps the pure block kernel over the variant chunks of a
``dask.array``; :func:`scan_chunks` does the same for any list of chunks, including
:class:`BedChunk` readers that load PLINK slices on the workers themselves. The null model
is scattered to the workers once; per-task BLAS threads are limited (threadpoolctl);
results can be checkpointed per chunk (:class:`ChunkStore`) and resumed.
"""

from .checkpoint import ChunkStore
from .scan import BedChunk, ChunkReader, null_fingerprint, scan_chunks, scan_dask_array

__all__ = [
    "BedChunk",
    "ChunkReader",
    "ChunkStore",
    "null_fingerprint",
    "scan_chunks",
    "scan_dask_array",
]
