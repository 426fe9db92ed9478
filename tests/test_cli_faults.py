"""Bad input and faults against ``kronlmm scan`` / ``fit-null``, end to end (issue 14).

Every test runs the command line as a user does (in-process with Click's CliRunner, or as
a real subprocess where signals, locks or a second process are the point) and checks what
the user meets: the exit status, the message, the files left behind, and that results are
unchanged or refused. References are runs of the same command on equivalent input (NA
instead of -9, a table without the aliased column, the unscaled trait) and the files of a
previous complete run.

Most runs use a small fileset cut from the bundled example (200 samples, 500 variants), so
that a fit takes a fraction of a second.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bed_reader import open_bed, to_bed
from click.testing import CliRunner

from kronlmm.cli import cli
from kronlmm.data import example_paths
from kronlmm.gwas import read_results
from kronlmm.io import PlinkGenotypes, grm_from_genotypes, write_kinship

PATHS = example_paths()
CLI = [sys.executable, "-m", "kronlmm.cli"]
SCAN_FILES = ("assoc.tsv.gz", "effects.tsv.gz", "null.json")


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def last(self) -> str:
        return [line for line in self.stderr.splitlines() if line.strip()][-1]


def run(*args: str) -> Finished:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return Finished(result.exit_code, result.stdout, result.stderr)


def _raw(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _write_raw(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, sep="\t", index=False)
    return path


def _plink_subset(prefix: Path, rows: np.ndarray, cols: np.ndarray, shuffle_seed=None) -> Path:
    """Samples ``rows`` and variants ``cols`` of the example, written by bed-reader; with
    ``shuffle_seed`` each variant's dosages are permuted among the samples (other genotypes
    with the same .bim, .fam and .bed size)."""
    with open_bed(PATHS.bed) as bed:
        val = bed.read(dtype="float32")
        props = dict(bed.properties)
    val = val[np.ix_(rows, cols)]
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        val = np.column_stack([rng.permutation(val[:, j]) for j in range(val.shape[1])])
    for key in ("fid", "iid", "father", "mother", "sex", "pheno"):
        props[key] = np.asarray(props[key])[rows]
    for key in ("chromosome", "sid", "cm_position", "bp_position", "allele_1", "allele_2"):
        props[key] = np.asarray(props[key])[cols]
    to_bed(prefix.with_suffix(".bed"), val, properties=props)
    return prefix


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faults_inputs")
    rows, cols = np.arange(200), np.arange(0, 3000, 6)
    files = {"bfile": _plink_subset(root / "small", rows, cols)}
    files["other_bfile"] = _plink_subset(root / "other", rows, cols, shuffle_seed=3)
    ids = set(PlinkGenotypes(files["bfile"]).sample_ids)
    pheno, covar = _raw(PATHS.pheno), _raw(PATHS.covar)
    pheno, covar = pheno[pheno["IID"].isin(ids)], covar[covar["IID"].isin(ids)]
    files["pheno"] = _write_raw(pheno, root / "pheno.tsv")
    files["covar"] = _write_raw(covar, root / "covar.tsv")
    geno = PlinkGenotypes(files["bfile"])
    kin = grm_from_genotypes(geno)
    files["kinship"] = write_kinship(root / "kin.tsv", kin.ids, kin.K)
    return files


def _base(data: dict[str, Path]) -> list[str]:
    return ["--bfile", str(data["bfile"]), "--pheno", str(data["pheno"]), "--covar",
            str(data["covar"])]  # fmt: skip


def _listing(folder: Path) -> list[str]:
    """Everything in a folder, hidden files included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _refused(done: Finished, pattern: str) -> None:
    import re

    assert done.returncode == 1, done.stderr
    assert done.last.startswith("kronlmm: error: "), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert re.search(pattern, done.last), done.last
    assert done.stdout == ""


