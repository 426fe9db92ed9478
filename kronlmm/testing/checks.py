"""Generic checks of covariance and mean objects: what every kronlmm object promises.

:func:`check_covariance` and :func:`check_mean` run the checks kronlmm's own test suite
runs on its objects, so a user-written covariance or mean can be checked the same way:
gradient against central finite differences, ``contract_gradient`` against the dense
gradient, fix/unfix and the flat parameter view, and — for trait covariances — the
change of units (``unit_scaling``) and ``set_value`` round trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .gradient import check_gradient

__all__ = ["CheckReport", "check_covariance", "check_mean"]


@dataclass
class CheckReport:
    """Outcome of :func:`check_covariance` or :func:`check_mean`.

    Attributes
    ----------
    results : list of (str, bool, str)
        One entry per check: its name, whether it passed and what was measured.

    Examples
    --------
    >>> from kronlmm.testing import CheckReport
    >>> report = CheckReport([("gradient", True, "max rel error 1e-9")])
    >>> report.passed, report.failures()
    (True, [])
    """

    results: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(ok for _, ok, _ in self.results)

    def failures(self) -> list[str]:
        """``"name: detail"`` for each failed check."""
        return [f"{name}: {detail}" for name, ok, detail in self.results if not ok]

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        """Record one check."""
        self.results.append((name, bool(ok), detail))

    def raise_if_failed(self) -> None:
        """Raise AssertionError listing the failed checks."""
        if not self.passed:
            raise AssertionError("failed checks:\n  " + "\n  ".join(self.failures()))

    def __str__(self) -> str:
        lines = [f"{'ok ' if ok else 'FAIL'} {name}: {detail}" for name, ok, detail in self.results]
        return "\n".join(lines)


def _generic(obj: Any, report: CheckReport, rng: np.random.Generator, rtol: float) -> None:
    """Checks shared by covariances and means."""
    res = check_gradient(obj, rtol=rtol)
    report.add(
        "gradient vs finite differences", res.passed, f"max rel error {res.max_rel_error:.2e}"
    )
    grad = obj.gradient()
    free = obj.free_parameters()
    shape = np.shape(obj.value())
    shapes_ok = list(grad) == list(free) and all(
        np.shape(g) == shape + (free[k].size,) for k, g in grad.items()
    )
    report.add("gradient keys and shapes", shapes_ok, f"{sorted(grad)} vs {sorted(free)}")
    x0 = np.array(obj.get_flat(), dtype=float)
    v0 = np.array(obj.value(), dtype=float)
    ok = True
    if x0.size:
        obj.set_flat(x0 + 0.01 * rng.standard_normal(x0.size))
        obj.set_flat(x0)
        ok = bool(np.allclose(obj.value(), v0, rtol=1e-13, atol=1e-13))
    report.add("flat view round trip", ok and obj.get_flat().size == obj.nparams, "")
    ok = True
    for name in list(free):
        n0 = obj.nparams
        obj.fix(name)
        ok &= name not in obj.gradient() and obj.nparams == n0 - free[name].size
        obj.unfix(name)
        ok &= obj.nparams == n0
    report.add("fix/unfix", ok, f"{len(free)} parameter(s)")


def check_covariance(
    cov: Any, seed: int = 0, rtol: float = 1e-5, units: bool | None = None
) -> CheckReport:
    """Check a covariance object against what kronlmm promises.

    Runs: the value is symmetric; the gradient matches central finite differences
    (:func:`check_gradient`, relative tolerance ``rtol``); gradient keys and shapes;
    ``contract_gradient(M)`` equals ``Σᵢⱼ M[i, j] ∂K[i, j]/∂θ`` from the dense gradient;
    the flat view round trip; fix/unfix. For trait covariances (``units`` true, default:
    when the object has ``unit_scaling`` and ``set_value``): ``C(shift + scale·θ) =
    D C(θ) D`` for random trait units D (skipped for covariances whose scaling is the
    identity, which cannot follow units) and ``set_value(value())`` reproduces the value.
    The parameters are restored afterwards.

    Examples
    --------
    >>> from kronlmm.cov import FactorAnalyticCov
    >>> from kronlmm.testing import check_covariance
    >>> check_covariance(FactorAnalyticCov(4, 2)).passed
    True
    """
    rng = np.random.default_rng(seed)
    report = CheckReport()
    x_start = np.array(cov.get_flat(), dtype=float)
    try:
        K = np.asarray(cov.value(), dtype=float)
        report.add("value is symmetric", bool(np.allclose(K, K.T, rtol=1e-12, atol=1e-12)), "")
        _generic(cov, report, rng, rtol)
        if hasattr(cov, "contract_gradient"):
            M = rng.standard_normal(K.shape)
            got = cov.contract_gradient(M)
            want = {k: np.tensordot(M, g, axes=([0, 1], [0, 1])) for k, g in cov.gradient().items()}
            ok = list(got) == list(want) and all(
                np.allclose(got[k], want[k], rtol=1e-9, atol=1e-10) for k in want
            )
            report.add("contract_gradient vs dense gradient", ok, "")
        if units is None:
            units = hasattr(cov, "unit_scaling") and hasattr(cov, "set_value")
        if units:
            _check_units(cov, report, rng)
    finally:
        cov.set_flat(x_start)
    return report


def _check_units(cov: Any, report: CheckReport, rng: np.random.Generator) -> None:
    p = cov.value().shape[0]
    d = np.exp(rng.uniform(-3, 3, p))
    scale, shift = cov.unit_scaling(d)
    theta = np.array(cov.get_flat(), dtype=float)
    some_fixed = any(par.fixed for par in cov.parameters().values())
    if some_fixed:
        report.add("unit scaling", True, "skipped: fixed parameters cannot follow units")
    elif not getattr(cov, "follows_units", True):
        report.add("unit scaling", True, "skipped: this covariance does not follow units")
    elif theta.size:
        Cu = np.array(cov.value(), dtype=float)
        cov.set_flat(shift + scale * theta)
        C = np.array(cov.value(), dtype=float)
        floor = getattr(cov, "floor", 0.0)
        # a fixed ridge (FreeFormCov's floor) does not scale: compare without it
        Fm = np.diag(np.broadcast_to(np.asarray(floor, dtype=float), (p,)))
        want = d[:, None] * (Cu - Fm) * d[None, :] + Fm
        err = float(np.max(np.abs(C - want)) / max(float(np.max(np.abs(want))), 1e-300))
        report.add(
            "unit scaling: C(shift + scale·θ) = D C(θ) D", err < 1e-10, f"rel error {err:.2e}"
        )
        cov.set_flat(theta)
    C = np.array(cov.value(), dtype=float)
    if some_fixed or not getattr(cov, "set_value_exact", True):
        report.add("set_value round trip", True, "skipped: set_value is approximate here")
        return
    try:
        cov.set_value(C)
    except NotImplementedError:
        report.add("set_value round trip", True, "not settable from a matrix")
        return
    err = float(np.max(np.abs(cov.value() - C)) / max(float(np.max(np.abs(C))), 1e-300))
    report.add("set_value(value()) round trip", err < 1e-8, f"rel error {err:.2e}")


def check_mean(mean: Any, seed: int = 0, rtol: float = 1e-5) -> CheckReport:
    """Check a mean object: gradient against finite differences, gradient keys and shapes,
    the flat view round trip and fix/unfix (see :func:`check_covariance`).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.mean import LinearMean
    >>> from kronlmm.testing import check_mean
    >>> check_mean(LinearMean(np.random.default_rng(0).normal(size=(5, 2)))).passed
    True
    """
    rng = np.random.default_rng(seed)
    report = CheckReport()
    x_start = np.array(mean.get_flat(), dtype=float)
    try:
        _generic(mean, report, rng, rtol)
    finally:
        mean.set_flat(x_start)
    return report
