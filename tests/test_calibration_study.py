"""Smoke test of benchmarks/calibration_study.py (issue #15): the study behind docs/calibration.rst.

The study runs at its ``--quick`` sizes only (no figure is asserted: they are noise at
those sizes); its simulator and its reading of the scan's χ² p-values are checked directly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def study(benchmark_script):
    return benchmark_script("calibration_study")


def test_pedigree_dosages_are_sibships(study):
    rng = np.random.default_rng(0)
    D = study.pedigree_dosages(400, 3000, rng)
    assert D.shape == (400, 3000)
    assert set(np.unique(D)) <= {0.0, 1.0, 2.0}
    Z = D[:, D.std(axis=0) > 0]
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    K = Z @ Z.T / Z.shape[1]
    fam = np.arange(400) // study.FAMILY
    same = (fam[:, None] == fam[None, :]) & ~np.eye(400, dtype=bool)
    assert abs(K[same].mean() - 0.5) < 0.05  # full siblings
    assert abs(K[fam[:, None] != fam[None, :]].mean()) < 0.01  # unrelated


def test_chi2_p_values_are_the_scans(study):
    """The study reads the χ² p-values off one F scan; they equal statistic="chi2"'s."""
    from kronlmm.lmm import Kron2Sum

    rng = np.random.default_rng(1)
    n, p = 80, 3
    G = study.kinship_factor(n, rng)
    X = study.covariates(n, rng)
    Y = study.simulate_traits(G, X, *study.true_covariances(p), rng)
    model = Kron2Sum(Y, np.eye(p), X, G, rank=p)
    model.fit(verbose=False)
    D = study.pedigree_dosages(n, 20, rng)
    scanner = model.get_fast_scanner()
    res = scanner.scan_variants(D, "any")
    chi2 = scanner.scan_variants(D, "any", statistic="chi2")
    np.testing.assert_allclose(st.chi2.sf(res.chi2, res.dof), chi2.p_value, rtol=1e-12)


@pytest.mark.slow
def test_calibration_study_quick_prints_its_tables():
    cmd = [sys.executable, str(BENCHMARKS / "calibration_study.py"), "--quick"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for title in (
        "### Null study",
        "### Rank of C₀",
        "### Missing phenotypes",
        "### LOCO",
        "LOCO − genome-wide",
    ):
        assert title in proc.stdout, title
    assert "| n | p | rank C₀ | statistic |" in " ".join(proc.stdout.split())