# ----------------------------------------------------------------------------- 1. -9
def test_plink_missing_code_is_missing_by_default(data, tmp_path):
    """Ten trait values -9 (PLINK's missing code) give exactly the run with NA there; with
    --missing-code none they are analysed as values and the results differ."""
    pheno = _raw(data["pheno"])
    complete = pheno.index[(pheno[["trait1", "trait2", "trait3"]] != "NA").all(axis=1)][:10]
    with_na, with_code = pheno.copy(), pheno.copy()
    with_na.loc[complete, "trait1"] = "NA"
    with_code.loc[complete, "trait1"] = "-9"
    na_file = _write_raw(with_na, tmp_path / "na.tsv")
    code_file = _write_raw(with_code, tmp_path / "code.tsv")
    common = ["scan", "--bfile", str(data["bfile"]), "--covar", str(data["covar"]), "--no-plots"]
    ref = run(*common, "--pheno", na_file, "--out", tmp_path / "na")
    default = run(*common, "--pheno", code_file, "--out", tmp_path / "code", "-q")
    kept = run(*common, "--pheno", code_file, "--out", tmp_path / "kept", "--missing-code", "none")
    for done in (ref, default, kept):
        assert done.returncode == 0, done.stderr
    # the warning is shown with -q, once, with the count per trait
    assert default.stderr.count("phenotype value -9 read as missing") == 1
    assert "trait1: 10 value(s)" in default.stderr and "--missing-code none" in default.stderr
    a, b = read_results(tmp_path / "na.assoc.tsv.gz"), read_results(tmp_path / "code.assoc.tsv.gz")
    pd.testing.assert_frame_equal(a, b)
    null = json.loads((tmp_path / "code.null.json").read_text())
    assert null["missing_code"] == {"code": -9.0, "counts": {"trait1": 10}}
    # kept as values: 10 more values of trait1 (the samples are analysed either way, with
    # their other traits), other p-values, no warning
    assert "read as missing" not in kept.stderr
    c = read_results(tmp_path / "kept.assoc.tsv.gz")
    kept_null = json.loads((tmp_path / "kept.null.json").read_text())
    assert kept_null["nsamples"] == null["nsamples"]
    used, kept_used = (d["missing_traits"]["observed_values"] for d in (null, kept_null))
    assert kept_used["trait1"] == used["trait1"] + 10
    assert np.nanmax(np.abs(c["neg_log10_p_value"] - a["neg_log10_p_value"])) > 0.1


def test_missing_code_option_is_checked(data, tmp_path):
    done = run("fit-null", *_base(data), "--missing-code", "minus nine", "--out", tmp_path / "x")
    _refused(done, r"--missing-code must be a number \(e\.g\. -9\) or 'none', got 'minus nine'")
    assert _listing(tmp_path) == []


# ----------------------------------------------------------------------------- 2. .fam
def test_fam_that_lost_a_row_is_refused(data, tmp_path):
    """200 samples written, the .fam loses row 50: 199 samples, the same .bed size; refused
    with the likely cause, or read as is with --ignore-bed-padding."""
    prefix = tmp_path / "lost"
    for ext in ("bed", "bim"):
        shutil.copy(data["bfile"].with_suffix(f".{ext}"), prefix.with_suffix(f".{ext}"))
    lines = data["bfile"].with_suffix(".fam").read_text().splitlines()
    prefix.with_suffix(".fam").write_text("\n".join(lines[:50] + lines[51:]) + "\n")
    args = ["scan", "--bfile", prefix, "--pheno", data["pheno"], "--no-plots"]
    out = tmp_path / "out"
    done = run(*args, "--out", out / "run")
    _refused(done, r"padding bits at the end of \d+ of the 100 variant records .*/lost\.fam.*"
                   r"lists 199.*--ignore-bed-padding")  # fmt: skip
    assert _listing(out) == []
    forced = run(*args, "--out", out / "forced", "--ignore-bed-padding", "-q")
    assert forced.returncode == 0, forced.stderr
    assert _listing(out) == sorted(f"forced.{n}" for n in SCAN_FILES)


# ----------------------------------------------------------------------------- 3. checkpoint
def test_checkpoint_from_other_genotypes_is_refused(data, tmp_path):
    """The .bed rewritten in place with other genotypes (same .bim/.fam, same size, same
    null: a kinship file): the stored blocks are refused; with the original .bed back, the
    scan resumes from the checkpoint bit for bit."""
    geno = tmp_path / "geno"
    for ext in ("bed", "bim", "fam"):
        shutil.copy(data["bfile"].with_suffix(f".{ext}"), geno.with_suffix(f".{ext}"))
    common = ["scan", "--bfile", geno, "--pheno", data["pheno"], "--covar", data["covar"],
              "--kinship", data["kinship"], "--checkpoint", tmp_path / "ck", "--chunk-size",
              "100", "--no-plots"]  # fmt: skip
    first = run(*common, "--out", tmp_path / "a" / "run")
    assert first.returncode == 0, first.stderr
    assert len(list((tmp_path / "ck").glob("chunk-*.npz"))) == 5
    shutil.copy(data["other_bfile"].with_suffix(".bed"), geno.with_suffix(".bed"))
    other = run(*common, "--out", tmp_path / "b" / "run")
    _refused(
        other,
        r"checkpoint .* holds results computed from other candidates: the content "
        r"of 5 of its 5 stored block\(s\).*\.bed bytes.*delete it or use a new one",
    )
    assert _listing(tmp_path / "b") == []
    shutil.copy(data["bfile"].with_suffix(".bed"), geno.with_suffix(".bed"))
    again = run(*common, "--out", tmp_path / "c" / "run")
    assert again.returncode == 0, again.stderr
    for name in ("assoc.tsv.gz", "effects.tsv.gz"):
        assert (tmp_path / "c" / f"run.{name}").read_bytes() == (
            tmp_path / "a" / f"run.{name}").read_bytes()  # fmt: skip


