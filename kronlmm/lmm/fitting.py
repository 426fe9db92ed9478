"""The fitting strategy of :class:`~kronlmm.lmm.Kron2Sum`: scaled parameters, several
starts, Newton polish and escapes from the boundary of the covariance cone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..core.optimize import (
    FitResult,
    minimize_lbfgsb,
    newton_polish,
    projected_gradient,
)
from .starts import moment_start, random_starts, share_start

if TYPE_CHECKING:
    from .kron2sum import Kron2Sum

__all__ = ["Kron2SumFitter"]

#: Eigenvalues of C₀ or C₁ (internal units: traits of unit variance) below this count as
#: the boundary of the covariance cone when looking for an escape direction.
BOUNDARY_EIG = 1e-3
#: An escape is tried when the directional derivative of lml/(n·p) along the best null-space
#: direction exceeds this.
ESCAPE_SLOPE = 1e-7
#: Step sizes tried along an escape direction (internal units).
ESCAPE_STEPS = (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
MAX_ESCAPES = 4
#: L-BFGS-B iterations between checks for a boundary optimum (see Kron2SumFitter.snap).
ROUND_ITER = 150
#: By default a fit has a moment start only (SHARE_STARTS variance-share starts: none).
#: Tiny data sets (at most TINY_N samples; their likelihoods have several local maxima in
#: the 500-problem sweep of tests/test_fit_sweep.py, larger ones had none: the sweep gives
#: 99.8 % with and without a variance-share start for them) of small models (at most
#: SMALL_NPARAMS free parameters) get TINY_SHARE_STARTS variance-share starts and
#: RANDOM_STARTS seeded random starts.
SMALL_NPARAMS = 60
TINY_N = 50
RANDOM_STARTS = 4
SHARE_STARTS = 0
TINY_SHARE_STARTS = 3
#: L-BFGS-B's stopping rules: relative reduction of −lml/(n·p) per iteration (SciPy's
#: ``ftol``) and largest projected gradient component (``gtol``), in scaled parameters. Tight
#: enough that fits usually end with a projected gradient norm of 1e-9–1e-8 (parameters to
#: ~1e-7 relative) at a few more iterations, which is far cheaper than a Newton polish. A
#: ``gtol`` below ~1e-8 is not reachable in floating point for most problems: L-BFGS-B then
#: spent 3–10 more evaluations in line searches at rounding level before its ``ftol`` ended
#: the run at the same point.
LBFGS_FTOL = 1e-15
LBFGS_GTOL = 1e-8
#: The best point is Newton-polished (to this projected gradient) only where L-BFGS-B left
#: a projected gradient of −lml/(n·p) above the fit's ``gtol`` (scaled parameters). Below
#: ``gtol`` the polish would change lml by about (n·p)·gtol² or less and costs
#: 2·(free parameters) gradient evaluations per Newton step.
POLISH_GTOL = 1e-12


class Kron2SumFitter:
    """One fit of a Kron2Sum model (see :meth:`Kron2Sum.fit` for the strategy).

    The optimiser works on ``z``, the free covariance parameters in the model's internal
    units: ``θ = shift + scale·z`` with ``(scale, shift)`` from the trait covariance
    objects' ``unit_scaling``, and minimises ``−lml/(n·p)``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.lmm import Kron2Sum
    >>> from kronlmm.lmm.fitting import Kron2SumFitter
    >>> rng = np.random.default_rng(0)
    >>> G = rng.normal(size=(40, 8))
    >>> model = Kron2Sum(rng.normal(size=(40, 2)), None, None, G)
    >>> Kron2SumFitter(model).run().success
    True
    """

    def __init__(self, model: Kron2Sum) -> None:
        self.model = model
        cov = model._cov
        sc = model._proj.scaling
        d = sc.trait_sd
        s0, h0 = cov.C0.unit_scaling(d / sc.genetic)
        s1, h1 = cov.C1.unit_scaling(d)
        self.scale = np.concatenate([s0, s1])
        self.shift = np.concatenate([h0, h1])
        ub = list(cov.C0.unit_bounds()) + list(cov.C1.unit_bounds())
        pb = cov.flat_bounds()
        bounds = []
        for (ulo, uhi), (plo, phi), s, h in zip(ub, pb, self.scale, self.shift, strict=True):
            lo = max(ulo, (plo - h) / s) if np.isfinite(plo) else ulo
            hi = min(uhi, (phi - h) / s) if np.isfinite(phi) else uhi
            bounds.append((lo, hi))
        self.bounds = bounds
        self.N = float(model._nobs)
        self.nfev = 0
        self.niter = 0
        self.gtol = 1e-6  # set by run()
        #: the scaled point last set and the parameter version it gave (see set_z)
        self._held: tuple[NDArray[np.float64], tuple[int, ...]] | None = None

    # ---- the objective -------------------------------------------------------------------
    def get_z(self) -> NDArray[np.float64]:
        """The current parameters, scaled."""
        out: NDArray[np.float64] = (self.model._cov.get_flat() - self.shift) / self.scale
        return out

    def set_z(self, z: NDArray[np.float64]) -> bool:
        """Set the parameters from scaled values; returns whether they changed.

        Setting the point the model already holds is skipped, so that its cached
        evaluation stays valid: a fit re-reads its end point several times (the
        likelihood, the projected gradient, the boundary checks).
        """
        cov = self.model._cov
        if (
            self._held is not None
            and self._held[1] == cov.version
            and np.array_equal(self._held[0], z)
        ):
            return False
        cov.set_flat(self.shift + self.scale * z)
        self._held = (np.array(z, dtype=float), cov.version)
        return True

    def objective(self, z: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        """``(−lml/N, gradient)`` at scaled parameters z (:attr:`nfev` counts the
        evaluations at new points)."""
        m = self.model
        try:
            moved = self.set_z(z)
        except ValueError:
            self.nfev += 1
            return np.inf, np.zeros_like(z)
        self.nfev += moved
        t = m._evaluate(gradient=True)
        if not np.isfinite(t.lml):
            return np.inf, np.zeros_like(z)
        assert t.M0 is not None and t.M1 is not None
        g = m._cov.flat_trait_gradient(t.M0, t.M1)
        return -t.lml / self.N, -(g * self.scale) / self.N

    def pgnorm(self, z: NDArray[np.float64]) -> float:
        """Norm of the projected gradient at z."""
        _, g = self.objective(z)
        return float(np.linalg.norm(projected_gradient(z, g, self.bounds)))

    # ---- starts ------------------------------------------------------------------------
    def starts(self, start: str, restarts: int | None) -> list[NDArray[np.float64]]:
        m = self.model
        out: list[NDArray[np.float64]] = []
        if start == "current":
            out.append(self.get_z())
        else:
            m._set_unit(*moment_start(m._proj))
            out.append(self.get_z())
        randoms = 0
        if restarts is None:
            small = m._cov.nparams <= SMALL_NPARAMS
            tiny = small and m.nsamples <= TINY_N
            restarts = TINY_SHARE_STARTS if tiny else SHARE_STARTS
            randoms = RANDOM_STARTS if tiny else 0
        for h in np.linspace(0, 1, restarts + 2)[1:-1]:
            m._set_unit(*share_start(m._proj, float(h)))
            out.append(self.get_z())
        for C0u, C1u in random_starts(m._proj, randoms):
            m._set_unit(C0u, C1u)
            out.append(self.get_z())
        lo = np.array([b[0] for b in self.bounds])
        hi = np.array([b[1] for b in self.bounds])
        return [np.clip(z, lo, hi) for z in out]

    def local(
        self, z0: NDArray[np.float64], maxiter: int, polish: bool = False
    ) -> tuple[NDArray[np.float64], float]:
        """L-BFGS-B from z0 in rounds of :data:`ROUND_ITER` iterations; after each round,
        nearly singular directions of C₀ or C₁ are snapped onto the boundary when that
        does not lower the likelihood (:meth:`snap`). Newton polish at the end if asked
        (the fit polishes only its best point). Returns (z, f)."""
        z = z0
        used = 0
        snaps = 0
        while True:
            budget = min(ROUND_ITER, maxiter - used)
            z, res = minimize_lbfgsb(
                self.objective,
                z,
                self.bounds,
                maxiter=max(budget, 1),
                ftol=LBFGS_FTOL,
                gtol=LBFGS_GTOL,
            )
            used += int(res.nit)
            self.niter += int(res.nit)
            f = float(res.fun)
            snapped = self.snap(z, f) if snaps < 3 else None
            if snapped is not None:
                snaps += 1
                z = snapped[0]
                if used < maxiter:
                    continue
            if res.success or used >= maxiter or res.nit == 0:
                break  # nit == 0: L-BFGS-B stopped where it started (an abnormal line search)
        f, _ = self.objective(z)
        return self.polish(z, f) if polish else (z, f)

    def polish(self, z: NDArray[np.float64], f: float) -> tuple[NDArray[np.float64], float]:
        """Newton polish of z (:func:`~kronlmm.core.optimize.newton_polish`) where its
        projected gradient exceeds the fit's tolerance; returns (z, f)."""
        if self.pgnorm(z) <= self.gtol:
            return z, f
        z, _ = newton_polish(self.objective, z, self.bounds, gtol=POLISH_GTOL)  # counted there
        f, _ = self.objective(z)
        return z, f

    def snap(self, z: NDArray[np.float64], f: float) -> tuple[NDArray[np.float64], float] | None:
        """Move nearly singular directions of C₀ and C₁ onto the boundary of the cone.

        A factor parameterisation approaches a singular covariance only asymptotically
        (the gradient vanishes with the factor), so an optimum on the boundary is reached
        slowly. Eigenvalues below :data:`BOUNDARY_EIG` (internal units) are set to zero
        (C₀) or to the floor (C₁); the result is kept if the objective is not worse.
        """
        m = self.model
        sc = m._proj.scaling
        self.set_z(z)
        C0u, C1u = sc.to_unit(m._cov.C0.value(), m._cov.C1.value())
        floor = getattr(m._cov.C1, "floor", 0.0)
        fu = np.broadcast_to(np.asarray(floor, dtype=float), (m.ntraits,)) / sc.trait_sd**2
        lo = np.array([b[0] for b in self.bounds])
        hi = np.array([b[1] for b in self.bounds])
        best: tuple[NDArray[np.float64], float] | None = None
        for which, Cu in (("C0", C0u), ("C1", C1u)):
            obj = m._cov.C0 if which == "C0" else m._cov.C1
            if obj.nparams == 0:
                continue
            w, V = np.linalg.eigh((Cu + Cu.T) / 2)
            base = float(np.max(fu)) * 1.5 if which == "C1" else 0.0
            small = (w < BOUNDARY_EIG) & (w > base + 1e-12)
            if not np.any(small):
                continue
            target = (np.max(fu) * (1 + 1e-6) + 1e-12) if which == "C1" else 0.0
            wn = np.where(small, target, w)
            new = (V * wn) @ V.T
            self.set_z(z)
            try:
                C0x, C1x = sc.from_unit(
                    new if which == "C0" else C0u, new if which == "C1" else C1u
                )
                obj.set_value(C0x if which == "C0" else C1x, name=which)
            except (ValueError, np.linalg.LinAlgError):
                continue
            zn = np.clip(self.get_z(), lo, hi)
            fn, _ = self.objective(zn)
            if np.isfinite(fn) and fn <= f + 1e-14 * max(1.0, abs(f)):
                if best is None or fn < best[1]:
                    best = (zn, fn)
        self.set_z(z)
        return best

    # ---- boundary escapes ----------------------------------------------------------------
    def escape(self, z: NDArray[np.float64], f: float) -> tuple[NDArray[np.float64], float] | None:
        """A better point moved off a singular C₀ or C₁ along an ascent direction of its null
        space, or None."""
        m = self.model
        self.set_z(z)
        t = m._evaluate(gradient=True)
        assert t.M0 is not None and t.M1 is not None
        sc = m._proj.scaling
        C0u, C1u = sc.to_unit(m._cov.C0.value(), m._cov.C1.value())
        # ∂lml/∂Cᵤ = D M D (·1/g² for C₀): the chain rule of C = D Cᵤ D (/g²)
        d, g2 = sc.trait_sd, sc.genetic**2
        outer = d[:, None] * d[None, :]
        M0u, M1u = t.M0 * outer / g2, t.M1 * outer
        best: tuple[NDArray[np.float64], float] | None = None
        for which, Cu, Mu in (("C0", C0u, M0u), ("C1", C1u, M1u)):
            obj = m._cov.C0 if which == "C0" else m._cov.C1
            if obj.nparams == 0:
                continue
            w, V = np.linalg.eigh((Cu + Cu.T) / 2)
            null = V[:, w <= BOUNDARY_EIG]
            if null.shape[1] == 0 or int(np.sum(w > BOUNDARY_EIG)) >= obj.max_rank:
                continue  # no null space, or none this covariance's rank could take up
            mu, E = np.linalg.eigh(null.T @ ((Mu + Mu.T) / 2) @ null)
            if mu[-1] / self.N <= ESCAPE_SLOPE:
                continue
            v = null @ E[:, -1]
            for step in ESCAPE_STEPS:
                self.set_z(z)
                new = Cu + step * np.outer(v, v)
                C0n, C1n = (new, C1u) if which == "C0" else (C0u, new)
                try:
                    C0x, C1x = sc.from_unit(C0n, C1n)
                    obj.set_value(C0x if which == "C0" else C1x, name=which)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                zn = np.clip(self.get_z(), [b[0] for b in self.bounds], [b[1] for b in self.bounds])
                fn, _ = self.objective(zn)
                if np.isfinite(fn) and fn < f - 1e-12 * max(1.0, abs(f)):
                    if best is None or fn < best[1]:
                        best = (zn, fn)
        self.set_z(z)
        return best

    # ---- the whole fit -------------------------------------------------------------------
    def run(
        self,
        start: str = "moments",
        restarts: int | None = None,
        maxiter: int = 2000,
        gtol: float = 1e-6,
    ) -> FitResult:
        """Fit and return the :class:`FitResult` (the model is left at the best point)."""
        m = self.model
        self.gtol = gtol
        if m._cov.nparams == 0:
            lml = m.lml()
            return FitResult(True, "no free parameters", 0, 1, lml, 0.0, [lml], gtol)
        finals: list[float] = []
        best: tuple[NDArray[np.float64], float] | None = None
        for z0 in self.starts(start, restarts):
            z, f = self.local(z0, maxiter)
            self.set_z(z)
            finals.append(m.lml())
            if best is None or f < best[1]:
                best = (z, f)
        assert best is not None
        z, f = best
        if self.pgnorm(z) > gtol:
            # L-BFGS-B afresh (new curvature memory), then the polish: a start that stopped
            # short of the tolerance (a crawl towards a boundary) often moves on
            z, f = self.local(z, maxiter, polish=True)
        escapes = 0
        while escapes < MAX_ESCAPES:
            moved = self.escape(z, f)
            if moved is None:
                break
            escapes += 1
            zn, fn = self.local(moved[0], maxiter, polish=True)
            if fn < f:
                z, f = zn, fn
            else:
                break
        gnorm = self.pgnorm(z)
        self.set_z(z)
        lml = m.lml()
        messages = []
        success = bool(np.isfinite(lml) and gnorm <= gtol)
        if not np.isfinite(lml):
            messages.append("the likelihood is not finite at the end point")
        elif gnorm > gtol:
            messages.append(
                f"the projected gradient norm {gnorm:.3g} exceeds the tolerance {gtol:.3g}"
            )
        floor_msg, failed = self._floor_message()
        if floor_msg:
            success = success and not failed
            messages.append(floor_msg)
        if escapes:
            messages.append(f"{escapes} escape(s) from the boundary of the covariance cone")
        if not messages:
            messages.append("converged")
        return FitResult(
            success=success,
            message="; ".join(messages),
            niter=self.niter,
            nfev=self.nfev,
            lml=float(lml),
            grad_norm=gnorm,
            starts=finals,
            grad_tol=gtol,
        )

    def _floor_message(self) -> tuple[str, bool]:
        """What to say when the fit ended on the floor of C₁, and whether that is a failure.

        At the floor C₁ is singular up to the floor. If lowering the floor 100-fold raises
        the likelihood noticeably, the likelihood grows without bound as C₁ becomes
        singular (degenerate data): a failure. Otherwise the optimum lies on the boundary
        of the covariance cone (C₁ singular, the likelihood finite), which is a legitimate
        solution to report.
        """
        m = self.model
        floor = getattr(m._cov.C1, "floor", None)
        if floor is None:
            return "", False
        sc = m._proj.scaling
        _, C1u = sc.to_unit(m._cov.C0.value(), m._cov.C1.value())
        fu = (
            np.asarray(floor, dtype=float) / sc.trait_sd**2
            if np.ndim(floor)
            else (float(floor) / sc.trait_sd**2)
        )
        w, V = np.linalg.eigh(C1u)
        if w[0] > 10.0 * float(np.max(fu)):
            return "", False
        v = V[:, 0]
        involved = np.flatnonzero(np.abs(v) > 0.1 * np.max(np.abs(v))).tolist()
        lml = m.lml()
        C1 = m._cov.C1.value()
        lower = C1 - np.diag(np.broadcast_to(np.asarray(floor, dtype=float), (m.ntraits,))) * 0.99
        gain = m._engine.evaluate(m._cov.C0.value(), lower).lml - lml
        if gain > 1e-3:
            return (
                f"C1 ended at its floor (smallest eigenvalue {w[0]:.3g} in units of the trait "
                f"variances) along traits {involved}, and the likelihood keeps rising as C1 "
                f"becomes singular (+{gain:.3g} for a 100-fold lower floor): the residuals of "
                "those traits are (nearly) linearly dependent, so the likelihood has no "
                "maximum with C1 positive definite"
            ), True
        return (
            f"C1 is singular at the optimum (smallest eigenvalue at the floor, {w[0]:.3g} in "
            f"units of the trait variances, along traits {involved}): a boundary solution"
        ), False
