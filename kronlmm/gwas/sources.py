"""Candidate sources: where the candidates of a scan come from, cut into blocks.

A source knows how many samples its candidates have and cuts them into
:class:`~kronlmm.scan.CandidateBlock` objects; the scan driver
(:func:`kronlmm.gwas.scan_source`) hands the blocks to an execution strategy. Adding a
source is one class with ``n_samples``, ``lazy``, ``manifest`` and ``blocks()``.

* :class:`ArraySource` — an in-memory array (blocks are views);
* :class:`DaskArraySource` — a ``dask.array`` (blocks are its chunks along the candidates,
  computed where they are scanned);
* :class:`PlinkSource` — a PLINK fileset (blocks are :class:`kronlmm.io.PlinkSlice`
  readers, read where they are scanned: on a Dask worker the worker reads its own slice);
* :class:`ChunkSource` — a given list of chunks (arrays, ``dask.delayed`` objects or
  :class:`ChunkReader` objects).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ..io import PlinkGenotypes
from ..io.plink import IndexLike
from ..scan import CandidateBlock, array_blocks

__all__ = [
    "ArraySource",
    "CandidateSource",
    "ChunkReader",
    "ChunkSource",
    "DaskArraySource",
    "PlinkSource",
    "as_source",
]


class ChunkReader(Protocol):
    """Anything that produces a candidate chunk (n × m float array) when asked, on a worker.

    A chunk with a ``read()`` method is shipped to where it is scanned as is (it should be
    small and picklable) and read there, so the candidates never pass through the process
    that submits the scan. :class:`kronlmm.io.PlinkSlice` is the PLINK reader; defining
    ``__len__`` (the number of candidates) lets progress count candidates.

    Examples
    --------
    A reader that simulates its candidates where it is read:

    >>> import numpy as np
    >>> from kronlmm.gwas import ChunkSource, scan_source
    >>> from kronlmm.scan import KronFastScanner
    >>> class Simulated:
    ...     def __init__(self, seed, n, m):
    ...         self.seed, self.n, self.m = seed, n, m
    ...
    ...     def read(self):
    ...         rng = np.random.default_rng(self.seed)
    ...         return rng.binomial(2, 0.3, size=(self.n, self.m)).astype(float)
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 2
    >>> Y = rng.standard_normal((n, p))
    >>> G = rng.standard_normal((n, 20)) / np.sqrt(20)
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> source = ChunkSource([Simulated(seed, n, 10) for seed in range(3)])
    >>> scan_source(scanner.null, scanner.plan("any"), source).chi2.shape
    (30,)
    """

    def read(self) -> NDArray[np.float64]:
        """The chunk's candidates, an n × m float array (NaN for missing values)."""
        ...


class CandidateSource(Protocol):
    """Where the candidates of a scan come from (the protocol of the sources).

    Attributes
    ----------
    n_samples : int or None
        Rows of every block (must equal the null model's samples); ``None`` if unknown
        before a block is read.
    lazy : bool
        Whether the values are a Dask graph: the driver then runs the scan on Dask unless
        told otherwise.
    manifest : dict
        What identifies the candidates in a checkpoint's ``manifest.json``.

    Examples
    --------
    Every source of this module follows the protocol:

    >>> import numpy as np
    >>> from kronlmm.gwas import ArraySource
    >>> source = ArraySource(np.zeros((4, 10)))
    >>> source.n_samples, source.lazy, [b.size for b in source.blocks(None, default_size=6)]
    (4, False, [6, 4])
    """

    @property
    def n_samples(self) -> int | None: ...

    @property
    def lazy(self) -> bool: ...

    @property
    def manifest(self) -> dict[str, Any]: ...

    def blocks(self, block_size: int | None, default_size: int) -> list[CandidateBlock]:
        """The blocks, with indices 0, 1, …: of ``block_size`` candidates when given, else
        the source's own blocking, else ``default_size`` (the driver's, from the null)."""
        ...


def _as_ids(ids: ArrayLike | None, m: int) -> NDArray[Any] | None:
    if ids is None:
        return None
    arr = np.asarray(ids)
    if arr.shape != (m,):
        raise ValueError(f"ids has shape {arr.shape}, expected ({m},)")
    return arr


class ArraySource:
    """Candidates held in memory: the columns of an n × m array.

    Parameters
    ----------
    G : array_like (n, m)
        One candidate per column (a 1-D array is one candidate); NaN = missing.
    ids : array_like (m,), optional
        Candidate identifiers.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.gwas import ArraySource
    >>> source = ArraySource(np.zeros((50, 7)), ids=[f"v{j}" for j in range(7)])
    >>> [(b.index, b.size) for b in source.blocks(3, default_size=1000)]
    [(0, 3), (1, 3), (2, 1)]
    """

    lazy = False

    def __init__(self, G: ArrayLike, ids: ArrayLike | None = None) -> None:
        arr = np.asarray(G, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"G has shape {arr.shape}, expected (n, m)")
        self.G = arr
        self.ids = _as_ids(ids, arr.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.G.shape[0])

    @property
    def manifest(self) -> dict[str, Any]:
        return {}

    def blocks(self, block_size: int | None, default_size: int) -> list[CandidateBlock]:
        return array_blocks(self.G, block_size or default_size, self.ids)

    def __repr__(self) -> str:
        return f"ArraySource(n={self.G.shape[0]}, m={self.G.shape[1]})"


