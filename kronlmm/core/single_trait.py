"""Projected sufficient statistics of the single-trait FaST-LMM likelihood.

Model (see :class:`kronlmm.lmm.lmm.LMM`)::

    y ~ N(Xβ, s·D(δ)),   D(δ) = (1 − δ)K + δIₙ,   K = U diag(S) Uᵀ

with ``U`` (n × k) orthonormal eigenvectors of ``K`` for its eigenvalues ``S`` (k of them).
Writing ``W = [X_b, y]`` (n × m, m = c′ + 1) for an orthonormal basis ``X_b`` of the column
span of ``X`` (c′ = rank X) followed by ``y``, every quantity of the likelihood is a function
of ``WᵀD(δ)⁻¹W``. Because

    D(δ)⁻¹ = U diag(1/d) Uᵀ + δ⁻¹(Iₙ − UUᵀ),   dᵢ = (1 − δ)Sᵢ + δ,

it is enough to keep, computed once,

- ``A = UᵀW`` (k × m), and
- ``T``, the m × m triangular factor of the complement ``(Iₙ − UUᵀ)W = Q_T T``,

so that ``WᵀD(δ)⁻¹W = ZᵀZ`` with the (k + m) × m matrix ``Z(δ) = [diag(d)^{-1/2} A; δ^{-1/2} T]``.
Nothing n × n is ever formed; the complement ``Q₁`` of ``U`` is never needed. The triangular
factor ``R(δ)`` of ``Z(δ)`` (a QR factorisation, O(k·m²) per δ) gives the residual quadratic
form as a squared entry (no cancellation), ``log|X_bᵀD⁻¹X_b|`` from its diagonal, and the
generalised-least-squares coefficients by one triangular solve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

__all__ = ["ProjectedTerms", "Profile", "build_terms", "profile"]

LOG2PI = math.log(2.0 * math.pi)
# Smallest scale reported when y lies in the span of X (the residual sum of squares is 0).
MIN_SCALE = float(np.finfo(float).tiny)


@dataclass(frozen=True)
class ProjectedTerms:
    """Quantities computed once per model (see the module docstring for the notation).

    Attributes
    ----------
    n : int
        Number of samples.
    S : ndarray, shape (k,)
        Eigenvalues of ``K`` kept in the decomposition (≥ 0).
    A : ndarray, shape (k, m)
        ``UᵀW`` with ``W = [X_b, y]``.
    T : ndarray, shape (m, m)
        Upper-triangular factor of ``(Iₙ − UUᵀ)W``; all zero when ``k = n``.
    ncomp : int
        ``n − k``, the dimension of the complement of ``span(U)``.
    rank : int
        ``c′``, the number of columns of ``X_b`` (the rank of ``X``).
    basis_map : ndarray or None
        Set when the complement of ``span(U)`` was projected out of the data: the first
        ``rank`` columns of ``W`` are then an orthonormal basis of ``UᵀX_b`` instead, and
        ``basis_map`` maps coefficients of ``X_b`` to coefficients of that basis.
    """

    n: int
    S: NDArray[np.float64]
    A: NDArray[np.float64]
    T: NDArray[np.float64]
    ncomp: int
    rank: int
    basis_map: NDArray[np.float64] | None = None


@dataclass(frozen=True)
class Profile:
    """The likelihood at one δ with β and/or s profiled.

    Attributes
    ----------
    lml : float
        Log marginal likelihood (ML or REML, see :func:`profile`); ``-inf`` where ``D(δ)`` is
        singular.
    beta_t : ndarray, shape (c′,)
        Coefficients in the basis ``X_b`` (profiled GLS estimate or the fixed value).
    scale : float
        ``s`` (profiled or fixed).
    quad : float
        ``rᵀD(δ)⁻¹r`` with ``r = y − X_b β_t``.
    logdet_d : float
        ``log|D(δ)|``.
    R : ndarray, shape (m, m) or None
        Triangular factor of ``Z(δ)``: ``WᵀD(δ)⁻¹W = RᵀR``; None where ``D(δ)`` is singular.
    """

    lml: float
    beta_t: NDArray[np.float64]
    scale: float
    quad: float
    logdet_d: float
    R: NDArray[np.float64] | None


def build_terms(
    U: NDArray[np.float64],
    S: NDArray[np.float64],
    Xb: NDArray[np.float64],
    y: NDArray[np.float64],
    drop_perp: bool = False,
) -> ProjectedTerms:
    """Compute :class:`ProjectedTerms` in O(n·k·m) time and O(n·m) extra memory.

    With ``drop_perp`` the data are projected onto span(U) first (the likelihood is then
    that of ``Uᵀy`` with mean ``UᵀX β``; used where the ML likelihood of all the data has
    no maximum, see :mod:`kronlmm.core.projections`).

    Parameters
    ----------
    U : ndarray, shape (n, k)
        Orthonormal eigenvectors of ``K`` (k may be 0).
    S : ndarray, shape (k,)
        Their eigenvalues (≥ 0).
    Xb : ndarray, shape (n, c′)
        Orthonormal basis of the column span of ``X``.
    y : ndarray, shape (n,)
        Outcome.
    """
    n, k = U.shape
    if drop_perp:
        P, cos, Vt = np.linalg.svd(U.T @ Xb, full_matrices=False)
        keep = cos > 1e-8
        A = np.column_stack([P[:, keep], U.T @ y])
        m = A.shape[1]
        return ProjectedTerms(
            n=k, S=S, A=A, T=np.zeros((m, m)), ncomp=0, rank=int(np.sum(keep)),
            basis_map=cos[keep, None] * Vt[keep],
        )  # fmt: skip
    W = np.column_stack([Xb, y])
    m = W.shape[1]
    A = U.T @ W
    ncomp = n - k
    if ncomp > 0:
        # Project out span(U) twice ("twice is enough" re-orthogonalisation): the complement
        # is then accurate even when most of W lies in span(U).
        Rc = W - U @ A
        Rc -= U @ (U.T @ Rc)
        T = sla.qr(Rc, mode="r", check_finite=False)[0]
        if T.shape[0] < m:
            T = np.vstack([T, np.zeros((m - T.shape[0], m))])
        T = np.triu(T[:m])
    else:
        T = np.zeros((m, m))
    return ProjectedTerms(
        n=n, S=S, A=A, T=np.asarray(T, dtype=np.float64), ncomp=ncomp, rank=Xb.shape[1]
    )


def _singular(terms: ProjectedTerms, delta: float) -> Profile:
    c = terms.rank
    return Profile(
        lml=-math.inf,
        beta_t=np.full(c, np.nan),
        scale=math.nan,
        quad=math.nan,
        logdet_d=-math.inf,
        R=None,
    )


def profile(
    terms: ProjectedTerms,
    delta: float,
    *,
    restricted: bool,
    beta_t: NDArray[np.float64] | None = None,
    scale: float | None = None,
) -> Profile:
    """Log marginal likelihood at ``δ`` with the free parameters profiled.

    With ``V = s·D(δ)``, ``r = y − X_b β`` and ``c′ = rank X``:

    - ML: ``−½[n log 2π + log|V| + rᵀV⁻¹r]``;
    - REML: ``−½[(n − c′) log 2π − log|XᵀX| + log|V| + log|XᵀV⁻¹X| + rᵀV⁻¹r]``, evaluated
      with the orthonormal basis ``X_b`` (``log|X_bᵀX_b| = 0``); the combination
      ``log|XᵀV⁻¹X| − log|XᵀX|`` does not depend on the basis chosen for ``span(X)``.

    Parameters
    ----------
    terms : ProjectedTerms
        From :func:`build_terms`.
    delta : float
        ``δ ∈ [0, 1]``.
    restricted : bool
        REML when true, ML otherwise.
    beta_t : ndarray, shape (c′,), optional
        Fixed coefficients in the basis ``X_b``; profiled (GLS) when None.
    scale : float, optional
        Fixed ``s > 0``; profiled when None: ``s = rᵀD⁻¹r / n`` (ML) or ``/(n − c′)`` (REML).
    """
    n, c = terms.n, terms.rank
    S = terms.S
    d = (1.0 - delta) * S + delta
    if (terms.ncomp > 0 and delta <= 0.0) or (d.size and d.min() <= 0.0):
        return _singular(terms, delta)
    logdet_d = float(np.sum(np.log(d)))
    if terms.ncomp > 0:
        logdet_d += terms.ncomp * math.log(delta)
        Z = np.vstack([terms.A / np.sqrt(d)[:, None], terms.T / math.sqrt(delta)])
    else:
        Z = terms.A / np.sqrt(d)[:, None]
    R = np.triu(sla.qr(Z, mode="r", check_finite=False)[0][: c + 1])
    if R.shape[0] < c + 1:  # only when k + m < m, i.e. never, kept for safety
        R = np.vstack([R, np.zeros((c + 1 - R.shape[0], c + 1))])
    Rxx = R[:c, :c]
    diag = np.abs(np.diag(Rxx))
    if c and diag.min() <= 0.0:
        return _singular(terms, delta)
    if beta_t is None:
        bt = sla.solve_triangular(Rxx, R[:c, c], check_finite=False) if c else np.zeros(0)
        quad = float(R[c, c] ** 2)
    else:
        bt = np.asarray(beta_t, float)
        if terms.basis_map is not None:
            bt = terms.basis_map @ bt
        v = R @ np.concatenate([-bt, [1.0]])
        quad = float(v @ v)
    df = n - c if restricted else n
    if scale is None:
        s = max(quad / df, MIN_SCALE)
    else:
        s = float(scale)
    logs = math.log(s)
    if restricted:
        logdet_h = 2.0 * float(np.sum(np.log(diag))) - c * logs  # log|X_bᵀV⁻¹X_b|
        lml = -0.5 * ((n - c) * LOG2PI + n * logs + logdet_d + logdet_h + quad / s)
    else:
        lml = -0.5 * (n * LOG2PI + n * logs + logdet_d + quad / s)
    return Profile(
        lml=lml, beta_t=bt, scale=s, quad=quad, logdet_d=logdet_d, R=np.asarray(R, dtype=np.float64)
    )
