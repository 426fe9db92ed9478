"""Simulated data from the Kron2Sum model, for tests and examples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["KronData", "simulate_kron2sum"]


@dataclass
class KronData:
    """Data drawn from ``vec(Y) ~ N((A ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)``.

    Attributes
    ----------
    Y : ndarray (n, p)
    A : ndarray (p, a)
    X : ndarray (n, c)
        An intercept followed by standard-normal covariates.
    G : ndarray (n, r)
        Standardised genotypes (dosages of variants with frequencies U(0.1, 0.5),
        columns centred and scaled) divided by √r, so that GGᵀ is a GRM.
    B : ndarray (c, a)
    C0, C1 : ndarray (p, p)
        The true trait covariances.

    Examples
    --------
    >>> from kronlmm.testing import simulate_kron2sum
    >>> data = simulate_kron2sum(50, 3, r=20, seed=1)
    >>> data.Y.shape, data.G.shape, data.C0.shape
    ((50, 3), (50, 20), (3, 3))
    """

    Y: NDArray[np.float64]
    A: NDArray[np.float64]
    X: NDArray[np.float64]
    G: NDArray[np.float64]
    B: NDArray[np.float64]
    C0: NDArray[np.float64]
    C1: NDArray[np.float64]


def _random_cov(rng: np.random.Generator, p: int, rank: int, scale: float) -> NDArray[np.float64]:
    L = rng.standard_normal((p, rank))
    C = L @ L.T
    return scale * C / np.mean(np.diag(C))


def simulate_kron2sum(
    n: int,
    p: int,
    *,
    c: int = 2,
    r: int = 100,
    rank: int | None = None,
    h2: float = 0.5,
    A: ArrayLike | None = None,
    C0: ArrayLike | None = None,
    C1: ArrayLike | None = None,
    seed: int = 0,
) -> KronData:
    """Draw one data set of the Kron2Sum model.

    Parameters
    ----------
    n, p : int
        Samples and traits.
    c : int
        Covariates, the intercept included.
    r : int
        Variants in G.
    rank : int, optional
        Rank of the true C₀ when it is drawn (default p).
    h2 : float
        Average share of the variance of a trait that C₀ explains when C₀ and C₁ are
        drawn (average diagonal of C₀ is h2, of C₁ 1 − h2).
    A : array_like (p, a), optional
        Trait design (default Iₚ).
    C0, C1 : array_like (p, p), optional
        True covariances (default: drawn, random correlations).
    seed : int

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.testing import simulate_kron2sum
    >>> data = simulate_kron2sum(400, 2, rank=1, seed=0)
    >>> int(np.linalg.matrix_rank(data.C0)), data.B.shape
    (1, (2, 2))
    """
    rng = np.random.default_rng(seed)
    rank = p if rank is None else rank
    A_ = np.eye(p) if A is None else np.asarray(A, dtype=float)
    C0_ = _random_cov(rng, p, rank, h2) if C0 is None else np.asarray(C0, dtype=float)
    C1_ = (
        _random_cov(rng, p, p, 1.0 - h2) + 1e-3 * np.eye(p)
        if C1 is None
        else np.asarray(C1, dtype=float)
    )
    freq = rng.uniform(0.1, 0.5, r)
    dos = rng.binomial(2, freq, size=(n, r)).astype(float)
    sd = dos.std(axis=0)
    sd[sd == 0] = 1.0
    G = (dos - dos.mean(axis=0)) / sd / np.sqrt(r)
    X = np.column_stack([np.ones(n)] + [rng.standard_normal(n) for _ in range(c - 1)])
    B = rng.standard_normal((c, A_.shape[1]))
    w0, V0 = np.linalg.eigh(C0_)
    w1, V1 = np.linalg.eigh(C1_)
    L0 = V0 * np.sqrt(np.clip(w0, 0, None))
    L1 = V1 * np.sqrt(np.clip(w1, 0, None))
    U = G @ rng.standard_normal((r, p)) @ L0.T
    E = rng.standard_normal((n, p)) @ L1.T
    Y = X @ B @ A_.T + U + E
    return KronData(Y=Y, A=A_, X=X, G=G, B=B, C0=C0_, C1=C1_)