def test_damaged_checkpoint_is_named(data, tmp_path):
    common = ["scan", *_base(data), "--checkpoint", tmp_path / "ck", "--chunk-size", "100",
              "--no-plots", "--kinship", data["kinship"]]  # fmt: skip
    assert run(*common, "--out", tmp_path / "ok").returncode == 0
    chunk = tmp_path / "ck" / "chunk-000002.npz"
    chunk.write_bytes(chunk.read_bytes()[:200])  # truncated
    _refused(run(*common, "--out", tmp_path / "out" / "r"),
             r"checkpoint .*ck' is damaged: chunk-000002\.npz cannot be read .*delete it or use "
             r"a new one")  # fmt: skip
    (tmp_path / "ck" / "manifest.json").write_text('{"null_and_test": "abc", ')
    _refused(
        run(*common, "--out", tmp_path / "out" / "r"), r"is damaged: manifest\.json cannot be read"
    )
    assert _listing(tmp_path / "out") == []


# ----------------------------------------------------------------------------- 4. collinear
def test_aliased_covariate_is_left_out_by_name(data, tmp_path):
    covar = _raw(data["covar"])
    age = pd.to_numeric(covar["age"], errors="coerce")
    covar["age2"] = (2 * age).map(lambda v: "NA" if np.isnan(v) else repr(float(v)))
    path = _write_raw(covar, tmp_path / "covar2.tsv")
    common = ["fit-null", "--bfile", data["bfile"], "--pheno", data["pheno"], "--kinship",
              data["kinship"]]  # fmt: skip
    ref = run(*common, "--covar", data["covar"], "--out", tmp_path / "ref")
    done = run(*common, "--covar", path, "--out", tmp_path / "aliased", "-q")
    assert ref.returncode == 0 and done.returncode == 0, done.stderr
    assert "covariate 'age2' is a linear combination of 'age' (aliased" in done.stderr
    assert "aliased covariates left out: age2" in done.stdout
    a = json.loads((tmp_path / "ref.null.json").read_text())
    b = json.loads((tmp_path / "aliased.null.json").read_text())
    assert b["aliased_covariates"] == {"age2": ["age"]}
    assert b["covariate_names"] == a["covariate_names"] == ["intercept", "age", "sex"]
    for key in ("B", "B_se", "C0", "C1"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-8, atol=1e-12, err_msg=key)


# ----------------------------------------------------------------------------- 5. degenerate
def test_zero_kinship_is_refused(data, tmp_path):
    ids = PlinkGenotypes(data["bfile"]).sample_ids
    zero = write_kinship(tmp_path / "zero.tsv", ids, np.zeros((ids.size, ids.size)))
    _refused(
        run("fit-null", *_base(data), "--kinship", zero, "--out", tmp_path / "o" / "r"),
        r"kinship '.*zero\.tsv' is zero for all \d+ samples used.*--kinship none",
    )
    assert _listing(tmp_path / "o") == []


def test_too_few_samples(data, tmp_path):
    """5 samples, 3 traits and 3 covariate columns: refused; 10: fitted with a warning
    (shown with -q) that the tests are anti-conservative at that size."""
    pheno = _raw(data["pheno"])
    complete = pheno[(pheno[["trait1", "trait2", "trait3"]] != "NA").all(axis=1)]
    five = _write_raw(complete.iloc[:5], tmp_path / "five.tsv")
    ten = _write_raw(complete.iloc[:10], tmp_path / "ten.tsv")
    common = ["--bfile", data["bfile"], "--covar", data["covar"], "--kinship", "none"]
    _refused(run("fit-null", *common, "--pheno", five, "--out", tmp_path / "five"),
             r"only 5 samples for 3 covariate column\(s\).*leave 2 residual degree\(s\) of "
             r"freedom, fewer than the 3 traits")  # fmt: skip
    done = run("scan", *common, "--pheno", ten, "--out", tmp_path / "ten", "--no-plots", "-q")
    assert done.returncode == 0, done.stderr
    assert "only 10 samples for 3 covariate column(s) (7 residual degrees of freedom)" in (
        done.stderr) and "anti-conservative" in done.stderr  # fmt: skip


