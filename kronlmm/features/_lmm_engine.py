"""The per-feature LMM fit on a :class:`~._lmm_reduce.ReducedProblem`: starting values,
the constrained maximisation, and the estimates with their convergence flags."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._lmm_inference import Estimates, estimates
from ._lmm_optimise import CONVERGED, NOT_FITTED, REASONS, maximise
from ._lmm_reduce import FloatArray, ReducedProblem

NO_VARIANCE_REASON = (
    "no variance left after the fixed effects (constant or all-zero feature, or a mean so "
    "large that the summary statistics cannot resolve its spread: centre Y)"
)
NO_RESIDUAL_REASON = (
    "no residual variance: the feature is explained exactly by X and Z (σ² would be 0)"
)


@dataclass
class CoreFit:
    estimates: Estimates
    gamma: FloatArray
    niter: NDArray[np.int64]
    converged: NDArray[np.bool_]
    reason: NDArray[np.str_]
    decrement: FloatArray
    at_boundary: NDArray[np.bool_]


def moment_start(prob: ReducedProblem) -> FloatArray:
    """Unbiased moment equations E[aᵀF_k a] = σ²(tr F_k + Σ_l γ_l ⟨F_k, F_l⟩), σ² from e."""
    m, K = prob.nfeatures, prob.ncomponents
    basis = prob.reml
    dof = prob.n - prob.p - basis.rank
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = prob.e / dof if dof > 0 else prob.rho / (prob.n - prob.p)
        s2 = np.where(s2 > 0, s2, prob.rho / (prob.n - prob.p))
    if basis.rank == 0:
        return np.zeros((m, K))
    F = basis.F
    gram = np.einsum("krs,lrs->kl", F, F)
    quad = np.einsum("ir,krs,is->ik", prob.a, F, prob.a)
    with np.errstate(divide="ignore", invalid="ignore"):
        rhs = quad / s2[:, None] - np.einsum("krr->k", F)[None, :]
    rhs = np.where(np.isfinite(rhs), rhs, 0.0)
    sol = np.linalg.lstsq(gram, rhs.T, rcond=None)[0].T
    return np.asarray(np.maximum(sol, 0.0))


def fit_reduced(
    prob: ReducedProblem,
    reml: bool,
    theta0: FloatArray | None,
    max_iter: int,
    epsilon: float,
    blups: bool,
) -> CoreFit:
    """Fit every feature; features that cannot be fitted get NaN and a reason."""
    m, K = prob.nfeatures, prob.ncomponents
    novar = prob.no_variance()
    nores = prob.no_residual()
    run = ~novar & ~nores
    if K == 0:
        gamma = np.zeros((m, 0))
        niter = np.zeros(m, dtype=np.int64)
        status = np.where(run, CONVERGED, NOT_FITTED).astype(np.int64)
        decrement = np.where(run, 0.0, np.nan)
    else:
        if theta0 is not None:
            gamma0 = theta0[:, :K] / theta0[:, K : K + 1]
        else:
            gamma0 = moment_start(prob)
        opt = maximise(prob, reml, gamma0, run, max_iter, epsilon)
        gamma, niter, status, decrement = opt.gamma, opt.niter, opt.status, opt.decrement
    gamma = np.where(run[:, None], gamma, 0.0)
    at_boundary = (gamma <= 0.0) & run[:, None]
    est = estimates(prob, gamma, reml, at_boundary, blups)
    for name, value in vars(est).items():
        if isinstance(value, np.ndarray):
            value[~run] = np.nan
            setattr(est, name, value)
    gamma = np.where(run[:, None], gamma, np.nan)
    reason = np.array([REASONS[int(s)] for s in status], dtype=object)
    reason[novar] = NO_VARIANCE_REASON
    reason[nores] = NO_RESIDUAL_REASON
    converged = status == CONVERGED
    return CoreFit(
        estimates=est,
        gamma=gamma,
        niter=niter,
        converged=converged,
        reason=reason.astype(str),
        decrement=decrement,
        at_boundary=at_boundary,
    )
