"""Single-trait association scanner (FaST-LMM style) on a fitted LMM null."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.linalg import EconomicSVD
from ..core.validation import as_matrix, as_vector
from .block_scan import TestPlan
from .kernel import NullModel, fit_block, impute_block, rotate_block
from .kron_scanner import KronFastScanner, default_block_size
from .result import ScanResult

__all__ = ["FastScanner"]


class FastScanner:
    r"""Single-trait scans with the variance ratio fixed at the null.

    Null and alternative (scale s re-profiled in both, δ fixed)::

        H0: y ~ N(Xβ,          s·((1 − δ)K + δI))
        H1: y ~ N(Xβ + g·α,    s·((1 − δ)K + δI))

    y: n outcomes; X: n × c covariates; K = U diag(S2) Uᵀ (U: n × k); g: a candidate
    (n-vector) or a candidate set M (n × c₁). This is the p = 1 case of
    :class:`~kronlmm.scan.KronFastScanner` (C₀ = v₀ = s(1−δ), C₁ = v₁ = sδ), and shares
    its blocked kernel. Likelihoods are ML with the scale profiled.

    Two call forms, told apart by the type of the third argument:

    - kronlmm's ``FastScanner(y, X, U, S2, v0, v1)``: covariance ``v₀·U diag(S2) Uᵀ + v₁·I``;
    - glimix-core's ``FastScanner(y, X, QS, v)`` with ``QS = ((Q0, Q1), S0)`` or
      ``((Q0,), S0)`` as returned by :func:`numpy_sugar.linalg.economic_qs` (a tuple whose
      first item is a tuple of arrays): covariance ``Q0 diag(S0) Q0ᵀ + v·I``, i.e.
      ``U = Q0``, ``S2 = S0``, ``v₀ = 1``, ``v₁ = v``. Unlike glimix-core, a tiny ``v``
      (≤ 1.49·10⁻⁸) is used as given, not set to 0.

    The covariance must be non-singular (v₁ > 0, or K of full rank n); a singular one
    raises ValueError (glimix-core then works with a pseudo-inverse and reports
    likelihoods of a density that does not exist).

    Parameters
    ----------
    y : array_like (n,)
    X : array_like (n, c)
    U : array_like (n, k), or glimix-core's QS
        Orthonormal eigenvectors of K with non-zero eigenvalues ``S2``.
    S2 : array_like (k,), or glimix-core's v (float)
    v0, v1 : float
        Fixed variance components (≥ 0; only in kronlmm's form).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import LMM
    >>> rng = np.random.default_rng(0)
    >>> n = 200
    >>> G = rng.standard_normal((n, 30)) / np.sqrt(30)
    >>> dosages = rng.binomial(2, 0.3, size=(n, 40)).astype(float)
    >>> y = G @ rng.standard_normal(30) + rng.standard_normal(n) + dosages[:, 3]
    >>> lmm = LMM.from_G(y, np.ones((n, 1)), G)
    >>> result = lmm.fit(verbose=False)
    >>> scanner = lmm.get_fast_scanner()
    >>> bool(np.isclose(scanner.null_lml(), lmm.lml()))  # ML null: the model's likelihood
    True
    >>> result = scanner.scan_variants(dosages)
    >>> int(np.argmin(result.p_value)), result.trait_names
    (3, ['y'])

    glimix-core's form gives the same scanner:

    >>> from numpy_sugar.linalg import economic_qs_linear
    >>> QS = economic_qs_linear(G)
    >>> glimix_form = FastScanner(y, np.ones((n, 1)), ((QS[0][0],), lmm.v0 * QS[1]), lmm.v1)
    >>> bool(np.isclose(glimix_form.null_lml(), scanner.null_lml()))
    True
    """

    def __init__(
        self,
        y: ArrayLike,
        X: ArrayLike,
        U: ArrayLike | tuple[Any, Any],
        S2: ArrayLike | float,
        v0: float | None = None,
        v1: float | None = None,
    ) -> None:
        y = as_vector("y", y)
        n = y.size
        X = as_matrix("X", X, nrows=n)
        if _is_qs(U):
            if v0 is not None or v1 is not None:
                raise ValueError(
                    "FastScanner takes (y, X, QS, v) (glimix-core's form) or (y, X, U, S2, v0, "
                    "v1); got QS together with v0/v1"
                )
            v = np.asarray(S2, dtype=float)
            if v.ndim != 0:
                raise ValueError(
                    f"v (the variance of the identity term) must be a number, got shape {v.shape}"
                )
            Q0 = U[0][0]  # type: ignore[index]
            U, S2, v0, v1 = Q0, U[1], 1.0, float(v)  # type: ignore[index]
        elif v0 is None or v1 is None:
            raise ValueError(
                "FastScanner takes (y, X, U, S2, v0, v1), or glimix-core's (y, X, QS, v) with "
                "QS = ((Q0, Q1), S0); v0 and v1 are missing"
            )
        U = as_matrix("U", U, nrows=n)
        S2 = as_vector("S2", S2, size=U.shape[1])
        if not (np.isfinite(v0) and v0 >= 0):
            raise ValueError(f"v0 must be finite and ≥ 0, got {v0!r}")
        if not (np.isfinite(v1) and v1 >= 0):
            raise ValueError(f"v1 (glimix-core's v) must be finite and ≥ 0, got {v1!r}")
        if v0 + v1 <= 0:
            raise ValueError("v0 + v1 must be > 0: the covariance would be zero")
        self._kron = KronFastScanner(
            y[:, None], np.ones((1, 1)), X, EconomicSVD(U, S2), [[v0]], [[v1]],
            trait_names=["y"],
        )  # fmt: skip

    @classmethod
    def from_lmm(cls, lmm: Any) -> FastScanner:
        """Scanner at the current δ of a :class:`~kronlmm.lmm.LMM`."""
        t = lmm.null_terms()
        return cls(t["y"], t["X"], t["U"], t["S2"], t["v0"], t["v1"])

    def null_lml(self) -> float:
        """ML log-likelihood of the null with the scale profiled."""
        return self._kron.null_lml()

    @property
    def null_scale(self) -> float:
        """Profiled scale s of the null (1 after an ML fit of the same model)."""
        return self._kron.null_scale

    @property
    def null_beta(self) -> NDArray[np.float64]:
        """Covariate effects β of the null (length c), GLS estimate at v₀, v₁."""
        return self._kron.null_beta

    @property
    def null_beta_covariance(self) -> NDArray[np.float64]:
        """``s · (Xᵀ K⁻¹ X)⁻¹``: covariance of ``null_beta`` (c × c)."""
        return self._kron.null_beta_covariance

    @property
    def null_beta_se(self) -> NDArray[np.float64]:
        """Standard errors of ``null_beta``: the square roots of the diagonal of
        ``null_beta_covariance``."""
        return self._kron.null_beta_se

    @property
    def null(self) -> NullModel:
        """The fixed null terms (what :func:`~kronlmm.scan.scan_block` needs)."""
        return self._kron.null

    def plan(self, statistic: str = "F") -> TestPlan:
        """The :class:`~kronlmm.scan.TestPlan` of a single-trait scan (1 dof, effect "y"),
        p-values from ``statistic`` (``"F"`` or ``"chi2"``)."""
        return self._kron.plan("any", statistic=statistic)

    def scan(self, M: ArrayLike, *, statistic: str = "F") -> dict[str, Any]:
        """Test one candidate set M (n × c₁); glimix-core's keys (``lml``, ``effsizes0``,
        ``effsizes0_se``, ``effsizes1``, ``effsizes1_se``, ``scale``) plus ``chi2``,
        ``dof``, ``F``, ``df1``, ``df2``, ``statistic``, ``p_value``,
        ``neg_log10_p_value``, ``reason``. With ``statistic="F"`` (default) the p-value is
        the exact ``P(F(df1, n − c − df1) > F)`` (df1 = rank M, c = rank X); with
        ``"chi2"``, ``P(χ²_dof > chi2)``."""
        out = self._kron.scan(np.ones((1, 1)), M, statistic=statistic)
        for key in ("effsizes0", "effsizes0_se", "effsizes1", "effsizes1_se"):
            out[key] = out[key][:, 0]
        return out

    def fast_scan(self, G: ArrayLike, verbose: bool = False) -> dict[str, Any]:
        """Test every column of G (n × m) separately; glimix-core's result.

        Returns
        -------
        dict
            glimix-core's keys: ``lml`` (m,), ``effsizes0`` (m, c) and ``effsizes0_se``
            (m, c) — the covariate effects under each alternative and their standard
            errors —, ``effsizes1`` (m,), ``effsizes1_se`` (m,) and ``scale`` (m,); plus
            kronlmm's ``reason`` (m,): "" for tested candidates, else why the row is NaN
            (constant, collinear with the covariates, all values missing), where glimix-core
            reports numbers for effects that are not identifiable. Missing values (NaN) are
            mean-imputed as in :meth:`scan_variants`, which this calls, plus one more pass
            over G for the covariate effects.
        """
        r = self.scan_variants(G, progress=verbose)
        eff0, se0 = self._covariate_effects(np.asarray(G, dtype=float), r.reason, r.scale)
        return {
            "lml": r.lml_alt,
            "effsizes0": eff0,
            "effsizes0_se": se0,
            "effsizes1": r.beta[:, 0],
            "effsizes1_se": r.se[:, 0],
            "scale": r.scale,
            "reason": r.reason,
        }

    def _covariate_effects(
        self, G: NDArray[np.float64], reason: NDArray[np.object_], scale: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Covariate effects β̂₀ (m × c) of each single-column alternative and their
        standard errors ``√(s·diag(T (H₀₀⁻¹ + X₀₁ S⁻¹ X₀₁ᵀ) Tᵀ))`` (NaN rows where untested)."""
        null = self._kron.null
        if G.ndim == 1:
            G = G[:, None]
        m = G.shape[1]
        c = null.Vx.shape[0]
        eff0 = np.full((m, c), np.nan)
        se0 = np.full((m, c), np.nan)
        ok = np.flatnonzero(reason == "")
        if ok.size == 0:
            return eff0, se0
        T0 = np.kron(null.Va0, null.Vx)
        H00_inv = null.H00.inverse()
        bs = default_block_size(null.n, null.U.shape[1], null.p)
        for start in range(0, ok.size, bs):
            idx = ok[start : start + bs]
            Gi = impute_block(G[:, idx])[0]
            fit = fit_block(null, rotate_block(null, Gi), np.ones((1, 1)))
            eff0[idx] = (fit.beta0 + null.beta_offset[None, :]) @ T0.T
            cov0 = H00_inv[None] + np.matmul(fit.X01 @ fit.S_inv, fit.X01.transpose(0, 2, 1))
            var0 = np.einsum("ab,jbc,ac->ja", T0, cov0, T0)
            se0[idx] = np.sqrt(np.maximum(scale[idx, None] * var0, 0.0))
        return eff0, se0

    def scan_variants(
        self,
        G: ArrayLike,
        *,
        ids: ArrayLike | None = None,
        block_size: int | None = None,
        progress: bool | Callable[[int, int], None] = False,
        statistic: str = "F",
    ) -> ScanResult:
        """Test every column of ``G`` (n × m), blocked; see
        :meth:`KronFastScanner.scan_variants` (1 degree of freedom each). ``statistic``:
        ``"F"`` (default; exact at the fixed δ: ``F(1, n − c − 1)``, c = rank X) or
        ``"chi2"``."""
        return self._kron.scan_variants(
            G, "any", ids=ids, block_size=block_size, progress=progress, statistic=statistic
        )


def _is_qs(obj: object) -> bool:
    """Whether ``obj`` is glimix-core's ``((Q0, Q1), S0)`` or ``((Q0,), S0)``."""
    return isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], (tuple, list))
