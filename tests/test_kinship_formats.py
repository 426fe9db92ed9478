"""Kinship files of GEMMA, GCTA and PLINK: each format read to the same matrix as a
reference written by the tool itself (tests/reference/kinship, written by
make_kinship_reference.py with GEMMA 0.98.5, PLINK 2.00a3.5 and PLINK 1.9), and kronlmm's
writers follow the same rules (the tools' bytes, or their numbers for text)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kronlmm.gwas import QCFilters, QCReport, filter_variants
from kronlmm.io import (
    PlinkGenotypes,
    grm_from_genotypes,
    kinship_format,
    read_gcta_grm,
    read_id_file,
    read_kinship,
    read_plink_rel,
    write_kinship,
)

REF = Path(__file__).resolve().parent / "reference" / "kinship"
SMALL = REF / "small"
N = 50


@pytest.fixture(scope="module")
def fam_ids() -> np.ndarray:
    return PlinkGenotypes(SMALL).sample_ids


@pytest.fixture(scope="module")
def plink_matrix() -> np.ndarray:
    """PLINK 2's matrix from its square text file, read independently of kronlmm."""
    return np.loadtxt(REF / "plink2_square.rel")


PLINK_FILES = {
    # file: (tolerance relative to the largest entry, what the file is)
    "plink2_square.rel": (1e-5, "text, square"),
    "plink2_square0.rel": (1e-5, "text, upper triangle written as 0"),
    "plink2_triangle.rel": (1e-5, "text, lower triangle"),
    "plink2_square.rel.bin": (1e-5, "float64, square"),
    "plink2_triangle.rel.bin": (1e-5, "float64, lower triangle"),
    "plink2_square_bin4.rel.bin": (1e-5, "float32, square"),
    "plink2_triangle_bin4.rel.bin": (1e-5, "float32, lower triangle"),
    "plink19_square.rel": (1e-5, "PLINK 1.9 text, .rel.id without header"),
    "gcta.grm.bin": (1e-5, "GCTA float32 lower triangle, .grm.id"),
}


@pytest.mark.parametrize("name", sorted(PLINK_FILES))
def test_plink_and_gcta_formats_read_to_plinks_matrix(name, fam_ids, plink_matrix):
    tol, _ = PLINK_FILES[name]
    kin = read_kinship(REF / name)
    assert kin.ids.tolist() == fam_ids.tolist()
    scale = np.abs(plink_matrix).max()
    np.testing.assert_allclose(kin.K, plink_matrix, rtol=0, atol=tol * scale)
    np.testing.assert_array_equal(kin.K, kin.K.T)


def test_binary_files_are_read_exactly(plink_matrix):
    """float64 square and triangle files hold the same numbers bit for bit; the float32
    ones are their rounding to single precision."""
    square = np.fromfile(REF / "plink2_square.rel.bin", dtype="<f8").reshape(N, N)
    _, K = read_plink_rel(REF / "plink2_square.rel.bin")
    np.testing.assert_array_equal(K, square)
    _, tri = read_plink_rel(REF / "plink2_triangle.rel.bin")
    np.testing.assert_array_equal(tri, square)
    for name in ("plink2_square_bin4.rel.bin", "plink2_triangle_bin4.rel.bin"):
        _, single = read_plink_rel(REF / name)
        np.testing.assert_array_equal(single, square.astype(np.float32).astype(np.float64))
    _, gcta = read_gcta_grm(REF / "gcta.grm.bin")
    np.testing.assert_array_equal(gcta, square.astype(np.float32).astype(np.float64))


def test_gemma_centred_kinship_equals_kronlmms_centred_grm(fam_ids):
    """GEMMA's -gk 1 matrix read with the .fam's IDs equals kronlmm's centred GRM of the
    variants that pass GEMMA's default filters (MAF ≥ 0.01, missingness ≤ 5 %)."""
    kin = read_kinship(REF / "gemma.cXX.txt", ids=fam_ids)
    assert kin.ids.tolist() == fam_ids.tolist()
    geno = PlinkGenotypes(SMALL)
    report = QCReport(QCFilters(maf=0.01, geno=0.05))
    variants = filter_variants(
        geno, np.arange(N), np.arange(geno.nvariants), report.filters, report=report
    )
    assert report.variants["kept"] == 196  # GEMMA's log: "number of analyzed SNPs = 196"
    ours = grm_from_genotypes(geno, variant_index=variants, standardize=False)
    np.testing.assert_allclose(kin.K, ours.K, rtol=0, atol=1e-9)


def test_gemma_standardised_kinship_is_read_as_written(fam_ids):
    kin = read_kinship(REF / "gemma.sXX.txt", ids=fam_ids)
    np.testing.assert_allclose(kin.K, np.loadtxt(REF / "gemma.sXX.txt"), rtol=0, atol=1e-12)


def test_gemma_kinship_values_are_exact_to_the_last_digit(tmp_path):
    """A matrix written at full precision (repr) reads back as the same doubles: pandas
    before 3.0 parses about a third of such numbers one unit in the last place off unless
    told to parse exactly."""
    rng = np.random.default_rng(11)
    A = rng.standard_normal((40, 40)) * 10.0 ** rng.integers(-6, 6, (40, 40))
    K = (A + A.T) / 2 + 1e7 * np.eye(40)
    path = tmp_path / "k.cXX.txt"
    path.write_text("\n".join("\t".join(repr(float(v)) for v in row) for row in K) + "\n")
    ids = [f"s{i}" for i in range(40)]
    np.testing.assert_array_equal(read_kinship(path, ids=ids).K, K)


