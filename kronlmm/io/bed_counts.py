"""Per-variant genotype counts read straight from the packed bytes of a PLINK ``.bed``.

A variant-major ``.bed`` stores each variant as a record of ``⌈n/4⌉`` bytes: four samples
per byte, two bits each, the first sample in the lowest two bits, coded

====  =========================  ===========================================
bits  genotype                   allele-1 count (``count_A1``; else 2 − it)
====  =========================  ===========================================
00    homozygous allele 1        2
01    missing                    –
10    heterozygous               1
11    homozygous allele 2        0
====  =========================  ===========================================

(the bit pair written high bit first). With ``S`` the mask that has the low bit of every
selected sample's slot set (nothing in the slots of other samples, nor in the record's
padding), each record ``b``, read as 64-bit words (zero-padded to a whole word), gives::

    lo = b & S,  hi = (b >> 1) & S
    popcount(lo & hi) = homozygous allele 2
    popcount(lo) − popcount(lo & hi) = missing
    popcount(hi) − popcount(lo & hi) = heterozygous

and the homozygous allele-1 count is the number of selected samples minus the three. The
mask clears the slots of unselected samples and the padding, so neither can leak into the
counts. The records are read from the file memory-mapped, and each genotype's
two bits are touched a few times, where decoding writes a whole byte (or a float) per
genotype and counting then reads it back: the variant QC of a GWAS needs only the counts.

Samples are counted once each, in whatever order they are selected; a selection that
repeats a sample cannot be expressed as a mask and is refused (the caller decodes instead).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.numerics import cores_available

__all__ = ["GenotypeCounts", "packed_genotype_counts", "RECORD_BLOCK_BYTES"]

#: Bytes of ``.bed`` records processed at a time by one thread (a few passes over them
#: stay in cache; blocks are shared out among the cores).
RECORD_BLOCK_BYTES = 1 << 20

_POPCOUNT_BYTE = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class GenotypeCounts:
    """Genotype counts of m variants over the selected samples.

    Attributes
    ----------
    n_two, n_one, n_zero : numpy.ndarray
        ``int64`` numbers of observed calls with 2, 1 and 0 copies of the counted allele
        (``effect_allele``).
    n_missing : numpy.ndarray
        ``int64`` numbers of missing calls.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.io import GenotypeCounts
    >>> c = GenotypeCounts(*(np.array([v]) for v in (3, 4, 2, 1)))
    >>> c.n_observed.tolist(), c.allele_total.tolist()  # 9 calls, 2·3 + 4 copies
    ([9], [10])
    """

    n_two: NDArray[np.int64]
    n_one: NDArray[np.int64]
    n_zero: NDArray[np.int64]
    n_missing: NDArray[np.int64]

    @property
    def n_observed(self) -> NDArray[np.int64]:
        """Observed calls per variant."""
        return self.n_two + self.n_one + self.n_zero

    @property
    def allele_total(self) -> NDArray[np.int64]:
        """Copies of the counted allele over the observed calls (an exact integer)."""
        return 2 * self.n_two + self.n_one


def _row_popcount(words: NDArray[np.uint64]) -> NDArray[np.int64]:
    """Set bits per row of a 2-D ``uint64`` array."""
    if hasattr(np, "bitwise_count"):  # NumPy ≥ 2.0
        counts = np.bitwise_count(words)
    else:  # NumPy 1.26: a byte table
        counts = _POPCOUNT_BYTE[words.view(np.uint8)]
    total: NDArray[np.int64] = counts.sum(axis=1, dtype=np.int64)
    return total


def _selection_mask(rows: NDArray[np.intp], n_words: int) -> NDArray[np.uint64]:
    """``S`` of the module notes, as 64-bit words: the low bit of each selected sample's
    slot set; the slots of other samples, the padding and the words' tail cleared."""
    mask = np.zeros(n_words * 8, dtype=np.uint8)
    np.bitwise_or.at(mask, rows // 4, (np.uint8(1) << (2 * (rows % 4)).astype(np.uint8)))
    return mask.view(np.uint64)


def packed_genotype_counts(
    bed: str | Path,
    n_samples: int,
    n_variants: int,
    rows: NDArray[np.intp] | slice,
    cols: NDArray[np.intp] | slice,
    *,
    count_A1: bool = True,
) -> GenotypeCounts:
    """Genotype counts of the selected variants over the selected samples (module notes).

    Parameters
    ----------
    bed : str or pathlib.Path
        A variant-major PLINK ``.bed`` (mode byte 1) of ``n_samples × n_variants`` genotypes;
        its magic bytes and size are the caller's to check.
    n_samples, n_variants : int
        Samples and variants of the file (``.fam`` and ``.bim`` rows).
    rows : slice or int array
        Selected samples (``.fam`` positions, each at most once; order does not matter).
    cols : slice or int array
        Selected variants (``.bim`` positions, in the order wanted for the output).
    count_A1 : bool, default True
        Count allele 1 (else allele 2), as :class:`~kronlmm.io.PlinkGenotypes`.

    Returns
    -------
    GenotypeCounts
        One entry per selected variant.

    Raises
    ------
    ValueError
        If ``rows`` repeats a sample.

    Examples
    --------
    Three samples (one byte per variant): variant 0 holds 00, 10, 11 (2, 1, 0 copies of
    allele 1); variant 1 holds 01 (missing), 00, 00:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from kronlmm.io.bed_counts import packed_genotype_counts
    >>> tmp = tempfile.TemporaryDirectory()
    >>> bed = Path(tmp.name) / "x.bed"
    >>> _ = bed.write_bytes(bytes([0x6C, 0x1B, 0x01, 0b11_10_00, 0b00_00_01]))
    >>> c = packed_genotype_counts(bed, 3, 2, slice(0, 3), slice(0, 2))
    >>> c.n_two.tolist(), c.n_one.tolist(), c.n_zero.tolist(), c.n_missing.tolist()
    ([1, 2], [1, 0], [1, 0], [0, 1])
    >>> packed_genotype_counts(bed, 3, 2, np.array([2, 1]), slice(0, 1)).n_two.tolist()
    [0]
    >>> tmp.cleanup()
    """
    record = -(-n_samples // 4)
    sample_rows = (
        np.arange(*rows.indices(n_samples), dtype=np.intp)
        if isinstance(rows, slice)
        else np.asarray(rows, dtype=np.intp)
    )
    if np.unique(sample_rows).size != sample_rows.size:
        raise ValueError("the sample selection repeats a sample: it cannot be counted packed")
    n_selected = sample_rows.size
    n_words = -(-record // 8)
    even = _selection_mask(sample_rows, n_words)
    if isinstance(cols, slice):
        variants = np.arange(*cols.indices(n_variants), dtype=np.intp)
    else:
        variants = np.asarray(cols, dtype=np.intp)
    out = np.empty((3, variants.size), dtype=np.int64)
    step = max(1, RECORD_BLOCK_BYTES // (8 * n_words))
    records = np.memmap(bed, dtype=np.uint8, mode="r", offset=3, shape=(n_variants, record))

    def count(start: int) -> None:
        chosen = variants[start : start + step]
        # records copied into whole 64-bit words (popcounts of words are quicker than of bytes)
        buffer = np.zeros((chosen.size, 8 * n_words), dtype=np.uint8)
        # consecutive variants (the usual case) are read as one slice of the file
        if chosen[-1] - chosen[0] == chosen.size - 1 and np.all(np.diff(chosen) == 1):
            buffer[:, :record] = records[chosen[0] : chosen[-1] + 1]
        else:
            buffer[:, :record] = records[chosen]
        words = buffer.view(np.uint64)
        lo = words & even  # the low bit of each selected slot
        hi = np.right_shift(words, np.uint64(1), out=words)
        hi &= even  # the high bit, moved onto the low one
        p_lo, p_hi = _row_popcount(lo), _row_popcount(hi)
        lo &= hi
        both = _row_popcount(lo)
        out[:, start : start + chosen.size] = (both, p_lo - both, p_hi - both)

    starts = range(0, variants.size, step)
    # NumPy releases the GIL in these loops: blocks are counted on every core
    workers = min(cores_available(), len(starts))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(count, starts))
    else:
        for start in starts:
            count(start)
    hom2, missing, het = out
    hom1 = n_selected - hom2 - missing - het
    two, zero = (hom1, hom2) if count_A1 else (hom2, hom1)
    return GenotypeCounts(n_two=two, n_one=het, n_zero=zero, n_missing=missing)
