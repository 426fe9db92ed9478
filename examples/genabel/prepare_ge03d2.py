"""Convert GenABEL's ge03d2 example data (Debian's r-cran-genabel.data) to PLINK files.

    apt-get install r-cran-genabel.data          # R data package, 1 MB
    python examples/genabel/prepare_ge03d2.py --out ge03d2/

The data (Aulchenko et al., GenABEL tutorial; ``ge03d2.clean``: 822 people × 7,374 SNPs on
chromosomes 1–3 and X, after the tutorial's quality control) are read from the package's
``ge03d2.clean.RData`` with ``Rscript`` (GenABEL itself is not needed, and is no longer on
CRAN: the script reads the objects' slots directly) and written as:

``OUT/ge03d2.bed/.bim/.fam``
    PLINK 1 binary fileset. The ``.fam`` is GEMMA-style: height, weight and BMI in columns
    6–8 (``-9`` where missing), so ``--pheno-from-fam`` reads them (``pheno1`` …
    ``pheno3``) and PLINK and GEMMA read the file as it is.
``OUT/pheno.tsv``
    ``FID IID height weight bmi`` (``NA`` where missing).
``OUT/covar.tsv``
    ``FID IID sex age`` (sex: 1 male, 0 female).

Genotype coding. GenABEL packs four genotypes per byte, the first sample in the two highest
bits, each as 0 (missing) or 1 + the number of copies of the second allele of the SNP's
``coding`` (e.g. ``"AG"``: 1 = A/A, 2 = A/G, 3 = G/G). The ``.bim`` lists that second allele
as allele 1 (the allele kronlmm and PLINK count), the first as allele 2. The script checks the
decoding on chromosome X: males must be (nearly) never heterozygous there, which fails if the
bits were read in the wrong order.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from bed_reader import to_bed

R_EXPORT = r"""
args <- commandArgs(trailingOnly = TRUE)
path <- system.file("data", "ge03d2.clean.RData", package = "GenABEL.data")
if (path == "") stop("GenABEL.data is not installed (apt-get install r-cran-genabel.data)")
env <- new.env()
load(path, envir = env)
data <- env[["ge03d2.clean"]]
plain <- function(x) { x <- asS4(x, FALSE); attr(x, "class") <- NULL; x }
gt <- attr(data, "gtdata")
out <- args[1]
write.table(attr(data, "phdata"), file.path(out, "phdata.tsv"), sep = "\t", quote = FALSE,
            row.names = FALSE)
snps <- data.frame(name = attr(gt, "snpnames"), chrom = as.character(attr(gt, "chromosome")),
                   pos = as.numeric(attr(gt, "map")),
                   coding = as.integer(plain(attr(gt, "coding"))))
