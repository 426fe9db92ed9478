"""Write the QC test fileset and plink2's own results on it (run by hand; needs plink2).

    python tests/reference/qc/make_qc_reference.py   # from the repository root

Writes, next to this script:

* ``qc.bed/.bim/.fam`` — 120 samples (all founders, FID = IID) × 400 variants on
  chromosomes 1–2, simulated with a fixed seed: allele frequencies from 0 to 0.5 (some
  monomorphic, some at MAF exactly 0.05 = 12/240), variant missingness 0–15 %, six samples
  with 8–30 % missing calls, and 40 variants out of Hardy–Weinberg equilibrium (a mixture
  of two populations with different frequencies);
* ``keep.txt`` (``FID IID``, 110 samples), ``remove.txt`` (PLINK 2 ``#FID IID`` header,
  3 samples; PLINK 2.00a3.5 matches nothing in a one-column list without header),
  ``extract.txt`` (380 variant IDs and 2 IDs absent from the .bim), ``exclude.txt``
  (5 variant IDs);
* plink2's statistics of all samples: ``qc.afreq`` (``--freq``), ``qc.vmiss`` and
  ``qc.smiss`` (``--missing``), ``qc.hardy`` (``--hardy``);
* plink2's filters, ``--mind 0.1 --geno 0.05 --hwe 1e-4 --maf 0.05``, alone (``qc_only.*``)
  and after ``--keep/--remove/--extract/--exclude`` (``lists.*``): the kept samples
  (``.id``), the kept variants (``.snplist``) and the counts plink2 logged
  (``counts.json``);
* ``versions.txt`` — the plink2 version.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
from bed_reader import to_bed

HERE = Path(__file__).resolve().parent
SEED = 20240612
N, M = 120, 400
FILTERS = ["--mind", "0.1", "--geno", "0.05", "--hwe", "1e-4", "--maf", "0.05"]


def simulate() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    freq = rng.uniform(0.0, 0.5, size=M)
    freq[:12] = 0.0  # monomorphic
    freq[12:40] = rng.uniform(0.002, 0.03, size=28)  # rare: around MAF 0.01
    dosage = rng.binomial(2, freq, size=(N, M)).astype(float)
    # variants 40..79 out of HWE: two populations, frequencies f ± 0.35
    half = N // 2
    for j in range(40, 80):
        f = rng.uniform(0.4, 0.5)
        dosage[:half, j] = rng.binomial(2, max(f - 0.38, 0.01), size=half)
        dosage[half:, j] = rng.binomial(2, min(f + 0.38, 0.99), size=N - half)
    # variants 80..91: MAF exactly 12/240 = 0.05 (12 copies among 120 observed samples)
    for j in range(80, 92):
        dosage[:, j] = 0.0
        dosage[rng.choice(N, 12, replace=False), j] = 1.0
    # missing calls: a rate per variant from 0 to 15 %, and six samples with 8-30 %
    rate = rng.choice(
        [0.0, 0.01, 0.03, 0.05, 0.08, 0.15], size=M, p=[0.5, 0.2, 0.1, 0.08, 0.07, 0.05]
    )
    rate[80:92] = 0.0
    missing = rng.uniform(size=(N, M)) < rate
    for i, r in zip([3, 17, 40, 41, 77, 100], [0.08, 0.12, 0.2, 0.3, 0.09, 0.11], strict=True):
        missing[i] |= rng.uniform(size=M) < r
    missing[:, 80:92] = False
    dosage[missing] = np.nan
    return dosage


def main() -> None:
    dosage = simulate()
    iids = [f"S{i:03d}" for i in range(N)]
    sids = [f"v{j:03d}" for j in range(M)]
    to_bed(
        HERE / "qc.bed",
        dosage,
        properties={
            "fid": iids,
            "iid": iids,
            "sid": sids,
            "chromosome": ["1"] * (M // 2) + ["2"] * (M - M // 2),
            "bp_position": np.arange(1, M + 1) * 1000,
            "allele_1": ["A"] * M,
            "allele_2": ["G"] * M,
        },
        count_A1=True,
    )
    rng = np.random.default_rng(SEED + 1)
    keep = sorted(rng.choice(N, 110, replace=False))
    (HERE / "keep.txt").write_text("".join(f"{iids[i]}\t{iids[i]}\n" for i in keep))
    (HERE / "remove.txt").write_text(
        "#FID\tIID\n" + "".join(f"{iids[i]}\t{iids[i]}\n" for i in keep[:3])
    )
    extract = sorted(rng.choice(M, 380, replace=False))
    (HERE / "extract.txt").write_text(
        "".join(f"{sids[j]}\n" for j in extract) + "absent1\nabsent2\n"
    )
    (HERE / "exclude.txt").write_text("".join(f"{sids[j]}\n" for j in extract[:5]))

    bfile = str(HERE / "qc")
    run = ["plink2", "--bfile", bfile, "--silent"]
    subprocess.run([*run, "--freq", "--missing", "--hardy", "--out", bfile], check=True)
    counts = {}
    for name, extra in (
        ("qc_only", []),
        ("lists", ["--keep", str(HERE / "keep.txt"), "--remove", str(HERE / "remove.txt"),
                   "--extract", str(HERE / "extract.txt"),
                   "--exclude", str(HERE / "exclude.txt")]),
    ):  # fmt: skip
        out = str(HERE / name)
        subprocess.run(
            [*run, *extra, *FILTERS, "--write-snplist", "--write-samples", "--out", out],
            check=True,
        )
        counts[name] = _logged_counts(Path(out + ".log").read_text())
        Path(out + ".log").unlink()
        Path(out + ".mindrem.id").unlink(missing_ok=True)
    (HERE / "counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    Path(bfile + ".log").unlink()
    version = subprocess.run(["plink2", "--version"], capture_output=True, text=True, check=True)
    (HERE / "versions.txt").write_text(version.stdout)


def _logged_counts(log: str) -> dict[str, int]:
    """The sample and variant counts of plink2's log, per filter."""
    patterns = {
        "removed_by_mind": r"(\d+) samples? removed due to missing genotype data \(--mind\)",
        "removed_by_geno": r"--geno: (\d+) variants? removed due to missing genotype data",
        "removed_by_hwe": r"--hwe: (\d+) variants? removed due to Hardy-Weinberg exact test",
        "removed_by_maf": r"(\d+) variants? removed due to allele frequency threshold",
        "variants_kept": r"(\d+) variants? remaining after main filters",
    }
    counts = {}
    for key, pattern in patterns.items():
        found = re.search(pattern, log)
        counts[key] = int(found.group(1)) if found else 0
    return counts


if __name__ == "__main__":
    main()
