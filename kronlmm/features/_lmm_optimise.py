"""Projected Newton maximisation of the profiled log-likelihood over γ ≥ 0, all features at once.

Each iteration evaluates f, g, H for the features still running (one batched call), takes a
Newton step on the free variables (those with γ_k > 0, or at 0 with the gradient pointing
inwards), and backtracks along the projection arc γ(α) = max(γ + αΔ, 0) until the Armijo
condition holds. Variables at the bound whose gradient points outwards are held at 0, so the
result is the constrained maximum (a KKT point), not a clipped unconstrained one. An
indefinite Hessian is replaced by its absolute eigenvalues (an ascent direction either way).

Convergence: the Newton decrement √(gᵀ(−H)⁻¹g) on the free variables — the distance to the
maximum in standard errors of γ — is at most ``epsilon``, the free block of −H is positive
definite, and the gradient of every variable held at 0 points outwards (within the same
tolerance, scaled the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._lmm_algebra import profiled
from ._lmm_reduce import FloatArray, ReducedProblem

#: Status codes of :class:`Optimum` (reasons in :data:`REASONS`).
RUNNING, CONVERGED, MAX_ITER, LINE_SEARCH, DIVERGED, NOT_FITTED = 0, 1, 2, 3, 4, 5

REASONS = {
    RUNNING: "not run",
    CONVERGED: "",
    MAX_ITER: "max_iter reached before the Newton decrement fell below epsilon",
    LINE_SEARCH: "line search found no increase of the log-likelihood (flat or non-smooth)",
    DIVERGED: "a variance ratio diverged (γ > 1e12): the data leave no residual variance",
    NOT_FITTED: "not fitted",
}

#: γ above this is taken as divergence to +∞ (σ² → 0).
GAMMA_MAX = 1e12
#: Armijo constant and the number of step halvings before a line search gives up.
ARMIJO = 1e-4
MAX_HALVINGS = 60


@dataclass
class Optimum:
    gamma: FloatArray
    niter: NDArray[np.int64]
    status: NDArray[np.int64]
    decrement: FloatArray


def newton_direction(
    gamma: FloatArray, g: FloatArray, H: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
    """Projected Newton step on the free variables.

    Returns the step Δ (na, K), the Newton decrement (na,), the scaled KKT violation of the
    variables held at 0 (na,), and whether the free block of −H is positive definite.
    """
    na, K = g.shape
    at_zero = gamma <= 0.0
    free = ~at_zero | (g > 0.0)
    negH = -H
    diag_scale = np.maximum(np.abs(np.diagonal(negH, axis1=1, axis2=2)).max(axis=1), 1e-300)
    eye = np.eye(K, dtype=bool)
    for _ in range(2):
        both = free[:, :, None] & free[:, None, :]
        A = np.where(both, negH, 0.0)
        A = np.where(eye[None] & ~free[:, :, None], diag_scale[:, None, None], A)
        w, V = np.linalg.eigh(A)
        top = np.abs(w).max(axis=1, keepdims=True)
        floor = np.maximum(1e-12 * top, 1e-300)
        positive = (w > floor).all(axis=1)
        wmod = np.maximum(np.abs(w), floor)
        gm = np.where(free, g, 0.0)
        step = np.einsum("iab,ib->ia", V, np.einsum("iba,ib->ia", V, gm) / wmod)
        blocked = at_zero & free & (step < 0.0)
        if not blocked.any():
            break
        free &= ~blocked
    decrement = np.sqrt(np.maximum(np.einsum("ik,ik->i", gm, step), 0.0))
    held = ~free
    hkk = np.maximum(np.abs(np.diagonal(H, axis1=1, axis2=2)), 1e-300)
    kkt = np.where(held, np.maximum(g, 0.0) / np.sqrt(hkk), 0.0).max(axis=1, initial=0.0)
    step = np.where(free, step, 0.0)
    return step, decrement, kkt, positive


def maximise(
    prob: ReducedProblem,
    reml: bool,
    gamma0: FloatArray,
    run: NDArray[np.bool_],
    max_iter: int,
    epsilon: float,
) -> Optimum:
    """Maximise the profiled log-likelihood over γ ≥ 0 for the features where ``run``."""
    m = gamma0.shape[0]
    gamma = np.maximum(gamma0.astype(float, copy=True), 0.0)
    niter = np.zeros(m, dtype=np.int64)
    status = np.full(m, NOT_FITTED, dtype=np.int64)
    decrement = np.full(m, np.nan)
    act = np.flatnonzero(run)
    status[act] = RUNNING
    for it in range(max_iter + 1):
        if act.size == 0:
            break
        ev = profiled(prob, act, gamma[act], reml, order=2)
        assert ev.g is not None and ev.H is not None
        step, dec, kkt, positive = newton_direction(gamma[act], ev.g, ev.H)
        decrement[act] = dec
        done = (dec <= epsilon) & (kkt <= epsilon) & positive
        status[act[done]] = CONVERGED
        keep = ~done
        if it == max_iter:
            status[act[keep]] = MAX_ITER
            break
        act, step, f0, g = act[keep], step[keep], ev.f[keep], ev.g[keep]
        new, ok = _line_search(prob, act, gamma[act], f0, g, step, reml)
        gamma[act[ok]] = new[ok]
        niter[act] += 1
        status[act[~ok]] = LINE_SEARCH
        act = act[ok]
        diverged = (gamma[act] > GAMMA_MAX).any(axis=1)
        status[act[diverged]] = DIVERGED
        act = act[~diverged]
    return Optimum(gamma=gamma, niter=niter, status=status, decrement=decrement)


def _line_search(
    prob: ReducedProblem,
    act: np.ndarray,
    gamma: FloatArray,
    f0: FloatArray,
    g: FloatArray,
    step: FloatArray,
    reml: bool,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Backtracking along the projection arc; returns new γ and which features found one."""
    na = gamma.shape[0]
    result = gamma.copy()
    accepted = np.zeros(na, dtype=bool)
    alpha = np.ones(na)
    pending = np.arange(na)
    for _ in range(MAX_HALVINGS):
        trial = np.maximum(gamma[pending] + alpha[pending, None] * step[pending], 0.0)
        ft = profiled(prob, act[pending], trial, reml, order=0).f
        base = f0[pending]
        gain = np.einsum("ik,ik->i", g[pending], trial - gamma[pending])
        ok = np.isfinite(ft) & (
            (ft >= base + ARMIJO * gain)
            | ((alpha[pending] == 1.0) & (np.abs(ft - base) <= 1e-12 * (1.0 + np.abs(base))))
        )
        result[pending[ok]] = trial[ok]
        accepted[pending[ok]] = True
        pending = pending[~ok]
        if pending.size == 0:
            break
        alpha[pending] *= 0.5
    return result, accepted
