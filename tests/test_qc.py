"""Sample and variant filters against plink2's own results on the same fileset
(tests/reference/qc, written by make_qc_reference.py with PLINK 2.00a3.5): the statistics
(--freq, --missing, --hardy), the samples and variants kept by --mind, --geno, --hwe, --maf
alone and after --keep/--remove/--extract/--exclude, and the counts plink2 logged."""

from __future__ import annotations

import json
from fractions import Fraction
from math import factorial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kronlmm.gwas import (
    NO_QC,
    QCFilters,
    QCReport,
    filter_variants,
    select_genotype_samples,
    select_listed_variants,
)
from kronlmm.io import (
    PlinkGenotypes,
    hwe_exact_p,
    read_sample_list,
    sample_missing_rate,
    select_samples,
    variant_qc_stats,
)

REF = Path(__file__).resolve().parent / "reference" / "qc"
FILTERS = QCFilters(maf=0.05, geno=0.05, hwe=1e-4, mind=0.1)  # as make_qc_reference.py
LISTS = {
    "keep": REF / "keep.txt",
    "remove": REF / "remove.txt",
    "extract": REF / "extract.txt",
    "exclude": REF / "exclude.txt",
}


@pytest.fixture(scope="module")
def geno() -> PlinkGenotypes:
    return PlinkGenotypes(REF / "qc")


def _plink_table(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / name, sep="\t")


def test_statistics_equal_plink2(geno):
    stats = variant_qc_stats(geno, hwe=True)
    vmiss = _plink_table("qc.vmiss")
    np.testing.assert_array_equal(stats["variant_id"], vmiss["ID"])
    n = geno.nsamples
    np.testing.assert_array_equal(n - stats["n_observed"], vmiss["MISSING_CT"])
    freq = _plink_table("qc.afreq")
    assert (freq["ALT"] == geno.variants["effect_allele"]).all()  # ALT is the counted allele
    np.testing.assert_allclose(stats["effect_allele_frequency"], freq["ALT_FREQS"], atol=1e-6)
    hardy = _plink_table("qc.hardy")
    np.testing.assert_allclose(stats["hwe_p"], hardy["P"], rtol=1e-5, atol=1e-300)
    smiss = _plink_table("qc.smiss")
    rate = sample_missing_rate(geno)
    np.testing.assert_array_equal(np.rint(rate * geno.nvariants), smiss["MISSING_CT"])


def test_hwe_exact_p_equals_enumeration_in_exact_arithmetic():
    def exact(hom1: int, het: int, hom2: int) -> float:
        n, n1 = hom1 + het + hom2, 2 * hom1 + het
        n2 = 2 * n - n1

        def prob(h: int) -> Fraction:
            a, b = (n1 - h) // 2, (n2 - h) // 2
            num = factorial(n) * factorial(n1) * factorial(n2) * 2**h
            return Fraction(num, factorial(2 * n) * factorial(a) * factorial(h) * factorial(b))

        observed = prob(het)
        return float(
            sum(p for h in range(n1 % 2, min(n1, n2) + 1, 2) if (p := prob(h)) <= observed)
        )

    counts = [(90, 0, 10), (79, 21, 0), (30, 20, 0), (3, 2, 1), (10, 40, 10), (0, 57, 0), (5, 0, 0)]
    ours = hwe_exact_p(*np.array(counts).T)
    np.testing.assert_allclose(ours, [exact(*c) for c in counts], rtol=1e-10)


@pytest.mark.parametrize("case", ["qc_only", "lists"])
def test_filters_keep_what_plink2_keeps(geno, case):
    """PLINK 2's order: lists, then --mind, then --geno, --hwe, --maf on the samples left
    (every sample of the fileset is a founder, so plink2's founders-only --maf/--hwe use
    the same samples as kronlmm)."""
    lists = LISTS if case == "lists" else {}
    report = QCReport(FILTERS)
    variants = select_listed_variants(
        geno, extract=lists.get("extract"), exclude=lists.get("exclude"), report=report
    )
    samples = select_genotype_samples(
        geno,
        FILTERS,
        keep=lists.get("keep"),
        remove=lists.get("remove"),
        variant_index=variants,
        report=report,
    )
    kept = filter_variants(geno, samples, variants, FILTERS, report=report)

    expected_samples = read_sample_list(REF / f"{case}.id").iids
    assert geno.sample_ids[samples].tolist() == expected_samples
    expected_variants = (REF / f"{case}.snplist").read_text().split()
    assert geno.variants["variant_id"].to_numpy()[kept].tolist() == expected_variants
    logged = json.loads((REF / "counts.json").read_text())[case]
    assert report.samples["removed_by_mind"] == logged["removed_by_mind"]
    for reason in ("geno", "hwe", "maf"):
        assert report.variants[f"removed_by_{reason}"] == logged[f"removed_by_{reason}"], reason
    assert report.variants["kept"] == logged["variants_kept"]


def test_ties_at_the_threshold_are_kept(geno):
    """Variants v080..v091 have MAF exactly 12/240 = 0.05: PLINK keeps them, so does kronlmm."""
    stats = variant_qc_stats(geno, variant_index=np.arange(80, 92))
    assert (stats["maf"] == 0.05).all()
    report = QCReport(QCFilters(maf=0.05, geno=None))
    kept = filter_variants(
        geno, np.arange(geno.nsamples), np.arange(80, 92), report.filters, report=report
    )
    assert kept.tolist() == list(range(80, 92))


def test_no_filter_keeps_everything(geno):
    report = QCReport(NO_QC)
    kept = filter_variants(
        geno, np.arange(geno.nsamples), np.arange(geno.nvariants), NO_QC, report=report
    )
    assert kept.size == geno.nvariants and report.summary().startswith("variant QC (none)")


def test_sample_lists_match_by_iid_and_check_fids(geno, tmp_path):
    iids = geno.sample_ids
    fids = geno.samples["FID"].to_numpy()
    (tmp_path / "k.txt").write_text("#IID\nS005\nS001\nnot_there\n")
    positions, counts = select_samples(iids, fids, keep=tmp_path / "k.txt")
    assert positions.tolist() == [1, 5] and counts["removed_by_keep"] == geno.nsamples - 2
    (tmp_path / "bad.txt").write_text("WRONG S003\n")
    with pytest.raises(ValueError, match=r"FID differs from the .fam for 'S003 \(list: FID WRONG"):
        select_samples(iids, fids, remove=tmp_path / "bad.txt")


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match=r"maf must be a number in \[0, 0.5\], got 0.7"):
        QCFilters(maf=0.7)
    with pytest.raises(ValueError, match=r"geno must be a number in \[0, 1\], got 'x'"):
        QCFilters(geno="x")  # type: ignore[arg-type]
