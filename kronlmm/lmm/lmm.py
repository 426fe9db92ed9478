"""Single-trait linear mixed model (FaST-LMM; Lippert et al. 2011, Nat Methods 8:833).

Model::

    y ~ N(Xβ, s·((1 − δ)K + δIₙ)),    K = Q₀ S₀ Q₀ᵀ  (or K = GGᵀ)

The covariance is decomposed once; afterwards the likelihood at any ``δ`` with ``β`` and
``s`` profiled costs O(k·m²) (k: rank of ``K``, m = rank X + 1) and touches no n-sized
array. ``δ`` is found by a grid search followed by Brent's method (``brent_search``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike, NDArray

from ..core.single_trait import Profile, ProjectedTerms, build_terms, profile
from ..core.validation import as_matrix, as_vector
from ..core.warnings import FitWarning
from ..scan import FastScanner

__all__ = ["LMM", "FitWarning"]

_PARAMS = ("delta", "beta", "scale")

# δ search: a grid on the logit scale t = log(δ / (1 − δ)) ∈ [−_T_MAX, _T_MAX] (δ from
# ≈ 2e−9 to 1 − 2e−9) plus the exact end points δ = 0 and δ = 1, then Brent's method on t
# inside the brackets of the best local maxima of the grid.
_T_MAX = 20.0
_N_GRID = 101
_N_REFINE = 3
_BRENT_TOL = 1e-9
_BRENT_MAXITER = 500


def _expit(t: float) -> float:
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


class LMM:
    r"""Single-trait linear mixed model, fitted by maximum likelihood or REML.

    The model is ::

        y ~ N(Xβ, s·D(δ)),    D(δ) = (1 − δ)K + δIₙ,    V = s·D(δ),

    equivalently ``y ~ N(Xβ, v₀K + v₁Iₙ)`` with ``v₀ = s(1 − δ)`` and ``v₁ = sδ``.

    ==========  ===========================================================================
    symbol      meaning
    ==========  ===========================================================================
    n           number of samples (length of ``y``)
    c           number of covariates (columns of ``X``); c′ = rank X ≤ c
    y           outcome, n-vector
    X           covariates, n × c (include an intercept column yourself)
    β           fixed effects, c-vector
    K           n × n positive semi-definite covariance, ``K = Q₀ S₀ Q₀ᵀ``
    Q₀, S₀      eigenvectors (n × k) and non-zero eigenvalues (k) of ``K``
    s           overall scale (> 0)
    δ           share of the variance not explained by ``K``, ``δ ∈ [0, 1]``
    ==========  ===========================================================================

    **Log marginal likelihood** (the constants of GEMMA and glimix-core, so values compare
    directly):

    - ML: ``−½[n log 2π + log|V| + rᵀV⁻¹r]``, ``r = y − Xβ``.
    - REML: ``−½[(n − c′) log 2π − log|XᵀX| + log|V| + log|XᵀV⁻¹X| + rᵀV⁻¹r]``. It equals
      the density of the error contrasts ``Lᵀy`` for any ``L`` with orthonormal columns
      spanning the orthogonal complement of ``span(X)``. For rank-deficient ``X``,
      ``|XᵀX|`` and ``|XᵀV⁻¹X|`` are taken on a basis of ``span(X)`` (pseudo-determinants);
      their difference does not depend on that basis.

    **Profiling.** Free parameters are replaced by their optimum at the current values of
    the others: ``β̂ = (XᵀD⁻¹X)⁺XᵀD⁻¹y`` (generalised least squares, independent of ``s``)
    and ``ŝ = rᵀD⁻¹r / n`` (ML) or ``ŝ = rᵀD⁻¹r / (n − c′)`` (REML). With every parameter
    free, :meth:`lml` is therefore the profile likelihood at the current ``δ``, and
    :meth:`fit` maximises it over ``δ``.

    **Search over δ.** :meth:`fit` evaluates the profile likelihood on a grid of 101 values
    of ``t = logit δ = log(δ/(1 − δ)) ∈ [−20, 20]`` plus the exact end points ``δ = 0`` and
    ``δ = 1``, refines the three best local maxima of the grid by Brent's method on ``t``
    (inside the grid bracket around each), and keeps the best value found. The profile
    likelihood can be multimodal; the grid guards against stopping at a poor local optimum.

    **Rank-deficient X.** ``X`` is replaced internally by an orthonormal basis of its
    column span (economic SVD, singular values above ``max(n, c)·ε·σ_max`` kept), and the
    degrees of freedom use ``c′ = rank X``. :attr:`beta` is reported for the original
    columns as the minimum-norm solution (the one orthogonal to the null space of ``X``),
    and :attr:`beta_covariance` as ``s·(XᵀD⁻¹X)⁺``.

    Parameters
    ----------
    y : array_like, shape (n,) or (n, 1)
        Outcome.
    X : array_like, shape (n, c) or (n,)
        Covariates.
    QS : tuple, optional
        Economic eigendecomposition of ``K`` in glimix-core's format ``((Q₀, Q₁), S₀)`` (as
        returned by :func:`numpy_sugar.linalg.economic_qs`) or ``((Q₀,), S₀)``. ``Q₀``
        (n × k) must have orthonormal columns; ``Q₁`` (n × (n − k), may be empty) is only
        checked for its shape. ``None`` means no random effect: ``δ = 1`` is fixed and the
        model is ordinary linear regression.
    restricted : bool, optional
        REML when true, ML (default) otherwise.

    Raises
    ------
    ValueError
        Mismatched shapes, non-finite values, or eigenvalues below ``−1e-8·max|S₀|``
        (``K`` not positive semi-definite). The message names the argument.

    Notes
    -----
    Parameter handling follows glimix-core: ``fix(name)``/``unfix(name)`` for ``"delta"``,
    ``"beta"`` and ``"scale"``. Reading a free ``beta`` or ``scale`` gives its profiled value
    at the current values of the others. Assigning to ``beta`` or ``scale`` sets the value
    the parameter holds while it is fixed; ``fix`` freezes a parameter at the value last
    assigned since it was freed, or, if none was, at its current profiled value. ``delta``
    always holds the assigned value; :meth:`fit` changes it only while it is free.

    Examples
    --------
    >>> import numpy as np
    >>> from numpy_sugar.linalg import economic_qs
    >>> from kronlmm.lmm.lmm import LMM
    >>> rng = np.random.default_rng(0)
    >>> G = rng.normal(size=(50, 10))
    >>> y = G @ rng.normal(size=10) + rng.normal(size=50)
    >>> lmm = LMM(y, np.ones((50, 1)), economic_qs(G @ G.T))
    >>> lmm.fit(verbose=False)
    >>> bool(0.0 <= lmm.delta <= 1.0)
    True
    """

    def __init__(
        self,
        y: ArrayLike,
        X: ArrayLike,
        QS: tuple[Sequence[ArrayLike], ArrayLike] | None = None,
        restricted: bool = False,
    ) -> None:
        yv = as_vector("y", y)
        n = yv.size
        if n == 0:
            raise ValueError("y is empty")
        Xm = as_matrix("X", X, nrows=n)
        if QS is None:
            U = np.zeros((n, 0))
            S = np.zeros(0)
        else:
            U, S = _check_qs(QS, n)
        self._setup(yv, Xm, U, S, restricted)

    @classmethod
    def from_G(cls, y: ArrayLike, X: ArrayLike, G: ArrayLike, restricted: bool = False) -> LMM:
        """Model with ``K = GGᵀ`` built from a factor ``G`` (n × n only when r ≥ n).

        Parameters
        ----------
        y : array_like, shape (n,)
            Outcome.
        X : array_like, shape (n, c)
            Covariates.
        G : array_like, shape (n, r)
            Factor of ``K = GGᵀ`` (genotypes, a kinship factor or a random-effect design),
            used as given (not rescaled). For ``r < n``: economic SVD ``G = U Σ Wᵀ``,
            ``K = U Σ² Uᵀ``, dropping singular values ``≤ max(n, r)·ε·σ_max``; cost
            O(n·r²), nothing n × n is formed. For ``r ≥ n``: eigendecomposition of the
            n × n matrix ``GGᵀ`` (faster than the SVD there), dropping eigenvalues
            ``≤ max(n, r)·ε·λ_max``.
        restricted : bool, optional
            REML when true, ML (default) otherwise.

        Returns
        -------
        LMM
            The model; with ``G = 0`` it has no random effect (``δ = 1`` fixed).
        """
        yv = as_vector("y", y)
        n = yv.size
        if n == 0:
            raise ValueError("y is empty")
        Xm = as_matrix("X", X, nrows=n)
        Gm = as_matrix("G", G, nrows=n)
        r = Gm.shape[1]
        eps = np.finfo(float).eps
        if r == 0:
            U, S = np.zeros((n, 0)), np.zeros(0)
        elif r < n:
            U, sv, _ = sla.svd(Gm, full_matrices=False, check_finite=False)
            keep = sv > max(n, r) * eps * sv[0]
            U, S = U[:, keep], sv[keep] ** 2
        else:
            S, U = np.linalg.eigh(Gm @ Gm.T)
            keep = S > max(n, r) * eps * max(S[-1], 0.0)
            U, S = U[:, keep][:, ::-1], S[keep][::-1]
        obj = cls.__new__(cls)
        obj._setup(yv, Xm, np.ascontiguousarray(U), S, restricted)
        return obj

    def _setup(
        self,
        y: NDArray[np.float64],
        X: NDArray[np.float64],
        U: NDArray[np.float64],
        S: NDArray[np.float64],
        restricted: bool,
    ) -> None:
        if not isinstance(restricted, (bool, np.bool_)):
            raise ValueError(f"restricted must be True or False, got {restricted!r}")
        n, c = X.shape
        self._y = np.array(y, dtype=float)
        self._X = np.array(X, dtype=float)
        self._X.setflags(write=False)
        self._U = U
        self._S = S
        self._restricted = bool(restricted)
        # Orthonormal basis of span(X): X = Ux diag(sx) Vxᵀ (rank-truncated).
        if c:
            Ux, sx, Vxt = sla.svd(X, full_matrices=False, check_finite=False)
            keep = sx > max(n, c) * np.finfo(float).eps * sx[0]
            self._Ux, self._sx, self._Vx = Ux[:, keep], sx[keep], Vxt[keep].T
        else:
            self._Ux, self._sx, self._Vx = np.zeros((n, 0)), np.zeros(0), np.zeros((0, 0))
        rank = self._sx.size
        if self._restricted and n <= rank:
            raise ValueError(
                f"REML needs more samples than the rank of X: n = {n}, rank(X) = {rank}"
            )
        self._terms: ProjectedTerms = build_terms(U, S, self._Ux, y)
        self._has_re = S.size > 0 and bool(np.max(S) > 0)
        self._delta = 0.5 if self._has_re else 1.0
        self._fixed = {"delta": not self._has_re, "beta": False, "scale": False}
        self._assigned = {"beta": False, "scale": False}
        self._beta = np.zeros(c)
        self._scale = 1.0
        self._cache: tuple[tuple[Any, ...], Profile] | None = None
        self._nevals = 0
        # Residual sum of squares of y on X (δ = 1, ordinary least squares).
        rss = profile(self._terms, 1.0, restricted=False).quad
        self._y_in_span = rss <= 1e-24 * max(float(y @ y), 1e-300)

    # ------------------------------------------------------------------ parameters
    @property
    def delta(self) -> float:
        """``δ ∈ [0, 1]``: the share of ``s`` on the identity, ``D(δ) = (1 − δ)K + δI``."""
        return self._delta

    @delta.setter
    def delta(self, delta: float) -> None:
        d = float(delta)
        if not (0.0 <= d <= 1.0):
            raise ValueError(f"delta must lie in [0, 1], got {delta!r}")
        self._delta = d

    @property
    def beta(self) -> NDArray[np.float64]:
        """Fixed effects ``β`` for the columns of ``X`` (c-vector).

        Free: the GLS estimate ``(XᵀD⁻¹X)⁺XᵀD⁻¹y`` at the current ``δ`` (the minimum-norm
        solution when ``X`` is rank deficient). Fixed: the value held.
        """
        if self._fixed["beta"]:
            return self._beta.copy()
        return self._to_beta(self._profile().beta_t)

    @beta.setter
    def beta(self, beta: ArrayLike) -> None:
        self._beta = as_vector("beta", beta, size=self._X.shape[1])
        self._assigned["beta"] = True

    @property
    def scale(self) -> float:
        """Scale ``s > 0``: ``V = s·((1 − δ)K + δI)``.

        Free: ``rᵀD⁻¹r / n`` (ML) or ``rᵀD⁻¹r / (n − c′)`` (REML) at the current ``δ`` and
        ``β``. Fixed: the value held.
        """
        if self._fixed["scale"]:
            return self._scale
        return self._profile().scale

    @scale.setter
    def scale(self, scale: float) -> None:
        s = float(scale)
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"scale must be positive and finite, got {scale!r}")
        self._scale = s
        self._assigned["scale"] = True

    @property
    def v0(self) -> float:
        """Variance of the ``K`` term, ``v₀ = s(1 − δ)``."""
        return self.scale * (1.0 - self.delta)

    @property
    def v1(self) -> float:
        """Variance of the identity term, ``v₁ = sδ``."""
        return self.scale * self.delta

    @property
    def beta_covariance(self) -> NDArray[np.float64]:
        """Covariance of the GLS estimate of ``β``: ``s·(XᵀD⁻¹X)⁺`` (c × c).

        ``s`` is the current :attr:`scale`; ``⁺`` is the Moore–Penrose pseudo-inverse
        (the inverse when ``X`` has full column rank).
        """
        p = self._profile()
        c = self._terms.rank
        if p.R is None:
            raise ValueError(f"D(δ) is singular at delta = {self._delta!r}")
        Rinv = sla.solve_triangular(p.R[:c, :c], np.eye(c), check_finite=False)
        B = self._Vx / self._sx  # maps basis coordinates to β: β = B β_t
        M = B @ Rinv
        return p.scale * (M @ M.T)

    def fix(self, param: str) -> None:
        """Hold ``param`` (``"delta"``, ``"beta"`` or ``"scale"``) at its current value."""
        self._check_param(param)
        if param != "delta" and not self._fixed[param] and not self._assigned[param]:
            if param == "beta":
                self._beta = self.beta
            else:
                self._scale = self.scale
        self._fixed[param] = True

    def unfix(self, param: str) -> None:
        """Let ``param`` (``"delta"``, ``"beta"`` or ``"scale"``) be optimised/profiled."""
        self._check_param(param)
        if param == "delta" and not self._has_re:
            raise ValueError("delta cannot be freed: the model has no random effect (K = 0)")
        self._fixed[param] = False
        if param != "delta":
            self._assigned[param] = False

    def isfixed(self, param: str) -> bool:
        """Whether ``param`` (``"delta"``, ``"beta"`` or ``"scale"``) is fixed."""
        self._check_param(param)
        return self._fixed[param]

    @staticmethod
    def _check_param(param: str) -> None:
        if param not in _PARAMS:
            raise ValueError(f"param must be one of {_PARAMS}, got {param!r}")

    # ------------------------------------------------------------------ likelihood
    def _beta_t_fixed(self) -> NDArray[np.float64] | None:
        if not self._fixed["beta"]:
            return None
        return self._sx * (self._Vx.T @ self._beta)

    def _to_beta(self, beta_t: NDArray[np.float64]) -> NDArray[np.float64]:
        return self._Vx @ (beta_t / self._sx)

    def _evaluate(self, delta: float) -> Profile:
        self._nevals += 1
        return profile(
            self._terms,
            delta,
            restricted=self._restricted,
            beta_t=self._beta_t_fixed(),
            scale=self._scale if self._fixed["scale"] else None,
        )

    def _profile(self) -> Profile:
        key = (
            self._delta,
            self._fixed["beta"],
            self._fixed["scale"],
            self._beta.tobytes() if self._fixed["beta"] else None,
            self._scale if self._fixed["scale"] else None,
        )
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._evaluate(self._delta))
        return self._cache[1]

    def lml(self) -> float:
        """Log marginal likelihood at the current ``δ`` with free ``β`` and ``s`` profiled.

        ML or REML as chosen at construction (constants in the class docstring). ``-inf``
        where ``D(δ)`` is singular (``δ = 0`` with ``K`` singular).
        """
        return self._profile().lml

    def value(self) -> float:
        """Same as :meth:`lml` (glimix-core's name for the optimised objective)."""
        return self.lml()

    def fit(self, verbose: bool = True) -> None:
        """Maximise the (restricted) likelihood over the free parameters.

        ``δ`` (if free) is searched as described in the class docstring; ``β`` and ``s``
        (if free) are profiled. Issues :class:`FitWarning` when Brent's method does not
        converge, and when ``y`` lies in the column span of ``X`` with ``β`` and ``s`` free
        (zero residual variance; ``δ`` is then left unchanged).

        Parameters
        ----------
        verbose : bool, optional
            Print one summary line when true (default).
        """
        t0 = time.perf_counter()
        self._nevals = 0
        degenerate = self._y_in_span and not self._fixed["beta"] and not self._fixed["scale"]
        if degenerate:
            warnings.warn(
                "y lies in the column span of X up to rounding: the likelihood is unbounded "
                "and the variance components are not identifiable; delta was left at "
                f"{self._delta!r} and the scale is a floor value",
                FitWarning,
                stacklevel=2,
            )
        elif not self._fixed["delta"]:
            self._delta = self._search_delta()
        p = self._profile()
        if verbose:
            kind = "REML" if self._restricted else "ML"
            print(
                f"LMM ({kind}): delta={self._delta:.6g} scale={self.scale:.6g} "
                f"lml={p.lml:.6f} [{self._nevals} evaluations, "
                f"{time.perf_counter() - t0:.3g} s]"
            )

    def _search_delta(self) -> float:
        from brent_search import brent

        ts = np.linspace(-_T_MAX, _T_MAX, _N_GRID)
        vals = np.array([self._evaluate(_expit(float(t))).lml for t in ts])
        if np.any(np.isnan(vals)):
            warnings.warn(
                "the likelihood is NaN at some values of delta; they were skipped",
                FitWarning,
                stacklevel=3,
            )
            vals = np.where(np.isnan(vals), -np.inf, vals)
        candidates: list[tuple[float, float]] = [
            (0.0, self._evaluate(0.0).lml),
            (1.0, self._evaluate(1.0).lml),
        ]
        if np.all(np.isneginf(vals)):
            best = max(candidates, key=lambda x: x[1])
            if not math.isfinite(best[1]):
                raise RuntimeError("the likelihood is not finite for any delta in [0, 1]")
            return best[0]
        # Local maxima of the grid (plateaus count once), best first.
        padded = np.concatenate([[-np.inf], vals, [-np.inf]])
        is_max = (padded[1:-1] >= padded[:-2]) & (padded[1:-1] > padded[2:])
        order = [int(j) for j in np.argsort(-vals) if is_max[j] and np.isfinite(vals[j])]
        if not order:
            order = [int(np.argmax(vals))]
        for j in order[:_N_REFINE]:
            candidates.append((_expit(float(ts[j])), float(vals[j])))
            a, b = ts[max(j - 1, 0)], ts[min(j + 1, _N_GRID - 1)]

            def neg(t: float) -> float:
                v = self._evaluate(_expit(t)).lml
                return -v if not math.isnan(v) else math.inf

            t, f, niter = brent(
                neg,
                a,
                b,
                x0=float(ts[j]),
                f0=-float(vals[j]),
                rtol=_BRENT_TOL,
                atol=_BRENT_TOL,
                maxiter=_BRENT_MAXITER,
            )
            if niter >= _BRENT_MAXITER or not math.isfinite(f):
                warnings.warn(
                    f"Brent's method did not converge for delta in [{_expit(a):.3g}, "
                    f"{_expit(b):.3g}] ({niter} iterations, lml = {-f!r})",
                    FitWarning,
                    stacklevel=3,
                )
            candidates.append((_expit(float(t)), -float(f)))
        return max(candidates, key=lambda x: x[1])[0]

    # ------------------------------------------------------------------ moments
    def mean(self) -> NDArray[np.float64]:
        """Mean ``Xβ`` (n-vector) at the current :attr:`beta`."""
        return self._X @ self.beta

    def covariance(self) -> NDArray[np.float64]:
        """Dense covariance ``v₀K + v₁Iₙ`` (n × n; for small n)."""
        U, S = self._U, self._S
        C = (U * (self.v0 * S)) @ U.T
        C[np.diag_indices_from(C)] += self.v1
        return C

    @property
    def nsamples(self) -> int:
        """Number of samples ``n``."""
        return self._y.size

    @property
    def ncovariates(self) -> int:
        """Number of covariates ``c`` (columns of ``X``, not its rank)."""
        return self._X.shape[1]

    @property
    def X(self) -> NDArray[np.float64]:
        """Covariates (n × c, read-only)."""
        return self._X

    @property
    def restricted(self) -> bool:
        """True for REML, False for ML."""
        return self._restricted

    def get_fast_scanner(self) -> Any:
        """:class:`~kronlmm.scan.FastScanner` with δ fixed at its current value."""
        return FastScanner.from_lmm(self)

    def null_terms(self) -> dict[str, Any]:
        """Quantities of the fitted null model for association scanners.

        Returns
        -------
        dict
            ``"U"`` (n × k eigenvectors of ``K`` or left singular vectors of ``G``),
            ``"S2"`` (k eigenvalues of ``K``), ``"v0"``, ``"v1"``, ``"beta"`` (c),
            ``"X"`` (n × c), and also ``"y"``, ``"scale"``, ``"delta"``, ``"lml"``,
            ``"restricted"`` and ``"rank"`` (rank of ``X``).
        """
        return {
            "U": self._U,
            "S2": self._S,
            "v0": self.v0,
            "v1": self.v1,
            "beta": self.beta,
            "X": self._X,
            "y": self._y,
            "scale": self.scale,
            "delta": self.delta,
            "lml": self.lml(),
            "restricted": self._restricted,
            "rank": self._terms.rank,
        }

    def __repr__(self) -> str:
        kind = "REML" if self._restricted else "ML"
        return (
            f"LMM(n={self.nsamples}, c={self.ncovariates}, k={self._S.size}, {kind}, "
            f"delta={self._delta:.6g})"
        )


def _check_qs(QS: Any, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate glimix-core's ``((Q0, Q1), S0)`` and return ``(Q0, S0)``."""
    try:
        Qs, S0 = QS
        Qs = tuple(Qs)
    except (TypeError, ValueError):
        raise ValueError(
            "QS must be ((Q0, Q1), S0) or ((Q0,), S0) as returned by numpy_sugar.linalg.economic_qs"
        ) from None
    if len(Qs) not in (1, 2):
        raise ValueError(f"QS[0] must hold (Q0, Q1) or (Q0,), got {len(Qs)} arrays")
    Q0 = as_matrix("QS[0][0] (Q0)", Qs[0], nrows=n, allow_vector=False)
    k = Q0.shape[1]
    S = as_vector("QS[1] (S0)", S0, size=k)
    if len(Qs) == 2:
        Q1 = as_matrix("QS[0][1] (Q1)", Qs[1], nrows=n, allow_vector=False)
        if Q1.shape[1] + k != n:
            raise ValueError(
                f"QS: Q0 {Q0.shape} and Q1 {Q1.shape} must together have n = {n} columns"
            )
    if k:
        norms = np.einsum("ij,ij->j", Q0, Q0)
        if np.max(np.abs(norms - 1.0)) > 1e-6:
            j = int(np.argmax(np.abs(norms - 1.0)))
            raise ValueError(
                f"QS: the columns of Q0 must be orthonormal eigenvectors of K; column {j} "
                f"has squared norm {norms[j]:.6g}"
            )
        smax = float(np.max(np.abs(S)))
        if S.min() < -1e-8 * smax:
            raise ValueError(
                f"QS: K is not positive semi-definite: S0 has eigenvalue {S.min():.6g} "
                f"(largest magnitude {smax:.6g})"
            )
        S = np.maximum(S, 0.0)
    return Q0, S
