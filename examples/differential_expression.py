"""Differential expression from RNA-seq counts with kronlmm.features (limma's workflow).

Simulated counts (3,000 genes, three conditions × four samples, two processing batches),
of which 150 genes respond to condition B and 150 to condition C. The script runs

    counts → voom → lm_fit (~ 0 + condition + batch) → make_contrasts / contrasts_fit
           → e_bayes → top_table / decide_tests,

compares the genes it calls with the simulated truth, and draws a volcano plot and the
voom mean–variance trend into a temporary folder.

Run: ``python examples/differential_expression.py``
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from kronlmm.features import contrasts_fit, decide_tests, e_bayes, lm_fit, make_contrasts, voom

rng = np.random.default_rng(2026)

# ---- simulate counts -------------------------------------------------------------------
ngenes = 3000
samples = pd.DataFrame(
    {
        "condition": np.repeat(["A", "B", "C"], 4),
        "batch": np.tile(["b1", "b2"], 6),
    },
    index=[f"sample{i:02d}" for i in range(12)],
)
base = np.exp(rng.normal(3.5, 1.8, ngenes))  # expected counts of condition A
log_fc = np.zeros((ngenes, 3))
truth_b = rng.choice(ngenes, 150, replace=False)
truth_c = rng.choice(np.setdiff1d(np.arange(ngenes), truth_b), 150, replace=False)
log_fc[truth_b, 1] = rng.choice([-1.5, 1.5], 150) * rng.uniform(0.7, 1.5, 150)
log_fc[truth_c, 2] = rng.choice([-1.5, 1.5], 150) * rng.uniform(0.7, 1.5, 150)
condition = samples["condition"].map({"A": 0, "B": 1, "C": 2}).to_numpy()
batch_effect = np.where(samples["batch"] == "b2", 1.3, 1.0)
lib = rng.uniform(0.6, 1.6, 12) * batch_effect
mu = base[:, None] * lib[None, :] * 2.0 ** log_fc[:, condition]
dispersion = 0.05
counts = rng.negative_binomial(1 / dispersion, 1 / (1 + dispersion * mu))
genes = [f"gene{i:04d}" for i in range(ngenes)]
counts = pd.DataFrame(counts, index=genes, columns=samples.index)
print(f"{ngenes} genes x {len(samples)} samples, {int(counts.to_numpy().sum())} reads")

# ---- voom, linear model, contrasts, moderated statistics ---------------------------------
v = voom(counts, "~ 0 + condition + batch", samples=samples)
print(f"voom: weights from {v.weights.min():.2f} to {v.weights.max():.2f}")
fit = lm_fit(v)  # values, weights and design come with the voom result
print("coefficients:", fit.coef_names)
contrasts = make_contrasts(
    BvsA="condition[B] - condition[A]",
    CvsA="condition[C] - condition[A]",
    CvsB="condition[C] - condition[B]",
    levels=fit,
)
fit2 = e_bayes(contrasts_fit(fit, contrasts))
print(f"prior df {float(fit2.df_prior):.2f}, prior variance {float(fit2.s2_prior):.4f}")

# ---- results -------------------------------------------------------------------------------
from kronlmm.features import top_table  # noqa: E402

top = top_table(fit2, coef="BvsA", number=5)
print("top 5 genes, B vs A:")
print(top.to_string(float_format="%.3g"))
decisions = decide_tests(fit2)
print("decide_tests (adj. p < 0.05):")
print(decisions.summary().to_string())
called_b = set(np.asarray(genes)[np.asarray(decisions)[:, 0] != 0])
true_b = {genes[i] for i in truth_b}
recall = len(called_b & true_b) / len(true_b)
false_share = len(called_b - true_b) / max(1, len(called_b))
print(f"B vs A: {len(called_b)} called, recall {recall:.2f}, false discoveries {false_share:.3f}")
either = top_table(fit2, coef=["BvsA", "CvsA"], number=3)
print("F-test over B vs A and C vs A, top 3:", list(either.index))

# ---- plots ---------------------------------------------------------------------------------
try:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from kronlmm.plot import mean_variance, volcano
except ImportError:  # plotting is optional (pip install 'kronlmm[plot]')
    print("matplotlib not installed: no plots")
else:
    with tempfile.TemporaryDirectory() as folder:
        fig = Figure(figsize=(10, 4.5))
        volcano(fit2, coef="BvsA", ax=fig.add_subplot(1, 2, 1), label_top=5)
        mean_variance(v, ax=fig.add_subplot(1, 2, 2))
        fig.tight_layout()
        target = Path(folder) / "differential_expression.png"
        fig.savefig(target, dpi=80)
        if len(sys.argv) > 1:  # python examples/differential_expression.py out.png
            fig.savefig(sys.argv[1], dpi=80)
        print(f"wrote the volcano and mean-variance plots ({target.stat().st_size} bytes)")
