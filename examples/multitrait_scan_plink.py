"""Multi-trait GWAS of the bundled PLINK fileset: one null model, three tests per variant.

    vec(Y) ~ N((A ⊗ X) vec(B) + (A₁ ⊗ g) vec(B₁),  s·(C₀ ⊗ GGᵀ + C₁ ⊗ I))

Y: trait1–trait3 of pheno.tsv; X: intercept, age, sex (covar.tsv); GGᵀ: the genomic
relationship matrix of all variants; g: each variant's allele-1 dosages, read from the .bed
file one block at a time. Samples are matched by ID across the three files. The null
(B₁ = 0) is fitted once by ML; each variant is then tested with C₀, C₁ fixed and s
re-profiled:

- "any"          A₁ = I₃: an effect on any trait (3 dof),
- "common"       A₁ = 1₃: one effect shared by the traits (1 dof),
- "interaction"  A₁ = I₃ beyond 1₃: trait-specific effects (2 dof).

The data were simulated with three causal variants (kronlmm/data/causal.tsv).

Run: .venv/bin/python examples/multitrait_scan_plink.py
"""

import tempfile
from pathlib import Path

import pandas as pd

from kronlmm.data import example_paths
from kronlmm.gwas import read_results, scan

pd.set_option("display.width", 120)
paths = example_paths()
causal = pd.read_csv(paths.causal, sep="\t").set_index("variant_id")

# Align by sample ID, fit the null once (C₀ of full rank 3), test every variant that passes
# the default QC (MAF >= 0.01, missingness <= 5 %) for an effect on any trait.
result = scan(paths.prefix, paths.pheno, covar=paths.covar, test="any", rank=3)
null = result.null
counts = result.alignment
print(
    f"samples: {counts['genotypes']} genotyped, {counts['phenotypes']} phenotyped, "
    f"{counts['kept']} kept (present in every file, at least one trait observed)"
)
print(null)
print("C0 (genetic trait covariance):", null.C0.round(3), sep="\n")
print("C1 (residual trait covariance):", null.C1.round(3), sep="\n")
print(f"\n{result.n_tested} of {len(result.assoc)} variants tested", end=", ")
print(f"genomic-control lambda = {result.lambda_gc:.3f}")

columns = ["variant_id", "chrom", "pos", "effect_allele", "chi2", "dof", "neg_log10_p_value"]
top = result.top(5)[columns].set_index("variant_id")
top["causal"] = ["yes" if vid in causal.index else "" for vid in top.index]
print(f"\ntop 5 variants, test 'any' ({result.dof} dof):")
print(top.round(2).to_string())

# The same null answers the other questions: no refit, only another scan.
tests = {"any": result, "common": null.scan("common"), "interaction": null.scan("interaction")}
minus_log10_p = pd.DataFrame(
    {name: r.assoc.set_index("variant_id")["neg_log10_p_value"] for name, r in tests.items()}
)
print("\n-log10 p of the causal variants under each test:")
print(minus_log10_p.loc[causal.index].round(2).to_string())

# Per-trait effects of the causal variants under the "any" alternative, and the truth.
effects = result.effects.pivot(index="variant_id", columns="trait", values="beta")
print("\nestimated effects (any) | simulated effects:")
for vid in causal.index:
    est = " ".join(f"{v:6.2f}" for v in effects.loc[vid, null.trait_names])
    true = " ".join(f"{causal.loc[vid, f'beta_{t}']:6.2f}" for t in null.trait_names)
    print(f"{vid}: {est} | {true}")

# Tables are written atomically; read_results reads them back.
with tempfile.TemporaryDirectory() as tmp:
    path = result.write_tsv(Path(tmp) / "example.assoc.tsv.gz")
    again = read_results(path)
    print(f"\nwrote and read back {path.name}: {len(again)} rows, {again.shape[1]} columns")
