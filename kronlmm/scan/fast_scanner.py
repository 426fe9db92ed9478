"""Single-trait association scanner (FaST-LMM style) on a fitted LMM null."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.linalg import EconomicSVD
from ..core.validation import as_matrix, as_vector
from .block_scan import TestPlan
from .kernel import NullModel
from .kron_scanner import KronFastScanner
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

    Parameters
    ----------
    y : array_like (n,)
    X : array_like (n, c)
    U : array_like (n, k)
        Orthonormal eigenvectors of K with non-zero eigenvalues ``S2``.
    S2 : array_like (k,)
    v0, v1 : float
        Fixed variance components (``v1 > 0``).

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
    """

    def __init__(
        self,
        y: ArrayLike,
        X: ArrayLike,
        U: ArrayLike,
        S2: ArrayLike,
        v0: float,
        v1: float,
    ) -> None:
        y = as_vector("y", y)
        n = y.size
        X = as_matrix("X", X, nrows=n)
        U = as_matrix("U", U, nrows=n)
        S2 = as_vector("S2", S2, size=U.shape[1])
        if not (np.isfinite(v0) and v0 >= 0):
            raise ValueError(f"v0 must be finite and ≥ 0, got {v0!r}")
        if not (np.isfinite(v1) and v1 >= 0):
            raise ValueError(f"v1 must be finite and ≥ 0, got {v1!r}")
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

    def plan(self) -> TestPlan:
        """The :class:`~kronlmm.scan.TestPlan` of a single-trait scan (1 dof, effect "y")."""
        return self._kron.plan("any")

    def scan(self, M: ArrayLike) -> dict:
        """Test one candidate set M (n × c₁); glimix-core's keys (``lml``, ``effsizes0``,
        ``effsizes0_se``, ``effsizes1``, ``effsizes1_se``, ``scale``) plus ``chi2``,
        ``dof``, ``p_value``, ``neg_log10_p_value``, ``reason``."""
        out = self._kron.scan(np.ones((1, 1)), M)
        for key in ("effsizes0", "effsizes0_se", "effsizes1", "effsizes1_se"):
            out[key] = out[key][:, 0]
        return out

    def fast_scan(self, G: ArrayLike, verbose: bool = False) -> dict:
        """Test every column of G separately; arrays keyed like glimix-core's
        (``lml``, ``effsizes1``, ``effsizes1_se``, ``scale``)."""
        r = self.scan_variants(G, progress=verbose)
        return {"lml": r.lml_alt, "effsizes1": r.beta[:, 0], "effsizes1_se": r.se[:, 0],
                "scale": r.scale}  # fmt: skip

    def scan_variants(
        self,
        G: ArrayLike,
        *,
        ids: ArrayLike | None = None,
        block_size: int | None = None,
        progress: bool | Callable[[int, int], None] = False,
    ) -> ScanResult:
        """Test every column of ``G`` (n × m), blocked; see
        :meth:`KronFastScanner.scan_variants` (1 degree of freedom each)."""
        return self._kron.scan_variants(G, "any", ids=ids, block_size=block_size, progress=progress)
