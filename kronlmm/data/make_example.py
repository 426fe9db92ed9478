"""Simulate the bundled example GWAS dataset (deterministic: fixed seed).

Run ``python -m kronlmm.data.make_example [--out DIR]`` to (re)write, by default into this
package folder:

``example.bed/.bim/.fam``
    400 samples × 3000 variants on chromosomes 1–3 (1000 each). Allele-1 frequencies are
    spread over 0.02–0.5 (a few variants are nearly or entirely monomorphic), allele 1 is the
    minor allele for most variants, neighbouring variants are in linkage disequilibrium
    (haplotypes from an autoregressive latent Gaussian along each chromosome) and about 0.1 %
    of the calls are missing. Dosages count allele 1 (``.bim`` column 5). FID ``FAMxxx`` and
    IID ``INDxxx`` differ, so that an FID/IID mix-up shows.
``pheno.tsv``
    ``FID IID trait1 trait2 trait3``, tab separated, ``NA`` for missing values (a few per
    trait). Five genotyped samples have no phenotype row, and rows are in another order than
    the ``.fam``.
``covar.tsv``
    ``FID IID age sex`` (age in years, sex coded 0/1), all 400 samples, in yet another order.
``causal.tsv``
    The three causal variants with their true per-allele effects on each trait (effect allele
    = allele 1 = the counted allele): the first affects trait 1, the second traits 1 and 2
    (opposite signs), the third all three traits.

Traits: ``Y = intercept + age·β_age + sex·β_sex + causal effects + U + E`` with a polygenic
background ``U`` of trait covariance :data:`GENETIC_COV` (``Cov(vec U) = GENETIC_COV ⊗ K``,
``K`` the standardised GRM of all variants) and residual ``E`` of covariance
:data:`RESIDUAL_COV` (``⊗ I``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from bed_reader import to_bed
from scipy.special import ndtri

SEED = 20240611
N_SAMPLES = 400
CHROMOSOMES = ("1", "2", "3")
VARIANTS_PER_CHROMOSOME = 1000
LD_RHO = 0.95
"""Autocorrelation of the latent haplotype process between neighbouring variants."""
MISSING_CALL_RATE = 0.001
TRAITS = ("trait1", "trait2", "trait3")

GENETIC_COV = np.array([[0.40, 0.24, 0.12], [0.24, 0.40, 0.16], [0.12, 0.16, 0.30]])
"""Trait covariance C₀ of the polygenic background."""
RESIDUAL_COV = np.array([[0.60, 0.18, 0.06], [0.18, 0.60, 0.12], [0.06, 0.12, 0.70]])
"""Residual trait covariance C₁."""
INTERCEPT = np.array([1.0, -0.5, 2.0])
AGE_EFFECT = np.array([0.02, 0.01, -0.015])
"""Per year of age (age enters uncentred, in years)."""
SEX_EFFECT = np.array([0.3, -0.2, 0.0])
CAUSAL_EFFECTS = np.array([[0.5, 0.0, 0.0], [0.45, -0.45, 0.0], [0.4, 0.4, 0.4]])
"""Rows: causal variants 1–3 (one per chromosome); columns: traits."""

N_UNPHENOTYPED = 5
N_MISSING_PER_TRAIT = 6


def _haplotypes(rng: np.random.Generator, n_hap: int, freq: np.ndarray) -> np.ndarray:
    """Return ``n_hap × m`` 0/1 indicators of allele 1 with LD between neighbours."""
    m = freq.size
    latent = np.empty((n_hap, m))
    latent[:, 0] = rng.standard_normal(n_hap)
    innovation = np.sqrt(1 - LD_RHO**2)
    for j in range(1, m):
        latent[:, j] = LD_RHO * latent[:, j - 1] + innovation * rng.standard_normal(n_hap)
    return (latent < ndtri(freq)).astype(np.float64)


def simulate(seed: int = SEED) -> dict[str, pd.DataFrame | np.ndarray]:
    """Simulate the dataset in memory.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    dict
        ``dosage`` (n × m, NaN for missing calls), ``fam``, ``bim``, ``pheno``, ``covar`` and
        ``causal`` tables.
    """
    rng = np.random.default_rng(seed)
    n = N_SAMPLES
    fid = np.array([f"FAM{i:03d}" for i in range(n)])
    iid = np.array([f"IND{i:03d}" for i in range(n)])

    bim_parts, dosage_parts = [], []
    used_ids: set[int] = set()
    for chrom in CHROMOSOMES:
        m = VARIANTS_PER_CHROMOSOME
        maf = rng.uniform(0.02, 0.5, size=m)
        rare = rng.random(m) < 0.01
        maf[rare] = rng.uniform(0.0, 0.002, size=rare.sum())
        a1_minor = rng.random(m) < 0.85
        freq_a1 = np.where(a1_minor, maf, 1 - maf)
        hap = _haplotypes(rng, 2 * n, freq_a1)
        dosage_parts.append(hap[:n] + hap[n:])
        pos = np.sort(rng.choice(np.arange(10_000, 50_000_000), size=m, replace=False))
        ids: list[str] = []
        while len(ids) < m:
            rs = int(rng.integers(1_000_000, 99_999_999))
            if rs not in used_ids:
                used_ids.add(rs)
                ids.append(f"rs{rs}")
        bases = np.array(list("ACGT"))
        a1 = rng.integers(0, 4, size=m)
        a2 = (a1 + rng.integers(1, 4, size=m)) % 4
        bim_parts.append(
            pd.DataFrame(
                {
                    "chrom": chrom,
                    "variant_id": ids,
                    "cm": np.round(pos * 1e-6, 4),
                    "pos": pos,
                    "allele_1": bases[a1],
                    "allele_2": bases[a2],
                }
            )
        )
    bim = pd.concat(bim_parts, ignore_index=True)
    dosage = np.hstack(dosage_parts)

    # Causal variants: the first variant from the middle of each chromosome with allele-1
    # frequency in [0.25, 0.5].
    freq = dosage.mean(axis=0) / 2
    causal_list: list[int] = []
    for c, chrom in enumerate(CHROMOSOMES):
        start = c * VARIANTS_PER_CHROMOSOME + VARIANTS_PER_CHROMOSOME // 2
        j = start
        while not 0.25 <= freq[j] <= 0.5:
            j += 1
        causal_list.append(j)
        assert bim.loc[j, "chrom"] == chrom
    causal_idx = np.array(causal_list)

    # Covariates.
    age = rng.integers(20, 71, size=n).astype(np.float64)
    sex = (rng.random(n) < 0.5).astype(np.float64)

    # Polygenic background: U = Z W L0ᵀ / √m, so Cov(vec U) = C0 ⊗ Z Zᵀ / m.
    sd = dosage.std(axis=0)
    variable = sd > 0
    z = (dosage[:, variable] - dosage[:, variable].mean(axis=0)) / sd[variable]
    w = rng.standard_normal((z.shape[1], len(TRAITS)))
    u = (z @ w / np.sqrt(z.shape[1])) @ np.linalg.cholesky(GENETIC_COV).T
    e = rng.standard_normal((n, len(TRAITS))) @ np.linalg.cholesky(RESIDUAL_COV).T
    y = (
        INTERCEPT
        + age[:, None] * AGE_EFFECT
        + sex[:, None] * SEX_EFFECT
        + dosage[:, causal_idx] @ CAUSAL_EFFECTS
        + u
        + e
    )

    # Missing genotype calls (after the traits were simulated from the full genotypes).
    observed = dosage.copy()
    observed[rng.random(observed.shape) < MISSING_CALL_RATE] = np.nan

    # Phenotype table: some genotyped samples unphenotyped, a few NA, another order.
    pheno_rows = rng.permutation(n)[N_UNPHENOTYPED:]
    pheno = pd.DataFrame(y[pheno_rows], columns=list(TRAITS))
    for t in TRAITS:
        pheno.loc[rng.choice(len(pheno_rows), N_MISSING_PER_TRAIT, replace=False), t] = np.nan
    pheno.insert(0, "IID", iid[pheno_rows])
    pheno.insert(0, "FID", fid[pheno_rows])

    covar_rows = rng.permutation(n)
    covar = pd.DataFrame({"FID": fid[covar_rows], "IID": iid[covar_rows], "age": age[covar_rows]})
    covar["sex"] = sex[covar_rows].astype(int)
    covar["age"] = covar["age"].astype(int)

    fam = pd.DataFrame(
        {
            "FID": fid,
            "IID": iid,
            "father": "0",
            "mother": "0",
            "sex": np.where(sex == 1, 2, 1),
            "phenotype": "-9",
        }
    )
    causal = pd.DataFrame(
        {
            "variant_id": bim.loc[causal_idx, "variant_id"].to_numpy(),
            "chrom": bim.loc[causal_idx, "chrom"].to_numpy(),
            "pos": bim.loc[causal_idx, "pos"].to_numpy(),
            "effect_allele": bim.loc[causal_idx, "allele_1"].to_numpy(),
            "other_allele": bim.loc[causal_idx, "allele_2"].to_numpy(),
            "effect_allele_freq": np.round(freq[causal_idx], 4),
        }
    )
    for k, t in enumerate(TRAITS):
        causal[f"beta_{t}"] = CAUSAL_EFFECTS[:, k]
    return {
        "dosage": observed,
        "fam": fam,
        "bim": bim,
        "pheno": pheno,
        "covar": covar,
        "causal": causal,
    }


def write(out: Path | str | None = None, seed: int = SEED) -> Path:
    """Simulate and write the example files.

    Parameters
    ----------
    out : path, optional
        Output folder (default: the folder of this module).
    seed : int
        Simulation seed.

    Returns
    -------
    pathlib.Path
        The output folder.
    """
    out = Path(__file__).parent if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sim = simulate(seed)
    fam, bim = sim["fam"], sim["bim"]
    to_bed(
        out / "example.bed",
        sim["dosage"],
        properties={
            "fid": fam["FID"].tolist(),
            "iid": fam["IID"].tolist(),
            "father": fam["father"].tolist(),
            "mother": fam["mother"].tolist(),
            "sex": fam["sex"].tolist(),
            "pheno": fam["phenotype"].tolist(),
            "chromosome": bim["chrom"].tolist(),
            "sid": bim["variant_id"].tolist(),
            "cm_position": bim["cm"].tolist(),
            "bp_position": bim["pos"].tolist(),
            "allele_1": bim["allele_1"].tolist(),
            "allele_2": bim["allele_2"].tolist(),
        },
        count_A1=True,
    )
    for name in ("pheno", "covar", "causal"):
        table = sim[name]
        assert isinstance(table, pd.DataFrame)
        table.to_csv(
            out / f"{name}.tsv",
            sep="\t",
            index=False,
            lineterminator="\n",
            na_rep="NA" if name == "pheno" else "",
            float_format="%.5f" if name == "pheno" else None,
        )
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: ``python -m kronlmm.data.make_example [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    out = write(args.out, args.seed)
    print(f"wrote example dataset to {out}")


if __name__ == "__main__":
    main()
