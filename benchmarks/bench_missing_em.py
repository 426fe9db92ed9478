r"""Missing phenotypes: kronlmm's direct gradient method against EM (issue #15).

Run ``python benchmarks/bench_missing_em.py --help``; ``--quick`` is a seconds-long smoke run.

Model
-----
::

    vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

==========  ========  ==================================================================
symbol      shape     meaning
==========  ========  ==================================================================
Y           n × p     outcomes (one trait per column), NaN where missing; vec is column-major
A           p × p     trait design; here ``A = Iₚ`` (one mean per trait and covariate)
X           n × c     sample covariates; here ``X = 1ₙ``
B           c × p     fixed effects
G           n × r     genetic factor; ``GGᵀ = Q diag(s) Qᵀ`` with k = rank(GGᵀ) non-zero s
C₀, C₁      p × p     genetic and residual trait covariances (C₀ full rank ``rank = p``,
                      C₁ ≻ 0)
O, M                  observed and missing positions of vec(Y); N_o and m of them,
                      ``O_t`` / ``M_t`` the observed / missing samples of trait t
y_O, M_O              observed values, rows of ``A ⊗ X`` at O
K_OO, W               block of K at O × O and its inverse ``W = K_OO⁻¹`` (blocks ``W_ab``,
                      trait a × trait b)
β̂, r, w               GLS estimate of vec(B) on O, ``r = y_O − M_O β̂``, ``w = W r``
Z                     n × p, ``Z[O_t, t] = w_t`` and 0 at missing entries
==========  ========  ==================================================================

The quantity maximised by both methods is the observed-data (ML) log-likelihood with B
profiled::

    ℓ(C₀, C₁) = −½ [N_o log 2π + log|K_OO| + rᵀ W r]

Direct gradient (kronlmm)
-------------------------
``Kron2Sum(Y, A, X, G, rank=p).fit()`` maximises ℓ by L-BFGS-B over a parameterisation
of C₀, C₁, with ℓ and its gradient from
:class:`kronlmm.core.missing_likelihood.ObservedLikelihood`: one Cholesky factorisation of
the Schur complement ``S = (K⁻¹)_MM`` (m × m) per evaluation, O(k·m² + m³) plus
O(n·k·p·(1 + r_O)) for the structured products (docs/model.rst, "Missing phenotypes").

EM (reference implemented here)
-------------------------------
Write ``vec(Y) = (A ⊗ X) vec(B) + vec(U) + vec(E)`` with ``vec(U) ~ N(0, C₀ ⊗ GGᵀ)``
(U in span(Q)) and ``vec(E) ~ N(0, C₁ ⊗ Iₙ)``, and treat (U, E) — equivalently U and the
missing values y_M — as the missing data. The complete-data log-likelihood is, up to a
constant, with ``Ω = Q diag(1/s) Qᵀ`` the pseudo-inverse of GGᵀ::

    −½ [k log|C₀| + tr(C₀⁻¹ UᵀΩU) + n log|C₁| + tr(C₁⁻¹ EᵀE)],   E = Y − XBAᵀ − U,

so the M-step is closed form given the expected sufficient statistics::

    C₀' = E[UᵀΩU | y_O] / k,     C₁' = E[EᵀE | y_O] / n,
    B'  = (XᵀX)⁻¹ Xᵀ E[Y − U | y_O]        (A = Iₚ: least squares is GLS).

E-step. (vec U, vec E, y_O) are jointly Gaussian; with ``Σ_U = C₀ ⊗ GGᵀ``,
``Σ_E = C₁ ⊗ Iₙ``, at the current (C₀, C₁) and B = β̂::

    E[vec U | y_O] = (Σ_U)_{·O} w,   Cov(vec U | y_O) = Σ_U − (Σ_U)_{·O} W (Σ_U)_{O·}

and the same for E with Σ_E. Written out per pair of traits (t, s), using
``GGᵀ Ω GGᵀ = GGᵀ``::

    E[UᵀΩU] = C₀ ZᵀGGᵀZ C₀ + k C₀ − C₀ T₀ C₀,    T₀[a, b] = Σ (W_ab ∘ (GGᵀ)_{O_a O_b})
    E[EᵀE]  = C₁ ZᵀZ C₁    + n C₁ − C₁ T₁ C₁,    T₁[a, b] = Σ_{i ∈ O_a ∩ O_b} W_ab[i, i]

and ``E[Y − U] = XB Aᵀ + Z C₁``. The GLS normal equations ``M_Oᵀ w = 0`` say ``XᵀZ = 0``
when A = Iₚ, so B' = β̂: the B step of EM is exactly the profiled B, and the EM iterate is
``(C₀', C₁', β̂(C₀', C₁'))``. Since ``∂ℓ/∂C₀ = ½ (ZᵀGGᵀZ − T₀) =: M₀`` and
``∂ℓ/∂C₁ = ½ (ZᵀZ − T₁) =: M₁`` (matrices, ``dℓ = tr(M₀ dC₀) + tr(M₁ dC₁)``; Fisher's
identity, the observed score is the expected complete-data score), the update is::

    C₀' = C₀ + (2/k) C₀ M₀ C₀,       C₁' = C₁ + (2/n) C₁ M₁ C₁

— a gradient step preconditioned by C ⊗ C, of fixed length. Each iterate is an expected
Gram matrix (positive semi-definite), and ℓ never decreases (the EM inequality, then
profiling B can only raise ℓ).

Two implementations, which give the same iterates (tests/test_bench_missing_em.py):

- :func:`em_step_dense`: the E-step literally, with dense conditional means and
  covariances of vec(U) and vec(E): O((n·p)³) time and O((n·p)²) memory per iteration —
  the reference, for small n;
- :class:`StructuredEM`: the same update from M₀, M₁ computed by kronlmm's structured
  observed-data engine (which the direct method uses too). One EM iteration is then one
  lml + gradient evaluation, O(k·m² + m³) + O(n·k·p·(1 + r_O)), plus O(p³): **the per-iteration
  cost of EM equals the cost of one evaluation of the direct method**, and no exact E-step
  can be cheaper in general, since the expected statistics *are* the gradient. The two
  methods differ only in the number of evaluations.

EM is started from ``C₀ = C₁ = ½ Ĉ`` with Ĉ the pairwise-complete covariance of the
observed values (eigenvalues floored at 10⁻³ of the largest); kronlmm from its own
method-of-moments start. Both use one BLAS thread (``--threads``).

Printed per case: kronlmm's fit time, evaluations (nfev) and ℓ; the EM iterations needed to
come within 10⁻³ and 10⁻⁶ of kronlmm's ℓ (one-sided: ``ℓ_EM ≥ ℓ_kronlmm − tol``, so a
kronlmm optimum slightly below the maximum cannot hide convergence) or "not reached" at the
iteration or time cap, EM's seconds per iteration and its time to each target, and
``ℓ_EM − ℓ_kronlmm`` at EM's last iterate (and at SQUAREM's best) and whether EM's ℓ never decreased
(up to rounding, 10⁻¹⁰·|ℓ|). Also EM accelerated by SQUAREM (:func:`run_squarem`; 3
evaluations per cycle, each as costly as one EM iteration): its evaluations and time to
10⁻⁶, under the same caps. kronlmm's ms / eval is its fit time over nfev (fit overheads
included), the median of three fits; EM's ms / iter is the median over its iterations (both
robust to other load on a shared machine). The ratio column divides EM's iterations and
seconds to 10⁻⁶ by kronlmm's nfev and fit seconds ("> " at a cap). Times leave out the
set-up both need once (the SVD of G and the reduction of the data: the construction of the
Kron2Sum model and of the EM's engine).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from _common import ensure_threads, machine_summary, print_table
from numpy.typing import NDArray

from kronlmm.core.linalg import economic_svd
from kronlmm.core.missing_likelihood import ObservedData, ObservedLikelihood
from kronlmm.lmm import Kron2Sum

Array = NDArray[np.float64]

#: (n, missing fraction, heritability) of the default cases; p = 3, r = n: moderate
#: (h² = 0.3) and high (0.8) heritability at 10 % and 20 % missing, and, at n = 200 and 500,
#: C₀ and C₁ near the boundary (h² = 0.05 and 0.95) at 20 % missing.
DEFAULT_CASES: tuple[tuple[int, float, float], ...] = tuple(
    (n, miss, h2) for n in (200, 500, 1000) for h2 in (0.3, 0.8) for miss in (0.1, 0.2)
) + tuple((n, 0.2, h2) for n in (200, 500) for h2 in (0.05, 0.95))


def _exchangeable(p: int, rho: float) -> Array:
    return (1.0 - rho) * np.eye(p) + rho * np.ones((p, p))


def simulate(
    n: int, p: int, missing: float, heritability: float, seed: int = 0
) -> dict[str, Array]:
    """Simulated data of the model above.

    ``G`` is n × n standard normal scaled by ``1/√n`` (GGᵀ of full rank, average diagonal
    ≈ 1), ``X = 1ₙ``, ``A = Iₚ``, ``B = 0``, ``C₀ = h²·(0.5-exchangeable)``,
    ``C₁ = (1 − h²)·(0.2-exchangeable)``; each value is missing with probability
    ``missing`` and samples with no observed trait are dropped (they carry no information;
    Kron2Sum drops them too).

    Parameters
    ----------
    n, p : int
        Samples and traits.
    missing : float
        Probability that a value is missing.
    heritability : float
        h², the genetic share of every trait's variance.
    seed : int
        Seed of the generator.

    Returns
    -------
    dict
        ``Y`` (NaN where missing), ``X``, ``G``, ``C0``, ``C1`` (the true covariances).
    """
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, n)) / np.sqrt(n)
    C0 = heritability * _exchangeable(p, 0.5)
    C1 = (1.0 - heritability) * _exchangeable(p, 0.2)
    Y = G @ rng.standard_normal((n, p)) @ np.linalg.cholesky(C0).T
    Y += rng.standard_normal((n, p)) @ np.linalg.cholesky(C1).T
    Y[rng.random((n, p)) < missing] = np.nan
    keep = ~np.all(np.isnan(Y), axis=1)
    return {"Y": Y[keep], "X": np.ones((int(keep.sum()), 1)), "G": G[keep], "C0": C0, "C1": C1}


def em_start(Y: Array) -> tuple[Array, Array]:
    """EM's start ``C₀ = C₁ = ½ Ĉ``, Ĉ the pairwise-complete covariance of the observed
    values with eigenvalues floored at 10⁻³ of the largest.

    Parameters
    ----------
    Y : ndarray (n, p)
        Outcomes, NaN where missing.

    Returns
    -------
    tuple of ndarray
        C₀ and C₁ (p × p).
    """
    p = Y.shape[1]
    Yc = Y - np.nanmean(Y, axis=0)
    C = np.empty((p, p))
    for t in range(p):
        for s in range(p):
            both = ~np.isnan(Yc[:, t]) & ~np.isnan(Yc[:, s])
            C[t, s] = np.mean(Yc[both, t] * Yc[both, s])
    vals, vecs = np.linalg.eigh(C)
    vals = np.maximum(vals, 1e-3 * vals.max())
    C = (vecs * vals) @ vecs.T
    return 0.5 * C, 0.5 * C


# ---- the dense reference E-step ------------------------------------------------------------
def observed_lml_dense(Y: Array, X: Array, G: Array, C0: Array, C1: Array) -> float:
    """ℓ(C₀, C₁): the dense Gaussian ML log-likelihood of the observed values, B profiled
    (A = Iₚ). O((n·p)³); for checks."""
    return em_step_dense(Y, X, G, C0, C1)[0]


def em_step_dense(
    Y: Array, X: Array, G: Array, C0: Array, C1: Array
) -> tuple[float, Array, Array, Array]:
    """One EM iteration with the E-step written out densely (see the module docstring).

    Parameters
    ----------
    Y : ndarray (n, p)
        Outcomes, NaN where missing.
    X : ndarray (n, c)
        Covariates (A = Iₚ).
    G : ndarray (n, r)
        Genetic factor.
    C0, C1 : ndarray (p, p)
        Current trait covariances.

    Returns
    -------
    lml : float
        ℓ(C₀, C₁) at the current values (B profiled).
    B : ndarray (c, p)
        The GLS estimate β̂ at the current values (= EM's B update).
    C0_new, C1_new : ndarray (p, p)
        The M-step's C₀' and C₁'.
    """
    n, p = Y.shape
    GG = G @ G.T
    s, Q = np.linalg.eigh(GG)
    pos = s > s.max() * n * np.finfo(float).eps
    k = int(pos.sum())
    Omega = (Q[:, pos] / s[pos]) @ Q[:, pos].T
    y = Y.ravel(order="F")
    O = ~np.isnan(y)
    SU = np.kron(C0, GG)
    SE = np.kron(C1, np.eye(n))
    Koo = (SU + SE)[np.ix_(O, O)]
    Mo = np.kron(np.eye(p), X)[O]
    L = np.linalg.cholesky(Koo)
    W = np.linalg.inv(Koo)
    H = Mo.T @ W @ Mo
    beta = np.linalg.solve(H, Mo.T @ W @ y[O])
    r = y[O] - Mo @ beta
    w = W @ r
    lml = -0.5 * (O.sum() * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(L))) + r @ w)

    def moments(Sigma: Array, Gram: Array, dim: int) -> Array:
        cross = Sigma[:, O]
        mean = (cross @ w).reshape(p, n).T  # E[· | y_O] as n × p
        cov = Sigma - cross @ W @ cross.T  # Cov(vec · | y_O)
        out = mean.T @ Gram @ mean
        for t in range(p):
            for u in range(p):
                block = cov[t * n : (t + 1) * n, u * n : (u + 1) * n]
                out[t, u] += np.sum(Gram * block)
        # symmetric up to rounding; symmetrised so that rounding cannot build up over
        # the iterations (the asymmetric part is not damped by the update)
        return (out + out.T) / (2 * dim)

    C0_new = moments(SU, Omega, k)
    C1_new = moments(SE, np.eye(n), n)
    return float(lml), beta.reshape(p, -1).T, C0_new, C1_new


# ---- the structured EM ---------------------------------------------------------------------
class StructuredEM:
    """EM with its E-step statistics from kronlmm's structured observed-data engine.

    One :meth:`step` is one ML lml + gradient evaluation of
    :class:`~kronlmm.core.missing_likelihood.ObservedLikelihood` and the update
    ``C₀' = C₀ + (2/k) C₀ M₀ C₀``, ``C₁' = C₁ + (2/n) C₁ M₁ C₁`` (module docstring).

    Parameters
    ----------
    Y : ndarray (n, p)
        Outcomes, NaN where missing (no row entirely missing).
    X : ndarray (n, c)
        Covariates (A = Iₚ).
    G : ndarray (n, r)
        Genetic factor.
    """

    def __init__(self, Y: Array, X: Array, G: Array) -> None:
        n, p = Y.shape
        svd = economic_svd(G)
        data = ObservedData.build(Y, np.eye(p), X, svd, False)
        self.engine = ObservedLikelihood(data)
        self.n = n
        self.k = data.k

    def step(self, C0: Array, C1: Array) -> tuple[float, Array, Array, Array]:
        """One EM iteration; returns (ℓ at C₀, C₁, β̂, C₀', C₁') as :func:`em_step_dense`."""
        t = self.engine.evaluate(C0, C1, gradient=True)
        assert t.M0 is not None and t.M1 is not None
        C0_new = C0 + (2.0 / self.k) * C0 @ t.M0 @ C0
        C1_new = C1 + (2.0 / self.n) * C1 @ t.M1 @ C1
        return t.lml, t.B, 0.5 * (C0_new + C0_new.T), 0.5 * (C1_new + C1_new.T)


@dataclass
class EMRun:
    """An EM run: ℓ per iteration (at the iterate before its update) and seconds."""

    lml: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    C0: Array | None = None
    C1: Array | None = None
    stopped: str = ""

    def first_within(self, target: float, tol: float) -> int | None:
        """Iterations (evaluations) until ``ℓ ≥ target − tol``; None if never."""
        for i, v in enumerate(self.lml):
            if v >= target - tol:
                return i + 1
        return None


def run_em(
    step: Callable[[Array, Array], tuple[float, Array, Array, Array]],
    C0: Array,
    C1: Array,
    *,
    target: float | None = None,
    tol: float = 1e-6,
    max_iter: int = 5000,
    max_seconds: float = float("inf"),
    rel_change: float = 0.0,
) -> EMRun:
    """Iterate ``step`` from (C₀, C₁).

    Stops at ``max_iter`` iterations, after ``max_seconds``, when ``ℓ ≥ target − tol``
    (if ``target`` is given) or when ℓ changes by at most ``rel_change·|ℓ|`` in one
    iteration (if ``rel_change > 0``).

    Returns
    -------
    EMRun
        ℓ and the cumulative seconds after each iteration; C₀, C₁ of the last ℓ.
    """
    run = EMRun()
    t0 = time.perf_counter()
    for _ in range(max_iter):
        lml, _, C0n, C1n = step(C0, C1)
        run.lml.append(lml)
        run.seconds.append(time.perf_counter() - t0)
        run.C0, run.C1 = C0, C1
        C0, C1 = C0n, C1n
        if target is not None and lml >= target - tol:
            run.stopped = "target"
            break
        if rel_change > 0 and len(run.lml) > 1:
            if abs(run.lml[-1] - run.lml[-2]) <= rel_change * abs(lml):
                run.stopped = "converged"
                break
        if run.seconds[-1] > max_seconds:
            run.stopped = "time cap"
            break
    else:
        run.stopped = "iteration cap"
    return run


def _psd(C: Array) -> bool:
    return bool(np.all(np.isfinite(C))) and float(np.linalg.eigvalsh(C).min()) >= 0.0


def run_squarem(
    step: Callable[[Array, Array], tuple[float, Array, Array, Array]],
    C0: Array,
    C1: Array,
    *,
    target: float | None = None,
    tol: float = 1e-6,
    max_evals: int = 5000,
    max_seconds: float = float("inf"),
) -> EMRun:
    """EM accelerated by SQUAREM (Varadhan & Roland 2008, scheme S3), kept monotone.

    With F the EM map on θ = (C₀, C₁): from θ₀, ``θ₁ = F(θ₀)``, ``θ₂ = F(θ₁)``,
    ``r = θ₁ − θ₀``, ``v = θ₂ − 2θ₁ + θ₀``, ``α = −‖r‖/‖v‖`` (at most −1) and
    ``θ' = θ₀ − 2αr + α²v``; one EM step from θ' is the next θ₀. Where θ' is not a pair of
    covariances or ``ℓ(θ') < ℓ(θ₂)``, α is moved halfway to −1 (α = −1 gives θ' = θ₂, plain
    EM) and θ' evaluated again, so ℓ never decreases from cycle to cycle. Every call of
    ``step`` is one evaluation (ℓ at its point and F there).

    Returns
    -------
    EMRun
        ℓ and the cumulative seconds after each *evaluation*; C₀, C₁ of the best ℓ.
    """
    run = EMRun()
    t0 = time.perf_counter()
    best = -np.inf

    def evaluate(A0: Array, A1: Array) -> tuple[float, Array, Array]:
        nonlocal best
        lml, _, F0, F1 = step(A0, A1)
        run.lml.append(lml)
        run.seconds.append(time.perf_counter() - t0)
        if lml > best:
            best, run.C0, run.C1 = lml, A0, A1
        return lml, F0, F1

    def done() -> bool:
        if target is not None and best >= target - tol:
            run.stopped = "target"
        elif len(run.lml) >= max_evals:
            run.stopped = "iteration cap"
        elif run.seconds[-1] > max_seconds:
            run.stopped = "time cap"
        return bool(run.stopped)

    while True:
        _, A0, A1 = evaluate(C0, C1)  # θ₁ = F(θ₀)
        if done():
            return run
        l1, B0, B1 = evaluate(A0, A1)  # ℓ(θ₁), θ₂ = F(θ₁)
        if done():
            return run
        r0, r1 = A0 - C0, A1 - C1
        v0, v1 = B0 - 2 * A0 + C0, B1 - 2 * A1 + C1
        nr = np.sqrt(np.sum(r0**2) + np.sum(r1**2))
        nv = np.sqrt(np.sum(v0**2) + np.sum(v1**2))
        alpha = min(-nr / nv, -1.0) if nv > 0 else -1.0
        while True:
            P0 = C0 - 2 * alpha * r0 + alpha**2 * v0
            P1 = C1 - 2 * alpha * r1 + alpha**2 * v1
            if alpha == -1.0 or (_psd(P0) and _psd(P1)):
                lp, F0, F1 = evaluate(P0, P1)
                if done():
                    return run
                if alpha == -1.0 or lp >= l1:
                    break
            alpha = -1.0 if alpha > -1.01 else (alpha - 1.0) / 2.0
        C0, C1 = F0, F1


def fit_kronlmm(Y: Array, X: Array, G: Array, repeat: int = 1) -> tuple[Kron2Sum, float, float]:
    """ML ``Kron2Sum(Y, Iₚ, X, G, rank=p)`` and its fit.

    Parameters
    ----------
    Y, X, G : ndarray
        Data (see :func:`simulate`).
    repeat : int
        Fits timed (each on a new model; they are identical); the median is returned.

    Returns
    -------
    model : Kron2Sum
        The last fitted model (``fit_result`` holds nfev and ℓ).
    setup_s, fit_s : float
        Median seconds of the model's construction and of its fit.
    """
    setups, fits = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = Kron2Sum(Y, np.eye(Y.shape[1]), X, G, rank=Y.shape[1], restricted=False)
        t1 = time.perf_counter()
        model.fit(verbose=False)
        setups.append(t1 - t0)
        fits.append(time.perf_counter() - t1)
    return model, float(np.median(setups)), float(np.median(fits))


def run_case(
    n: int, p: int, missing: float, h2: float, *, seed: int, max_iter: int, max_seconds: float
) -> list[str]:
    """One row of the table (see the module docstring)."""
    d = simulate(n, p, missing, h2, seed)
    Y, X, G = d["Y"], d["X"], d["G"]
    m = int(np.isnan(Y).sum())
    model, _, fit_s = fit_kronlmm(Y, X, G, repeat=3)
    fit = model.fit_result
    em = StructuredEM(Y, X, G)
    run = run_em(
        em.step, *em_start(Y), target=fit.lml, tol=1e-6, max_iter=max_iter, max_seconds=max_seconds
    )
    iters = len(run.lml)
    # non-decreasing up to rounding (ℓ is a sum of O(n·p) terms)
    monotone = bool(np.all(np.diff(run.lml) >= -1e-10 * abs(fit.lml)))
    # median seconds of one iteration: robust to other load on a shared machine
    per_iter = float(np.median(np.diff([0.0, *run.seconds])))

    sq = run_squarem(
        em.step, *em_start(Y), target=fit.lml, tol=1e-6, max_evals=max_iter, max_seconds=max_seconds
    )

    def reached(tol: float, r: EMRun = run) -> str:
        i = r.first_within(fit.lml, tol)
        return "not reached" if i is None else f"{i} ({r.seconds[i - 1]:.2f} s)"

    def ratio() -> str:
        # EM's evaluations and time to 1e-6 over kronlmm's (a lower bound at a cap)
        i = run.first_within(fit.lml, 1e-6)
        it, sec, sign = (iters, run.seconds[-1], "> ") if i is None else (i, run.seconds[i - 1], "")
        return f"{sign}{it / fit.nfev:.0f}× / {sign}{sec / fit_s:.0f}×"

    return [
        str(len(Y)),
        f"{100 * missing:g} %",
        str(m),
        f"{h2:g}",
        f"{fit_s:.2f}",
        str(fit.nfev),
        f"{1e3 * fit_s / fit.nfev:.2f}",
        f"{fit.lml:.6f}",
        reached(1e-3),
        reached(1e-6),
        f"{1e3 * per_iter:.2f}",
        f"{iters} / {run.seconds[-1]:.1f}",
        ratio(),
        reached(1e-6, sq),
        f"{run.lml[-1] - fit.lml:+.1e} / {max(sq.lml) - fit.lml:+.1e}",
        "yes" if monotone else "NO",
        "yes" if fit.success else "no",
    ]


HEADER = [
    "n",
    "missing",
    "m",
    "h²",
    "kronlmm fit s",
    "nfev",
    "kronlmm ms / eval",
    "kronlmm ℓ",
    "EM iters to 1e-3 (s)",
    "EM iters to 1e-6 (s)",
    "EM ms / iter",
    "EM iters / s total",
    "EM ÷ kronlmm (evals / time), 1e-6",
    "SQUAREM evals to 1e-6 (s)",
    "ℓ_EM − ℓ_kronlmm (EM / SQUAREM)",
    "EM ℓ non-decreasing",
    "kronlmm converged",
]


def main(argv: list[str] | None = None) -> list[list[str]]:
    """Run the comparison and print a Markdown table; returns its rows."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one tiny case (smoke run)")
    ap.add_argument("--p", type=int, default=3, help="traits (default 3)")
    ap.add_argument(
        "--cases",
        nargs="*",
        default=None,
        help="cases n,missing,h2 (default: n 200 500 1000 × h² 0.3 0.8 × missing 0.1 0.2)",
    )
    ap.add_argument("--max-iter", type=int, default=5000, help="EM iteration cap")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="EM time cap per case")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = ap.parse_args(argv)
    if argv is None:  # a script run: re-executes once with the BLAS thread variables set
        ensure_threads(args.threads)
    if args.quick:
        cases: list[tuple[int, float, float]] = [(60, 0.2, 0.5)]
        args.max_iter = min(args.max_iter, 300)
    elif args.cases:
        cases = [(int(a), float(b), float(c)) for a, b, c in (s.split(",") for s in args.cases)]
    else:
        cases = list(DEFAULT_CASES)
    print(machine_summary(args.threads))
    print(
        f"p = {args.p}, r = n, X = 1ₙ, A = Iₚ, ML; EM capped at {args.max_iter} iterations "
        f"or {args.max_seconds:g} s per case"
    )
    rows = []
    for n, miss, h2 in cases:
        rows.append(
            run_case(
                n,
                args.p,
                miss,
                h2,
                seed=args.seed,
                max_iter=args.max_iter,
                max_seconds=args.max_seconds,
            )
        )
        print(" | ".join(rows[-1]), flush=True)
    print()
    print_table(HEADER, rows)
    return rows


if __name__ == "__main__":
    main()
