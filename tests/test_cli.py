"""The ``kronlmm`` command on the bundled example data: in-process, plus a few true runs.

The ``runs`` fixture runs every command line of the module once: most of them in-process
with Click's :class:`~click.testing.CliRunner` (fast: no interpreter start-up, no import),
and the few of :data:`END_TO_END` as real subprocesses of ``python -m kronlmm.cli`` (started
first, in the background, so they overlap with the in-process runs) — a null-model fit, a bad
input and a usage error, so the exit statuses and messages are also checked as a shell sees
them. The tests then inspect the finished runs, whichever way they ran. References are the
Python API's results on the same inputs (``kronlmm.gwas``) and the simulation's causal
variants (``causal.tsv``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bed_reader import open_bed, to_bed
from click.testing import CliRunner

from kronlmm.cli import cli
from kronlmm.data import example_paths
from kronlmm.gwas import GwasResult, read_results, scan
from kronlmm.io import read_table

PATHS = example_paths()
CAUSAL = pd.read_csv(PATHS.causal, sep="\t")
CLI = [sys.executable, "-m", "kronlmm.cli"]
OUTPUT_NAMES = (
    "assoc.tsv.gz",
    "effects.tsv.gz",
    "null.json",
    "manhattan.png",
    "qq.png",
    "top_effects.png",
)


@dataclass
class Finished:
    """What a command line left: exit status, stdout, stderr (as a subprocess reports)."""

    returncode: int
    stdout: str
    stderr: str


@dataclass
class Run:
    """A finished command line and the folder its outputs were asked to go to."""

    args: list[str]
    out_dir: Path
    proc: Finished | subprocess.CompletedProcess[str]

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.proc.stderr.splitlines() if line.strip()]


def _raw(path: Path) -> pd.DataFrame:
    """A table as text, exactly as in the file."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _write_raw(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, sep="\t", index=False)
    return path


def _reordered_plink(prefix: Path, order: np.ndarray) -> Path:
    """The example fileset with its samples in another order (bed-reader's to_bed)."""
    with open_bed(PATHS.bed) as bed:
        val = bed.read(dtype="float32")
        props = dict(bed.properties)
    for key in ("fid", "iid", "father", "mother", "sex", "pheno"):
        props[key] = np.asarray(props[key])[order]
    to_bed(prefix.with_suffix(".bed"), val[order], properties=props)
    return prefix


def _inputs(root: Path) -> dict[str, Path]:
    """Every input file the command lines below use."""
    rng = np.random.default_rng(11)
    root.mkdir(parents=True, exist_ok=True)
    pheno, covar = _raw(PATHS.pheno), _raw(PATHS.covar)
    files: dict[str, Path] = {}
    files["shuf_bfile"] = _reordered_plink(root / "shuffled", rng.permutation(400))
    files["shuf_pheno"] = _write_raw(pheno.sample(frac=1, random_state=1), root / "shuf_pheno.tsv")
    files["shuf_covar"] = _write_raw(covar.sample(frac=1, random_state=2), root / "shuf_covar.tsv")

    no_overlap = pheno.assign(IID="X" + pheno["IID"])
    files["no_overlap"] = _write_raw(no_overlap, root / "no_overlap.tsv")
    files["duplicate"] = _write_raw(pd.concat([pheno, pheno.iloc[[3]]]), root / "dup.tsv")
    bad = pheno.copy()
    bad.loc[bad.index[2], "trait1"] = "abc"
    files["non_numeric"] = _write_raw(bad, root / "non_numeric.tsv")
    files["constant"] = _write_raw(pheno.assign(trait2="1.5"), root / "constant.tsv")
    some_na = covar.copy()
    some_na.loc[some_na.index[:7], "age"] = "NA"
    files["covar_some_na"] = _write_raw(some_na, root / "covar_some_na.tsv")
    files["covar_all_na"] = _write_raw(covar.assign(age="NA"), root / "covar_all_na.tsv")

    ids = sorted(covar["IID"])
    K = np.eye(len(ids))
    K[0, 1] = K[1, 0] = 2.0  # eigenvalue -1
    kin = pd.DataFrame(K, index=pd.Index(ids, name="IID"), columns=ids)
    kin.to_csv(root / "not_psd.tsv", sep="\t")
    files["not_psd"] = root / "not_psd.tsv"

    broken = root / "broken"
    for ext in ("bed", "bim", "fam"):
        shutil.copy(PATHS.prefix.with_suffix(f".{ext}"), broken.with_suffix(f".{ext}"))
    with open(broken.with_suffix(".bed"), "r+b") as fh:
        fh.truncate(1000)
    files["broken"] = broken
    return files


