"""PLINK 1 binary genotypes (``.bed``/``.bim``/``.fam``) read in variant blocks via bed-reader.

Allele coding
-------------
A dosage is the number of copies (0, 1 or 2) of the **counted allele** carried by a sample.
By default (``count_A1=True``, as in bed-reader and PLINK 1.9) the counted allele is
``allele_1``: the fifth column of the ``.bim`` file (PLINK's "A1", usually the minor
allele). The counted allele is reported as ``effect_allele`` in :attr:`PlinkGenotypes.variants`
and the other one as ``other_allele``, so an effect estimated for a dosage column is the effect
of one extra copy of ``effect_allele``. With ``count_A1=False`` the roles swap.

Missing calls are returned as ``NaN``; nothing here imputes them (the scanners mean-impute).

Checks
------
The size of a ``.bed`` must match the ``.fam`` and ``.bim``, but a ``.fam`` that lost (or
gained) one row can keep the size: ``⌈399/4⌉ = ⌈400/4⌉`` bytes per variant. PLINK and
bed-reader write the unused 2-bit slots at the end of each variant's record (the *padding*)
as zeros, so non-zero padding in many variants means the ``.fam`` does not list the samples
the ``.bed`` was written for (or the mode byte is wrong). The padding of the first
:data:`PADDING_CHECK_OPEN` variants is checked when a fileset is opened, and that of every
block when it is read; ``check_padding=False`` turns the check off for writers that leave
garbage there. A sample-major ``.bed`` (mode byte 0, not written by PLINK since 1.0) is read
with a warning: a variant-major file whose mode byte says sample-major can have the same size.

Reading
-------
:class:`PlinkGenotypes` opens a fileset (checks and parses ``.bim``/``.fam``) and reads
variant blocks through one open ``.bed`` handle. :meth:`PlinkGenotypes.slice_variants`
describes a block as a :class:`PlinkSlice`: a small, picklable value (path, counts, sample
order, variant range) whose :meth:`~PlinkSlice.read` opens the ``.bed`` where it runs —
e.g. on a Dask worker, so that genotypes never pass through the process that submits a
scan. Both decode the ``.bed`` with the same function, so a slice read anywhere equals the
block read through the fileset.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from bed_reader import open_bed
from numpy.typing import NDArray

from ._common import InputFileNotFoundError, PathLike, as_ids, duplicate_ids, format_ids
from .bed_counts import GenotypeCounts, packed_genotype_counts
from .tables import table_from_strings
from .text_files import EXACT_FLOAT_PARSING

__all__ = ["PlinkGenotypes", "PlinkSlice", "GenotypeBlock", "IndexLike", "BedPaddingError"]

logger = logging.getLogger("kronlmm")

IndexLike = slice | NDArray[np.integer] | NDArray[np.bool_] | list[int] | int | None
"""Row/column selector: ``None`` (all), a slice, integer positions or a boolean mask."""

PADDING_CHECK_OPEN = 100
"""Variants whose padding bits are checked when a fileset is opened (every block read is
checked too)."""

PADDING_TOLERANCE = 0.01
"""Share of the variants checked that may have non-zero padding bits before a read is
refused (a stray flipped bit is tolerated; a shifted ``.fam`` shows in most variants)."""


class BedPaddingError(ValueError):
    """The padding bits of a ``.bed`` are not zero in many variants: the ``.fam`` (or the
    mode byte) most likely does not match the ``.bed``.

    Examples
    --------
    >>> from kronlmm.io import BedPaddingError
    >>> issubclass(BedPaddingError, ValueError)
    True
    """


def padding_mask(n: int) -> int:
    """Bits of the last byte of a record of ``n`` 2-bit genotypes that hold no genotype.

    PLINK packs four genotypes per byte, the first sample in the lowest two bits; a record
    of ``n`` genotypes takes ``⌈n/4⌉`` bytes and its last byte holds ``n − 4(⌈n/4⌉ − 1)``.

    Examples
    --------
    >>> from kronlmm.io.plink import padding_mask
    >>> [bin(padding_mask(n)) for n in (4, 5, 6, 7)]
    ['0b0', '0b11111100', '0b11110000', '0b11000000']
    """
    used = n - 4 * (math.ceil(n / 4) - 1) if n else 4
    return 0xFF & ~((1 << (2 * used)) - 1)


def check_bed_padding(
    bed: str | Path,
    records: NDArray[np.integer] | slice,
    record_length: int,
    listing: str,
    what: str = "variant",
) -> None:
    """Refuse records of a ``.bed`` whose padding bits are not zero.

    Parameters
    ----------
    bed : str or pathlib.Path
        The ``.bed`` file.
    records : slice or int array
        Records to check (variants of a variant-major file, samples of a sample-major one),
        0-based.
    record_length : int
        Genotypes per record (samples of a variant-major file).
    listing : str
        The file that gives ``record_length`` (the ``.fam`` of a variant-major file, the
        ``.bim`` of a sample-major one), named as the likely culprit.
    what : str
        What a record is (``"variant"`` or ``"sample"``).

    Raises
    ------
    BedPaddingError
        If more than :data:`PADDING_TOLERANCE` of the records checked (and at least one)
        have non-zero padding bits.

    Examples
    --------
    Two samples per variant fill half a byte; a third sample's genotype in the padding
    (a ``.fam`` that lost a row) is refused:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.io.plink import check_bed_padding
    >>> tmp = tempfile.TemporaryDirectory()
    >>> bed = Path(tmp.name) / "x.bed"
    >>> _ = bed.write_bytes(bytes([0x6C, 0x1B, 0x01, 0b0011, 0b0010]))
    >>> check_bed_padding(bed, slice(0, 2), 2, "x.fam")  # zeros: fine
    >>> _ = bed.write_bytes(bytes([0x6C, 0x1B, 0x01, 0b100011, 0b110010]))
    >>> check_bed_padding(bed, slice(0, 2), 2, "x.fam")
    Traceback (most recent call last):
        ...
    kronlmm.io.plink.BedPaddingError: .bed file '...x.bed': the unused padding bits ...
    >>> tmp.cleanup()
    """
    mask = padding_mask(record_length)
    if mask == 0:
        return
    if isinstance(records, slice):
        index = np.arange(records.start or 0, records.stop, dtype=np.int64)
    else:
        index = np.unique(np.asarray(records, dtype=np.int64))
    if index.size == 0:
        return
    width = math.ceil(record_length / 4)
    raw = np.memmap(bed, dtype=np.uint8, mode="r")
    try:
        bad = int(np.count_nonzero(np.asarray(raw[3 + (index + 1) * width - 1]) & mask))
    finally:
        del raw
    checked = int(index.size)
    if bad == 0 or bad <= PADDING_TOLERANCE * checked:
        return
    slots = 4 * width
    items = "samples" if what == "variant" else "variants"
    kind = Path(listing).suffix or "listing"
    raise BedPaddingError(
        f".bed file {str(bed)!r}: the unused padding bits at the end of {bad} of the "
        f"{checked} {what} records checked are not zero, but PLINK and bed-reader write "
        f"zeros there. The {kind} file {str(listing)!r} most likely does not list the "
        f"{items} the .bed was written for: it lists {record_length}, and records of this "
        f"size hold {slots - 3} to {slots} (a row lost or added keeps the .bed's size, and "
        f"every later {items[:-1]} would be misaligned); or the .bed's mode byte is wrong. "
        f"Use the {kind} written with this .bed; if the .bed comes from a tool that leaves "
        "garbage in the padding, turn the check off (--ignore-bed-padding, or "
        "PlinkGenotypes(..., check_padding=False))"
    )


_FAM_COLUMNS = ["FID", "IID", "father", "mother", "sex", "phenotype"]
_BIM_COLUMNS = ["chrom", "variant_id", "cm", "pos", "allele_1", "allele_2"]


class GenotypeBlock(NamedTuple):
    """One block of variants yielded by :meth:`PlinkGenotypes.iter_blocks`.

    Unpacks as ``variants, dosage``.

    Attributes
    ----------
    variants : pandas.DataFrame
        Rows of :attr:`PlinkGenotypes.variants` for this block; the index holds the variant
        positions (0-based, in ``.bim`` order).
    dosage : numpy.ndarray
        ``float64`` array of shape ``(n_samples_selected, n_variants_in_block)``: counts of the
        effect allele, ``NaN`` where the call is missing.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> variants, dosage = next(geno.iter_blocks(block_size=100))
    >>> dosage.shape, list(variants.columns)
    ((400, 100), ['chrom', 'pos', 'variant_id', 'effect_allele', 'other_allele'])
    """

    variants: pd.DataFrame
    dosage: NDArray[np.float64]


def _strip_suffix(prefix: PathLike) -> Path:
    path = Path(prefix)
    if path.suffix.lower() in (".bed", ".bim", ".fam"):
        return path.with_suffix("")
    return path


def _read_plink_text(
    path: Path,
    columns: list[str],
    what: str,
    *,
    extra_columns: bool = False,
    numeric: dict[int, type] | None = None,
) -> pd.DataFrame:
    """Read a whitespace-separated PLINK text file as strings, naming its columns.

    With ``extra_columns`` (the ``.fam``), columns after the named ones are kept, named
    ``pheno2``, ``pheno3``, … (GEMMA's ``-n`` numbering: the sixth column is ``pheno1``),
    as PLINK reads a ``.fam`` with extra phenotype columns. ``numeric``: columns (by
    position) parsed as numbers by the parser itself, where every value is one; otherwise
    every column is read as strings (the caller's conversion then reports the bad value).
    """
    data = path.read_bytes()
    # PLINK writes tab-separated files, which parse faster split at tabs than at any
    # whitespace; the two splits agree unless there is other whitespace, or tabs that are
    # not single separators between fields
    tabs_only = (
        not any(
            token in data for token in (b" ", b"\r", b"\x0b", b"\x0c", b"\t\t", b"\n\t", b"\t\n")
        )
        and not data.startswith(b"\t")
        and not data.rstrip(b"\n").endswith(b"\t")
    )

    def parse(dtype: Any) -> pd.DataFrame:
        frame: pd.DataFrame = pd.read_csv(
            io.BytesIO(data),
            sep="\t" if tabs_only else r"\s+",
            header=None,
            dtype=dtype,
            keep_default_na=False,
            na_filter=False,
            **EXACT_FLOAT_PARSING,
        )
        return frame

    try:
        try:
            df = parse({i: numeric.get(i, str) for i in range(len(columns))} if numeric else str)
        except ValueError:  # a value that is not a number: strings, reported by the caller
            df = parse(str)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=range(len(columns)), dtype=str)
    if df.shape[1] < len(columns) or (df.shape[1] > len(columns) and not extra_columns):
        more = " or more" if extra_columns else ""
        raise ValueError(
            f"{what} file {str(path)!r} has {df.shape[1]} columns, expected {len(columns)}"
            f"{more} ({' '.join(columns)})"
        )
    extra = [f"pheno{k}" for k in range(2, df.shape[1] - len(columns) + 2)]
    df.columns = columns + extra
    return df


class PlinkGenotypes:
    """PLINK 1 binary genotype set read lazily, one block of variants at a time.

    Parameters
    ----------
    prefix : str or os.PathLike
        Path without extension: ``prefix.bed``, ``prefix.bim`` and ``prefix.fam`` must exist.
        A path ending in ``.bed``, ``.bim`` or ``.fam`` is accepted and the extension dropped.
    count_A1 : bool, default True
        Count ``allele_1`` (``.bim`` column 5, PLINK's A1). With ``False`` count ``allele_2``.
        Whichever is counted is reported as ``effect_allele``.
    num_threads : int, optional
        Threads bed-reader may use for decoding (its default when ``None``).
    check_padding : bool, default True
        Refuse a ``.bed`` whose records end in non-zero padding bits (the ``.fam`` does not
        match it; see the module notes). Turn off only for ``.bed`` files from a writer
        that leaves garbage there.

    Raises
    ------
    InputFileNotFoundError
        (a :class:`ValueError` and :class:`FileNotFoundError`) naming the missing file and
        the prefix.
    BedPaddingError
        (a :class:`ValueError`) if the padding bits of the ``.bed`` are not zero (checked on
        the first variants here, and on every block read).
    ValueError
        If the ``.bim``/``.fam`` files are malformed or empty, or the ``.bed`` size does not
        match them.

    Notes
    -----
    The sample ID used for alignment (:attr:`sample_ids`) is the ``IID`` (``.fam`` column 2);
    ``FID`` is kept in :attr:`samples`. Dosages are ``float64`` counts of ``effect_allele``
    with missing calls as ``NaN``. Nothing is read from the ``.bed`` file until
    :meth:`read` or :meth:`iter_blocks` is called.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> geno.shape, geno.counted_allele
    ((400, 3000), 'allele_1')
    >>> for variants, dosage in geno.iter_blocks(1000):
    ...     print(variants.index[0], dosage.shape)
    0 (400, 1000)
    1000 (400, 1000)
    2000 (400, 1000)
    """

    def __init__(
        self,
        prefix: PathLike,
        *,
        count_A1: bool = True,
        num_threads: int | None = None,
        check_padding: bool = True,
    ) -> None:
        self.prefix = _strip_suffix(prefix)
        paths = {ext: self.prefix.with_name(self.prefix.name + "." + ext) for ext in _EXTS}
        missing = [p for p in paths.values() if not p.is_file()]
        if missing:
            raise InputFileNotFoundError(
                f"PLINK file(s) {', '.join(repr(str(p)) for p in missing)} not found "
                f"(prefix {str(self.prefix)!r} needs {self.prefix.name}.bed, "
                f"{self.prefix.name}.bim and {self.prefix.name}.fam)"
            )
        self.bed_path, self.bim_path, self.fam_path = paths["bed"], paths["bim"], paths["fam"]
        self.count_A1 = bool(count_A1)
        self.check_padding = bool(check_padding)

        fam = _read_plink_text(self.fam_path, _FAM_COLUMNS, ".fam", extra_columns=True)
        bim = _read_plink_text(
            self.bim_path, _BIM_COLUMNS, ".bim", numeric={2: np.float64, 3: np.int64}
        )
        self._samples = fam[["FID", "IID"]].reset_index(drop=True)
        self._fam_phenotypes = fam.iloc[:, 5:].reset_index(drop=True)
        self._fam_phenotypes.columns = [f"pheno{k}" for k in range(1, fam.shape[1] - 4)]
        self._sample_ids = as_ids(fam["IID"].to_numpy(), f".fam file {str(self.fam_path)!r}")
        dups = duplicate_ids(self._sample_ids)
        if dups:
            raise ValueError(
                f".fam file {str(self.fam_path)!r} has duplicate IIDs {format_ids(dups)}; "
                "sample IDs (IID) must be unique"
            )

        try:
            pos = bim["pos"].astype(np.int64)
            cm = bim["cm"].astype(np.float64)
        except ValueError as err:
            raise ValueError(
                f".bim file {str(self.bim_path)!r} has a non-numeric position: {err}"
            ) from None
        effect, other = ("allele_1", "allele_2") if self.count_A1 else ("allele_2", "allele_1")
        self._variants = pd.DataFrame(
            {
                # read as strings: no conversion (a copy of every value) needed
                "chrom": bim["chrom"].to_numpy(dtype=object),
                "pos": pos.to_numpy(),
                "variant_id": bim["variant_id"].to_numpy(dtype=object),
                "effect_allele": bim[effect].to_numpy(dtype=object),
                "other_allele": bim[other].to_numpy(dtype=object),
            }
        )
        self._cm = cm.to_numpy()

        n, m = len(self._samples), len(self._variants)
        with open(self.bed_path, "rb") as fh:
            head = fh.read(3)
        if len(head) < 3 or head[:2] != b"\x6c\x1b" or head[2] not in (0, 1):
            raise ValueError(
                f"{str(self.bed_path)!r} is not a PLINK 1 binary .bed file (wrong magic bytes)"
            )
        variant_major = head[2] == 1
        expected = 3 + (m * math.ceil(n / 4) if variant_major else n * math.ceil(m / 4))
        size = self.bed_path.stat().st_size
        if size != expected:
            raise ValueError(
                f".bed file {str(self.bed_path)!r} has {size} bytes, but {n} samples (.fam) and "
                f"{m} variants (.bim) need {expected}; the three files do not belong together"
            )
        for count, what, path in ((n, "samples", self.fam_path), (m, "variants", self.bim_path)):
            if count == 0:
                raise ValueError(
                    f"PLINK fileset {str(self.prefix)!r} holds no {what} (its "
                    f"{path.suffix} file {str(path)!r} is empty): nothing to analyse"
                )
        self._variant_major = variant_major
        if not variant_major:
            logger.warning(
                ".bed file %r is sample-major (mode byte 0), a layout PLINK has not written "
                "since version 1.0; if a current tool wrote it, its mode byte is wrong and "
                "every genotype would be misread: check it, or convert it with plink --bfile "
                "%s --make-bed",
                str(self.bed_path),
                str(self.prefix),
            )
        if self.check_padding:
            if variant_major:
                check_bed_padding(
                    self.bed_path, slice(0, min(m, PADDING_CHECK_OPEN)), n, str(self.fam_path)
                )
            else:
                check_bed_padding(
                    self.bed_path,
                    slice(0, min(n, PADDING_CHECK_OPEN)),
                    m,
                    str(self.bim_path),
                    what="sample",
                )
        self._bed = open_bed(
            self.bed_path,
            iid_count=n,
            sid_count=m,
            count_A1=self.count_A1,
            num_threads=num_threads,
        )

    # ------------------------------------------------------------------ metadata
    @property
    def samples(self) -> pd.DataFrame:
        """Samples in ``.fam`` order: DataFrame with columns ``FID`` and ``IID`` (str)."""
        return self._samples.copy()

    @property
    def fam_phenotypes(self) -> pd.DataFrame:
        """Phenotypes of the ``.fam`` file: column 6 and any further columns.

        A standard ``.fam`` has one phenotype column (column 6); a GEMMA-style ``.fam``
        has several (columns 6, 7, …). They are named ``pheno1``, ``pheno2``, … (GEMMA's
        ``-n 1 2 …`` numbering), read as numbers with ``-9``, ``NA`` and ``nan`` as missing
        (the PLINK convention), and indexed by IID with the FIDs kept as
        ``attrs["FID"]`` (see :func:`kronlmm.io.read_table`).

        Raises
        ------
        ValueError
            If a phenotype value is not a number (naming the column, row and sample).

        Examples
        --------
        >>> from kronlmm.data import example_paths
        >>> from kronlmm.io import PlinkGenotypes
        >>> fam = PlinkGenotypes(example_paths().prefix).fam_phenotypes
        >>> list(fam.columns), int(fam["pheno1"].isna().sum())  # -9: all missing
        (['pheno1'], 400)
        """
        raw = pd.concat([self._samples, self._fam_phenotypes], axis=1)
        return table_from_strings(raw, plink_missing=True, source=f".fam {str(self.fam_path)!r}")

    @property
    def sample_ids(self) -> NDArray[np.object_]:
        """Sample IDs used for alignment (the ``IID`` column), in ``.fam`` order."""
        return self._sample_ids.copy()

    @property
    def variants(self) -> pd.DataFrame:
        """Variants in ``.bim`` order.

        Columns ``chrom`` (str), ``pos`` (int64 base-pair position), ``variant_id``,
        ``effect_allele`` (the counted allele) and ``other_allele``. The index is the variant
        position 0..m-1.
        """
        return self._variants.copy()

    @property
    def cm(self) -> NDArray[np.float64]:
        """Genetic positions (centimorgans, ``.bim`` column 3)."""
        return np.array(self._cm, dtype=np.float64)

    @property
    def counted_allele(self) -> str:
        """Which ``.bim`` allele column dosages count: ``"allele_1"`` or ``"allele_2"``."""
        return "allele_1" if self.count_A1 else "allele_2"

    @property
    def nsamples(self) -> int:
        """Number of samples in the ``.fam`` file."""
        return len(self._samples)

    @property
    def nvariants(self) -> int:
        """Number of variants in the ``.bim`` file."""
        return len(self._variants)

    @property
    def shape(self) -> tuple[int, int]:
        """``(nsamples, nvariants)``."""
        return self.nsamples, self.nvariants

    def __repr__(self) -> str:
        return (
            f"PlinkGenotypes({str(self.prefix)!r}, nsamples={self.nsamples}, "
            f"nvariants={self.nvariants}, counted={self.counted_allele})"
        )

    # ------------------------------------------------------------------ reading
    def _sample_positions(self, sample_index: IndexLike) -> NDArray[np.intp] | slice:
        return _positions(sample_index, self.nsamples, "sample_index")

    def read(
        self, variant_index: IndexLike = None, sample_index: IndexLike = None
    ) -> NDArray[np.float64]:
        """Read dosages of the selected variants for the selected samples.

        Parameters
        ----------
        variant_index : slice, int array, bool mask, int or None
            Variants (positions in ``.bim`` order); ``None`` reads all of them, so use it only
            for small sets — prefer :meth:`iter_blocks`.
        sample_index : slice, int array, bool mask, int or None
            Samples (positions in ``.fam`` order), returned in the order given.

        Returns
        -------
        numpy.ndarray
            ``float64`` array ``(n_selected_samples, n_selected_variants)`` counting
            ``effect_allele``; missing calls are ``NaN``.
        """
        rows = self._sample_positions(sample_index)
        cols = _positions(variant_index, self.nvariants, "variant_index")
        return self._read(rows, cols)

    def _read(
        self,
        rows: NDArray[np.intp] | slice,
        cols: NDArray[np.intp] | slice,
        dtype: str = "float64",
    ) -> NDArray[Any]:
        if self.check_padding and self._variant_major:
            check_bed_padding(self.bed_path, cols, self.nsamples, str(self.fam_path))
        if dtype == "int8":
            return _read_counts(self._bed, rows, cols)
        return _read_dosages(self._bed, rows, cols)

    def slice_variants(
        self,
        start: int,
        stop: int,
        sample_index: IndexLike = None,
        *,
        variants: NDArray[np.integer] | None = None,
        num_threads: int | None = 1,
    ) -> PlinkSlice:
        """Describe variants ``start:stop`` for the selected samples as a :class:`PlinkSlice`.

        Parameters
        ----------
        start, stop : int
            Variant range (positions in ``.bim`` order, ``0 ≤ start ≤ stop ≤ nvariants``).
        sample_index : slice, int array, bool mask or None
            Samples (positions in ``.fam`` order), in the order wanted for the rows.
        variants : int array, optional
            Only these positions of the range (increasing), e.g. the variants that passed
            quality control; ``None``: all of ``start:stop``.
        num_threads : int or None, default 1
            Threads bed-reader may use when the slice is read (``None``: all cores). One
            suits slices read side by side by single-threaded workers.

        Returns
        -------
        PlinkSlice
            With the absolute path of the ``.bed``, so it can be read from any working
            directory that sees the same file system.

        Examples
        --------
        >>> import numpy as np
        >>> from kronlmm.data import example_paths
        >>> from kronlmm.io import PlinkGenotypes
        >>> geno = PlinkGenotypes(example_paths().prefix)
        >>> part = geno.slice_variants(100, 150, sample_index=[3, 1, 2])
        >>> part.read().shape
        (3, 50)
        >>> bool(np.array_equal(part.read(), geno.read(slice(100, 150), [3, 1, 2]),
        ...                     equal_nan=True))
        True
        """
        if not 0 <= start <= stop <= self.nvariants:
            raise ValueError(
                f"variant range {start}:{stop} is outside 0:{self.nvariants} (the .bim has "
                f"{self.nvariants} variants)"
            )
        rows = self._sample_positions(sample_index)
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(self.nsamples), dtype=np.intp)
        chosen = None
        if variants is not None:
            chosen = np.asarray(variants, dtype=np.intp)
            if chosen.ndim != 1 or (
                chosen.size
                and (chosen[0] < start or chosen[-1] >= stop or np.any(np.diff(chosen) <= 0))
            ):
                raise ValueError(
                    f"variants must be increasing positions within {start}:{stop}, got "
                    f"{format_ids(chosen.tolist())}"
                )
        return PlinkSlice(
            bed=str(Path(self.bed_path).resolve()),
            n_samples=self.nsamples,
            n_variants=self.nvariants,
            sample_index=np.asarray(rows, dtype=np.intp),
            start=int(start),
            stop=int(stop),
            count_A1=self.count_A1,
            num_threads=num_threads,
            check_padding=self.check_padding and self._variant_major,
            variants=chosen,
        )

    def iter_blocks(
        self,
        block_size: int = 1000,
        sample_index: IndexLike = None,
        variant_index: IndexLike = None,
        *,
        dtype: str = "float64",
    ) -> Iterator[GenotypeBlock]:
        """Yield dosages in blocks of at most ``block_size`` variants.

        Only one block is in memory at a time; the whole matrix is never read.

        Parameters
        ----------
        block_size : int, default 1000
            Variants per block.
        sample_index : slice, int array, bool mask or None
            Samples to read (positions in ``.fam`` order, returned in the order given), e.g.
            :attr:`AlignedSamples.genotype_index <kronlmm.io.AlignedSamples.genotype_index>`.
        variant_index : slice, int array, bool mask or None
            Restrict to these variants (kept in the order given); ``None`` means all.
        dtype : {"float64", "int8"}, default "float64"
            ``"int8"``: one-byte counts (0, 1, 2), ``-127`` for a missing call — an eighth of
            the memory, and quicker to decode.

        Yields
        ------
        GenotypeBlock
            ``(variants, dosage)``: the block's rows of :attr:`variants` (index = variant
            position) and an array ``(n_selected_samples, block)`` in Fortran order:
            ``float64`` with ``NaN`` for missing calls, or ``int8`` counts.

        Examples
        --------
        >>> from kronlmm.data import example_paths
        >>> from kronlmm.io import PlinkGenotypes
        >>> geno = PlinkGenotypes(example_paths().prefix)
        >>> _, counts = next(geno.iter_blocks(100, dtype="int8"))
        >>> counts.dtype, sorted(set(counts.ravel().tolist()) - {0, 1, 2})
        (dtype('int8'), [-127])
        """
        if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer):
            raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
        if block_size < 1:
            raise ValueError(f"block_size must be a positive integer, got {block_size}")
        if dtype not in ("float64", "int8"):
            raise ValueError(f"dtype must be 'float64' or 'int8', got {dtype!r}")
        rows = self._sample_positions(sample_index)
        cols = _positions(variant_index, self.nvariants, "variant_index")
        if isinstance(cols, slice):
            start, stop, _ = cols.indices(self.nvariants)
            for b in range(start, stop, block_size):
                e = min(b + block_size, stop)
                yield GenotypeBlock(self._variants.iloc[b:e], self._read(rows, slice(b, e), dtype))
        else:
            for b in range(0, len(cols), block_size):
                sel = cols[b : b + block_size]
                yield GenotypeBlock(self._variants.iloc[sel], self._read(rows, sel, dtype))

    def genotype_counts(
        self,
        sample_index: IndexLike = None,
        variant_index: IndexLike = None,
        *,
        block_size: int = 2000,
    ) -> GenotypeCounts:
        """Numbers of 0, 1, 2 copies of the counted allele and of missing calls per variant.

        Counted from the packed bytes of the ``.bed`` without decoding them
        (:mod:`kronlmm.io.bed_counts`); a sample-major ``.bed``, or a sample selection that
        repeats a sample, is decoded in blocks of ``block_size`` variants instead (the same
        counts).

        Parameters
        ----------
        sample_index : slice, int array, bool mask or None
            Samples counted (``.fam`` positions); ``None``: all.
        variant_index : slice, int array, bool mask or None
            Variants (``.bim`` positions), in the order wanted; ``None``: all.
        block_size : int, default 2000
            Variants decoded at a time where the file is decoded.

        Returns
        -------
        GenotypeCounts
            ``n_two``, ``n_one``, ``n_zero``, ``n_missing`` (one per selected variant).

        Examples
        --------
        >>> from kronlmm.data import example_paths
        >>> from kronlmm.io import PlinkGenotypes
        >>> geno = PlinkGenotypes(example_paths().prefix)
        >>> counts = geno.genotype_counts(variant_index=slice(0, 3))
        >>> (counts.n_two + counts.n_one + counts.n_zero + counts.n_missing).tolist()
        [400, 400, 400]
        """
        rows = self._sample_positions(sample_index)
        cols = _positions(variant_index, self.nvariants, "variant_index")
        once = isinstance(rows, slice) or np.unique(rows).size == rows.size
        if self._variant_major and once:
            if self.check_padding:
                check_bed_padding(self.bed_path, cols, self.nsamples, str(self.fam_path))
            return packed_genotype_counts(
                self.bed_path, self.nsamples, self.nvariants, rows, cols, count_A1=self.count_A1
            )
        parts = [
            np.stack(
                [np.count_nonzero(counts == code, axis=0) for code in (2, 1, 0, MISSING_COUNT)]
            )
            for _, counts in self.iter_blocks(block_size, rows, cols, dtype="int8")
        ]
        two, one, zero, missing = (
            np.concatenate(parts, axis=1).astype(np.int64) if parts else np.zeros((4, 0), np.int64)
        )
        return GenotypeCounts(n_two=two, n_one=one, n_zero=zero, n_missing=missing)


_EXTS = ("bed", "bim", "fam")


def _read_dosages(
    bed: Any, rows: NDArray[np.intp] | slice, cols: NDArray[np.intp] | slice
) -> NDArray[np.float64]:
    """Decode the selected rows and columns of an open bed-reader handle: ``float64``
    dosages, samples × variants (Fortran order), NaN for missing calls."""
    out = bed.read(index=(rows, cols), dtype="float64", order="F")
    return np.asarray(out, dtype=np.float64)


#: A missing call among one-byte allele counts (bed-reader's ``int8`` code).
MISSING_COUNT = -127


def observed_calls(
    counts: NDArray[Any],
) -> tuple[NDArray[np.bool_], NDArray[np.intp], NDArray[np.int64]]:
    """Per variant (column) of one-byte allele counts: the mask of missing calls, their
    number, and the exact sum of the observed counts.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.io.plink import MISSING_COUNT, observed_calls
    >>> counts = np.array([[0, 2], [1, MISSING_COUNT], [2, 2]], dtype=np.int8)
    >>> _, n_missing, total = observed_calls(counts)
    >>> n_missing.tolist(), total.tolist()
    ([0, 1], [3, 4])
    """
    missing = counts == MISSING_COUNT
    n_missing = np.count_nonzero(missing, axis=0)
    total = counts.sum(axis=0, dtype=np.int64) - MISSING_COUNT * n_missing
    return missing, n_missing, total


def _read_counts(
    bed: Any, rows: NDArray[np.intp] | slice, cols: NDArray[np.intp] | slice
) -> NDArray[np.int8]:
    """Decode like :func:`_read_dosages`, as one-byte counts (``-127`` = missing)."""
    out = bed.read(index=(rows, cols), dtype="int8", order="F")
    return np.asarray(out, dtype=np.int8)


@dataclass(frozen=True, eq=False)
class PlinkSlice:
    """Variants ``start:stop`` of a PLINK ``.bed`` for chosen samples, read where it is used.

    A small, picklable description of a block of genotypes: shipped to a Dask worker, it is
    read there (:meth:`read` opens the ``.bed`` itself), so the dosages never pass through
    the process that submits the scan. Only the ``.bed`` is opened; the sample and variant
    counts are given, so the ``.fam``/``.bim`` are not parsed again. Build one with
    :meth:`PlinkGenotypes.slice_variants`.

    Attributes
    ----------
    bed : str
        Path of the ``.bed`` file (reachable from wherever the slice is read).
    n_samples, n_variants : int
        Row counts of the ``.fam`` and ``.bim``.
    sample_index : numpy.ndarray of int
        Rows of the ``.fam`` to read, in the order wanted (e.g. the null model's samples).
    start, stop : int
        Variant range.
    count_A1 : bool, default True
        Count allele 1 (the ``.bim``'s 5th column), as :class:`PlinkGenotypes` does.
    num_threads : int or None, default 1
        Threads bed-reader may use (``None``: all cores).
    check_padding : bool, default True
        Refuse the slice if the padding bits of its variants' records are not zero (see
        :class:`PlinkGenotypes`); a variant-major ``.bed`` is assumed.
    variants : numpy.ndarray of int or None
        Only these (increasing) positions of ``start:stop``; ``None``: the whole range.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, PlinkSlice
    >>> paths = example_paths()
    >>> geno = PlinkGenotypes(paths.prefix)
    >>> part = PlinkSlice(str(paths.bed), geno.nsamples, geno.nvariants,
    ...                   sample_index=np.arange(geno.nsamples), start=100, stop=150)
    >>> block = part.read()  # e.g. on a worker, when the slice is scanned
    >>> block.shape
    (400, 50)
    >>> bool(np.array_equal(block, geno.read(slice(100, 150)), equal_nan=True))
    True
    """

    bed: str
    n_samples: int
    n_variants: int
    sample_index: NDArray[np.intp]
    start: int
    stop: int
    count_A1: bool = True
    num_threads: int | None = 1
    check_padding: bool = True
    variants: NDArray[np.intp] | None = None

    def __len__(self) -> int:
        return self.stop - self.start if self.variants is None else int(self.variants.size)

    def fingerprint(self) -> str:
        """A hash of what the slice reads: the ``.bed`` bytes of its variant range, the
        counts, the samples read, the variants chosen within the range (e.g. by QC filters)
        and the counted allele (for checkpoints: a stored block is reused only if its source
        did not change).

        Examples
        --------
        >>> import numpy as np
        >>> from kronlmm.data import example_paths
        >>> from kronlmm.io import PlinkGenotypes
        >>> geno = PlinkGenotypes(example_paths().prefix)
        >>> first = geno.slice_variants(0, 10).fingerprint()
        >>> first == geno.slice_variants(0, 10).fingerprint()
        True
        >>> first == geno.slice_variants(1, 11).fingerprint()
        False
        """
        width = math.ceil(self.n_samples / 4)
        digest = hashlib.sha256()
        digest.update(
            repr((self.n_samples, self.n_variants, self.start, self.stop, self.count_A1)).encode()
        )
        digest.update(np.ascontiguousarray(self.sample_index, dtype=np.int64).tobytes())
        if self.variants is not None:
            digest.update(b"variants")
            digest.update(np.ascontiguousarray(self.variants, dtype=np.int64).tobytes())
        with open(self.bed, "rb") as fh:
            fh.seek(3 + self.start * width)
            remaining = (self.stop - self.start) * width
            while remaining > 0:
                piece = fh.read(min(remaining, 1 << 22))
                if not piece:
                    break
                digest.update(piece)
                remaining -= len(piece)
        return digest.hexdigest()[:32]

    def read(self) -> NDArray[np.float64]:
        """Dosages of variants ``start:stop`` (or of :attr:`variants`) for the samples of
        ``sample_index`` (``float64``, samples × variants, NaN for missing calls)."""
        cols: NDArray[np.intp] | slice = (
            slice(self.start, self.stop) if self.variants is None else np.asarray(self.variants)
        )
        if self.check_padding:
            fam = str(Path(self.bed).with_suffix(".fam"))
            check_bed_padding(self.bed, cols, self.n_samples, fam)
        with open_bed(
            self.bed,
            iid_count=self.n_samples,
            sid_count=self.n_variants,
            count_A1=self.count_A1,
            num_threads=self.num_threads,
        ) as bed:
            return _read_dosages(bed, np.asarray(self.sample_index), cols)


def _positions(index: Any, size: int, name: str) -> NDArray[np.intp] | slice:
    """Normalise a selector to a step-1 slice or an array of non-negative positions."""
    if index is None:
        return slice(0, size)
    if isinstance(index, slice):
        start, stop, step = index.indices(size)
        if step == 1:
            return slice(start, max(start, stop))
        return np.arange(start, stop, step, dtype=np.intp)
    arr = np.asarray(index)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        if arr.shape[0] != size:
            raise ValueError(f"boolean {name} has length {arr.shape[0]}, expected {size}")
        return np.flatnonzero(arr).astype(np.intp)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer positions or booleans, got {arr.dtype}")
    if arr.min() < -size or arr.max() >= size:
        raise ValueError(f"{name} has positions outside 0..{size - 1}")
    return np.where(arr < 0, arr + size, arr).astype(np.intp)