class DaskArraySource:
    """Candidates in a ``dask.array`` (n × m), scanned chunk by chunk along the candidates.

    The array is rechunked to one chunk along the samples if needed; its chunks along the
    candidates are the blocks (or chunks of ``block_size`` when a size is given). Nothing
    is computed until the blocks are scanned: on Dask by a Dask strategy, or in this
    process by a serial one (each block is a one-chunk ``dask.array``).

    Parameters
    ----------
    G : dask.array.Array (n, m)
    ids : array_like (m,), optional

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from kronlmm.gwas import DaskArraySource
    >>> source = DaskArraySource(da.zeros((50, 25), chunks=(20, 10)))
    >>> source.lazy, [b.size for b in source.blocks(None, default_size=1000)]
    (True, [10, 10, 5])
    >>> [b.size for b in source.blocks(12, default_size=1000)]
    [12, 12, 1]
    """

    lazy = True

    def __init__(self, G: Any, ids: ArrayLike | None = None) -> None:
        import dask.array as da

        if not isinstance(G, da.Array):
            raise TypeError(f"G must be a dask.array.Array, got {type(G)!r}")
        if G.ndim != 2:
            raise ValueError(f"G has shape {G.shape}, expected (n, m)")
        self.G = G
        self.ids = _as_ids(ids, int(G.shape[1]))

    @property
    def n_samples(self) -> int:
        return int(self.G.shape[0])

    @property
    def manifest(self) -> dict[str, Any]:
        return {}

    def blocks(self, block_size: int | None, default_size: int) -> list[CandidateBlock]:
        G: Any = self.G  # dask is untyped
        if len(G.chunks[0]) > 1:
            G = G.rechunk({0: -1})
        if block_size is not None:
            G = G.rechunk({1: block_size})
        chunks = [G.blocks[0, i] for i in range(len(G.chunks[1]))]
        bounds = np.cumsum((0, *G.chunks[1]))
        return [
            CandidateBlock(
                index=i,
                data=chunk,
                ids=None if self.ids is None else self.ids[a:b],
                size=int(b - a),
            )
            for i, (chunk, a, b) in enumerate(zip(chunks, bounds[:-1], bounds[1:], strict=True))
        ]

    def __repr__(self) -> str:
        return f"DaskArraySource(shape={self.G.shape}, chunks={len(self.G.chunks[1])})"


class ChunkSource:
    """Candidates given as a list of chunks, each one block.

    Parameters
    ----------
    chunks : sequence
        Each an n × mᵢ array, a ``dask.delayed`` object producing one, or a
        :class:`ChunkReader` (e.g. :class:`kronlmm.io.PlinkSlice`) read where it is
        scanned.
    ids : sequence of arrays, optional
        Candidate identifiers per chunk.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.gwas import ChunkSource
    >>> source = ChunkSource([np.zeros((5, 2)), np.zeros((5, 3))], ids=[["a", "b"], list("cde")])
    >>> [(b.index, b.size, b.ids.tolist()) for b in source.blocks(None, default_size=1000)]
    [(0, 2, ['a', 'b']), (1, 3, ['c', 'd', 'e'])]
    """

    def __init__(
        self, chunks: Sequence[Any], ids: Sequence[ArrayLike | None] | None = None
    ) -> None:
        self.chunks = list(chunks)
        id_list = list(ids) if ids is not None else [None] * len(self.chunks)
        if len(id_list) != len(self.chunks):
            raise ValueError(
                f"ids has {len(id_list)} entries, expected one per chunk ({len(self.chunks)})"
            )
        self.ids = [None if i is None else np.asarray(i) for i in id_list]

    @property
    def n_samples(self) -> int | None:
        return None  # readers and delayed chunks are not looked at before they are scanned

    @property
    def lazy(self) -> bool:
        return any(hasattr(chunk, "dask") for chunk in self.chunks)

    @property
    def manifest(self) -> dict[str, Any]:
        return {}

    def blocks(self, block_size: int | None, default_size: int) -> list[CandidateBlock]:
        if block_size is not None:
            raise ValueError(
                "the chunks of a ChunkSource are its blocks: block_size must be None, got "
                f"{block_size}"
            )
        return [
            CandidateBlock(index=i, data=chunk, ids=ids)
            for i, (chunk, ids) in enumerate(zip(self.chunks, self.ids, strict=True))
        ]

    def __repr__(self) -> str:
        return f"ChunkSource({len(self.chunks)} chunks)"