BASE = ["--bfile", str(PATHS.prefix), "--pheno", str(PATHS.pheno)]
WITH_COVAR = [*BASE, "--covar", str(PATHS.covar)]

# name → (command line given the input files and the output folder, expected message)
ERRORS: dict[str, tuple[Callable[[dict[str, Path], Path], list[str]], str]] = {
    "missing_file": (
        lambda f, o: ["scan", "--bfile", str(PATHS.prefix), "--pheno", str(o / "nope.tsv")],
        r"table file '.*nope\.tsv' does not exist",
    ),
    "wrong_prefix": (
        lambda f, o: ["scan", "--bfile", str(o / "nothere"), "--pheno", str(PATHS.pheno)],
        r"PLINK file\(s\) .*nothere\.bed.* not found",
    ),
    "no_overlap": (
        lambda f, o: ["scan", "--bfile", str(PATHS.prefix), "--pheno", str(f["no_overlap"])],
        r"no sample ID is present in all sources.*share 0 ID",
    ),
    "duplicate_ids": (
        lambda f, o: ["scan", "--bfile", str(PATHS.prefix), "--pheno", str(f["duplicate"])],
        r"duplicate sample IDs 'IND\d+'",
    ),
    "non_numeric": (
        lambda f, o: ["scan", "--bfile", str(PATHS.prefix), "--pheno", str(f["non_numeric"])],
        r"column 'trait1' .* non-numeric value 'abc'",
    ),
    "constant_trait": (
        lambda f, o: ["scan", "--bfile", str(PATHS.prefix), "--pheno", str(f["constant"])],
        r"trait 'trait2' is constant",
    ),
    "covariates_all_missing": (
        lambda f, o: ["scan", *BASE, "--covar", str(f["covar_all_na"])],
        r"no sample left",
    ),
    "kinship_not_psd": (
        lambda f, o: ["scan", *BASE, "--kinship", str(f["not_psd"])],
        r"kinship is not positive semidefinite",
    ),
    "unknown_trait": (
        lambda f, o: ["scan", *BASE, "--pheno-cols", "trait1", "nosuch"],
        r"column 'nosuch' not found .* available columns: .*'trait1', 'trait2', 'trait3'",
    ),
    "unknown_covariate": (
        lambda f, o: ["scan", *WITH_COVAR, "--covar-cols", "age,height"],
        r"column 'height' not found",
    ),
    "rank_too_large": (
        lambda f, o: ["fit-null", *BASE, "--rank", "4"],
        r"rank must be ≥ 1 and ≤ p = 3",
    ),
    "broken_bed": (
        lambda f, o: ["scan", "--bfile", str(f["broken"]), "--pheno", str(PATHS.pheno)],
        r"\.bed file .* has 1000 bytes",
    ),
    # fails only after the null model is fitted: still no output file
    "interaction_one_trait": (
        lambda f, o: ["scan", *BASE, "--pheno-cols", "trait1", "--test", "interaction"],
        r"interaction test needs at least 2 traits",
    ),
}

USAGE_ERRORS = {
    "bad_test": ["scan", *BASE, "--test", "bogus"],
    "no_bfile": ["scan", "--pheno", str(PATHS.pheno)],
    "bad_chunk": ["scan", *BASE, "--chunk-size", "0"],
}


#: Command lines also run as real subprocesses (the rest run in-process).
END_TO_END = ("fit_null", "wrong_prefix", "bad_test")