@pytest.mark.parametrize("make", ["same", "scaled"])
def test_dependent_traits_are_refused_by_name(data, tmp_path, make):
    pheno = _raw(data["pheno"])
    t1 = pd.to_numeric(pheno["trait1"], errors="coerce")
    copy = t1 if make == "same" else 2 * t1 + 1
    pheno["trait3"] = copy.map(lambda v: "NA" if np.isnan(v) else repr(float(v)))
    path = _write_raw(pheno, tmp_path / "dup.tsv")
    args = ["fit-null", "--bfile", data["bfile"], "--pheno", path, "--out", tmp_path / "o" / "r"]
    _refused(run(*args), r"traits 'trait1', 'trait3' are identical up to scale and shift once "
                         r"the covariates are accounted for.*drop one of them")  # fmt: skip
    assert _listing(tmp_path / "o") == []


def test_fit_on_the_floor_of_c1_is_a_warning_naming_the_traits(data, tmp_path, monkeypatch):
    """What the model says when C1 ends on its floor with a rising likelihood (nearly
    dependent traits: such fits are slow, so the model's verdict is given here as its
    FitResult words it, traits by index) reaches the user as a warning naming the traits,
    and null.json says the fit did not converge."""
    import dataclasses

    from kronlmm.lmm import Kron2Sum

    fit = Kron2Sum.fit
    verdict = (
        "C1 ended at its floor (smallest eigenvalue 1e-08 in units of the trait variances) "
        "along traits [0, 2], and the likelihood keeps rising as C1 becomes singular"
    )

    def on_the_floor(self, *args, **kwargs):
        return dataclasses.replace(fit(self, *args, **kwargs), success=False, message=verdict)

    monkeypatch.setattr(Kron2Sum, "fit", on_the_floor)
    done = run("fit-null", *_base(data), "--kinship", "none", "--out", tmp_path / "r", "-q")
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stderr.splitlines() if "did NOT converge" in line)
    assert warning.startswith("kronlmm: warning: the null model (ML) did NOT converge")
    assert "along traits 'trait1', 'trait3', and the likelihood keeps rising" in warning
    null = json.loads((tmp_path / "r.null.json").read_text())
    assert null["convergence"]["converged"] is False
    assert "NOT converged" in done.stdout


