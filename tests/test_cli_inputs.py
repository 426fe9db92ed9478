"""The ``kronlmm`` command with files from other tools, end to end (in-process, CliRunner):
a GEMMA-style .fam and --pheno-from-fam, ID headers and --id-col, PLINK sample and variant
lists with the QC filters (against plink2's results, tests/reference/qc), the rank of C₀
(default, auto, warned when below p), ``kronlmm kinship`` in every format read back by
``--kinship`` (GEMMA's own file as the reference for the centred GRM), -v stage timings and
checkpoint resumes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kronlmm.cli import cli
from kronlmm.data import example_paths
from kronlmm.gwas import read_results
from kronlmm.io import PlinkGenotypes, grm_from_genotypes, read_kinship, read_sample_list

PATHS = example_paths()
REFERENCE = Path(__file__).resolve().parent / "reference"
QC = REFERENCE / "qc"
KIN = REFERENCE / "kinship"


def _run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _ok(*args: object) -> tuple[str, str]:
    code, out, err = _run(*args)
    assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    return out, err


def _null_json(prefix: Path) -> dict:
    return json.loads(Path(f"{prefix}.null.json").read_text())


# --------------------------------------------------------------------------- phenotypes
@pytest.fixture(scope="module")
def gemma_fileset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example fileset with a GEMMA-style .fam: traits 1-3 in columns 6-8 (-9 missing)."""
    root = tmp_path_factory.mktemp("gemma_fam")
    prefix = root / "example"
    for ext in ("bed", "bim"):
        shutil.copy(PATHS.prefix.with_suffix(f".{ext}"), prefix.with_suffix(f".{ext}"))
    traits = pd.read_csv(PATHS.pheno, sep="\t").set_index("IID")[["trait1", "trait2", "trait3"]]
    fam = PATHS.prefix.with_suffix(".fam").read_text().splitlines()
    lines = []
    for line in fam:
        fields = line.split()
        values = traits.reindex([fields[1]]).iloc[0].fillna(-9).tolist()
        lines.append(" ".join(fields[:5] + [f"{v:.10g}" for v in values]))
    prefix.with_suffix(".fam").write_text("\n".join(lines) + "\n")
    return prefix


def test_gemma_style_fam_and_pheno_from_fam(gemma_fileset: Path, tmp_path: Path) -> None:
    """A .fam with phenotypes in columns 6-8 is read (PLINK ignores the extra columns), and
    --pheno-from-fam analyses them: the same model as the phenotype table."""
    table = tmp_path / "table"
    _ok(
        "fit-null",
        "--bfile",
        gemma_fileset,
        "--pheno",
        PATHS.pheno,
        "--covar",
        PATHS.covar,
        "--out",
        table,
        "-q",
    )
    fam = tmp_path / "fam"
    out, _ = _ok(
        "fit-null",
        "--bfile",
        gemma_fileset,
        "--pheno-from-fam",
        "--covar",
        PATHS.covar,
        "--out",
        fam,
        "-q",
    )
    assert "traits pheno1, pheno2, pheno3" in out
    a, b = _null_json(table), _null_json(fam)
    # -9 read as missing: the same observed values used
    assert a["alignment"]["kept"] == b["alignment"]["kept"] == 395
    assert a["missing_traits"]["observed_values"] == {"trait1": 389, "trait2": 389, "trait3": 389}
    assert b["missing_traits"]["observed_values"] == {"pheno1": 389, "pheno2": 389, "pheno3": 389}
    np.testing.assert_allclose(b["C0"], a["C0"], rtol=1e-12)
    assert b["lml"] == pytest.approx(a["lml"], rel=1e-12)
    one = tmp_path / "one"
    out, _ = _ok(
        "fit-null",
        "--bfile",
        gemma_fileset,
        "--pheno-from-fam",
        "--pheno-cols",
        "pheno2",
        "--out",
        one,
        "--kinship",
        "none",
        "-q",
    )
    assert "traits pheno2" in out
    code, _, err = _run(
        "fit-null",
        "--bfile",
        gemma_fileset,
        "--pheno-from-fam",
        "--pheno-cols",
        "pheno4",
        "--out",
        one,
    )
    assert code == 1 and "it has pheno1, pheno2, pheno3 (pheno1 is column 6" in err
    code, _, err = _run("fit-null", "--bfile", gemma_fileset, "--out", one)
    assert code == 1 and "give --pheno FILE, or --pheno-from-fam" in err


