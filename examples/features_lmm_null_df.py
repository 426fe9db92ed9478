"""Why the degrees of freedom matter: type-I error of per-feature LMM tests under the null.

20 subjects (10 per arm), cells nested in subjects, between-subject variance θ > 0 and no
treatment effect. The treatment varies between subjects only, so its effect is estimated
from 20 subject means: the t statistic has ≈ 18 degrees of freedom, not the n − p of the
cells (FLASHMM's choice). A cell-level covariate (varying within subjects) is tested too:
there n − p is right, and Satterthwaite finds it.

Prints the fraction of null features with p < 0.05 and p < 0.01 for each df method, and a
binomial 99% interval for the nominal level.
"""

import numpy as np
from scipy import stats

from kronlmm.features import lmm_fit, lmm_test

rng = np.random.default_rng(13)
nsub, ngenes = 20, 4000
sizes = rng.integers(10, 41, size=nsub)  # unbalanced: 10–40 cells per subject
subject = np.repeat(np.arange(nsub), sizes)
n = subject.size
treated = (subject % 2 == 1).astype(float)
covariate = rng.normal(size=n)  # a cell-level covariate (e.g. a cell-cycle score)
X = np.column_stack([np.ones(n), treated, covariate])
Z = np.eye(nsub)[subject]
theta_subject = rng.uniform(0.05, 0.5, size=ngenes)  # σ² = 1
Y = (
    rng.normal(size=(ngenes, n))
    + np.sqrt(theta_subject)[:, None] * (rng.normal(size=(ngenes, nsub))[:, subject])
)

fit = lmm_fit(Y, X, Z)
print(f"{ngenes} null genes, {n} cells in {nsub} subjects; converged: {int(fit.converged.sum())}")
lo, hi = stats.binom.ppf([0.005, 0.995], ngenes, 0.05) / ngenes
print(f"binomial 99% interval for a 0.05 level with {ngenes} genes: [{lo:.3f}, {hi:.3f}]\n")

rows = []
for name, coef in (("treatment (between subjects)", 1), ("covariate (within subjects)", 2)):
    for df in ("satterthwaite", "kenward-roger", "residual"):
        res = lmm_test(fit, index=coef, df=df)
        p = res.p[:, 0]
        rows.append((name, df, np.median(res.df[:, 0]), np.mean(p < 0.05), np.mean(p < 0.01)))

print(f"{'effect tested':30} {'df method':15} {'median df':>9} {'α=0.05':>7} {'α=0.01':>7}")
for name, df, median_df, rate05, rate01 in rows:
    print(f"{name:30} {df:15} {median_df:9.1f} {rate05:7.3f} {rate01:7.3f}")
