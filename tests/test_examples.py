"""Every script in examples/ runs to completion and prints what it promises.

Each script is run as a user would run it (``python examples/NAME.py``, in a scratch
folder), so ``make test`` and CI keep them working.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))

#: Substrings that each script's standard output must contain. A script that is not listed
#: here only has to exit with status 0 (test_expectations_name_existing_scripts checks the
#: keys, so a renamed script is noticed).
EXPECTED = {
    "fit_kron2sum.py": [
        "377 samples aligned by ID, 3 traits, G: (377, ",
        "ML: converged",
        "REML: converged",
        "simulated C0:",
    ],
    "single_trait_scan.py": [
        "389 samples with trait1, 3 covariates",
        "3000 variants scanned",
        "top 5 variants (1 dof each):",
        "rs27157911: rank 1,",
    ],
    "custom_covariance.py": [
        "check_gradient(ExpCov): passed=True",
        "SumCov parameters: ['exp.logscale', 'exp.loglength', 'noise.logscale']",
        "with noise fixed: ['exp.logscale', 'exp.loglength'] flat vector length 2",
        "fit: converged=True",
    ],
    "differential_expression.py": [
        "3000 genes x 12 samples",
        "coefficients: ['condition[A]', 'condition[B]', 'condition[C]', 'batch[T.b2]']",
        "top 5 genes, B vs A:",
        "decide_tests (adj. p < 0.05):",
        "B vs A: 127 called, recall 0.80",
        "wrote the volcano and mean-variance plots",
    ],
    "features_lmm_single_cell.py": [
        "1500 genes × 2393 cells in 20 subjects",
        "coefficients: ['Intercept', 'trt[T.stim]', 'cls[T.NK]', 'cls[T.T]']",
        "negative variances: 0",
        "top 8 genes for stim vs ctrl",
        "T vs NK contrast: median df",
        "subject variance LRT",
    ],
    "features_lmm_null_df.py": [
        "4000 null genes, 576 cells in 20 subjects; converged: 4000",
        "treatment (between subjects)   satterthwaite        17.9",
        "treatment (between subjects)   residual            573.0",
        "covariate (within subjects)    satterthwaite",
    ],
    "multitrait_scan_plink.py": [
        "395 kept",
        "rank=3",
        "converged)",
        "top 5 variants, test 'any' (3 dof):",
        "-log10 p of the causal variants under each test:",
        "wrote and read back example.assoc.tsv.gz: 2970 rows",
    ],
}

#: Generous limit per script; each takes a few seconds on a 2-core machine.
TIMEOUT_S = 180


def test_examples_exist() -> None:
    assert SCRIPTS, f"no example scripts found in {ROOT / 'examples'}"


def test_expectations_name_existing_scripts() -> None:
    missing = sorted(set(EXPECTED) - {s.name for s in SCRIPTS})
    assert not missing, f"EXPECTED lists scripts that do not exist: {missing}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    # Importable from the checkout even where kronlmm is not installed; plots off-screen.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    output = f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{script.name} exited with status {proc.returncode}\n{output}"
    for expected in EXPECTED.get(script.name, []):
        assert expected in proc.stdout, f"{script.name} did not print {expected!r}\n{output}"
    assert not list(tmp_path.iterdir()), f"{script.name} left files in the working folder"
