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

from ..core.numerics import blas_limit
from ..core.optimize import DEFAULT_GTOL, FitResult, maximize_scalar
from ..core.parameters import Function, Gradient, Parameter
from ..core.projections import unbounded_likelihood
from ..core.single_trait import Profile, ProjectedTerms, build_terms, profile
from ..core.validation import as_matrix, as_vector
from ..core.warnings import FitWarning
from ..scan import FastScanner
from .kron2sum import _kinship_svd

__all__ = ["LMM", "FitWarning"]

_PARAMS = ("delta", "beta", "scale")


class LMM(Function):
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
    ``"beta"`` and ``"scale"``. Assigning to ``beta`` or ``scale`` makes the model hold that
    value — and, when the assigned parameter is free, the other one at its value at that
    moment —: :meth:`lml`, :meth:`gradient` and the other readings use the values held (as
    glimix-core's ``lml()`` uses its stored values) until :meth:`fit` re-optimises the free
    ones or :meth:`unfix` frees one. Assigning to a fixed parameter changes only that one.
    A free parameter that was not assigned is read at its profiled value given the others
    (before the first fit too, where glimix-core reads β = 0 and s = 1). ``fix`` freezes a
    parameter at the value held, or, if none was assigned, at its current profiled value.
    ``delta`` always holds the assigned value; :meth:`fit` changes it only while it is
    free.

    Examples
    --------
    >>> import numpy as np
    >>> from numpy_sugar.linalg import economic_qs
    >>> from kronlmm.lmm.lmm import LMM
    >>> rng = np.random.default_rng(0)
    >>> G = rng.normal(size=(50, 10))
    >>> y = G @ rng.normal(size=10) + rng.normal(size=50)
    >>> lmm = LMM(y, np.ones((50, 1)), economic_qs(G @ G.T))
    >>> result = lmm.fit(verbose=False)
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

    @classmethod
    def from_kinship(
        cls, y: ArrayLike, X: ArrayLike, K: ArrayLike, restricted: bool = False
    ) -> LMM:
        """Model with the covariance matrix ``K`` itself (n × n, symmetric PSD).

        ``K`` is eigendecomposed once, ``K = Q₀ S₀ Q₀ᵀ``; eigenvalues at or below
        ``n·ε·λ_max`` are dropped and negative ones beyond rounding
        (``< −1e-6·λ_max``) are refused. The same as passing that eigendecomposition
        as ``QS``, without building it yourself (and without the trap of passing ``K``
        to :meth:`from_G`, which would use ``KKᵀ = K²``).

        Parameters
        ----------
        y : array_like, shape (n,)
            Outcome.
        X : array_like, shape (n, c)
            Covariates.
        K : array_like, shape (n, n)
            Genetic similarity (e.g. a GRM or a kinship file's matrix).
        restricted : bool, optional
            REML when true, ML (default) otherwise.

        Returns
        -------
        LMM

        Raises
        ------
        ValueError
            ``K`` not square with n rows, not symmetric or not positive semidefinite.

        Examples
        --------
        >>> import numpy as np
        >>> from kronlmm.lmm import LMM
        >>> rng = np.random.default_rng(0)
        >>> G = rng.normal(size=(40, 8))
        >>> y = G @ rng.normal(size=8) + rng.normal(size=40)
        >>> a = LMM.from_kinship(y, np.ones((40, 1)), G @ G.T)
        >>> b = LMM.from_G(y, np.ones((40, 1)), G)
        >>> bool(np.isclose(a.lml(), b.lml()))
        True
        """
        yv = as_vector("y", y)
        n = yv.size
        if n == 0:
            raise ValueError("y is empty")
        Xm = as_matrix("X", X, nrows=n)
        svd = _kinship_svd(K)
        if svd.U.shape[0] != n:
            raise ValueError(f"K has shape {np.shape(K)}, expected ({n}, {n}) for n = {n}")
        obj = cls.__new__(cls)
        obj._setup(yv, Xm, np.ascontiguousarray(svd.U), np.asarray(svd.S2), restricted)
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
        Function.__init__(self, "LMM")
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
        self._full_terms: ProjectedTerms = build_terms(U, S, self._Ux, y)
        # ML has no maximum when the mean absorbs every direction outside span(U) (e.g. an
        # intercept with a centred kinship): then the likelihood is that of Uᵀy
        # (kronlmm.core.projections explains it for the multi-trait model).
        drop = S.size > 0 and unbounded_likelihood(n, 1, U.T @ self._Ux, self._restricted)
        self._terms: ProjectedTerms = (
            build_terms(U, S, self._Ux, y, drop_perp=True) if drop else self._full_terms
        )
        self._has_re = S.size > 0 and bool(np.max(S) > 0)
        self._delta_p = self._add_parameter(
            "delta", Parameter(0.5 if self._has_re else 1.0, bounds=(0.0, 1.0))
        )
        self._scale_p = self._add_parameter(
            "scale", Parameter(1.0, bounds=(np.finfo(float).tiny, np.inf))
        )
        self._beta_p = self._add_parameter("beta", Parameter(np.zeros(c)))
        self._delta_p.fixed = not self._has_re
        self._assigned = {"beta": False, "scale": False}
        self._cache: dict[bool, tuple[tuple[Any, ...], Profile]] = {}
        self._nevals = 0
        self.fit_result: FitResult | None = None
        # Residual sum of squares of y on X (δ = 1, ordinary least squares).
        rss = profile(self._full_terms, 1.0, restricted=False).quad
        self._y_in_span = rss <= 1e-24 * max(float(y @ y), 1e-300)

    # ------------------------------------------------------------------ parameters
    @property
    def name(self) -> str | None:
        """A label for the model (glimix-core's attribute; default ``"LMM"``)."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value

    @property
    def delta(self) -> float:
        """``δ ∈ [0, 1]``: the share of ``s`` on the identity, ``D(δ) = (1 − δ)K + δI``."""
        return float(self._delta_p.value)

    @delta.setter
    def delta(self, delta: float) -> None:
        d = float(delta)
        if not (0.0 <= d <= 1.0):
            raise ValueError(f"delta must lie in [0, 1], got {delta!r}")
        self._delta_p.set(d)

    @property
    def beta(self) -> NDArray[np.float64]:
        """Fixed effects ``β`` for the columns of ``X`` (c-vector).

        Free: the GLS estimate ``(XᵀD⁻¹X)⁺XᵀD⁻¹y`` at the current ``δ`` (the minimum-norm
        solution when ``X`` is rank deficient). Fixed or assigned: the value held.
        """
        if self._held("beta"):
            return self._beta_p.value.copy()
        return self._to_beta(self._profile(full=True).beta_t)

    @beta.setter
    def beta(self, beta: ArrayLike) -> None:
        value = as_vector("beta", beta, size=self._X.shape[1])
        if not self._beta_p.fixed:
            self._hold_current("scale")
        self._beta_p.set(value)
        self._assigned["beta"] = True

    @property
    def scale(self) -> float:
        """Scale ``s > 0``: ``V = s·((1 − δ)K + δI)``.

        Free: ``rᵀD⁻¹r / n`` (ML) or ``rᵀD⁻¹r / (n − c′)`` (REML) at the current ``δ`` and
        ``β``. Fixed or assigned: the value held.
        """
        if self._held("scale"):
            return float(self._scale_p.value)
        return self._profile().scale

    @scale.setter
    def scale(self, scale: float) -> None:
        s = float(scale)
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"scale must be positive and finite, got {scale!r}")
        if not self._scale_p.fixed:
            self._hold_current("beta")
        self._scale_p.set(s)
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
        p = self._profile(full=True)
        c = self._full_terms.rank
        if p.R is None:
            raise ValueError(f"D(δ) is singular at delta = {self.delta!r}")
        Rinv = sla.solve_triangular(p.R[:c, :c], np.eye(c), check_finite=False)
        B = self._Vx / self._sx  # maps basis coordinates to β: β = B β_t
        M = B @ Rinv
        out: NDArray[np.float64] = self.scale * (M @ M.T)
        return out

    def fix(self, param: str | None = None) -> None:
        """Hold ``param`` (``"delta"``, ``"beta"`` or ``"scale"``) at its current value."""
        if param is None:
            raise TypeError("LMM.fix needs a parameter name: 'delta', 'beta' or 'scale'")
        par = self._param(param)
        if param != "delta" and not par.fixed and not self._assigned[param]:
            par.set(self.beta if param == "beta" else self.scale)
        par.fixed = True

    def unfix(self, param: str | None = None) -> None:
        """Let ``param`` (``"delta"``, ``"beta"`` or ``"scale"``) be optimised/profiled."""
        if param is None:
            raise TypeError("LMM.unfix needs a parameter name: 'delta', 'beta' or 'scale'")
        par = self._param(param)
        if param == "delta" and not self._has_re:
            raise ValueError("delta cannot be freed: the model has no random effect (K = 0)")
        par.fixed = False
        if param != "delta":
            self._assigned[param] = False

    def isfixed(self, param: str) -> bool:
        """Whether ``param`` (``"delta"``, ``"beta"`` or ``"scale"``) is fixed."""
        return self._param(param).fixed

    def _hold_current(self, param: str) -> None:
        """Hold ``param`` (``"beta"`` or ``"scale"``) at its current value if it is being
        profiled (an assignment to the other, free, one holds both, as in glimix-core)."""
        if not self._held(param):
            value = self.beta if param == "beta" else self.scale
            self._parameters[param].set(value)
            self._assigned[param] = True

    def _held(self, param: str) -> bool:
        """Whether ``param`` (``"beta"`` or ``"scale"``) holds a value (fixed or assigned)
        instead of being profiled."""
        return self._parameters[param].fixed or self._assigned[param]

    def _param(self, param: str | None) -> Parameter:
        if param not in _PARAMS:
            raise ValueError(f"param must be one of {_PARAMS}, got {param!r}")
        return self._parameters[param]

    # ------------------------------------------------------------------ likelihood
    def _beta_t_fixed(self) -> NDArray[np.float64] | None:
        if not self._held("beta"):
            return None
        out: NDArray[np.float64] = self._sx * (self._Vx.T @ self._beta_p.value)
        return out

    def _to_beta(self, beta_t: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self._Vx @ (beta_t / self._sx)
        return out

    def _evaluate(self, delta: float, full: bool = False) -> Profile:
        self._nevals += 1
        return profile(
            self._full_terms if full else self._terms,
            delta,
            restricted=self._restricted,
            beta_t=self._beta_t_fixed(),
            scale=float(self._scale_p.value) if self._held("scale") else None,
        )

    def _profile(self, full: bool = False) -> Profile:
        key = (self.version, full, self._held("beta"), self._held("scale"))
        cached = self._cache.get(full)
        if cached is None or cached[0] != key:
            cached = (key, self._evaluate(self.delta, full))
            self._cache[full] = cached
        return cached[1]

    def lml(self) -> float:
        """Log marginal likelihood at the current ``δ``, ``β`` and ``s``.

        ``β`` and ``s`` are their held values where fixed or assigned (glimix-core's
        behaviour), else profiled. ML or REML as chosen at construction (constants in the
        class docstring). ``-inf`` where ``D(δ)`` is singular (``δ = 0`` with ``K``
        singular).
        """
        return self._profile().lml

    def value(self) -> float:  # type: ignore[override]  # glimix-core: LMM.value() is the lml
        """Same as :meth:`lml` (glimix-core's name for the optimised objective)."""
        return self.lml()

    def gradient(self) -> dict[str, NDArray[np.float64]]:
        r"""``∂lml/∂θ`` for each free parameter θ (``"delta"``, ``"beta"``, ``"scale"``) at
        the current values (held where assigned; a profiled β or s has derivative 0).

        With ``dᵢ = (1 − δ)Sᵢ + δ``, ``∂D/∂δ = Iₙ − K``, ``v = [−β; 1]`` in the basis
        ``W = [X_b, y]`` and ``q = vᵀWᵀD⁻¹Wv``:

        - ``∂lml/∂δ = −½[tr(D⁻¹(I − K)) − vᵀWᵀD⁻¹(I − K)D⁻¹Wv / s]``, plus for REML
          ``−½ tr(H⁻¹ ∂H/∂δ)`` with ``H = X_bᵀD⁻¹X_b``;
        - ``∂lml/∂β = Xᵀ V⁻¹ (y − Xβ)`` with ``V = s·D``;
        - ``∂lml/∂s = −½[n′/s − q/s²]``, n′ = n (ML) or n − c′ (REML).

        glimix-core's ``LMM.gradient()`` raises NotImplementedError. Arrays have shape
        ``(θ.size,)`` (a :class:`~kronlmm.core.parameters.Gradient`); ``_check_grad()``
        compares them with finite differences.
        """
        grad = self._lml_gradient()
        data = {k: grad[k] for k in _PARAMS if not self._parameters[k].fixed}
        return Gradient(data)

    def _lml_gradient(self) -> dict[str, NDArray[np.float64]]:
        """The three partial derivatives of :meth:`gradient` (see its formulas)."""
        t = self._terms
        prof = self._profile()
        delta, s = self.delta, prof.scale
        n, c = t.n, t.rank
        if prof.R is None or not math.isfinite(prof.lml):
            nan = np.full(1, np.nan)
            return {"delta": nan, "scale": nan.copy(), "beta": np.full(self._X.shape[1], np.nan)}
        S = t.S
        d = (1.0 - delta) * S + delta
        w = (1.0 - S) / d**2  # D⁻¹(I − K)D⁻¹ on span(U)
        v = np.concatenate([-prof.beta_t, [1.0]])
        Av = t.A @ v
        dlogdet = float(np.sum((1.0 - S) / d))
        dquad = -float(np.sum(w * Av**2))
        if t.ncomp > 0:
            Tv = t.T @ v
            dlogdet += t.ncomp / delta
            dquad -= float(Tv @ Tv) / delta**2
        g_delta = -0.5 * (dlogdet + dquad / s)
        if self._restricted and c:
            Ax, Tx = t.A[:, :c], t.T[:, :c]
            H = Ax.T @ (Ax / d[:, None])
            dH = -(Ax.T @ (w[:, None] * Ax))
            if t.ncomp > 0:
                H = H + Tx.T @ Tx / delta
                dH = dH - Tx.T @ Tx / delta**2
            g_delta -= 0.5 * float(np.trace(np.linalg.solve(H, dH)))
        df = n - c if self._restricted else n
        g_scale = -0.5 * (df / s - prof.quad / s**2)
        # ∂q/∂β_t = −2 (WᵀD⁻¹W v)[:c], WᵀD⁻¹W = RᵀR; β_t = map·diag(sx)·Vxᵀ β
        dq_bt = -2.0 * (prof.R.T @ (prof.R @ v))[:c]
        if t.basis_map is not None:
            dq_bt = t.basis_map.T @ dq_bt
        g_beta = -0.5 * (self._Vx @ (self._sx * dq_bt)) / s
        return {"delta": np.array([g_delta]), "scale": np.array([g_scale]), "beta": g_beta}

    def fit(self, verbose: bool = True, *, gtol: float = DEFAULT_GTOL) -> FitResult:
        """Maximise the (restricted) likelihood over the free parameters.

        ``δ`` (if free) is searched by :func:`kronlmm.core.optimize.maximize_scalar`: a
        grid of 101 values of ``t = logit δ ∈ [−20, 20]`` plus the exact end points
        δ = 0 and δ = 1, then Brent's method inside the brackets of the three best local
        maxima of the grid; the likelihood can be multimodal. ``β`` and ``s`` (if free) are
        profiled. Issues :class:`FitWarning` when the search did not converge, and when
        ``y`` lies in the column span of X with ``β`` and ``s`` free (zero residual
        variance; ``δ`` is then left unchanged).

        Parameters
        ----------
        verbose : bool, optional
            Print one summary line when true (default).
        gtol : float, optional
            Tolerance on the projected derivative of ``−lml/n`` with respect to
            ``logit δ`` (with respect to δ at δ = 0 or 1) for the fit to count as
            converged.

        Returns
        -------
        FitResult
            Also stored as ``fit_result`` (the same class as Kron2Sum's).
        """
        t0 = time.perf_counter()
        self._nevals = 0
        for param in ("beta", "scale"):  # free parameters are re-optimised (profiled)
            if not self._parameters[param].fixed:
                self._assigned[param] = False
        degenerate = self._y_in_span and not self._beta_p.fixed and not self._scale_p.fixed
        n = float(self.nsamples)
        if degenerate:
            msg = (
                "y lies in the column span of X up to rounding: the likelihood is unbounded "
                "and the variance components are not identifiable; delta was left at "
                f"{self.delta!r} and the scale is a floor value"
            )
            warnings.warn(msg, FitWarning, stacklevel=2)
            lml = self.lml()
            result = FitResult(False, msg, 0, 1, lml, math.nan, [lml], gtol)
        elif self._delta_p.fixed:
            lml = self.lml()
            result = FitResult(
                True, "no free parameters (delta fixed)", 0, 1, lml, 0.0, [lml], gtol
            )
        else:
            t = self._terms
            with blas_limit(t.A.shape[0] * t.A.shape[1] ** 2):
                search = maximize_scalar(lambda d: self._evaluate(d).lml, 0.0, 1.0, normaliser=n)
            self._delta_p.set(search.x)
            lml = self.lml()
            gnorm = abs(search.slope)
            ok = not search.messages and gnorm <= gtol
            msgs = list(search.messages)
            if gnorm > gtol:
                msgs.append(
                    f"the projected derivative {gnorm:.3g} exceeds the tolerance {gtol:.3g}"
                )
            result = FitResult(
                success=ok,
                message="; ".join(msgs) or "converged",
                niter=search.niter,
                nfev=search.nfev,
                lml=lml,
                grad_norm=gnorm,
                starts=search.candidates,
                grad_tol=gtol,
            )
            if not ok:
                warnings.warn(f"LMM fit: {result}", FitWarning, stacklevel=2)
        self.fit_result = result
        if verbose:
            kind = "REML" if self._restricted else "ML"
            print(
                f"LMM ({kind}): delta={self.delta:.6g} scale={self.scale:.6g} "
                f"lml={result.lml:.6f} [{self._nevals} evaluations, "
                f"{time.perf_counter() - t0:.3g} s]"
            )
        return result

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
        return int(self._X.shape[1])

    @property
    def X(self) -> NDArray[np.float64]:
        """Covariates (n × c, read-only)."""
        return self._X

    @property
    def restricted(self) -> bool:
        """True for REML, False for ML."""
        return self._restricted

    @property
    def ml_projected(self) -> bool:
        """Whether :meth:`lml` is the likelihood of ``Uᵀy`` (the data projected onto the
        span of K's eigenvectors) because the ML likelihood of ``y`` has no maximum (an
        intercept with a centred kinship is the common case; see
        :mod:`kronlmm.core.projections`)."""
        return self._terms is not self._full_terms

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
            f"delta={self.delta:.6g})"
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
