"""Write kinship files by GEMMA, PLINK 2, PLINK 1.9 (and GCTA's format by PLINK 2) for the tests.

    python tests/reference/kinship/make_kinship_reference.py   # from the repository root

Needs ``gemma``, ``plink2`` and ``plink1.9`` on the PATH (Debian: ``apt-get install gemma
plink2 plink1.9``). Writes, next to this script:

* ``small.bed/.bim/.fam`` — the first 50 samples and first 200 variants of kronlmm's bundled
  example fileset (PLINK 2 needs at least 50 samples to compute allele frequencies);
* ``gemma.cXX.txt`` and ``gemma.sXX.txt`` — ``gemma -gk 1`` and ``-gk 2`` (its default
  filters: MAF ≥ 0.01, missingness ≤ 5 %; GEMMA needs a phenotype, so a copy of the .fam
  with column 6 = 1..50 is used; the kinship does not depend on it);
* ``plink2_{square,square0,triangle}.rel`` — ``plink2 --make-rel SHAPE``;
* ``plink2_{square,triangle}.rel.bin`` — ``--make-rel SHAPE bin`` (float64) and
  ``plink2_{square,triangle}_bin4.rel.bin`` — ``bin4`` (float32);
  each with its ``.rel.id`` (PLINK 2: ``#FID IID`` header);
* ``plink19_square.rel`` (+ ``.rel.id`` without header) — ``plink1.9 --make-rel square``;
* ``gcta.grm.bin``, ``gcta.grm.N.bin``, ``gcta.grm.id`` — ``plink2 --make-grm-bin``;
* ``versions.txt``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
EXAMPLE = ROOT / "kronlmm" / "data" / "example"


def run(*args: str) -> None:
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    small = str(HERE / "small")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fam = (EXAMPLE.with_suffix(".fam")).read_text().splitlines()[:50]
        (tmp / "keep.txt").write_text("".join(" ".join(line.split()[:2]) + "\n" for line in fam))
        bim = (EXAMPLE.with_suffix(".bim")).read_text().splitlines()[:200]
        (tmp / "extract.txt").write_text("".join(line.split()[1] + "\n" for line in bim))
        run("plink2", "--bfile", str(EXAMPLE), "--keep", str(tmp / "keep.txt"), "--extract",
            str(tmp / "extract.txt"), "--make-bed", "--out", small)  # fmt: skip

        # GEMMA: a .fam copy with a phenotype, so that every sample is analysed
        pheno = tmp / "pheno"
        for ext in ("bed", "bim"):
            shutil.copy(f"{small}.{ext}", f"{pheno}.{ext}")
        rows = [line.split() for line in Path(f"{small}.fam").read_text().splitlines()]
        Path(f"{pheno}.fam").write_text(
            "".join(" ".join([*r[:5], str(i + 1)]) + "\n" for i, r in enumerate(rows))
        )
        for kind, letter in (("1", "c"), ("2", "s")):
            run("gemma", "-bfile", str(pheno), "-gk", kind, "-o", "gemma", "-outdir", str(tmp))
            shutil.copy(tmp / f"gemma.{letter}XX.txt", HERE / f"gemma.{letter}XX.txt")

    for shape in ("square", "square0", "triangle"):
        run("plink2", "--bfile", small, "--make-rel", shape, "--out", str(HERE / f"plink2_{shape}"))
    for shape in ("square", "triangle"):
        run("plink2", "--bfile", small, "--make-rel", shape, "bin", "--out",
            str(HERE / f"plink2_{shape}"))  # fmt: skip
        run("plink2", "--bfile", small, "--make-rel", shape, "bin4", "--out",
            str(HERE / f"plink2_{shape}_bin4"))  # fmt: skip
    run("plink1.9", "--bfile", small, "--make-rel", "square", "--out", str(HERE / "plink19_square"))
    run("plink2", "--bfile", small, "--make-grm-bin", "--out", str(HERE / "gcta"))
    for log in HERE.glob("*.log"):
        log.unlink()
    for extra in HERE.glob("*.nosex"):
        extra.unlink()

    versions = []
    for tool in (["plink2", "--version"], ["plink1.9", "--version"]):
        versions.append(subprocess.run(tool, capture_output=True, text=True).stdout.strip())
    gemma = subprocess.run(["gemma"], capture_output=True, text=True)
    versions += [line.strip() for line in (gemma.stdout + gemma.stderr).splitlines() if line][:1]
    (HERE / "versions.txt").write_text("\n".join(versions) + "\n")


if __name__ == "__main__":
    main()
