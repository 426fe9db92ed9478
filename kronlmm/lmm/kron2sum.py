"""Multi-trait linear mixed model with a Kronecker-sum covariance (ML and REML)."""

from __future__ import annotations

import time
import warnings
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.likelihood import LikelihoodEngine, LikelihoodTerms, WhitenedLikelihood
from ..core.linalg import EconomicSVD, economic_svd
from ..core.missing_likelihood import ObservedData, ObservedLikelihood, observed_trait_sd
from ..core.numerics import blas_limit, no_variance_left
from ..core.optimize import DEFAULT_GTOL, FitResult
from ..core.parameters import finite_difference_gap
from ..core.projections import KronProjections, unbounded_likelihood
from ..core.validation import as_matrix, check_positive_int
from ..core.warnings import FitWarning
from ..cov.base import TraitCovariance
from ..cov.kron2sum import Kron2SumCov
from ..scan import KronFastScanner, KronObservedScanner
from .fitting import Kron2SumFitter
from .missing import MISSING_MODES, MissingSelection, select_observed
from .starts import moment_start, psd_floor

__all__ = ["Kron2Sum"]

#: glimix-core's ε of the C₁ of a new model (``numpy_sugar.epsilon.small · 1000``).
GLIMIX_EPSILON = 1.4901161193847656e-05


