"""Fit the multi-trait model vec(Y) ~ N((A ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ I) to the bundled data.

Y: the three traits of the example; X: intercept, age, sex; A = I₃ (one effect per trait);
G: standardised genotypes of all variants / √m, so GGᵀ is the genomic relationship matrix.
The data were simulated with known C₀, C₁ (printed for comparison).
"""

import numpy as np

from kronlmm.data import example_paths
from kronlmm.data.make_example import GENETIC_COV, RESIDUAL_COV
from kronlmm.io import PlinkGenotypes, align_samples, low_rank_G, read_table
from kronlmm.lmm import Kron2Sum

np.set_printoptions(precision=3, suppress=True)

paths = example_paths()
geno = PlinkGenotypes(paths.prefix)
aligned = align_samples(geno, read_table(paths.pheno), read_table(paths.covar))
G = low_rank_G(geno, aligned.genotype_index).G
Y = aligned.Y
X = aligned.covariate_matrix(intercept=True)
print(f"{aligned.nsamples} samples aligned by ID, {Y.shape[1]} traits, G: {G.shape}")

for restricted in (False, True):
    model = Kron2Sum(Y, np.eye(Y.shape[1]), X, G, rank=Y.shape[1], restricted=restricted)
    result = model.fit(verbose=False)
    print(f"\n{'REML' if restricted else 'ML'}: {result}")
    print("C0 (genetic):\n", model.C0)
    print("C1 (residual):\n", model.C1)
    print("B (covariate effects, rows: intercept, age, sex):\n", model.B)

print("\nsimulated C0:\n", GENETIC_COV)
print("simulated C1:\n", RESIDUAL_COV)
