"""Genotype counts from the packed ``.bed`` bytes (``kronlmm.io.bed_counts``) against counts
of the decoded genotypes (bed-reader), and the variant QC built on them.

The reference is independent of the packed route: bed-reader decodes the file, and the
counts are taken with ``==`` on the decoded array. Cases: every sample count modulo 4 (the
last byte of a record partly padding), missing calls, sample selections (all, a slice, a
permutation, a subset, a boolean mask, none), variant selections (all, unsorted with gaps),
``count_A1=False``, garbage in the padding bits of a file read with the padding check off,
a sample-major file and a selection that repeats a sample (both decoded instead).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bed_reader import open_bed, to_bed

from kronlmm.io import PlinkGenotypes, hwe_exact_p, variant_qc_stats
from kronlmm.io.bed_counts import packed_genotype_counts


def _write(prefix: Path, n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.0, 0.6, m)
    dosage = rng.binomial(2, freq, size=(n, m)).astype(np.float64)
    dosage[rng.random((n, m)) < 0.05] = np.nan
    dosage[:, 0] = np.nan  # a variant with no observed call
    dosage[:, 1] = 2.0  # monomorphic
    to_bed(prefix.with_suffix(".bed"), dosage, properties={
        "iid": [f"S{i}" for i in range(n)], "sid": [f"v{j}" for j in range(m)],
        "chromosome": ["1"] * m, "bp_position": np.arange(1, m + 1),
    })  # fmt: skip
    return dosage


def _decoded(geno: PlinkGenotypes, rows, cols) -> np.ndarray:
    with open_bed(geno.bed_path, count_A1=geno.count_A1) as bed:
        values = bed.read(index=(rows, cols), dtype="float64")
    return np.stack(
        [
            (values == 2).sum(0),
            (values == 1).sum(0),
            (values == 0).sum(0),
            np.isnan(values).sum(0),
        ]
    )


def _counted(geno: PlinkGenotypes, rows, cols) -> np.ndarray:
    c = geno.genotype_counts(rows, cols)
    return np.stack([c.n_two, c.n_one, c.n_zero, c.n_missing])


@pytest.mark.parametrize("n", [37, 38, 39, 40, 257])
@pytest.mark.parametrize("count_A1", [True, False])
def test_packed_counts_equal_decoded_counts(tmp_path, n, count_A1):
    m = 61
    _write(tmp_path / "g", n, m, seed=n)
    geno = PlinkGenotypes(tmp_path / "g", count_A1=count_A1)
    rng = np.random.default_rng(1)
    mask = rng.random(n) < 0.6
    samples = [
        None,
        slice(3, n - 2),
        rng.permutation(n),
        np.sort(rng.choice(n, n // 3, replace=False))[::-1],
        mask,
        np.zeros(0, dtype=int),
    ]
    variants = [None, np.array([60, 2, 0, 33, 34, 35, 1, 59])]
    for rows in samples:
        for cols in variants:
            r = np.arange(n) if rows is None else rows
            c = np.arange(m) if cols is None else cols
            np.testing.assert_array_equal(_counted(geno, rows, cols), _decoded(geno, r, c))


def test_padding_garbage_is_not_counted(tmp_path):
    """A writer that leaves ones in the padding bits: with the check off, the counts are
    still those of the real samples (bed-reader ignores the padding too)."""
    n, m = 41, 9  # 41 samples: one sample in the last byte, three padding slots
    _write(tmp_path / "g", n, m, seed=3)
    bed = tmp_path / "g.bed"
    raw = bytearray(bed.read_bytes())
    record = -(-n // 4)
    for j in range(m):
        raw[3 + (j + 1) * record - 1] |= 0b01_10_11_00  # missing, het, hom2 in the padding
    bed.write_bytes(bytes(raw))
    geno = PlinkGenotypes(tmp_path / "g", check_padding=False)
    np.testing.assert_array_equal(
        _counted(geno, None, None), _decoded(geno, np.arange(n), np.arange(m))
    )
    direct = packed_genotype_counts(bed, n, m, slice(0, n), slice(0, m))
    assert (direct.n_two + direct.n_one + direct.n_zero + direct.n_missing == n).all()


def test_repeated_samples_and_sample_major_files_are_decoded(tmp_path):
    n, m = 30, 12
    _write(tmp_path / "g", n, m, seed=4)
    geno = PlinkGenotypes(tmp_path / "g")
    rows = np.array([0, 5, 5, 7, 0])  # each repeat counts again, as when decoded
    np.testing.assert_array_equal(_counted(geno, rows, None), _decoded(geno, rows, np.arange(m)))
    with pytest.raises(ValueError, match="repeats a sample"):
        packed_genotype_counts(geno.bed_path, n, m, rows, slice(0, m))

    # the same genotypes written sample-major (mode byte 0): one record per sample
    with open_bed(geno.bed_path) as bed:
        values = bed.read(dtype="float64")
    codes = np.where(np.isnan(values), 1, np.select([values == 2, values == 1], [0, 2], 3))
    per_sample = -(-m // 4)
    body = bytearray()
    for i in range(n):
        record = np.zeros(per_sample * 4, dtype=np.uint8)
        record[:m] = codes[i]
        slots = record.reshape(per_sample, 4)
        body += bytes((slots << np.array([0, 2, 4, 6], dtype=np.uint8)).sum(1).astype(np.uint8))
    for ext in ("bim", "fam"):
        (tmp_path / f"s.{ext}").write_bytes((tmp_path / f"g.{ext}").read_bytes())
    (tmp_path / "s.bed").write_bytes(bytes([0x6C, 0x1B, 0x00]) + bytes(body))
    sample_major = PlinkGenotypes(tmp_path / "s")
    assert not sample_major._variant_major  # noqa: SLF001 - the decoded route is the one tested
    np.testing.assert_array_equal(
        _counted(sample_major, None, None), _decoded(geno, np.arange(n), np.arange(m))
    )


def test_variant_qc_stats_from_counts_equal_decoded_statistics(tmp_path):
    n, m = 203, 40
    dosage = _write(tmp_path / "g", n, m, seed=5)
    geno = PlinkGenotypes(tmp_path / "g")
    rows = np.random.default_rng(2).permutation(n)[:150]
    stats = variant_qc_stats(geno, rows, hwe=True)
    d = dosage[rows]
    observed = (~np.isnan(d)).sum(0)
    with np.errstate(invalid="ignore"):
        freq = np.nansum(d, 0) / (2 * observed)
    expected = pd.DataFrame(
        {
            "n_observed": observed,
            "missing_rate": 1 - observed / rows.size,
            "effect_allele_frequency": np.where(observed > 0, freq, np.nan),
            "hwe_p": hwe_exact_p((d == 2).sum(0), (d == 1).sum(0), (d == 0).sum(0)),
        }
    )
    pd.testing.assert_frame_equal(
        stats[list(expected.columns)].reset_index(drop=True), expected, check_dtype=False
    )
    assert np.isnan(stats["effect_allele_frequency"].iloc[0])  # the variant with no call


@pytest.mark.parametrize("cores", [1, 2, 5])
def test_many_blocks_give_the_same_counts(tmp_path, monkeypatch, cores):
    """Many small blocks (a few records each), counted on 1, 2 or 5 threads, unsorted
    variants with repeats: the counts of one block-free pass over the decoded file."""
    import kronlmm.io.bed_counts as bed_counts

    n, m = 45, 50
    _write(tmp_path / "g", n, m, seed=6)
    geno = PlinkGenotypes(tmp_path / "g")
    monkeypatch.setattr(bed_counts, "RECORD_BLOCK_BYTES", 3 * 16)  # 16-byte records: 3 each
    monkeypatch.setattr(bed_counts, "cores_available", lambda: cores)
    rows = np.random.default_rng(3).permutation(n)[:30]
    cols = np.r_[np.arange(m), np.arange(m)[::-3], [7, 7, 7]]
    c = packed_genotype_counts(geno.bed_path, n, m, rows, cols)
    np.testing.assert_array_equal(
        np.stack([c.n_two, c.n_one, c.n_zero, c.n_missing]), _decoded(geno, rows, cols)
    )


def test_byte_table_popcount_of_numpy_1_26(tmp_path, monkeypatch):
    """Without ``np.bitwise_count`` (NumPy < 2.0) the byte table counts the same bits."""
    n, m = 83, 20
    _write(tmp_path / "g", n, m, seed=9)
    geno = PlinkGenotypes(tmp_path / "g")
    expected = _counted(geno, None, None)
    monkeypatch.delattr(np, "bitwise_count")
    np.testing.assert_array_equal(_counted(geno, None, None), expected)
    np.testing.assert_array_equal(expected, _decoded(geno, np.arange(n), np.arange(m)))
