"""Multi-trait linear mixed model with a Kronecker-sum covariance (ML and REML)."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike, NDArray

from ..core.likelihood import KronLmlTerms, kron_lml
from ..core.linalg import EconomicSVD
from ..core.numerics import no_variance_left
from ..core.optimize import FitResult, maximize_lbfgsb, projected_gradient_norm
from ..core.projections import KronProjections
from ..core.validation import as_matrix, check_positive_int
from ..core.warnings import FitWarning
from ..cov.kron2sum import Kron2SumCov
from ..scan import KronFastScanner
from .starts import moment_start, ols_residual_moments, share_start

__all__ = ["Kron2Sum"]


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
    C₀            p × p      genetic trait covariance, ``L₀L₀ᵀ`` with L₀: p × rank
    C₁            p × p      residual trait covariance, ``L₁L₁ᵀ + f·Iₚ``, positive definite
    ============  =========  ===============================================================

    Fitting maximises, with B profiled (``β̂`` the GLS estimate, ``r = y − (A⊗X)β̂``,
    N = n·p, m = rank(A ⊗ X) = rank(A)·rank(X)):

    - ML:   ``−½[N log 2π + log|K| + rᵀK⁻¹r]``;
    - REML: ``−½[(N − m) log 2π − log|MᵀM|₊ + log|K| + log|MᵀK⁻¹M|₊ + rᵀK⁻¹r]``,
      ``M = A ⊗ X`` and ``|·|₊`` the product of non-zero eigenvalues — the constant used by
      GEMMA and glimix-core, so values compare directly (for A = Iₚ, ``log|MᵀM| =
      p·log|XᵀX|``).

    Each evaluation works in whitened coordinates (Casale et al. 2015): with
    ``GGᵀ = U diag(S2) Uᵀ`` computed once and ``Lh`` such that ``Lh C₁ Lhᵀ = I`` and
    ``Lh C₀ Lhᵀ = diag(λ)``, K becomes ``diag(λ) ⊗ diag(S2, 0…) + I``. After a one-off
    set-up of O(n·k·(p + c)) (k = rank of G), one likelihood + gradient evaluation costs
    O(k·p·(p + c²a²)) and touches no n-sized array; no n × n array is ever formed when
    r < n.

    G is used as given: it is never rescaled. An all-zero G or r = 0 means "no genetic
    term" (C₀ is then 0 and fixed). ``f`` (``C1.floor``) is ``c1_floor`` times the average
    variance of the traits after regressing out X, so the positivity floor of C₁ follows
    the units of Y.

    Parameters
    ----------
    Y : array_like, shape (n, p)
    A : array_like, shape (p, a), optional
        Trait design; ``None`` means ``Iₚ``.
    X : array_like, shape (n, c), optional
        Covariates; ``None`` means an intercept column ``1ₙ``.
    G : array_like, shape (n, r), or EconomicSVD
        The genetic factor, or its decomposition ``GGᵀ = U diag(S2) Uᵀ`` if known already
        (``kronlmm.core.EconomicSVD``; skips the SVD).
    rank : int, optional
        Maximum rank of C₀ (1 ≤ rank ≤ p). Default 1.
    restricted : bool, optional
        REML instead of ML. Default False.
    c1_floor : float, optional
        Relative floor f of C₁ (see above). Default 1e-8.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum
    >>> rng = np.random.default_rng(0)
    >>> n, p = 200, 3
    >>> G = rng.standard_normal((n, 50)) / np.sqrt(50)
    >>> Y = G @ rng.standard_normal((50, p)) + rng.standard_normal((n, p))
    >>> model = Kron2Sum(Y, np.eye(p), np.ones((n, 1)), G, rank=1)
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
        c1_floor: float = 1e-8,
    ) -> None:
        Y = as_matrix("Y", Y)
        n, p = Y.shape
        if n < 2:
            raise ValueError(f"Y must have at least 2 samples (rows), got shape {Y.shape}")
        A = np.eye(p) if A is None else as_matrix("A", A, nrows=p)
        X = np.ones((n, 1)) if X is None else as_matrix("X", X, nrows=n)
        if G is None:
            raise ValueError("G is required (use np.zeros((n, 0)) for no genetic term)")
        if isinstance(G, EconomicSVD):
            if np.shape(G.U)[0] != n:
                raise ValueError(f"G.U has shape {np.shape(G.U)}, expected ({n}, k)")
        else:
            G = as_matrix("G", G, nrows=n)
        rank = check_positive_int("rank", rank)
        if rank > p:
            raise ValueError(f"rank must be ≤ p = {p} (the number of traits), got {rank}")
        self._Y, self._A, self._X = Y, A, X
        self._restricted = bool(restricted)
        self._cov = Kron2SumCov(G, p, rank)
        self._proj = KronProjections.build(Y, A, X, self._cov.svd.U, self._cov.svd.S2)
        if self._proj.rank_M == 0:
            raise ValueError("the mean design A ⊗ X has rank 0 (A or X is all zeros)")
        if self._proj.rank_M >= n * p:
            raise ValueError(
                f"rank(A ⊗ X) = {self._proj.rank_M} ≥ n·p = {n * p}: no residual degrees of freedom"
            )
        _, _, total = ols_residual_moments(self._proj)
        tvar = np.diag(total)
        bad = no_variance_left(tvar, np.mean(Y * Y, axis=0)).tolist()
        if bad:
            raise ValueError(
                f"trait column(s) {bad} of Y have no variance left after regressing out X; "
                "drop them or remove the covariates that explain them exactly"
            )
        self._trait_sd = np.sqrt(tvar)
        self._cov.C1.floor = float(c1_floor) * float(np.mean(tvar))
        self._terms: KronLmlTerms | None = None
        self._terms_key: tuple | None = None
        self.fit_result: FitResult | None = None
        C0, C1 = moment_start(self._proj, rank)
        self._set_C(C0, C1)

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
        return np.kron(self._A, self._X)

    @property
    def nsamples(self) -> int:
        """n, the number of samples (rows of Y)."""
        return self._Y.shape[0]

    @property
    def ntraits(self) -> int:
        """p, the number of traits (columns of Y)."""
        return self._Y.shape[1]

    @property
    def ncovariates(self) -> int:
        """c, the number of covariates (columns of X)."""
        return self._X.shape[1]

    @property
    def restricted(self) -> bool:
        """Whether :meth:`fit` and :meth:`lml` use REML (True) or ML (False)."""
        return self._restricted

    @property
    def rank(self) -> int:
        """Maximum rank of C₀ (the ``rank`` argument)."""
        return self._cov.rank

    def _evaluate(self, gradient: bool = False) -> KronLmlTerms:
        key = (self._cov.version, self._cov.C1.floor)
        t = self._terms
        if t is None or self._terms_key != key or (gradient and t.M0 is None):
            t = kron_lml(self._proj, self._cov.whitened(), self._restricted, gradient)
            self._terms, self._terms_key = t, key
        return t

    def lml(self) -> float:
        """Log-likelihood (ML) or restricted log-likelihood (REML) at the current C₀, C₁,
        with B at its GLS estimate."""
        return self._evaluate().lml

    def value(self) -> float:
        """Same as :meth:`lml` (glimix-core's name)."""
        return self.lml()

    def gradient(self) -> dict[str, NDArray[np.float64]]:
        """``∂lml/∂θ`` for every free covariance parameter θ, keyed by dotted name
        (``"C0.Lu"``, ``"C1.Llow"``, ``"C1.Llogd"``)."""
        t = self._evaluate(gradient=True)
        assert t.M0 is not None and t.M1 is not None
        return self._cov.trait_gradient(t.M0, t.M1)

    @property
    def B(self) -> NDArray[np.float64]:
        """GLS estimate of B (c × a) at the current C₀, C₁; the minimum-norm solution
        when A or X is rank deficient."""
        t = self._evaluate()
        return self._proj.Vx @ (t.Br + self._proj.B_off) @ self._proj.Va.T

    @property
    def beta(self) -> NDArray[np.float64]:
        """``vec(B)`` (column-major, length c·a)."""
        return self.B.ravel(order="F")

    @property
    def beta_covariance(self) -> NDArray[np.float64]:
        """``Cov(β̂) = T (MᵣᵀK⁻¹Mᵣ)⁻¹ Tᵀ`` with ``T = Va ⊗ Vx`` (the inverse of
        ``(A⊗X)ᵀK⁻¹(A⊗X)`` when A and X have full column rank, its pseudo-inverse
        otherwise)."""
        t = self._evaluate()
        m = t.H_chol[0].shape[0]
        Hinv = sla.cho_solve(t.H_chol, np.eye(m), check_finite=False)
        T = np.kron(self._proj.Va, self._proj.Vx)
        return T @ Hinv @ T.T

    def mean(self) -> NDArray[np.float64]:
        """``(A ⊗ X) vec(B)`` at the GLS estimate (length n·p, column-major)."""
        return (self._X @ self.B @ self._A.T).ravel(order="F")

    def covariance(self) -> NDArray[np.float64]:
        """Dense ``K`` (n·p × n·p); only for small n·p."""
        return self._cov.value()

    def get_fast_scanner(self, trait_names: list[str] | None = None):  # noqa: ANN201
        """:class:`~kronlmm.scan.KronFastScanner` with C₀, C₁ fixed at their current values.

        ``trait_names`` (one per column of Y) name the per-trait effects of the scans
        (default ``trait0``, ``trait1``, …).
        """
        return KronFastScanner.from_model(self, trait_names=trait_names)

    # ---- starting values ---------------------------------------------------------------
    def _set_C(self, C0: NDArray[np.float64], C1: NDArray[np.float64]) -> None:
        if not self._cov.C0.parameters()["Lu"].fixed:
            self._cov.C0.set_value(C0)
        self._cov.C1.set_value(C1)

    def set_start(self, C0: ArrayLike | None = None, C1: ArrayLike | None = None) -> None:
        """Set C₀ (PSD, truncated to ``rank``) and/or C₁ (must exceed the floor), e.g. as
        starting values for ``fit(start="current")``."""
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
    def _flat_scaling(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Affine map flat = shift + scale·z putting every trait on unit scale."""
        d = self._trait_sd
        p, rank = self.ntraits, self.rank
        rows = np.tril_indices(p, -1)[0]
        per = {
            "C0.Lu": (np.repeat(d, rank), np.zeros(p * rank)),
            "C1.Llow": (d[rows], np.zeros(rows.size)),
            "C1.Llogd": (np.ones(p), np.log(d)),
        }
        free = self._cov.free_parameters()
        scale = np.concatenate([per[k][0] for k in free]) if free else np.empty(0)
        shift = np.concatenate([per[k][1] for k in free]) if free else np.empty(0)
        return scale, shift

    def _flat_bounds(self) -> list[tuple[float, float]]:
        bounds = []
        logd = np.log(self._trait_sd)
        for name, par in self._cov.free_parameters().items():
            if name == "C1.Llogd":
                bounds.extend(zip((logd - 20).tolist(), (logd + 20).tolist(), strict=True))
            else:
                bounds.extend([(-np.inf, np.inf)] * par.size)
        return bounds

    def _value_and_flat_gradient(self, x: NDArray[np.float64]) -> tuple[float, NDArray]:
        self._cov.set_flat(x)
        t = self._evaluate(gradient=True)
        grad = self._cov.trait_gradient(t.M0, t.M1)
        free = self._cov.free_parameters()
        g = np.concatenate([grad[k] for k in free]) if free else np.empty(0)
        return t.lml, g

    def fit(
        self,
        verbose: bool = True,
        *,
        start: Literal["moments", "current"] = "moments",
        restarts: int = 0,
        maxiter: int = 2000,
        ftol: float = 1e-13,
        gtol: float = 1e-8,
    ) -> FitResult:
        """Maximise the (restricted) likelihood over C₀ and C₁ (B is profiled).

        Parameters
        ----------
        verbose : bool
            Print one summary line at the end.
        start : {"moments", "current"}
            ``"moments"``: method-of-moments estimates (see ``_kron_init.moment_start``);
            ``"current"``: the current C₀, C₁ (set them with :meth:`set_start`).
        restarts : int
            Extra starts that give the genetic term evenly spaced shares (e.g. 1/3 and 2/3
            for ``restarts=2``) of the residual covariance; the best optimum is kept. Each
            costs about one more fit (no n-sized work). Default 0: the moment start is a
            consistent estimate, and the tests compare it with brute-force multi-start
            optima.
        maxiter, ftol, gtol : L-BFGS-B's limits, applied to ``−lml/(n·p)`` over parameters
            rescaled to unit trait variance.

        Returns
        -------
        FitResult
            Also stored as ``fit_result``. A :class:`~kronlmm.lmm.warnings.FitWarning` is
            issued when the best run did not converge.
        """
        if restarts < 0:
            raise ValueError(f"restarts must be ≥ 0, got {restarts}")
        free = self._cov.free_parameters()
        if not free:
            lml = self.lml()
            self.fit_result = FitResult(True, "no free parameters", 0, 1, lml, 0.0, [lml])
            return self.fit_result
        starts: list[NDArray[np.float64]] = []
        if start == "current":
            starts.append(self._cov.get_flat())
        elif start == "moments":
            self._set_C(*moment_start(self._proj, self.rank))
            starts.append(self._cov.get_flat())
        else:
            raise ValueError(f"start must be 'moments' or 'current', got {start!r}")
        for h in np.linspace(0, 1, restarts + 2)[1:-1]:
            self._set_C(*share_start(self._proj, self.rank, float(h)))
            starts.append(self._cov.get_flat())

        scale, shift = self._flat_scaling()
        bounds = self._flat_bounds()
        best: tuple[float, NDArray[np.float64], object] | None = None
        finals: list[float] = []
        for x0 in starts:
            x0 = np.clip(x0, [b[0] for b in bounds], [b[1] for b in bounds])
            x, res = maximize_lbfgsb(
                self._value_and_flat_gradient,
                x0,
                bounds,
                scale=scale,
                shift=shift,
                normaliser=float(self.nsamples * self.ntraits),
                maxiter=maxiter,
                ftol=ftol,
                gtol=gtol,
            )
            lml, _ = self._value_and_flat_gradient(x)
            finals.append(lml)
            if best is None or lml > best[0]:
                best = (lml, x, res)
        assert best is not None
        lml, g = self._value_and_flat_gradient(best[1])
        res = best[2]
        gnorm = projected_gradient_norm(best[1], g, bounds)
        self.fit_result = FitResult(
            success=bool(res.success),  # type: ignore[attr-defined]
            message=str(res.message),  # type: ignore[attr-defined]
            niter=int(res.nit),  # type: ignore[attr-defined]
            nfev=int(res.nfev),  # type: ignore[attr-defined]
            lml=lml,
            grad_norm=gnorm,
            starts=finals,
        )
        if not self.fit_result.success:
            warnings.warn(f"Kron2Sum fit: {self.fit_result}", FitWarning, stacklevel=2)
        if verbose:
            print(f"Kron2Sum ({'REML' if self._restricted else 'ML'}): {self.fit_result}")
        return self.fit_result

    def __repr__(self) -> str:
        n, p = self._Y.shape
        kind = "REML" if self._restricted else "ML"
        return (
            f"Kron2Sum(n={n}, p={p}, c={self.ncovariates}, a={self._A.shape[1]}, "
            f"r={self._cov.G.shape[1]} (k={self._proj.k}), rank={self.rank}, {kind})"
        )