def _in_process(args: list[str]) -> Finished:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return Finished(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("cli")
    files = _inputs(root / "inputs")
    jobs: dict[str, tuple[list[str], Path]] = {}

    def add(name: str, args: list[str], out_dir: Path | None = None) -> None:
        out = out_dir or root / name
        out.mkdir(parents=True, exist_ok=True)
        jobs[name] = (args, out)

    add(
        "scan_shuffled",
        [
            "scan",
            "--bfile",
            str(files["shuf_bfile"]),
            "--pheno",
            str(files["shuf_pheno"]),
            "--covar",
            str(files["shuf_covar"]),
            "--chunk-size",
            "700",
            "--out",
            str(root / "scan_shuffled" / "gwas"),
        ],
    )
    add("example", ["example", "--out", str(root / "example")])
    add(
        "scan_chi2",
        ["scan", *WITH_COVAR, "--statistic", "chi2", "--refit", "none", "--no-plots", "--out"]
        + [str(root / "scan_chi2" / "gwas")],
    )
    add("fit_null", ["fit-null", *WITH_COVAR, "--reml", "--out", str(root / "fit_null" / "n")])
    add(
        "complete_case",
        ["fit-null", *WITH_COVAR, "--missing-traits", "complete-case", "--out"]
        + [str(root / "complete_case" / "n")],
    )
    add(
        "covar_some_na",
        ["fit-null", *BASE, "--covar", str(files["covar_some_na"]), "--out"]
        + [str(root / "covar_some_na" / "n")],
    )
    add(
        "verbose_error",
        ["-v", "scan", "--bfile", str(root / "nothere"), "--pheno", str(PATHS.pheno), "--out"]
        + [str(root / "verbose_error" / "res")],
    )
    add("out_is_folder", ["scan", *BASE, "--out", str(root / "inputs")])
    for name, (make, _) in ERRORS.items():
        out = root / name
        out.mkdir()
        add(name, [*make(files, out), "--out", str(out / "res")], out)
    for name, args in USAGE_ERRORS.items():
        add(name, [*args, "--out", str(root / name / "res")])

    # one BLAS thread per subprocess: they run side by side with the in-process runs
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }

    def run(name: str) -> tuple[str, Run]:
        args, out = jobs[name]
        proc = subprocess.run(
            [*CLI, *args], capture_output=True, text=True, timeout=300, check=False, env=env
        )
        return name, Run(args, out, proc)

    with ThreadPoolExecutor(max_workers=len(END_TO_END)) as pool:
        started = pool.map(run, END_TO_END)
        done = {name: Run(args, out, _in_process(args)) for name, (args, out) in jobs.items()
                if name not in END_TO_END}  # fmt: skip
        done.update(started)
    return done


@pytest.fixture(scope="module")
def api_result() -> GwasResult:
    return scan(PATHS.prefix, PATHS.pheno, covar=PATHS.covar)


def _ok(run: Run) -> None:
    assert run.proc.returncode == 0, run.proc.stderr


# --------------------------------------------------------------------------- success
def test_scan_with_shuffled_files_equals_api(runs: dict[str, Run], api_result: GwasResult) -> None:
    """Every input file in another sample order, through the CLI: same as the API."""
    run = runs["scan_shuffled"]
    _ok(run)
    prefix = run.out_dir / "gwas"
    assert sorted(p.name for p in run.out_dir.iterdir()) == sorted(
        f"gwas.{n}" for n in OUTPUT_NAMES
    )
    assoc = read_results(f"{prefix}.assoc.tsv.gz")
    effects = read_results(f"{prefix}.effects.tsv.gz")
    pd.testing.assert_frame_equal(assoc, api_result.assoc, check_dtype=False, rtol=1e-10)
    pd.testing.assert_frame_equal(effects, api_result.effects, check_dtype=False, rtol=1e-10)
    null = json.loads(Path(f"{prefix}.null.json").read_text())
    np.testing.assert_allclose(null["C0"], api_result.null.model.C0, rtol=1e-10)
    np.testing.assert_allclose(null["B"], api_result.null.model.B, rtol=1e-10)
    assert null["lml"] == pytest.approx(api_result.null.lml, rel=1e-12)
    assert null["alignment"]["kept"] == 395  # samples with some trait missing are kept
    for name in ("manhattan.png", "qq.png"):
        assert Path(f"{prefix}.{name}").read_bytes()[:4] == b"\x89PNG"
    assert "top hit: rs26858614" in run.proc.stdout
    assert "395 sample(s) kept" in run.proc.stderr