def test_id_headers_in_any_case_and_id_col(tmp_path: Path) -> None:
    pheno = pd.read_csv(PATHS.pheno, sep="\t")
    lower = tmp_path / "lower.tsv"
    pheno.rename(columns={"FID": "fid", "IID": "iid"}).to_csv(lower, sep="\t", index=False)
    custom = tmp_path / "custom.csv"
    pheno.drop(columns="FID").rename(columns={"IID": "sample"}).to_csv(custom, index=False)
    covar = tmp_path / "covar.csv"
    pd.read_csv(PATHS.covar, sep="\t").drop(columns="FID").rename(columns={"IID": "sample"}).to_csv(
        covar, index=False
    )
    reference = tmp_path / "reference"
    _ok(
        "fit-null",
        "--bfile",
        PATHS.prefix,
        "--pheno",
        PATHS.pheno,
        "--kinship",
        "none",
        "--out",
        reference,
        "-q",
    )
    for name, extra in (
        ("lower", ["--pheno", lower]),
        ("custom", ["--pheno", custom, "--id-col", "sample"]),
    ):
        _ok(
            "fit-null",
            "--bfile",
            PATHS.prefix,
            *extra,
            "--kinship",
            "none",
            "--out",
            tmp_path / name,
            "-q",
        )
        assert _null_json(tmp_path / name)["lml"] == _null_json(reference)["lml"]
    _ok(
        "fit-null",
        "--bfile",
        PATHS.prefix,
        "--pheno",
        custom,
        "--covar",
        covar,
        "--id-col",
        "sample",
        "--kinship",
        "none",
        "--out",
        tmp_path / "both",
        "-q",
    )
    code, _, err = _run(
        "fit-null", "--bfile", PATHS.prefix, "--pheno", custom, "--out", tmp_path / "x"
    )
    assert code == 1 and "--id-col NAME on the command line" in err


