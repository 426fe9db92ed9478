"""Simulate the single-cell-style data set behind the stored per-feature LMM references.

Writes ``cells.csv`` (one row per cell: cell, trt, cls, subject, batch) and
``expression.csv.gz`` (features × cells, 10 significant digits) next to this file. Run once;
``make_reference.R`` then computes lme4/lmerTest/pbkrtest/FLASHMM references from them:

    python tests/data/features_lmm/make_data.py
    Rscript tests/data/features_lmm/make_reference.R

Design: 20 subjects (10 per treatment A/B) with 8–32 cells each, a cell type (3 levels)
per cell, a batch (4 levels) crossed with subjects. Features: subject variances from 0 (a
third of them: boundary fits) to 3, batch variances 0 or 0.15, residual variances in
[0.5, 2], treatment effects 0 or 0.8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(20261201)
    nsub = 20
    sizes = rng.integers(8, 33, size=nsub)
    subject = np.repeat(np.arange(nsub), sizes)
    n = subject.size
    cells = pd.DataFrame(
        {
            "cell": [f"c{i:03d}" for i in range(n)],
            "trt": np.where(subject < nsub // 2, "A", "B"),
            "cls": rng.choice(["a", "b", "c"], size=n),
            "subject": [f"s{s:02d}" for s in subject],
            "batch": rng.choice(["b1", "b2", "b3", "b4"], size=n),
        }
    )
    m = 30
    theta_subject = np.array(
        [0.0] * 10 + [0.02] * 5 + [0.1] * 5 + [0.4] * 5 + [1.5] * 3 + [3.0] * 2
    )
    theta_batch = np.tile([0.0, 0.15], m // 2)
    sigma2 = rng.uniform(0.5, 2.0, size=m)
    X = pd.get_dummies(cells[["trt", "cls"]], drop_first=True).to_numpy(float)
    X = np.column_stack([np.ones(n), X])
    beta = np.column_stack(
        [
            rng.normal(2.0, 1.0, size=m),
            np.where(np.arange(m) % 3 == 0, 0.8, 0.0),
            rng.normal(0, 0.3, size=m),
            rng.normal(0, 0.3, size=m),
        ]
    )
    batch = cells["batch"].str[1:].astype(int).to_numpy() - 1
    u = rng.normal(size=(m, nsub)) * np.sqrt(theta_subject)[:, None]
    v = rng.normal(size=(m, 4)) * np.sqrt(theta_batch)[:, None]
    eps = rng.normal(size=(m, n)) * np.sqrt(sigma2)[:, None]
    Y = beta @ X.T + u[:, subject] + v[:, batch] + eps
    cells.to_csv(HERE / "cells.csv", index=False)
    frame = pd.DataFrame(Y, index=[f"g{j:02d}" for j in range(m)], columns=cells["cell"])
    frame.index.name = "feature"
    frame.to_csv(HERE / "expression.csv.gz", float_format="%.10g")


if __name__ == "__main__":
    main()