def test_tables_name_the_statistic_of_the_p_values(
    runs: dict[str, Run], api_result: GwasResult
) -> None:
    """Default: the exact F test (statistic column "F"), refit LRT for p < 1e-5;
    ``--statistic chi2 --refit none``: the χ² LRT's p-values, named so, no refit."""
    import scipy.stats as st

    default = read_results(runs["scan_shuffled"].out_dir / "gwas.assoc.tsv.gz")
    tested = default["reason"] == ""
    assert (default["statistic"] == "F").all()
    assert "p-values from the exact F test" in runs["scan_shuffled"].proc.stdout
    t = default[tested]
    np.testing.assert_allclose(t["p_value"], st.f.sf(t["F"], t["df1"], t["df2"]), rtol=1e-8)
    refit = default["refit_reason"] == ""
    assert refit.sum() >= 1 and (refit == (tested & (default["p_value"] < 1e-5))).all()
    r = default[refit]
    np.testing.assert_allclose(r["p_value_refit"], st.chi2.sf(r["chi2_refit"], 3), rtol=1e-8)
    np.testing.assert_allclose(r["lml_null_refit"], api_result.null.lml, rtol=0, atol=1e-6)
    assert default.loc[~refit, "chi2_refit"].isna().all()

    run = runs["scan_chi2"]
    _ok(run)
    assert "p-values from the chi2 likelihood-ratio test" in run.proc.stdout
    chi = read_results(run.out_dir / "gwas.assoc.tsv.gz")
    assert (chi["statistic"] == "chi2").all() and (chi["refit_reason"] == "refit='none'").all()
    c = chi[chi["reason"] == ""]
    np.testing.assert_allclose(c["p_value"], st.chi2.sf(c["chi2"], c["dof"]), rtol=1e-10)
    np.testing.assert_allclose(c["F"], t["F"], rtol=1e-10)  # same fits, other p-value


def test_example_prints_top_hits(runs: dict[str, Run]) -> None:
    run = runs["example"]
    _ok(run)
    lines = run.proc.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "variant_id"])
    rows = [line.split() for line in lines[head + 1 : head + 11]]
    assert [r[0] for r in rows] == [str(i) for i in range(1, 11)]
    # the strongest association is a known causal variant, and all three are found
    assert rows[0][-1] == "yes" and rows[0][1] in set(CAUSAL["variant_id"])
    assert sum(r[-1] == "yes" for r in rows) == 3
    assert "3 of 3 causal variants in the top 10" in run.proc.stdout
    for name in OUTPUT_NAMES:
        path = run.out_dir / f"example.{name}"
        assert path.is_file() and path.stat().st_size > 0
        assert str(path) in run.proc.stdout


def test_fit_null_json(runs: dict[str, Run]) -> None:
    from kronlmm.gwas import fit_null

    run = runs["fit_null"]
    _ok(run)
    assert [p.name for p in run.out_dir.iterdir()] == ["n.null.json"]
    d = json.loads((run.out_dir / "n.null.json").read_text())
    ref = fit_null(PATHS.prefix, PATHS.pheno, covar=PATHS.covar, restricted=True)
    assert d["restricted"] is True and d["rank"] == 3  # full rank: the default
    assert d["trait_names"] == ["trait1", "trait2", "trait3"]
    assert d["covariate_names"] == ["intercept", "age", "sex"]
    np.testing.assert_allclose(d["C0"], ref.model.C0, rtol=1e-10)
    np.testing.assert_allclose(d["C1"], ref.model.C1, rtol=1e-10)
    assert d["lml"] == pytest.approx(ref.lml, rel=1e-12)
    assert d["convergence"]["converged"] is True
    assert "lml = " in run.proc.stdout and "C0 (genetic trait covariance)" in run.proc.stdout


def test_missing_traits_option(runs: dict[str, Run]) -> None:
    """--missing-traits complete-case keeps only samples with every trait (the default uses
    every observed value); the summary states the values used per trait."""
    cc = runs["complete_case"]
    _ok(cc)
    d = json.loads((cc.out_dir / "n.null.json").read_text())
    assert d["nsamples"] == 377 and d["alignment"]["missing_values"] == 18
    assert d["missing_traits"] == {
        "mode": "complete-case",
        "observed_values": {"trait1": 377, "trait2": 377, "trait3": 377},
    }
    assert "trait values used (complete-case): trait1 377, trait2 377, trait3 377" in (
        cc.proc.stdout
    )
    default = runs["scan_shuffled"]
    _ok(default)
    null = json.loads(next(default.out_dir.glob("*.null.json")).read_text())
    assert null["missing_traits"]["mode"] == "observed" and null["nsamples"] == 395
    used = null["missing_traits"]["observed_values"]
    pheno = read_table(PATHS.pheno)  # all its 395 samples are analysed
    assert used == {t: int(pheno[t].notna().sum()) for t in pheno.columns}
    assert 377 < min(used.values()) and sum(used.values()) < 3 * 395
    line = "trait values used (observed): " + ", ".join(f"{t} {v}" for t, v in used.items())
    assert line in default.proc.stdout