# ----------------------------------------------------------------------------- 6. losses
def test_sample_losses_are_a_warning_with_counts(data, tmp_path):
    covar = _raw(data["covar"])
    covar.loc[covar.index[:20], "age"] = "NA"
    covar = _write_raw(covar, tmp_path / "covar.tsv")
    pheno = _raw(data["pheno"])
    extra = pheno.iloc[:7].assign(IID=[f"NEW{i}" for i in range(7)], FID="FAMX")
    pheno = _write_raw(pd.concat([pheno, extra]), tmp_path / "pheno.tsv")
    done = run("fit-null", "--bfile", data["bfile"], "--pheno", pheno, "--covar", covar,
               "--kinship", "none", "--out", tmp_path / "r", "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stderr.splitlines() if "are not analysed" in line)
    assert warning.startswith("kronlmm: warning: ")
    assert "7 not in the genotypes (e.g. 'NEW0', 'NEW1', 'NEW2', ... (4 more))" in warning
    assert "with a missing covariate value [age: " in warning
    null = json.loads((tmp_path / "r.null.json").read_text())
    losses = {k: v["count"] for k, v in null["sample_losses"].items() if v["count"]}
    assert losses["not_genotyped"] == 7
    assert null["sample_losses"]["not_genotyped"]["ids"][:2] == ["NEW0", "NEW1"]
    assert losses["missing_covariate"] >= 15  # 20 set to NA, some had a missing trait already
    assert null["nsamples"] + sum(losses.values()) == null["alignment"]["phenotypes"]
    assert f"samples: {null['nsamples']} of the {null['alignment']['phenotypes']} in the " in (
        done.stdout)  # fmt: skip


# ----------------------------------------------------------------------------- 7-9. outputs
def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def complete_run(data, tmp_path_factory) -> Path:
    """A complete run with --out DIR/run (copied by :func:`previous`)."""
    folder = tmp_path_factory.mktemp("complete") / "out"
    done = run("scan", *_base(data), "--kinship", data["kinship"], "--no-plots", "--out",
               folder / "run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture
def previous(complete_run, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """The outputs of an earlier complete run with --out DIR/run, in this test's folder."""
    shutil.copytree(complete_run, tmp_path / "out")
    return tmp_path / "out", _snapshot(tmp_path / "out")


def test_failed_rerun_leaves_the_previous_set(data, previous):
    folder, before = previous
    assert sorted(before) == sorted(f"run.{n}" for n in SCAN_FILES)
    # fails after the null model was fitted, at the scan
    late = run("scan", *_base(data), "--pheno-cols", "trait1", "--test", "interaction",
               "--no-plots", "--out", folder / "run")  # fmt: skip
    _refused(late, r"interaction test needs at least 2 traits")
    assert _snapshot(folder) == before


def test_interrupted_rerun_leaves_the_previous_set(data, previous, monkeypatch):
    """Ctrl-C while the outputs are being written (two of three already staged)."""
    from kronlmm.gwas import NullFit

    folder, before = previous

    def interrupted(self, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(NullFit, "write_json", interrupted)
    done = run("scan", *_base(data), "--no-plots", "--out", folder / "run")
    assert done.returncode == 130 and "kronlmm: interrupted" in done.stderr
    assert _snapshot(folder) == before


def test_disk_full_names_the_file_and_file_system(data, previous, monkeypatch):
    """ENOSPC while the effects table is written (faked in-process): the file and its file
    system are named, nothing is published, nothing is left behind."""
    from kronlmm.gwas import GwasResult
    from kronlmm.io import atomic_path

    folder, before = previous
    original = GwasResult.write_tsv

    def full_disk(self, path, table="assoc"):
        if table != "effects":
            return original(self, path, table=table)
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half a table")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(GwasResult, "write_tsv", full_disk)
    done = run("scan", *_base(data), "--no-plots", "--out", folder / "run")
    _refused(done, r"no space left on the device while writing '.*out/run\.effects\.tsv\.gz' "
                   r"\(file system mounted at '/.*', [\d.]+ MiB free there now\).*previous "
                   r"outputs of --out .*run are unchanged")  # fmt: skip
    assert _snapshot(folder) == before


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs (where mounting is allowed: root on Linux), unmounted afterwards."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs Linux")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, check=False)  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_disk_full_on_a_real_small_file_system(data, small_tmpfs):
    """fit-null's output fits on a 64 KiB file system, a scan's tables do not: the scan
    fails naming the file and the mount point, and the null.json stays as it was."""
    first = run("fit-null", *_base(data), "--kinship", "none", "--out", small_tmpfs / "run")
    assert first.returncode == 0, first.stderr
    before = _snapshot(small_tmpfs)
    done = run("scan", *_base(data), "--kinship", "none", "--out", small_tmpfs / "run")
    _refused(done, rf"no space left on the device while writing '{small_tmpfs}/run\.\w+.*' "
                   rf"\(file system mounted at '{small_tmpfs}'")  # fmt: skip
    assert _snapshot(small_tmpfs) == before  # nothing half written, nothing left behind


def test_recovery_after_a_run_killed_while_publishing(data, tmp_path):
    """Leftovers of a SIGKILLed run with the same prefix: a committed staging folder is
    published, stale temporary files and an uncommitted staging folder are removed, even
    by a run that then fails on its own input."""
    out = tmp_path / "out"
    committed = out / ".run.kronlmm-staging-4242-0badcafe"
    committed.mkdir(parents=True)
    (committed / "run.null.json").write_text('{"from": "the killed run"}')
    (committed / "COMMIT.json").write_text('["run.null.json"]')
    uncommitted = out / ".run.kronlmm-staging-4243-deadbeef"
    uncommitted.mkdir()
    (uncommitted / "run.assoc.tsv.gz").write_bytes(b"half")
    (out / ".run.assoc.tsv.gz.4244.1234abcd.tmp").write_bytes(b"half")
    (out / ".other.assoc.tsv.gz.4244.1234abcd.tmp").write_bytes(b"not ours")
    done = run("fit-null", "--bfile", data["bfile"], "--pheno", tmp_path / "nope.tsv",
               "--out", out / "run")  # fmt: skip
    _refused(done, r"table file .*nope\.tsv' does not exist")
    assert _listing(out) == [".other.assoc.tsv.gz.4244.1234abcd.tmp", "run.null.json"]
    assert json.loads((out / "run.null.json").read_text()) == {"from": "the killed run"}


def test_stale_outputs_of_an_earlier_run_are_named(data, tmp_path):
    """A scan with plots, then one with --no-plots under the same --out: the plots are
    left as they were (never deleted) and a warning says they come from the earlier run."""
    common = ["scan", *_base(data), "--kinship", "none", "--out", tmp_path / "run"]
    assert run(*common).returncode == 0
    done = run(*common, "--no-plots", "-q")
    assert done.returncode == 0, done.stderr
    assert "run.manhattan.png" in done.stderr and "come(s) from an earlier run" in done.stderr


def _background_scan(out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*CLI, "scan", "--bfile", str(PATHS.prefix), "--pheno", str(PATHS.pheno), "--covar",
         str(PATHS.covar), "--rank", "3", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _wait_for(path_glob: tuple[Path, str], proc: subprocess.Popen[str]) -> None:
    folder, pattern = path_glob
    for _ in range(1200):
        if folder.exists() and list(folder.glob(pattern)):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"{pattern} never appeared in {folder}")


@pytest.mark.slow
def test_concurrent_runs_with_the_same_out(data, tmp_path):
    """Two scans with one --out at once: the second is refused at once, naming the first;
    the first completes its set."""
    out = tmp_path / "out"
    first = _background_scan(out / "run")
    _wait_for((out, ".run.kronlmm.lock"), first)
    second = run("scan", *_base(data), "--out", out / "run")
    _refused(second, rf"another kronlmm run is writing --out '.*run' \(pid {first.pid} on .*, "
                     r"started .*; lock file .*\.run\.kronlmm\.lock'\); wait for it")  # fmt: skip
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    names = (
        "assoc.tsv.gz",
        "effects.tsv.gz",
        "null.json",
        "manhattan.png",
        "qq.png",
        "top_effects.png",
    )
    assert _listing(out) == sorted(f"run.{n}" for n in names)
    assert json.loads((out / "run.null.json").read_text())["nsamples"] == 395  # the first's


@pytest.mark.slow
def test_sigkilled_run_leftovers_are_cleaned_by_the_next(data, tmp_path):
    out = tmp_path / "out"
    victim = _background_scan(out / "run")
    _wait_for((out, ".run.kronlmm-staging-*"), victim)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    left = _listing(out)
    assert ".run.kronlmm.lock" in left and any(".run.kronlmm-staging-" in n for n in left)
    (out / ".run.null.json.99999.0123abcd.tmp").write_text("half")  # as a killed write leaves
    done = run("scan", *_base(data), "--no-plots", "--out", out / "run")
    assert done.returncode == 0, done.stderr
    assert _listing(out) == sorted(f"run.{n}" for n in SCAN_FILES)


@pytest.mark.slow
def test_sigterm_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    victim = _background_scan(out / "run")
    _wait_for((out, ".run.kronlmm-staging-*"), victim)
    victim.send_signal(signal.SIGTERM)
    _, stderr = victim.communicate(timeout=120)
    assert victim.returncode == 143, stderr
    assert stderr.splitlines()[-1] == "kronlmm: terminated"
    assert _listing(out) == []  # the folder it created is gone too


# ----------------------------------------------------------------------------- 10. early
def test_problems_with_out_are_found_before_reading_anything(tmp_path):
    """--out under a file, --checkpoint a file: named before the (missing) genotypes are
    even looked at."""
    (tmp_path / "afile").write_text("x")
    missing = ["--bfile", str(tmp_path / "nothere"), "--pheno", str(tmp_path / "nope.tsv")]
    _refused(
        run("scan", *missing, "--out", tmp_path / "afile" / "sub" / "run"),
        r"--out '.*afile/sub/run': '.*afile' is a file, not a folder",
    )
    _refused(
        run("scan", *missing, "--checkpoint", tmp_path / "afile", "--out", tmp_path / "r"),
        r"checkpoint '.*afile' is a file, not a folder",
    )
    assert _listing(tmp_path) == ["afile"]


def test_read_only_out_is_found_first(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0:  # permissions do not stop root: a read-only tmpfs does
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                              capture_output=True, check=False)  # fmt: skip
        if made.returncode != 0:
            pytest.skip("running as root, and a read-only tmpfs cannot be mounted here")
        mounted = True
    else:
        folder.chmod(0o555)
    try:
        missing = ["--bfile", str(tmp_path / "nothere"), "--pheno", str(tmp_path / "nope.tsv")]
        _refused(
            run("scan", *missing, "--out", folder / "run"),
            r"cannot write to the output folder '.*ro' \(.*\); choose another --out",
        )
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=False)
        else:
            folder.chmod(0o755)


def test_unreachable_scheduler_and_failed_cluster_are_found_first(tmp_path, monkeypatch):
    import distributed

    from kronlmm.gwas import execution

    monkeypatch.setattr(execution, "SCHEDULER_TIMEOUT", "1s")
    missing = ["--bfile", str(tmp_path / "nothere"), "--pheno", str(tmp_path / "nope.tsv")]
    _refused(
        run("scan", *missing, "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "r"),
        r"cannot connect to the Dask scheduler 'tcp://127\.0\.0\.1:9'",
    )

    def no_processes(*args, **kwargs):
        raise OSError("Resource temporarily unavailable: cannot fork")

    monkeypatch.setattr(distributed, "LocalCluster", no_processes)
    _refused(run("scan", *missing, "--workers", "2", "--out", tmp_path / "r"),
             r"could not start a local Dask cluster of 2 worker process\(es\) \(OSError: "
             r"Resource temporarily unavailable: cannot fork\)")  # fmt: skip
    assert _listing(tmp_path) == []


# ----------------------------------------------------------------------------- 11. messages
def test_gzipped_tables_are_read(data, tmp_path):
    import gzip

    pheno = tmp_path / "pheno.tsv.gz"
    pheno.write_bytes(gzip.compress(data["pheno"].read_bytes()))
    covar = tmp_path / "covar.txt"  # gzipped under a plain name
    covar.write_bytes(gzip.compress(data["covar"].read_bytes()))
    args = ["fit-null", "--bfile", data["bfile"], "--kinship", "none"]
    assert run(*args, "--pheno", data["pheno"], "--covar", data["covar"], "--out",
               tmp_path / "plain").returncode == 0  # fmt: skip
    done = run(*args, "--pheno", pheno, "--covar", covar, "--out", tmp_path / "gz")
    assert done.returncode == 0, done.stderr
    a = json.loads((tmp_path / "plain.null.json").read_text())
    b = json.loads((tmp_path / "gz.null.json").read_text())
    assert a["lml"] == b["lml"] and a["C0"] == b["C0"]


@pytest.mark.parametrize(
    ("case", "pattern"),
    [
        ("latin1", r"table file '.*covar\.tsv' is not UTF-8 text: byte 0xe9 on line 2 .*iconv"),
        ("binary", r"table file '.*small\.bed' is a PLINK \.bed file, not a text table"),
        ("GRM", r"kinship file 'GRM' does not exist; for the GRM of the genotypes write "
                r"--kinship grm"),
        ("no_traits", r"pheno_cols / --pheno-cols selects no trait \(got \[\]\)"),
        ("all_missing", r"trait 'trait2' has no value for any of the \d+ samples kept "
                        r"\(all missing\): drop it"),
        ("no_variants", r"PLINK fileset '.*empty' holds no variants \(its \.bim file .* is "
                        r"empty\)"),
    ],
)  # fmt: skip
def test_errors_name_the_file_and_the_fix(data, tmp_path, case, pattern):
    args = {"bfile": data["bfile"], "pheno": data["pheno"]}
    extra: list[str] = []
    if case == "latin1":
        covar = _raw(data["covar"]).assign(city="Orléans")
        (tmp_path / "covar.tsv").write_bytes(covar.to_csv(sep="\t", index=False).encode("latin-1"))
        extra = ["--covar", str(tmp_path / "covar.tsv")]
    elif case == "binary":
        args["pheno"] = data["bfile"].with_suffix(".bed")
    elif case == "GRM":
        extra = ["--kinship", "GRM"]
    elif case == "no_traits":
        extra = ["--pheno-cols", ""]
    elif case == "all_missing":
        args["pheno"] = _write_raw(_raw(data["pheno"]).assign(trait2="NA"), tmp_path / "p.tsv")
    elif case == "no_variants":
        shutil.copy(data["bfile"].with_suffix(".fam"), tmp_path / "empty.fam")
        (tmp_path / "empty.bim").write_text("")
        (tmp_path / "empty.bed").write_bytes(bytes([0x6C, 0x1B, 0x01]))
        args["bfile"] = tmp_path / "empty"
    out = tmp_path / "out"
    done = run("scan", "--bfile", args["bfile"], "--pheno", args["pheno"], *extra, "--out",
               out / "run")  # fmt: skip
    _refused(done, pattern)
    assert _listing(out) == []


# ----------------------------------------------------------------------------- 12. progress
def _slow_reads(monkeypatch, seconds: float) -> None:
    from kronlmm.io import plink

    for name in ("_read_dosages", "_read_counts"):  # the scan's dosages, the GRM's counts
        original = getattr(plink, name)

        def slow(bed, rows, cols, original=original):
            time.sleep(seconds)
            return original(bed, rows, cols)

        monkeypatch.setattr(plink, name, slow)


def test_progress_lines_without_a_terminal(data, tmp_path, monkeypatch):
    """No terminal (CliRunner's stderr is a pipe): the GRM, the eigendecomposition and the
    scan log their start, progress lines with done/total and the time left at the interval
    (shortened here from 30 s), and their end; -q and --no-progress silence them."""
    from kronlmm.gwas import _inputs, progress_log

    monkeypatch.setattr(progress_log, "LOG_INTERVAL", 0.05)
    monkeypatch.setattr(_inputs, "EIGH_ESTIMATE_MIN", 100)  # estimate the 190 x 190 one
    _slow_reads(monkeypatch, 0.12)
    no_qc = ["--maf", "none", "--geno", "none"]  # every one of the 500 variants
    args = ["scan", *_base(data), "--chunk-size", "50", "--no-plots", *no_qc]
    done = run(*args, "--out", tmp_path / "a")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    for phase in ("GRM", "scan"):  # the GRM reads its 500 variants in one block
        assert f"kronlmm: {phase}: started (500 variants)" in lines
        middle = [line for line in lines if line.startswith(f"kronlmm: {phase}: ")
                  and "/500 variants (" in line and "elapsed" in line]  # fmt: skip
        assert middle, done.stderr
        assert any(line.startswith(f"kronlmm: {phase}: done, 500 variants in ") for line in lines)
    assert any(line.startswith("kronlmm: scan: ") and "0/500 variants (" in line
               and "left" in line for line in lines)  # fmt: skip
    eig = [line for line in lines if "eigendecomposition of the " in line]
    assert "started (cannot report progress; expected to take about " in eig[0], eig
    assert "done, in " in eig[-1]
    for quiet in (["-q"], ["--no-progress"]):
        silent = run(*args, *quiet, "--kinship", "none", "--out", tmp_path / "b")
        assert silent.returncode == 0 and "/500 variants (" not in silent.stderr


@pytest.mark.slow
def test_dask_scan_logs_progress_with_time_left(data, monkeypatch, caplog):
    import logging

    import distributed

    from kronlmm.gwas import NO_QC, fit_null, progress_log

    monkeypatch.setattr(progress_log, "LOG_INTERVAL", 0.01)
    _slow_reads(monkeypatch, 0.05)
    null = fit_null(data["bfile"], data["pheno"], kinship=None, qc=NO_QC)  # all 500 variants
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(
            cluster) as client, caplog.at_level(logging.INFO, logger="kronlmm"):  # fmt: skip
        null.scan("any", chunk_size=50, progress="auto", scheduler=client)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("scan: ")]
    assert lines[0] == "scan: started (500 variants)"
    assert any("/500 variants (" in line and "left" in line for line in lines), lines
    assert lines[-1].startswith("scan: done, 500 variants in ")


# ----------------------------------------------------------------------------- scale
@pytest.mark.slow
def test_one_trait_times_ten_thousand_changes_nothing_but_its_effects(tmp_path):
    """trait2 × 1e4 through the CLI on the example: the same p-values and top hit, trait2's
    effects and standard errors × 1e4, the other traits' unchanged; both nulls converged.
    The GRM is centred and the model has an intercept, so ML is evaluated on span(U), and
    null.json says so; without a kinship it is not."""
    pheno = _raw(PATHS.pheno)
    t2 = pd.to_numeric(pheno["trait2"], errors="coerce") * 1e4
    scaled = _write_raw(pheno.assign(trait2=t2.map(lambda v: "NA" if np.isnan(v) else repr(v))),
                        tmp_path / "scaled.tsv")  # fmt: skip
    common = ["scan", "--bfile", PATHS.prefix, "--covar", PATHS.covar, "--no-plots", "-q"]
    for name, pheno_file in (("raw", PATHS.pheno), ("scaled", scaled)):
        done = run(*common, "--pheno", pheno_file, "--out", tmp_path / name)
        assert done.returncode == 0, done.stderr
    raw_null = json.loads((tmp_path / "raw.null.json").read_text())
    scaled_null = json.loads((tmp_path / "scaled.null.json").read_text())
    for null in (raw_null, scaled_null):
        assert null["convergence"]["converged"] is True, null["convergence"]
        assert null["ml_projected"] is True
    a = read_results(tmp_path / "raw.assoc.tsv.gz")
    b = read_results(tmp_path / "scaled.assoc.tsv.gz")
    # two separate fits, each stopped at a projected gradient of ~1e-8: their p-values agree
    # to ~1e-9 in −log10 p, which is not 1e-6 relative where −log10 p is itself ~1e-5
    np.testing.assert_allclose(b["neg_log10_p_value"], a["neg_log10_p_value"], rtol=1e-6, atol=1e-7)
    assert a["neg_log10_p_value"].idxmax() == b["neg_log10_p_value"].idxmax()
    ea = read_results(tmp_path / "raw.effects.tsv.gz")
    eb = read_results(tmp_path / "scaled.effects.tsv.gz")
    factor = np.where(ea["trait"] == "trait2", 1e4, 1.0)
    # back in the raw units: two separate fits, which agree to ~1e-6 of a standard error
    np.testing.assert_allclose(eb["se"] / factor, ea["se"], rtol=1e-5)
    np.testing.assert_allclose((eb["beta"] / factor - ea["beta"]) / ea["se"], 0.0, atol=1e-5)
    none = run("fit-null", "--bfile", PATHS.prefix, "--pheno", PATHS.pheno, "--kinship", "none",
               "--out", tmp_path / "none")  # fmt: skip
    assert none.returncode == 0
    assert json.loads((tmp_path / "none.null.json").read_text())["ml_projected"] is False