write.table(snps, file.path(out, "snps.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
write.table(data.frame(id = attr(gt, "idnames"), male = as.integer(attr(gt, "male"))),
            file.path(out, "samples.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
writeBin(as.vector(plain(attr(gt, "gtps"))), file.path(out, "gtps.bin"))
cat(attr(gt, "nids"), attr(gt, "nsnps"), attr(gt, "nbytes"), "\n")
"""


def allele_codes() -> list[str]:
    """GenABEL's allele-pair codes, in the order of its ``alleleID.codes()`` (code k is the
    k-th entry, 1-based): "12", "AB", then every ordered pair of distinct A, T, G, C, -."""
    codes = ["12", "AB"]
    alleles = ["A", "T", "G", "C", "-"]
    codes += [a + b for a in alleles for b in alleles if a != b]
    return codes + ["21", "BA", "ID", "DI"]


def decode(packed: np.ndarray, n: int) -> np.ndarray:
    """``nsnps × nbytes`` GenABEL bytes → ``n × nsnps`` dosages (copies of the coding's second
    allele; NaN missing)."""
    fields = np.stack([(packed >> shift) & 3 for shift in (6, 4, 2, 0)], axis=-1)
    values = fields.reshape(packed.shape[0], -1)[:, :n].T.astype(np.float64)  # samples × SNPs
    values[values == 0] = np.nan
    return values - 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="ge03d2", help="output folder (default: ge03d2)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "export.R").write_text(R_EXPORT)
        proc = subprocess.run(
            ["Rscript", str(tmp / "export.R"), str(tmp)], capture_output=True, text=True
        )
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return 1
        n, m, nbytes = (int(v) for v in proc.stdout.split())
        packed = np.fromfile(tmp / "gtps.bin", dtype=np.uint8).reshape(m, nbytes)
        snps = pd.read_csv(tmp / "snps.tsv", sep="\t", dtype={"name": str, "chrom": str})
        samples = pd.read_csv(tmp / "samples.tsv", sep="\t", dtype={"id": str})
        pheno = pd.read_csv(tmp / "phdata.tsv", sep="\t", dtype={"id": str})

    dosage = decode(packed, n)
    codes = allele_codes()
    pairs = [codes[c - 1] for c in snps["coding"]]
    on_x = (snps["chrom"] == "X").to_numpy()
    male = samples["male"].to_numpy() == 1
    x_calls = dosage[np.ix_(male, on_x)]
    het_share = float(np.mean(x_calls[~np.isnan(x_calls)] == 1)) if x_calls.size else 0.0
    female_x = dosage[np.ix_(~male, on_x)]
    female_het = float(np.mean(female_x[~np.isnan(female_x)] == 1)) if female_x.size else 0.0
    if het_share > 0.01:
        print(
            f"decoding check failed: {het_share:.1%} of male X calls heterozygous", file=sys.stderr
        )
        return 1
    if not (pheno["id"].to_numpy() == samples["id"].to_numpy()).all():
        print("phenotype and genotype samples are in different orders", file=sys.stderr)
        return 1

    traits = pheno[["height", "weight", "bmi"]]
    fam_pheno = traits.fillna(-9).to_numpy()
    prefix = out / "ge03d2"
    to_bed(
        prefix.with_suffix(".bed"),
        dosage,
        properties={
            "fid": samples["id"],
            "iid": samples["id"],
            "sex": np.where(male, 1, 2),
            "pheno": np.zeros(n),  # replaced below by the three traits
            "chromosome": snps["chrom"],
            "sid": snps["name"],
            "bp_position": snps["pos"].round().astype(np.int64),
            "allele_1": [p[1] for p in pairs],  # counted: the coding's second allele
            "allele_2": [p[0] for p in pairs],
        },
        count_A1=True,
    )
    fam = pd.read_csv(prefix.with_suffix(".fam"), sep=r"\s+", header=None, dtype=str)
    lines = [
        " ".join([*row[:5], *(f"{v:.10g}" for v in values)])
        for row, values in zip(fam.to_numpy(), fam_pheno, strict=True)
    ]
    prefix.with_suffix(".fam").write_text("\n".join(lines) + "\n")

    ids = pd.DataFrame({"FID": pheno["id"], "IID": pheno["id"]})
    pd.concat([ids, traits], axis=1).to_csv(out / "pheno.tsv", sep="\t", index=False, na_rep="NA")
    covar = pd.concat([ids, pheno[["sex", "age"]]], axis=1)
    covar.to_csv(out / "covar.tsv", sep="\t", index=False, na_rep="NA")
    missing = int(traits.isna().any(axis=1).sum())
    print(
        f"wrote {prefix}.bed/.bim/.fam: {n} samples x {m} variants "
        f"(chromosomes {', '.join(dict.fromkeys(snps['chrom']))}); {out}/pheno.tsv (height, "
        f"weight, bmi; {missing} samples with a missing value) and {out}/covar.tsv (sex, age)"
    )
    print(
        f"decoding check: {het_share:.2%} of the male X calls heterozygous "
        f"(females: {female_het:.1%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