# --------------------------------------------------------------------------- filters
@pytest.fixture(scope="module")
def qc_pheno(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated traits for every sample of the QC reference fileset."""
    geno = PlinkGenotypes(QC / "qc")
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("qc") / "pheno.tsv"
    pd.DataFrame(
        {
            "IID": geno.sample_ids,
            "y1": rng.standard_normal(geno.nsamples),
            "y2": rng.standard_normal(geno.nsamples),
        }
    ).to_csv(path, sep="\t", index=False)
    return path


def test_filters_end_to_end_equal_plink2(qc_pheno: Path, tmp_path: Path) -> None:
    """plink2 --keep --remove --extract --exclude --mind 0.1 --geno 0.05 --hwe 1e-4 --maf 0.05
    kept these samples and variants; the scan tests exactly those, null.json and the log
    carry plink2's counts per reason."""
    prefix = tmp_path / "qc"
    out, err = _ok(
        "scan",
        "--bfile",
        QC / "qc",
        "--pheno",
        qc_pheno,
        "--kinship",
        "none",
        "--keep",
        QC / "keep.txt",
        "--remove",
        QC / "remove.txt",
        "--extract",
        QC / "extract.txt",
        "--exclude",
        QC / "exclude.txt",
        "--mind",
        "0.1",
        "--geno",
        "0.05",
        "--hwe",
        "1e-4",
        "--maf",
        "0.05",
        "--no-plots",
        "--no-progress",
        "--out",
        prefix,
    )
    assoc = read_results(f"{prefix}.assoc.tsv.gz")
    assert assoc["variant_id"].tolist() == (QC / "lists.snplist").read_text().split()
    null = _null_json(prefix)
    assert null["nsamples"] == len(read_sample_list(QC / "lists.id"))
    logged = json.loads((QC / "counts.json").read_text())["lists"]
    qc = null["qc"]
    assert qc["filters"] == {"maf": 0.05, "geno": 0.05, "hwe": 1e-4, "mind": 0.1}
    assert qc["samples"]["removed_by_mind"] == logged["removed_by_mind"]
    for reason in ("geno", "hwe", "maf"):
        assert qc["variants"][f"removed_by_{reason}"] == logged[f"removed_by_{reason}"]
    assert qc["variants"]["kept"] == logged["variants_kept"] == len(assoc)
    assert qc["variants"]["removed_by_extract"] == 20 and qc["variants"]["removed_by_exclude"] == 5
    assert qc["samples"]["removed_by_keep"] == 10 and qc["samples"]["removed_by_remove"] == 3
    line = (
        f"variant QC (MAF >= 0.05, variant missingness <= 0.05, HWE p >= 0.0001, sample "
        f"missingness <= 0.1): {logged['variants_kept']} of 400 variants kept; removed: "
        f"extract 20, exclude 5, geno {logged['removed_by_geno']}, hwe "
        f"{logged['removed_by_hwe']}, maf {logged['removed_by_maf']}; samples removed: keep "
        f"10, remove 3, mind {logged['removed_by_mind']}"
    )
    assert line in out and line in err  # the run summary and the log


def test_default_filters_are_stated_and_can_be_switched_off(tmp_path: Path) -> None:
    out, _ = _ok(
        "fit-null",
        "--bfile",
        PATHS.prefix,
        "--pheno",
        PATHS.pheno,
        "--kinship",
        "none",
        "--out",
        tmp_path / "a",
        "-q",
    )
    assert (
        "variant QC (MAF >= 0.01, variant missingness <= 0.05): 2970 of 3000 variants kept; "
        "removed: maf 30" in out
    )
    out, _ = _ok(
        "fit-null",
        "--bfile",
        PATHS.prefix,
        "--pheno",
        PATHS.pheno,
        "--kinship",
        "none",
        "--maf",
        "none",
        "--geno",
        "none",
        "--out",
        tmp_path / "b",
        "-q",
    )
    assert "variant QC (none): 3000 of 3000 variants kept; removed: none" in out
    code, _, err = _run("scan", "--bfile", PATHS.prefix, "--pheno", PATHS.pheno, "--maf", "0.7")
    assert code == 2 and "expected a number in [0, 0.5] or 'none', got '0.7'" in err


# --------------------------------------------------------------------------- rank
@pytest.mark.slow
def test_rank_default_auto_and_warning(tmp_path: Path) -> None:
    base = ["--bfile", PATHS.prefix, "--pheno", PATHS.pheno, "--covar", PATHS.covar]
    out, err = _ok("fit-null", *base, "--out", tmp_path / "default")
    reason = "rank of C0: 3 (full rank (p = 3): 1158 observations for 12 variance parameters)"
    assert reason in out and reason in err
    out, _ = _ok("fit-null", *base, "--rank", "auto", "--out", tmp_path / "auto", "-q")
    table = _null_json(tmp_path / "auto")["rank_choice"]
    assert table["method"] == "auto" and [row["rank"] for row in table["table"]] == [1, 2, 3]
    bics = [row["bic"] for row in table["table"]]
    assert table["rank"] == 1 + int(np.argmin(bics))
    # BIC = -2 lml + q log N, q = r p - r(r-1)/2 + p(p+1)/2, N the observed values (3 · 389)
    for row in table["table"]:
        q = row["rank"] * 3 - row["rank"] * (row["rank"] - 1) // 2 + 6
        assert row["bic"] == pytest.approx(-2 * row["lml"] + q * np.log(389 * 3), rel=1e-12)
    assert re.search(r"rank of C0: \d \(rank \d of 1\.\.3: smallest BIC", out)
    assert out.count("variance parameters, BIC") == 3
    _, err = _ok(
        "scan",
        *base,
        "--kinship",
        "none",
        "--rank",
        "2",
        "--no-plots",
        "--out",
        tmp_path / "low",
        "-q",
    )
    assert "--rank" not in err  # no genetic term: no C0 to warn about
    _, err = _ok(
        "scan", *base, "--rank", "1", "--no-plots", "--no-progress", "--out", tmp_path / "low", "-q"
    )
    assert "kronlmm: warning: the scan runs with C0 of rank 1 < p = 3 traits" in err
    code, _, err = _run("fit-null", *base, "--rank", "often")
    assert code == 2 and "expected 'full', 'auto' or a positive integer" in err


# --------------------------------------------------------------------------- kinship
FORMATS = {
    "plink-bin": ["kin.rel.bin", "kin.rel.id"],
    "plink": ["kin.rel", "kin.rel.id"],
    "gcta": ["kin.grm.bin", "kin.grm.N.bin", "kin.grm.id"],
    "gemma": ["kin.sXX.txt"],
    "tsv": ["kin.kinship.tsv"],
    "npz": ["kin.kinship.npz"],
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_kinship_command_writes_every_format(fmt: str, tmp_path: Path) -> None:
    out, _ = _ok(
        "kinship", "--bfile", PATHS.prefix, "--format", fmt, "--out", tmp_path / "kin", "-q"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FORMATS[fmt])
    geno = PlinkGenotypes(PATHS.prefix)
    expected = grm_from_genotypes(geno, variant_index=np.flatnonzero(_passes_default_qc(geno)))
    ids = geno.sample_ids if fmt == "gemma" else None
    kin = read_kinship(tmp_path / FORMATS[fmt][0], ids=ids)
    assert kin.ids.tolist() == geno.sample_ids.tolist()
    # float32 (GCTA), 6 digits (PLINK text), 10 digits (GEMMA, kronlmm's table), float64
    tol = {"gcta": 1e-6, "plink": 1e-5, "gemma": 1e-9, "tsv": 1e-9}.get(fmt, 0.0)
    np.testing.assert_allclose(kin.K, expected.K, rtol=0, atol=tol * np.abs(expected.K).max())
    assert "2970 of 3000 variants kept" in out and f"{fmt} format" in out


def _passes_default_qc(geno: PlinkGenotypes) -> np.ndarray:
    dosage = geno.read()
    freq = np.nanmean(dosage, axis=0) / 2
    missing = np.isnan(dosage).mean(axis=0)
    return (np.minimum(freq, 1 - freq) >= 0.01) & (missing <= 0.05)


def test_kinship_command_centred_equals_gemma(tmp_path: Path) -> None:
    """``kronlmm kinship --kind centered --format gemma`` of the reference fileset holds
    GEMMA's own -gk 1 matrix (GEMMA 0.98.5, tests/reference/kinship/gemma.cXX.txt)."""
    _ok(
        "kinship",
        "--bfile",
        KIN / "small",
        "--kind",
        "centered",
        "--format",
        "gemma",
        "--out",
        tmp_path / "small",
        "-q",
    )
    ours = np.loadtxt(tmp_path / "small.cXX.txt")
    np.testing.assert_allclose(ours, np.loadtxt(KIN / "gemma.cXX.txt"), rtol=0, atol=1e-9)
    code, _, err = _run(
        "kinship",
        "--bfile",
        KIN / "small",
        "--format",
        "gemma",
        "--keep",
        QC / "keep.txt",
        "--out",
        tmp_path / "x",
    )
    assert code == 1 and "GEMMA's kinship files hold no sample IDs" in err


@pytest.mark.slow
def test_scan_reads_kinship_files_of_other_tools(tmp_path: Path) -> None:
    """The same matrix in PLINK's binary format and in kronlmm's .npz: the same null."""
    base = ["--bfile", PATHS.prefix, "--pheno", PATHS.pheno, "--covar", PATHS.covar, "-q"]
    _ok("kinship", "--bfile", PATHS.prefix, "--format", "plink-bin", "--out", tmp_path / "k", "-q")
    kin = read_kinship(tmp_path / "k.rel.bin")
    np.savez(tmp_path / "k.npz", ids=kin.ids.astype(str), K=kin.K)
    for name in ("k.rel.bin", "k.npz"):
        _ok("fit-null", *base, "--kinship", tmp_path / name, "--out", tmp_path / name)
    a, b = _null_json(tmp_path / "k.rel.bin"), _null_json(tmp_path / "k.npz")
    assert a["lml"] == b["lml"] and a["kinship"]["source"].endswith("k.rel.bin")
    gemma = tmp_path / "gemma"
    _ok(
        "kinship",
        "--bfile",
        KIN / "small",
        "--kind",
        "centered",
        "--format",
        "gemma",
        "--out",
        gemma,
        "-q",
    )
    pheno = tmp_path / "small_pheno.tsv"
    ids = PlinkGenotypes(KIN / "small").sample_ids
    pd.DataFrame({"IID": ids, "y": np.random.default_rng(1).standard_normal(ids.size)}).to_csv(
        pheno, sep="\t", index=False
    )
    _ok(
        "fit-null",
        "--bfile",
        KIN / "small",
        "--pheno",
        pheno,
        "--kinship",
        f"{gemma}.cXX.txt",
        "--out",
        tmp_path / "small",
        "-q",
    )
    assert _null_json(tmp_path / "small")["kinship"]["method"] == "eigendecomposition"


# --------------------------------------------------------------------------- messages
@pytest.mark.slow
def test_verbose_prints_stage_timings_and_checkpoints_say_what_was_reused(tmp_path: Path) -> None:
    args = [
        "scan",
        "--bfile",
        PATHS.prefix,
        "--pheno",
        PATHS.pheno,
        "--covar",
        PATHS.covar,
        "--no-plots",
        "--no-progress",
        "--chunk-size",
        "1000",
        "--checkpoint",
        tmp_path / "ck",
    ]
    _, err = _ok("-v", *args, "--out", tmp_path / "first")
    stages = re.findall(r"^kronlmm: stage (.+): \d+\.\d\d s$", err, flags=re.MULTILINE)
    for expected in (
        "read inputs",
        "variant QC (--geno, --hwe, --maf)",
        "kinship (GRM from the genotypes)",
        "kinship eigendecomposition",
        "null model fit",
        "scan ('any' test)",
        "write outputs",
    ):
        assert expected in stages, (expected, stages)
    assert "3 blocks to compute" in err
    _, err = _ok(*args, "--out", tmp_path / "second")
    assert "stage " not in err  # timings only with -v
    assert "resumed 3 of 3 blocks, 0 to compute" in err