class Kron2Sum:
    r"""Multi-trait linear mixed model with Kronecker-sum covariance.

    Model (Y: n × p, ``vec`` stacks columns)::

        vec(Y) ~ N((A ⊗ X) vec(B),  K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)

    ============  =========  ===============================================================
    symbol        shape      meaning
    ============  =========  ===============================================================
    Y             n × p      outcomes, one trait per column
    A             p × a      trait design (``Iₚ``: one effect per trait; ``1ₚ``: shared)
    X             n × c      sample covariates (include the intercept yourself)
    B             c × a      fixed effects, ``β = vec(B)``, profiled out in closed form
    G             n × r      ``GGᵀ`` is the genetic similarity (any r, also r > n or r = 0)
    C₀            p × p      genetic trait covariance (default ``L₀L₀ᵀ``, L₀: p × rank)
    C₁            p × p      residual trait covariance (default ``L₁L₁ᵀ + diag(f)``), ≻ 0
    ============  =========  ===============================================================

    C₀ and C₁ are *trait covariance objects* (:mod:`kronlmm.cov`): pass any of
    :class:`~kronlmm.cov.FreeFormCov`, :class:`~kronlmm.cov.LRFreeFormCov`,
    :class:`~kronlmm.cov.DiagonalCov`, :class:`~kronlmm.cov.FactorAnalyticCov`,
    :class:`~kronlmm.cov.FixedCov` or a :class:`~kronlmm.cov.SumCov` of them (C₁ must be
    positive definite for every parameter value). ``rank`` is the shorthand for the
    default C₀. **A rank below p forces genetic correlations of ±1 between the traits'
    genetic effects; if that is not true of the data, scans of the fitted null are
    inflated** — use ``rank=p`` (or a structured C₀) for association testing.

    Fitting maximises, with B profiled (``β̂`` the GLS estimate, ``r = y − (A⊗X)β̂``,
    N = n·p, m = rank(A ⊗ X) = rank(A)·rank(X)):

    - ML:   ``−½[N log 2π + log|K| + rᵀK⁻¹r]``;
    - REML: ``−½[(N − m) log 2π − log|MᵀM|₊ + log|K| + log|MᵀK⁻¹M|₊ + rᵀK⁻¹r]``,
      ``M = A ⊗ X`` and ``|·|₊`` the product of non-zero eigenvalues — the constant used by
      GEMMA and glimix-core, so values compare directly.

    *Missing values.* NaN entries of Y are missing. By default (``missing="observed"``)
    the model maximises the exact likelihood of the observed values, ``y_O ~
    N(M_O β, K_OO)`` (M_O, K_OO: the rows and block of ``A ⊗ X`` and K at the observed
    entries; the formulas below with N the number of observed values and rank(M_O) for
    rank(A ⊗ X)),
    through the Schur complement on the missing entries
    (:mod:`kronlmm.core.missing_likelihood`: O(k·m² + m³) per evaluation for m missing
    values, exact); samples with no observed trait are dropped with a warning naming them.
    ``missing="complete-case"`` keeps only the samples with every trait observed. A trait
    with no observed value is an error. Complete data take the path below unchanged.

    Where that likelihood has no maximum (ML with an intercept and a centred genetic
    relationship matrix, whose null space contains ``1ₙ``, is the common case), it is
    evaluated on the data projected onto span(U) instead, as explained in
    :mod:`kronlmm.core.projections`; ``ml_projected`` says when. With missing values the
    counterpart is the likelihood of the observed values' contrasts orthogonal to
    ``(Iₚ ⊗ U⊥)_O`` (U⊥ spanning the null space of GGᵀ), which equals the projected one
    when nothing is missing.

    Each evaluation works in whitened coordinates (Casale et al. 2015) on projections
    computed once (:mod:`kronlmm.core.likelihood`): after a one-off set-up of
    O(n·k·(p + c)) (k = rank of G), one likelihood + gradient evaluation costs
    O(k·p·(p + c²a²)) and touches no n-sized array.

    Nothing about the data is rescaled in what is reported. Internally every trait is
    measured in units of its standard deviation after X and GGᵀ in units of its average
    diagonal, and :meth:`fit` optimises over parameters in those units, so fits do not
    depend on the units of Y, X or G.

    A new model with the default C₀, C₁ is in glimix-core's state after construction
    (``L₀ = ones(p, rank)`` for G divided by ``max(min G, max G)``; C₁ = L₁L₁ᵀ + εI with
    L₁ the lower triangle of ones, ε = 1.49·10⁻⁵), so :meth:`lml` before :meth:`fit` gives
    glimix-core's value; :meth:`fit` starts from its own estimates unless
    ``start="current"``. glimix-core's names are provided too (``name``,
    ``_check_grad``; see docs/migrating.rst).

    Parameters
    ----------
    Y : array_like, shape (n, p)
        Outcomes; NaN marks a missing value (see *Missing values* above).
    A : array_like, shape (p, a), optional
        Trait design; ``None`` means ``Iₚ``.
    X : array_like, shape (n, c), optional
        Covariates; ``None`` means an intercept column ``1ₙ``.
    G : array_like, shape (n, r), or EconomicSVD
        The genetic factor, or its decomposition ``GGᵀ = U diag(S2) Uᵀ`` if known already
        (:class:`kronlmm.core.EconomicSVD`; skips the SVD). Use :meth:`from_kinship` to
        start from a kinship matrix K = GGᵀ.
    rank : int, optional
        Maximum rank of the default C₀ (1 ≤ rank ≤ p). Default 1 (as glimix-core).
    restricted : bool, optional
        REML instead of ML. Default False.
    C0, C1 : trait covariance objects, optional
        Models of C₀ and C₁ (see above); they are used (and changed by :meth:`fit`) in
        place.
    c1_floor : float, optional
        Relative floor of the default C₁: ``f = c1_floor·dₜ²`` for each trait t (dₜ its
        standard deviation after X). Default 1e-8.
    missing : {"observed", "complete-case"}, optional
        What to do with missing values of Y (see above). Default ``"observed"``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 3
    >>> G = rng.standard_normal((n, 50)) / np.sqrt(50)
    >>> Y = G @ rng.standard_normal((50, p)) + rng.standard_normal((n, p))
    >>> model = Kron2Sum(Y, np.eye(p), np.ones((n, 1)), G, rank=p)
    >>> result = model.fit(verbose=False)
    >>> result.success
    True
    >>> model.C0.shape, model.B.shape
    ((3, 3), (1, 3))
    """

    def __init__(
        self,
        Y: ArrayLike,
        A: ArrayLike | None = None,
        X: ArrayLike | None = None,
        G: ArrayLike | EconomicSVD | None = None,
        rank: int = 1,
        restricted: bool = False,
        *,
        C0: TraitCovariance | None = None,
        C1: TraitCovariance | None = None,
        c1_floor: float = 1e-8,
        missing: Literal["observed", "complete-case"] = "observed",
    ) -> None:
        if missing not in MISSING_MODES:
            raise ValueError(f"missing must be one of {MISSING_MODES}, got {missing!r}")
        Y = as_matrix("Y", Y, finite=False)
        n, p = Y.shape
        A = np.eye(p) if A is None else as_matrix("A", A, nrows=p)
        X = np.ones((n, 1)) if X is None else as_matrix("X", X, nrows=n)
        if G is None:
            raise ValueError("G is required (use np.zeros((n, 0)) for no genetic term)")
        sel = select_observed(Y, missing)
        self._selection = sel
        if sel.dropped.size:
            Y, X = Y[sel.rows], X[sel.rows]
            G = _subset_rows(G, sel.rows)
            n = Y.shape[0]
        if n < 2:
            raise ValueError(f"Y must have at least 2 samples (rows), got shape {Y.shape}")
        if isinstance(G, EconomicSVD):
            if np.shape(G.U)[0] != n:
                raise ValueError(f"G.U has shape {np.shape(G.U)}, expected ({n}, k)")
            svd = G
        else:
            G = as_matrix("G", G, nrows=n)
            _warn_if_kinship(G)
            svd = economic_svd(G)
        if C0 is None:
            rank = check_positive_int("rank", rank)
            if rank > p:
                raise ValueError(f"rank must be ≤ p = {p} (the number of traits), got {rank}")
        self._Y, self._A, self._X = Y, A, X
        self._restricted = bool(restricted)
        self._cov = Kron2SumCov(G if isinstance(G, EconomicSVD) else svd, p, rank, C0=C0, C1=C1)
        if not self._cov.C1.positive_definite:
            raise ValueError(
                "C1 must be positive definite for every value of its parameters (e.g. "
                "FreeFormCov, DiagonalCov, FactorAnalyticCov, or FixedCov of a positive "
                f"definite matrix); got {type(self._cov.C1).__name__}"
            )
        svd = self._cov.svd
        self._missing = bool(np.isnan(Y).any())
        self._perp_restricted = False
        self._nrestricted = 0
        self._observed_full: ObservedLikelihood | None = None
        engine: LikelihoodEngine | None = None
        if self._missing:
            self._check_ranks(sel.filled(Y, X), X)
            proj, engine = self._observed_setup(Y, A, X, svd)
        else:
            self._check_ranks(Y, X)
            proj, _, _ = KronProjections.build(Y, A, X, svd, self._restricted)
        if proj.rank_A * proj.rank_X == 0:
            raise ValueError("the mean design A ⊗ X has rank 0 (A or X is all zeros)")
        full_rank_M = proj.rank_A * proj.rank_X
        saturated = full_rank_M >= n * p
        self._saturated = saturated
        n_values = int(np.sum(~np.isnan(Y)))
        if self._missing and full_rank_M >= n_values:
            raise ValueError(
                f"rank(A ⊗ X) = {full_rank_M} ≥ {n_values}, the number of observed values of "
                "Y: no residual degrees of freedom"
            )
        if saturated:
            msg = f"rank(A ⊗ X) = {full_rank_M} ≥ n·p = {n * p}: no residual degrees of freedom"
            if self._restricted:
                raise ValueError(msg + " (REML needs at least one)")
            warnings.warn(msg + "; the ML fit is not identifiable", UserWarning, stacklevel=2)
            # The mean fits Y exactly: measure traits in units of their root mean square
            # instead of their (zero) residual standard deviation.
            rms = np.sqrt(np.mean(Y * Y, axis=0))
            proj, _, _ = KronProjections.build(
                Y, A, X, svd, self._restricted, trait_sd=np.where(rms > 0, rms, 1.0)
            )
        d = proj.scaling.trait_sd
        resid = d**2
        mean_square = np.nanmean(Y * Y, axis=0) if self._missing else np.mean(Y * Y, axis=0)
        bad = [] if saturated else no_variance_left(resid, mean_square).tolist()
        if bad:
            raise ValueError(
                f"trait column(s) {bad} of Y have no variance left after regressing out X; "
                "drop them or remove the covariates that explain them exactly"
            )
        self._proj = proj
        # observations the likelihood is of (the fitter's N): n·p, k·p when projected
        self._nobs = int(np.sum(~np.isnan(Y))) - self._nrestricted if self._missing else proj.n * p
        self._engine: LikelihoodEngine
        self._full_engine: LikelihoodEngine
        if engine is not None:
            self._engine = self._full_engine = engine
            if self._observed_full is not None:
                self._full_engine = self._observed_full
        else:
            self._engine = WhitenedLikelihood(proj)
            self._full_engine = self._engine
            if proj.perp_dropped:
                full, _, _ = KronProjections.build(
                    Y, A, X, svd, self._restricted, trait_sd=d, drop_perp=False
                )
                self._full_engine = WhitenedLikelihood(full)
        if hasattr(self._cov.C1, "floor") and C1 is None:
            self._cov.C1.floor = float(c1_floor) * resid
        nparams = self._cov.nparams + full_rank_M
        nvalues = int(np.sum(~np.isnan(Y)))
        if nparams > nvalues:
            warnings.warn(
                f"the model has more parameters ({nparams}) than observations ({nvalues}); "
                "convergence is expected to be problematic",
                UserWarning,
                stacklevel=2,
            )
        self._terms: LikelihoodTerms | None = None
        self._terms_key: tuple[object, ...] | None = None
        self._full_terms: LikelihoodTerms | None = None
        self._full_key: tuple[object, ...] | None = None
        self.fit_result: FitResult | None = None
        self._name: str | None = "Kron2Sum"
        if C0 is None and C1 is None:
            self._set_glimix_state(self._cov.G if isinstance(G, EconomicSVD) else G)
        else:
            self._set_unit(*moment_start(proj))

    def _observed_setup(
        self,
        Y: NDArray[np.float64],
        A: NDArray[np.float64],
        X: NDArray[np.float64],
        svd: EconomicSVD,
    ) -> tuple[KronProjections, LikelihoodEngine]:
        """Projections of Y with missing values filled (for starting values only) and the
        observed-data likelihood engine, in the same internal units."""
        observed = ~np.isnan(Y)
        d = observed_trait_sd(Y, X, observed)
        filled = MissingSelection.filled(Y, X)
        proj, _, _ = KronProjections.build(
            filled, A, X, svd, self._restricted, trait_sd=d, drop_perp=False
        )
        # the complete-data rule: restrict to span(U) where the likelihood has no maximum
        perp = unbounded_likelihood(proj.n, proj.p, proj.UX, self._restricted)
        if perp:  # starting values from the projected data, as for complete data
            proj, _, _ = KronProjections.build(
                filled, A, X, svd, self._restricted, trait_sd=d, drop_perp=True
            )
        data = ObservedData.build(Y, A, X, svd, self._restricted, trait_sd=d, perp_restricted=perp)
        self._perp_restricted = perp
        self._nrestricted = data.n_restricted if perp and not self._restricted else 0
        if perp:
            full = ObservedData.build(Y, A, X, svd, self._restricted, trait_sd=d)
            self._observed_full = ObservedLikelihood(full)
        else:
            self._observed_full = None
        return proj, ObservedLikelihood(data)

    @property
    def missing(self) -> MissingSelection:
        """Which samples are used and how many values per trait are observed
        (:class:`~kronlmm.lmm.missing.MissingSelection`)."""
        return self._selection

    @property
    def nobs(self) -> int:
        """Number of observed values of Y the likelihood is of (n·p without missing)."""
        return int(np.sum(self._selection.nobs))

    @classmethod
    def from_kinship(
        cls,
        Y: ArrayLike,
        A: ArrayLike | None,
        X: ArrayLike | None,
        K: ArrayLike,
        rank: int = 1,
        restricted: bool = False,
        **kwargs: object,
    ) -> Kron2Sum:
        """The model with genetic similarity ``K`` (n × n, symmetric PSD) itself.

        ``K`` is eigendecomposed once (eigenvalues below ``n·ε·max`` dropped, negative
        ones beyond rounding rejected) and passed on as ``K = U diag(S2) Uᵀ``; the other
        arguments are those of the constructor.

        Examples
        --------
        >>> import numpy as np
        >>> from kronlmm.lmm import Kron2Sum
        >>> rng = np.random.default_rng(0)
        >>> G = rng.normal(size=(30, 5))
        >>> Y = rng.normal(size=(30, 2))
        >>> a = Kron2Sum.from_kinship(Y, None, None, G @ G.T)
        >>> b = Kron2Sum(Y, None, None, G)
        >>> for model in (a, b):
        ...     model.set_start(C0=[[0.1, 0.1], [0.1, 0.1]], C1=np.eye(2))
        >>> bool(np.isclose(a.lml(), b.lml()))
        True
        """
        return cls(Y, A, X, _kinship_svd(K), rank, restricted, **kwargs)  # type: ignore[arg-type]

    def _check_ranks(self, Y: NDArray[np.float64], X: NDArray[np.float64]) -> None:
        yrank = np.linalg.matrix_rank(Y)
        if yrank < Y.shape[1]:
            warnings.warn(
                f"Y is not full column rank: rank(Y) = {yrank} < p = {Y.shape[1]}; some "
                "trait is a linear combination of the others and C₁ may be singular",
                UserWarning,
                stacklevel=3,
            )
        xrank = np.linalg.matrix_rank(X)
        if 0 < xrank < X.shape[1]:  # rank 0 is refused (the mean design has rank 0)
            warnings.warn(
                f"X is not full column rank: rank(X) = {xrank} < c = {X.shape[1]}; B is "
                "reported as the minimum-norm solution",
                UserWarning,
                stacklevel=3,
            )

    def _set_glimix_state(self, G: NDArray[np.float64]) -> None:
        """glimix-core's state after construction, so that :meth:`lml` before :meth:`fit`
        gives its value: ``L₀ = ones(p, rank)`` for G divided by ``max(min G, max G)``
        (so C₀ = L₀L₀ᵀ / (that constant)²; G as given, or ``U·√S2`` for a decomposition)
        and C₁ = L₁L₁ᵀ + εI with L₁ the lower triangle of ones and ε = 1.49·10⁻⁵.
        :meth:`fit` starts elsewhere unless ``start="current"``."""
        p, r = self.ntraits, self._cov.C0.max_rank
        g_norm = max(float(G.min()), float(G.max())) if G.size else 0.0
        if self._proj.k and g_norm != 0:
            self._cov.C0.L = np.ones((p, r)) / g_norm  # type: ignore[attr-defined]
        L1 = np.tril(np.ones((p, p)))
        C1 = L1 @ L1.T + GLIMIX_EPSILON * np.eye(p)
        try:
            self._cov.C1.set_value(C1, name="C1")
        except ValueError:  # a trait of large scale: its C₁ floor is above glimix-core's ε
            floor = np.asarray(getattr(self._cov.C1, "floor", 0.0), dtype=float)
            self._cov.C1.set_value(C1 + np.diag(np.broadcast_to(floor, (p,))), name="C1")

    @property
    def name(self) -> str | None:
        """A label for the model (glimix-core's attribute; default ``"Kron2Sum"``)."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value

    def _check_grad(self, step: float = 1.49e-08) -> float:
        """glimix-core's gradient check: ``Σ_θ ‖Δ_θ − ∂lml/∂θ‖`` over the free parameters,
        with ``Δ`` central differences of :meth:`lml` (absolute step ``step``); close to 0
        when the gradient is right. :func:`kronlmm.testing.check_gradient` takes the model
        too."""
        return finite_difference_gap(self._cov, self.lml, self.gradient, step)

    # ---- glimix-core compatible surface -----------------------------------------------
    @property
    def C0(self) -> NDArray[np.float64]:
        """C₀ (p × p), the genetic trait covariance. The parameter object is ``cov.C0``."""
        return self._cov.C0.value()

    @property
    def C1(self) -> NDArray[np.float64]:
        """C₁ (p × p), the residual trait covariance. The parameter object is ``cov.C1``."""
        return self._cov.C1.value()

    @property
    def cov(self) -> Kron2SumCov:
        """The covariance ``K`` (structured; ``.value()`` only for small n·p)."""
        return self._cov

    @property
    def A(self) -> NDArray[np.float64]:
        """The trait design A (p × a), as given (``Iₚ`` when ``A`` was ``None``)."""
        return self._A

    @property
    def X(self) -> NDArray[np.float64]:
        """The covariates X (n × c), as given (``1ₙ`` when ``X`` was ``None``)."""
        return self._X

    @property
    def Y(self) -> NDArray[np.float64]:
        """The outcomes Y (n × p), one trait per column."""
        return self._Y

    @property
    def M(self) -> NDArray[np.float64]:
        """The mean design ``A ⊗ X`` (n·p × a·c), dense."""
        return np.asarray(np.kron(self._A, self._X), dtype=np.float64)

    @property
    def nsamples(self) -> int:
        """n, the number of samples (rows of Y)."""
        return int(self._Y.shape[0])

    @property
    def ntraits(self) -> int:
        """p, the number of traits (columns of Y)."""
        return int(self._Y.shape[1])

    @property
    def ncovariates(self) -> int:
        """c, the number of covariates (columns of X)."""
        return int(self._X.shape[1])

    @property
    def restricted(self) -> bool:
        """Whether :meth:`fit` and :meth:`lml` use REML (True) or ML (False)."""
        return self._restricted

    @property
    def rank(self) -> int:
        """Maximum rank of C₀."""
        return self._cov.rank

    @property
    def ml_projected(self) -> bool:
        """Whether the likelihood is that of the data projected onto span(U), because the
        one of all the data has no maximum (see :mod:`kronlmm.core.projections`; with
        missing values, the likelihood of the observed contrasts orthogonal to the null
        space of GGᵀ, :mod:`kronlmm.core.missing_likelihood`)."""
        return self._proj.perp_dropped or self._perp_restricted

    @property
    def projections(self) -> KronProjections:
        """The data projections the likelihood is evaluated on (internal units)."""
        return self._proj

    def _key(self) -> tuple[object, ...]:
        floor = getattr(self._cov.C1, "floor", None)
        return (self._cov.version, None if floor is None else np.asarray(floor).tobytes())

    def _evaluate(self, gradient: bool = False) -> LikelihoodTerms:
        key = self._key()
        t = self._terms
        if t is None or self._terms_key != key or (gradient and t.M0 is None):
            t = self._engine.evaluate(self._cov.C0.value(), self._cov.C1.value(), gradient)
            self._terms, self._terms_key = t, key
        return t

    def _evaluate_full(self) -> LikelihoodTerms:
        if self._full_engine is self._engine:
            return self._evaluate()
        key = self._key()
        if self._full_terms is None or self._full_key != key:
            self._full_terms = self._full_engine.evaluate(
                self._cov.C0.value(), self._cov.C1.value()
            )
            self._full_key = key
        return self._full_terms

    def lml(self) -> float:
        """Log-likelihood (ML) or restricted log-likelihood (REML) at the current C₀, C₁,
        with B at its GLS estimate."""
        return self._evaluate().lml

    def value(self) -> float:
        """Same as :meth:`lml` (glimix-core's name)."""
        return self.lml()

    def gradient(self) -> dict[str, NDArray[np.float64]]:
        """``∂lml/∂θ`` for every free covariance parameter θ, keyed by dotted name
        (e.g. ``"C0.Lu"``, ``"C1.Llow"``, ``"C1.Llogd"``)."""
        t = self._evaluate(gradient=True)
        assert t.M0 is not None and t.M1 is not None
        return self._cov.trait_gradient(t.M0, t.M1)

    @property
    def B(self) -> NDArray[np.float64]:
        """GLS estimate of B (c × a) at the current C₀, C₁ from all the data; the
        minimum-norm solution when A or X is rank deficient."""
        return self._evaluate_full().B

    @property
    def beta(self) -> NDArray[np.float64]:
        """``vec(B)`` (column-major, length c·a)."""
        return self.B.ravel(order="F")

    @property
    def beta_covariance(self) -> NDArray[np.float64]:
        """``Cov(β̂) = ((A⊗X)ᵀK⁻¹(A⊗X))⁻¹`` (its pseudo-inverse when A or X is rank
        deficient), c·a × c·a."""
        return self._evaluate_full().beta_covariance()

    def mean(self) -> NDArray[np.float64]:
        """``(A ⊗ X) vec(B)`` at the GLS estimate (length n·p, column-major)."""
        return (self._X @ self.B @ self._A.T).ravel(order="F")

    def covariance(self) -> NDArray[np.float64]:
        """Dense ``K`` (n·p × n·p); only for small n·p."""
        return self._cov.value()

    def get_fast_scanner(
        self, trait_names: list[str] | None = None
    ) -> KronFastScanner | KronObservedScanner:
        """Scanner with C₀, C₁ fixed at their current values.

        :class:`~kronlmm.scan.KronFastScanner`, or, when Y has missing values (and
        ``missing="observed"``), :class:`~kronlmm.scan.KronObservedScanner`, which tests on
        the observed values. ``trait_names`` (one per column of Y) name the per-trait
        effects of the scans (default ``trait0``, ``trait1``, …).
        """
        if trait_names is not None and len(trait_names) != self.ntraits:
            raise ValueError(
                f"trait_names has {len(trait_names)} names, expected {self.ntraits} "
                "(one per column of Y)"
            )
        names = None if trait_names is None else [str(t) for t in trait_names]
        scanner = KronObservedScanner if self._missing else KronFastScanner
        return scanner(
            self._Y,
            self._A,
            self._X,
            self._cov.svd,
            self.C0,
            self.C1,
            trait_names=names,
            trait_sd=self._proj.scaling.trait_sd,
        )

    # ---- starting values ---------------------------------------------------------------
    def _set_unit(self, C0u: NDArray[np.float64], C1u: NDArray[np.float64]) -> None:
        """Set C₀, C₁ from values in the internal units (as far as their models allow).

        C₁'s eigenvalues are raised to at least 1e-6 (internal units: trait variances) above
        its floor, so that a start is strictly inside the cone (a start exactly on the floor
        could not be represented by C₁'s factor).
        """
        C0, C1 = self._proj.scaling.from_unit(C0u, psd_floor(C1u, 1e-6))
        if self._cov.C0.nparams:
            self._cov.C0.set_value(C0, name="C0")
        if self._cov.C1.nparams:
            floor = np.diag(
                np.broadcast_to(np.asarray(getattr(self._cov.C1, "floor", 0.0)), (self.ntraits,))
            )
            self._cov.C1.set_value(C1 + floor, name="C1")

    def set_start(self, C0: ArrayLike | None = None, C1: ArrayLike | None = None) -> None:
        """Set C₀ (PSD, represented as closely as its model allows) and/or C₁ (must exceed
        the floor), e.g. as starting values for ``fit(start="current")``."""
        if C0 is not None:
            if self._proj.k == 0:
                if np.any(np.asarray(C0, dtype=float) != 0):
                    raise ValueError(
                        "C0 cannot be set: G has no non-zero singular value, so there is no "
                        "genetic term and C0 is 0 (fixed)"
                    )
            else:
                self._cov.C0.set_value(C0, name="C0")
        if C1 is not None:
            self._cov.C1.set_value(C1, name="C1")

    # ---- fitting ------------------------------------------------------------------------
    def fit(
        self,
        verbose: bool = True,
        *,
        start: Literal["moments", "current"] = "moments",
        restarts: int | None = None,
        maxiter: int = 2000,
        gtol: float = DEFAULT_GTOL,
    ) -> FitResult:
        """Maximise the (restricted) likelihood over C₀ and C₁ (B is profiled).

        The search runs over the parameters in the model's internal units (every trait
        of unit variance), by L-BFGS-B:

        1. the start: a method-of-moments estimate (``"moments"``) or the current values
           (``"current"``, set with :meth:`set_start`);
        2. ``restarts`` more starts that give the genetic term shares 1/(r+1), …, r/(r+1)
           of the residual covariance (default ``restarts=None``: none, or, for tiny data
           sets (n ≤ 50) of models of at most 60 free parameters, 3 plus four seeded
           random starts, as their likelihoods can have several local maxima); each
           costs about one more fit, with no n-sized work;
        3. the best optimum is polished by Newton steps where L-BFGS-B left its projected
           gradient above ``gtol``;
        4. from there, escapes from the boundary of the covariance cone: where
           C₀ (or C₁) is singular and the likelihood increases along a direction of its
           null space (a positive directional derivative, the case in which a factor
           parameterisation stalls at C₀ = 0), the search resumes from a point moved that
           way, as long as that improves the likelihood.

        Parameters
        ----------
        verbose : bool
            Print one summary line at the end.
        start : {"moments", "current"}
        restarts : int, optional
            Number of extra variance-share starts (see above).
        maxiter : int
            Iteration limit of each L-BFGS-B run.
        gtol : float
            Convergence tolerance: the fit is reported as converged when the norm of the
            projected gradient of ``−lml/(n·p)`` with respect to the scaled parameters is
            at most ``gtol`` at the returned point.

        Returns
        -------
        FitResult
            Also stored as ``fit_result``. A :class:`~kronlmm.lmm.FitWarning` says why when
            the fit did not converge.
        """
        t0 = time.perf_counter()
        if self._saturated:
            n, p = self._Y.shape
            raise ValueError(
                f"cannot fit: rank(A ⊗ X) ≥ n·p = {n * p}, so the mean fits Y exactly and the "
                "likelihood grows without bound as C0 and C1 shrink (it has no maximum); "
                "lml() can still be evaluated at given C0, C1 (set_start)"
            )
        if start not in ("moments", "current"):
            raise ValueError(f"start must be 'moments' or 'current', got {start!r}")
        if restarts is not None and restarts < 0:
            raise ValueError(f"restarts must be ≥ 0, got {restarts}")
        fitter = Kron2SumFitter(self)
        pr = self._proj
        flops = pr.k * pr.p * (pr.p + (pr.UX.shape[1] * pr.Aq.shape[1]) ** 2) + pr.p**3
        # (the observed-data engine's evaluations are made of many medium-sized products;
        # on the shared 2-core development machine several BLAS threads made a fit at
        # n = 300, m = 240 20 times slower, so its thread policy is the complete data's)
        with blas_limit(flops):
            self.fit_result = fitter.run(start=start, restarts=restarts, maxiter=maxiter, gtol=gtol)
        if not self.fit_result.success:
            warnings.warn(f"Kron2Sum fit: {self.fit_result}", FitWarning, stacklevel=2)
        if verbose:
            kind = "REML" if self._restricted else "ML"
            print(f"Kron2Sum ({kind}): {self.fit_result} [{time.perf_counter() - t0:.3g} s]")
        return self.fit_result

    def __repr__(self) -> str:
        n, p = self._Y.shape
        kind = "REML" if self._restricted else "ML"
        return (
            f"Kron2Sum(n={n}, p={p}, c={self.ncovariates}, a={self._A.shape[1]}, "
            f"k={self._proj.k}, C0={type(self._cov.C0).__name__}(rank ≤ {self.rank}), "
            f"C1={type(self._cov.C1).__name__}, {kind})"
        )


def _kinship_svd(K: ArrayLike) -> EconomicSVD:
    """``K = U diag(S2) Uᵀ`` of a symmetric PSD kinship (validated)."""
    K = as_matrix("K", K, allow_vector=False)
    n = K.shape[0]
    if K.shape != (n, n):
        raise ValueError(f"K must be square (n × n), got shape {K.shape}")
    scale = float(np.max(np.abs(K))) if K.size else 0.0
    if not np.allclose(K, K.T, rtol=0, atol=1e-8 * max(scale, 1e-300)):
        raise ValueError("K must be symmetric")
    w, V = np.linalg.eigh((K + K.T) / 2)
    top = float(w[-1]) if w.size else 0.0
    if w.size and w[0] < -1e-6 * max(top, 1e-300):
        raise ValueError(
            f"K must be positive semi-definite; its smallest eigenvalue is {w[0]:.3g} "
            f"(largest {top:.3g})"
        )
    keep = w > n * np.finfo(float).eps * max(top, 0.0)
    return EconomicSVD(np.ascontiguousarray(V[:, keep][:, ::-1]), w[keep][::-1].copy())


def _subset_rows(G: ArrayLike | EconomicSVD, rows: NDArray[np.intp]) -> ArrayLike | EconomicSVD:
    """The genetic factor of the samples ``rows`` (a decomposition is recomputed, since
    the rows of its U are no longer orthonormal)."""
    if isinstance(G, EconomicSVD):
        return economic_svd(np.asarray(G.U)[rows] * np.sqrt(np.asarray(G.S2))[None, :])
    return np.asarray(G, dtype=float)[rows]


def _warn_if_kinship(G: NDArray[np.float64]) -> None:
    """Warn when G looks like a kinship K (square, symmetric, PSD diagonal) rather than a
    factor: passing K as G fits K² instead of K."""
    n, r = G.shape
    if n != r or n < 3:
        return
    scale = float(np.max(np.abs(G)))
    if scale == 0 or not np.allclose(G, G.T, rtol=0, atol=1e-10 * scale):
        return
    if np.all(np.diag(G) >= 0):
        warnings.warn(
            "G is a symmetric n × n matrix: it is used as a factor (the model's genetic "
            "similarity is GGᵀ), so a kinship passed as G is squared. To use a kinship K "
            "itself, call Kron2Sum.from_kinship(Y, A, X, K, ...)",
            UserWarning,
            stacklevel=3,
        )
