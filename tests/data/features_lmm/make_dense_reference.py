"""Dense reference optimum of the exact REML/ML likelihood under θ ≥ 0 (numpy + scipy only).

For every feature of ``expression.csv.gz`` and the models K1 (subject) and K2 (subject +
batch), REML and ML: maximise the log-likelihood with n × n matrices — V = σ²H,
H = I + Σ γ_k Z_k Z_kᵀ, σ² profiled — over γ ≥ 0 with L-BFGS-B from several starts, then
polish the free components with Newton steps on the analytic gradient (finite-difference
Hessian of the gradient), so that θ is accurate to ~1e-10 where the optimum is interior.
Nothing of kronlmm is used. Writes ``dense_fits.csv``; run after make_data.py:

    python tests/data/features_lmm/make_dense_reference.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize

HERE = Path(__file__).resolve().parent


def indicators(values: pd.Series) -> np.ndarray:
    levels = sorted(values.unique())
    return (values.to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)


class Dense:
    """Profiled log-likelihood f(γ) with its gradient, from dense n × n algebra."""

    def __init__(self, X: np.ndarray, Zs: list[np.ndarray], reml: bool) -> None:
        self.X, self.Zs, self.reml = X, Zs, reml
        self.G = [Z @ Z.T for Z in Zs]
        self.n, self.p = X.shape

    def parts(self, gamma: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float, int]:
        """f, ∂f/∂γ, s = yᵀPy and N (n − p for REML, n for ML)."""
        n, p, X = self.n, self.p, self.X
        H = np.eye(n) + sum(g * G for g, G in zip(gamma, self.G, strict=True))
        c = cho_factor(H, lower=True)
        logdet_H = 2.0 * np.log(np.diag(c[0])).sum()
        HiX = cho_solve(c, X)
        Hiy = cho_solve(c, y)
        XHX = X.T @ HiX
        Py = Hiy - HiX @ np.linalg.solve(XHX, X.T @ Hiy)
        s = float(y @ Py)
        grad_terms = []
        for Z in self.Zs:
            HiZ = cho_solve(c, Z)
            tr_H = np.sum(Z * HiZ)  # tr(ZᵀH⁻¹Z)
            if self.reml:  # tr(PZZᵀ) = tr(ZᵀH⁻¹Z) − tr((XᵀH⁻¹X)⁻¹ XᵀH⁻¹ZZᵀH⁻¹X)
                B = HiX.T @ Z
                tr_H -= np.trace(np.linalg.solve(XHX, B @ B.T))
            u = float(np.sum((Z.T @ Py) ** 2))
            grad_terms.append((u, tr_H))
        if self.reml:
            N = n - p
            ld = logdet_H + np.linalg.slogdet(XHX)[1] - np.linalg.slogdet(X.T @ X)[1]
        else:
            N, ld = n, logdet_H
        f = -0.5 * (N * np.log(s) + ld)
        g = np.array([0.5 * (N * u / s - tr) for u, tr in grad_terms])
        return f, g, s, N

    def loglik(self, gamma: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """lme4's log-likelihood (REML as lme4 reports it) and σ̂²."""
        f, _, s, N = self.parts(gamma, y)
        sigma2 = s / N
        const = -0.5 * (N * np.log(2 * np.pi / N) + N)
        if self.reml:  # −½[(n−p) log(2πσ²) + log|H| + log|XᵀH⁻¹X| + (n−p)]
            const -= 0.5 * np.linalg.slogdet(self.X.T @ self.X)[1]
        return f + const, sigma2


def optimum(model: Dense, y: np.ndarray) -> np.ndarray:
    K = len(model.G)

    def neg(gm: np.ndarray) -> tuple[float, np.ndarray]:
        f, g, _, _ = model.parts(gm, y)
        return -f, -g

    best = None
    for start in (0.0, 0.05, 0.5, 5.0):
        res = minimize(
            neg,
            np.full(K, start),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, None)] * K,
            options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 500},
        )
        if best is None or res.fun < best.fun:
            best = res
    gamma = best.x.copy()
    for _ in range(8):  # Newton polish of the free components
        free = gamma > 1e-10
        if not free.any():
            break
        g = model.parts(gamma, y)[1]
        H = np.zeros((K, K))
        for k in range(K):
            h = 1e-6 * max(gamma[k], 1e-4)
            e = np.zeros(K)
            e[k] = h
            H[:, k] = (model.parts(gamma + e, y)[1] - model.parts(gamma - e, y)[1]) / (2 * h)
        idx = np.flatnonzero(free)
        step = np.linalg.solve(H[np.ix_(idx, idx)], -g[idx])
        gamma[idx] = np.maximum(gamma[idx] + step, 0.0)
    gamma[gamma <= 1e-10] = 0.0
    return gamma


def main() -> None:
    cells = pd.read_csv(HERE / "cells.csv")
    Y = pd.read_csv(HERE / "expression.csv.gz", index_col=0)
    X = np.column_stack(
        [
            np.ones(len(cells)),
            (cells.trt == "B").astype(float),
            (cells.cls == "b").astype(float),
            (cells.cls == "c").astype(float),
        ]
    )
    Zs = {
        "K1": [indicators(cells.subject)],
        "K2": [indicators(cells.subject), indicators(cells.batch)],
    }
    rows = []
    for model_name, Z in Zs.items():
        for method in ("REML", "ML"):
            model = Dense(X, Z, method == "REML")
            for feature, y in Y.iterrows():
                y = y.to_numpy(float)
                gamma = optimum(model, y)
                ll, sigma2 = model.loglik(gamma, y)
                grad = model.parts(gamma, y)[1]
                rows.append(
                    {
                        "feature": feature,
                        "model": model_name,
                        "method": method,
                        "theta_subject": gamma[0] * sigma2,
                        "theta_batch": gamma[1] * sigma2 if len(gamma) > 1 else np.nan,
                        "sigma2": sigma2,
                        "loglik": ll,
                        "max_abs_grad_free": float(np.abs(grad[gamma > 0]).max(initial=0.0)),
                        "max_grad_boundary": float(grad[gamma == 0].max(initial=-np.inf)),
                    }
                )
    pd.DataFrame(rows).to_csv(HERE / "dense_fits.csv", index=False, float_format="%.15g")


if __name__ == "__main__":
    main()