class PlinkSource:
    """The variants of a PLINK fileset, for the samples of a null model, in variant blocks.

    Each block is a :class:`kronlmm.io.PlinkSlice`: read in this process by a serial scan,
    and by the worker itself in a Dask scan (the ``.bed`` must then be at the same path on
    the workers).

    Parameters
    ----------
    genotypes : kronlmm.io.PlinkGenotypes
        The fileset.
    sample_index : slice, int array, bool mask or None
        ``.fam`` rows in the order of the null model's samples (e.g.
        ``NullFit.genotype_index``); ``None``: all samples in ``.fam`` order.
    variant_index : int array, optional
        Only these ``.bim`` positions, increasing (e.g. ``NullFit.variant_index``, the
        variants that passed quality control); ``None``: every variant.

    Attributes
    ----------
    variants : pandas.DataFrame
        The variants scanned, in ``.bim`` order (rows of
        :attr:`kronlmm.io.PlinkGenotypes.variants`; the index holds their positions).

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import PlinkSource
    >>> from kronlmm.io import PlinkGenotypes
    >>> source = PlinkSource(PlinkGenotypes(example_paths().prefix), sample_index=slice(0, 100))
    >>> blocks = source.blocks(1200, default_size=1000)
    >>> source.n_samples, [b.size for b in blocks], blocks[0].load().shape
    (100, [1200, 1200, 600], (100, 1200))
    >>> blocks[1].ids[0] == source.variants["variant_id"][1200]  # the 1201st variant
    True
    """

    lazy = False

    def __init__(
        self,
        genotypes: PlinkGenotypes,
        sample_index: IndexLike = None,
        variant_index: NDArray[np.integer] | None = None,
    ) -> None:
        self.genotypes = genotypes
        self._first = genotypes.slice_variants(0, 0, sample_index)  # checks sample_index
        variants = genotypes.variants
        self._positions: NDArray[np.intp] | None = None
        if variant_index is not None:
            positions = np.asarray(variant_index, dtype=np.intp)
            if (
                positions.ndim != 1
                or np.any(np.diff(positions) <= 0)
                or (positions.size and (positions[0] < 0 or positions[-1] >= genotypes.nvariants))
            ):
                raise ValueError(
                    "variant_index must hold increasing .bim positions in "
                    f"0..{genotypes.nvariants - 1}"
                )
            self._positions = positions
            variants = variants.iloc[positions]
        self.variants: pd.DataFrame = variants
        self._ids = self.variants["variant_id"].to_numpy()

    @property
    def sample_index(self) -> NDArray[np.intp]:
        """``.fam`` rows read, in order."""
        return self._first.sample_index

    @property
    def n_samples(self) -> int:
        return int(self._first.sample_index.size)

    @property
    def manifest(self) -> dict[str, Any]:
        return {"bed": self._first.bed}

    def blocks(self, block_size: int | None, default_size: int) -> list[CandidateBlock]:
        size = int(block_size or default_size)
        if self._positions is None:
            m = self.genotypes.nvariants
            return [
                CandidateBlock(
                    index=i,
                    data=self.genotypes.slice_variants(a, min(a + size, m), self.sample_index),
                    ids=self._ids[a : a + size],
                    size=min(a + size, m) - a,
                )
                for i, a in enumerate(range(0, max(m, 1), size))
            ]
        positions = self._positions
        blocks = []
        for i, a in enumerate(range(0, max(positions.size, 1), size)):
            chosen = positions[a : a + size]
            start, stop = (int(chosen[0]), int(chosen[-1]) + 1) if chosen.size else (0, 0)
            data = self.genotypes.slice_variants(start, stop, self.sample_index, variants=chosen)
            blocks.append(
                CandidateBlock(index=i, data=data, ids=self._ids[a : a + size], size=chosen.size)
            )
        return blocks

    def __repr__(self) -> str:
        return f"PlinkSource({self.genotypes!r}, n_samples={self.n_samples})"


def as_source(candidates: Any, ids: ArrayLike | None = None) -> CandidateSource:
    """The candidate source for ``candidates``: a source as is, a ``dask.array`` as a
    :class:`DaskArraySource`, anything else as an in-memory :class:`ArraySource`.

    Parameters
    ----------
    candidates : CandidateSource, dask.array.Array or array_like
    ids : array_like, optional
        Candidate identifiers (not with a source, which carries its own).

    Returns
    -------
    CandidateSource

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from kronlmm.gwas import as_source
    >>> type(as_source(np.zeros((5, 3)))).__name__, type(as_source(da.zeros((5, 3)))).__name__
    ('ArraySource', 'DaskArraySource')
    """
    if hasattr(candidates, "blocks") and hasattr(candidates, "lazy"):
        if ids is not None:
            raise ValueError("ids cannot be given with a candidate source (it has its own)")
        source: CandidateSource = candidates
        return source
    if isinstance(candidates, PlinkGenotypes):
        raise TypeError(
            "a PlinkGenotypes fileset needs the null model's sample order: pass "
            "PlinkSource(genotypes, sample_index=...) instead"
        )
    if hasattr(candidates, "dask") and hasattr(candidates, "chunks"):
        return DaskArraySource(candidates, ids)
    return ArraySource(candidates, ids)
