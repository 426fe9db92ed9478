"""examples/genabel/prepare_ge03d2.py converts GenABEL's ge03d2 to a PLINK fileset that
kronlmm reads (runs where Rscript and Debian's r-cran-genabel.data are installed; the data
are not part of kronlmm)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kronlmm.io import PlinkGenotypes, read_table

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "genabel" / "prepare_ge03d2.py"


def _genabel_data_installed() -> bool:
    if shutil.which("Rscript") is None:
        return False
    found = subprocess.run(
        ["Rscript", "-e", 'cat(system.file(package = "GenABEL.data"))'],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.returncode == 0 and bool(found.stdout.strip())


@pytest.mark.slow
@pytest.mark.skipif(not _genabel_data_installed(), reason="needs Rscript and r-cran-genabel.data")
def test_prepare_ge03d2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "ge")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "822 samples x 7374 variants (chromosomes 1, 2, 3, X)" in proc.stdout
    assert "decoding check: 0.00% of the male X calls heterozygous" in proc.stdout
    geno = PlinkGenotypes(tmp_path / "ge" / "ge03d2")
    assert geno.shape == (822, 7374)
    pheno = read_table(tmp_path / "ge" / "pheno.tsv")
    fam = geno.fam_phenotypes  # the GEMMA-style .fam holds the same traits
    np.testing.assert_allclose(fam.to_numpy(), pheno.loc[fam.index].to_numpy(), rtol=1e-9)
    covar = pd.read_csv(tmp_path / "ge" / "covar.tsv", sep="\t")
    males = covar.loc[covar["sex"] == 1, "IID"]
    assert (geno.samples.set_index("IID").loc[males].index == males).all()
    x = np.flatnonzero(geno.variants["chrom"].to_numpy() == "X")
    dosage = geno.read(x, np.flatnonzero(np.isin(geno.sample_ids, males)))
    assert not (dosage == 1).any() and np.nanmax(dosage) == 2  # males on X: homozygous calls