def test_gemma_kinship_needs_the_ids_of_its_rows(fam_ids):
    with pytest.raises(ValueError, match="holds no sample IDs"):
        read_kinship(REF / "gemma.cXX.txt")
    with pytest.raises(ValueError, match=r"50 × 50, but the .fam has 49 samples"):
        read_kinship(REF / "gemma.cXX.txt", ids=fam_ids[:49])


def test_id_files_with_and_without_plink2_header(fam_ids):
    iids, fids = read_id_file(REF / "plink2_square.rel.id")
    assert iids.tolist() == fam_ids.tolist() and fids is not None
    iids19, fids19 = read_id_file(REF / "plink19_square.rel.id")
    assert iids19.tolist() == fam_ids.tolist() and fids19.tolist() == fids.tolist()


def test_format_detected_by_name():
    assert [kinship_format(REF / n) for n in ("gemma.cXX.txt", "gemma.sXX.txt")] == ["gemma"] * 2
    assert kinship_format("x/gcta.grm.N.bin") == kinship_format("gcta.grm.id") == "gcta"
    assert kinship_format("A.REL") == "plink-rel" and kinship_format("a.Rel.Bin") == "plink-rel-bin"
    assert kinship_format("a.txt") == kinship_format("a.csv") == "table"


def test_writers_follow_the_tools_rules(tmp_path, fam_ids):
    """Written by kronlmm, each format holds what the tool wrote: the same bytes for the
    binary matrices and ID files, the same numbers for text."""
    _, K = read_plink_rel(REF / "plink2_square.rel.bin")
    _, fids = read_id_file(REF / "plink2_square.rel.id")
    for shape in ("square", "triangle"):
        path = write_kinship(tmp_path / f"k_{shape}.rel.bin", fam_ids, K, fids=fids, shape=shape)
        assert path.read_bytes() == (REF / f"plink2_{shape}.rel.bin").read_bytes()
        assert (
            Path(f"{tmp_path}/k_{shape}.rel.id").read_bytes()
            == (REF / f"plink2_{shape}.rel.id").read_bytes()
        )
        text = write_kinship(tmp_path / f"k_{shape}.rel", fam_ids, K, fids=fids, shape=shape)
        ours = np.array(text.read_text().split(), dtype=float)
        theirs = np.array((REF / f"plink2_{shape}.rel").read_text().split(), dtype=float)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    _, K32 = read_gcta_grm(REF / "gcta.grm.bin")
    write_kinship(tmp_path / "g.grm.bin", fam_ids, K32, fids=fids, n_variants=200)
    assert (tmp_path / "g.grm.bin").read_bytes() == (REF / "gcta.grm.bin").read_bytes()
    assert (tmp_path / "g.grm.id").read_bytes() == (REF / "gcta.grm.id").read_bytes()
    counts = np.fromfile(tmp_path / "g.grm.N.bin", dtype="<f4")
    assert counts.size == N * (N + 1) // 2 and (counts == 200).all()
    gemma = read_kinship(REF / "gemma.cXX.txt", ids=fam_ids)
    path = write_kinship(tmp_path / "k.cXX.txt", fam_ids, gemma.K)
    np.testing.assert_allclose(np.loadtxt(path), np.loadtxt(REF / "gemma.cXX.txt"), rtol=1e-9)
    for name in ("k_square.rel", "k_triangle.rel.bin", "g.grm.bin"):
        back = read_kinship(tmp_path / name)
        assert back.ids.tolist() == fam_ids.tolist()


def test_mismatched_ids_and_matrix_are_refused(tmp_path, fam_ids):
    K = np.eye(N)
    write_kinship(tmp_path / "k.rel.bin", fam_ids, K)
    (tmp_path / "k.rel.id").write_text("#IID\n" + "".join(f"{i}\n" for i in fam_ids[:-1]))
    with pytest.raises(ValueError, match="do not belong together"):
        read_kinship(tmp_path / "k.rel.bin")
    write_kinship(tmp_path / "g.grm.bin", fam_ids, K)
    (tmp_path / "g.grm.id").write_text("".join(f"{i}\t{i}\n" for i in fam_ids[:-2]))
    with pytest.raises(ValueError, match="do not belong together"):
        read_kinship(tmp_path / "g.grm.bin")
    with pytest.raises(ValueError, match="not found|does not exist"):
        read_kinship(tmp_path / "absent.rel")


def test_kinship_table_read_exactly(tmp_path, rng):
    """kronlmm's own ID-labelled table gives what was written; a non-numeric cell is named."""
    n = 300
    ids = [f"s{i}" for i in range(n)]
    G = rng.standard_normal((n, 20))
    K = G @ G.T / 20
    path = write_kinship(tmp_path / "k.tsv", ids, K, fmt="%.17g")
    kin = read_kinship(path)
    assert kin.ids.tolist() == ids
    np.testing.assert_allclose(kin.K, K, rtol=1e-15, atol=1e-15)  # parsing: last-digit rounding
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split("\t")[2], "oops", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="non-numeric value 'oops' at row 's2'"):
        read_kinship(path)


def test_non_numeric_plink_text_is_named(tmp_path, fam_ids):
    text = (REF / "plink2_triangle.rel").read_text().replace("0.274039", "x0.27", 1)
    (tmp_path / "bad.rel").write_text(text)
    (tmp_path / "bad.rel.id").write_bytes((REF / "plink2_triangle.rel.id").read_bytes())
    with pytest.raises(ValueError, match="non-numeric value 'x0.27'"):
        read_kinship(tmp_path / "bad.rel")