def test_missing_covariates_are_dropped_not_an_error(runs: dict[str, Run]) -> None:
    run = runs["covar_some_na"]
    _ok(run)
    d = json.loads((run.out_dir / "n.null.json").read_text())
    assert d["alignment"]["missing_values"] > 0  # samples with some trait are kept
    assert d["nsamples"] == 395 - d["alignment"]["missing_values"]
    assert f"{d['alignment']['missing_values']} sample(s) dropped" in run.proc.stderr


def test_version_and_entry_point() -> None:
    from kronlmm import __version__

    proc = subprocess.run([*CLI, "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"kronlmm {__version__}"
    script = Path(sys.executable).parent / "kronlmm"
    if not script.exists():
        pytest.skip("the kronlmm console script is not installed")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"kronlmm {__version__}"
    proc = subprocess.run(
        [sys.executable, "-m", "kronlmm.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "scan" in proc.stdout and "fit-null" in proc.stdout and "example" in proc.stdout


# --------------------------------------------------------------------------- failures
def _assert_clean_failure(run: Run, pattern: str | None = None) -> None:
    assert run.proc.returncode == 1, run.proc.stderr
    last = run.stderr_lines[-1]
    assert last.startswith("kronlmm: error: "), run.proc.stderr
    assert sum("error" in line for line in run.stderr_lines) == 1, run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    if pattern is not None:
        assert re.search(pattern, last), last
    assert run.proc.stdout == ""


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_input(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    _assert_clean_failure(run, ERRORS[name][1])
    # no output file posing as complete (nor a temporary one left behind)
    assert list(run.out_dir.iterdir()) == []


def test_out_is_a_folder(runs: dict[str, Run]) -> None:
    _assert_clean_failure(runs["out_is_folder"], r"is a folder")


def test_verbose_shows_traceback(runs: dict[str, Run]) -> None:
    run = runs["verbose_error"]
    assert run.proc.returncode == 1
    assert "Traceback" in run.proc.stderr
    assert run.stderr_lines[-1].startswith("kronlmm: error: PLINK file(s)")


@pytest.mark.parametrize("name", list(USAGE_ERRORS))
def test_usage_errors(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    assert run.proc.returncode == 2
    assert "error:" in run.stderr_lines[-1]
    assert list(run.out_dir.iterdir()) == []


# --------------------------------------------------------------------------- the parser
def test_test_choices_are_the_scanners_own() -> None:
    """--test offers exactly kronlmm.scan.TESTS (not a copy that could drift)."""
    from kronlmm.scan import TESTS

    for name in ("scan", "example"):
        command = cli.commands[name]
        option = next(p for p in command.params if p.name == "test")
        assert tuple(option.type.choices) == TESTS
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "[any|common|interaction]" in result.stdout


def test_help_and_version_do_not_import_the_numerical_stack() -> None:
    code = (
        "import sys; from kronlmm.cli import main; status = main(['--version']); "
        "status += main(['--help']); "
        "print(status, any(m.startswith(('kronlmm.scan', 'numpy')) for m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "0 False", proc.stdout


def test_names_options_take_several_values_like_before() -> None:
    """--pheno-cols a b and --pheno-cols a,b both give two traits (argparse's nargs="+")."""
    from kronlmm.cli.parser import _expand_greedy

    greedy = {"--pheno-cols"}
    assert _expand_greedy(["--pheno-cols", "a", "b", "--out", "x"], greedy) == [
        "--pheno-cols", "a", "--pheno-cols", "b", "--out", "x",
    ]  # fmt: skip
    assert _expand_greedy(["--pheno-cols=a", "b"], greedy) == ["--pheno-cols=a", "b"]
    assert _expand_greedy(["--out", "a", "b"], greedy) == ["--out", "a", "b"]
