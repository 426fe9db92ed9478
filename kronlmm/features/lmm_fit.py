"""Per-feature linear mixed models fitted from summary statistics (FLASH-MM, with θ ≥ 0).

For every feature (row) y of Y (features × cells), with fixed design X (cells × p) and random
designs Z₁ … Z_K (cells × d_k)::

    y ~ N(X β,  Σ_k θ_k Z_k Z_kᵀ + σ² I),    θ_k ≥ 0,  σ² > 0.

β (p fixed effects), θ₁ … θ_K (variance components) and σ² (residual variance) are
estimated by REML or ML for all features together: everything is computed from the
summary statistics of :func:`~kronlmm.features.summary_statistics` (no fit touches
n-sized arrays), and the per-feature r × r algebra (r ≤ q = Σ d_k) is batched with NumPy's
stacked routines. The variance components are constrained to θ ≥ 0: a component whose
maximum lies on the boundary is reported as exactly 0 (``at_boundary``), at the maximum of
the likelihood over the constrained set.

Fixed-effect tests use Satterthwaite's degrees of freedom computed as lmerTest computes
them (from the observed information of θ); see :func:`~kronlmm.features.lmm_test` for
contrasts, Kenward–Roger and FLASHMM's residual df.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._lmm_checks import check_controls, check_method, check_summary, check_theta0
from ._lmm_engine import fit_reduced
from ._lmm_inference import satterthwaite
from ._lmm_reduce import reduce_summary
from .lmm_summary import LMMSummary, summary_statistics
from .result import FeatureResult

__all__ = ["LMMFit", "lmm_fit", "lmm_from_summary"]


class LMMFit(FeatureResult):
    """Per-feature LMM fit (a :class:`FeatureResult`); m features, p fixed effects, K
    random components, q random-effect columns.

    Attributes
    ----------
    coef, se, t, p, df : (m, p)
        Estimates β̂, standard errors, t = β̂/se, two-sided p-values and their Satterthwaite
        degrees of freedom (lmerTest's).
    cov : (m, p, p)
        cov(β̂) = σ̂²(XᵀH⁻¹X)⁻¹.
    theta : (m, K+1)
        θ̂₁ … θ̂_K, σ̂² (columns named by ``theta_names``).
    se_theta : (m, K+1)
        Standard errors from the observed information (NaN for a component at 0).
    loglik : (m,)
        Maximised log-likelihood: ML, or REML as lme4 reports it (FLASHMM's REML value is
        larger by ½ log|XᵀX|).
    niter, converged, reason, dlogl : (m,), (m,), (m,), (m, K+1)
        Newton iterations, convergence flag, why a feature did not converge ("" if it did),
        and the gradient ∂ℓ/∂θ at the estimate (FLASHMM's ``dlogL``).
    at_boundary : (m, K)
        θ̂_k = 0 (a singular fit: the maximum lies on the boundary).
    random_effects : (m, q), only with ``random_effects=True``
        BLUPs û = θ_k Z_kᵀV⁻¹(y − Xβ̂), columns named by ``random_names``.
    cov_jacobian, vcov_theta : (m, K+1, p, p), (m, K+1, K+1)
        ∂cov(β̂)/∂θ and the inverse observed information of θ (the pieces of
        Satterthwaite's df, used by :func:`~kronlmm.features.lmm_test`).
    method, n, d, epsilon, max_iter, coef_names, component_names, theta_names,
    random_names, feature_names, summary
        The settings, names and the :class:`~kronlmm.features.LMMSummary` the fit came from.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import lmm_fit
    >>> rng = np.random.default_rng(0)
    >>> subject = np.repeat(np.arange(8), 25)
    >>> X = np.column_stack([np.ones(200), subject < 4])   # intercept, treatment
    >>> Z = np.eye(8)[subject]
    >>> Y = rng.normal(size=(3, 200)) + rng.normal(size=(3, 8))[:, subject]
    >>> fit = lmm_fit(Y, X, Z)
    >>> fit.theta.shape, bool(fit.converged.all()), bool((fit.theta >= 0).all())
    ((3, 2), True, True)
    >>> list(fit.to_dataframe(["coef", "theta"]).columns)
    ['coef_x0', 'coef_x1', 'theta_Z1', 'theta_residual']
    """

    def to_dataframe(self, fields: list[str] | None = None) -> pd.DataFrame:
        """Per-feature fields as a DataFrame; θ columns are named by ``theta_names``, random
        effects by ``random_names``, ``at_boundary`` by ``component_names``. By default:
        coef, se, t, df, p, theta, se_theta, loglik, niter, converged, reason."""
        default = ["coef", "se", "t", "df", "p", "theta", "se_theta", "loglik", "niter"]
        keys = default + ["converged", "reason"] if fields is None else list(fields)
        labels = {
            "theta": self.get("theta_names"),
            "se_theta": self.get("theta_names"),
            "dlogl": self.get("theta_names"),
            "at_boundary": self.get("component_names"),
            "random_effects": self.get("random_names"),
        }
        names = self.get("feature_names")
        m = int(np.asarray(self["loglik"]).shape[0])
        index = pd.Index(list(names) if names is not None else np.arange(m))
        columns: dict[str, Any] = {}
        coef_names = self.get("coef_names")
        for key in keys:
            arr = np.asarray(self[key])
            if arr.ndim == 1 and arr.shape[0] == m:
                columns[key] = arr
            elif arr.ndim == 2 and arr.shape[0] == m:
                cols = labels.get(key, coef_names)
                if cols is None or len(cols) != arr.shape[1]:
                    cols = [str(j) for j in range(arr.shape[1])]
                for j, label in enumerate(cols):
                    columns[f"{key}_{label}"] = arr[:, j]
            else:
                raise ValueError(
                    f"field {key!r} is not a per-feature array of length {m} (shape {arr.shape})"
                )
        return pd.DataFrame(columns, index=index)


def lmm_from_summary(
    XX: Any,
    XY: Any,
    ZX: Any,
    ZY: Any,
    ZZ: Any,
    Ynorm: Any,
    n: int,
    d: Sequence[int] | int,
    method: str = "REML",
    max_iter: int = 50,
    epsilon: float = 1e-5,
    *,
    theta0: Any = None,
    random_effects: bool = False,
    feature_names: Sequence[str] | None = None,
    coef_names: Sequence[str] | None = None,
    component_names: Sequence[str] | None = None,
    random_names: Sequence[str] | None = None,
) -> LMMFit:
    """Fit the per-feature LMM from summary statistics (FLASHMM's ``lmm``, with θ ≥ 0).

    Model, for every feature f (row y_f of Y, cells × … designs X, Z = [Z₁ … Z_K])::

        y_f ~ N(X β_f,  Σ_k θ_fk Z_k Z_kᵀ + σ²_f I),   θ_fk ≥ 0.

    Parameters
    ----------
    XX, XY, ZX, ZY, ZZ, Ynorm, n, d
        The summary statistics: XᵀX (p × p), XᵀYᵀ (p × m), ZᵀX (q × p), ZᵀYᵀ (q × m),
        ZᵀZ (q × q), the feature norms ‖y_f‖² (m), the number of cells n and the column
        counts d = (d₁, …, d_K) of the random components (Σ d_k = q). The output of
        :func:`~kronlmm.features.summary_statistics` unpacks into these:
        ``lmm_from_summary(**stats)``.
    method : {"REML", "ML"}
        Restricted or ordinary maximum likelihood.
    max_iter : int
        Newton iterations per feature at most.
    epsilon : float
        Convergence tolerance: the Newton decrement √(gᵀ(−H)⁻¹g) of the profiled
        log-likelihood in γ = θ/σ² (the remaining distance to the maximum, in standard
        errors) on the free variables, and the same scaled gradient of components held at 0.
    theta0 : array (K+1,) or (m, K+1), optional
        Starting values (θ₁ … θ_K, σ²), all ≥ 0 with σ² > 0; default: moment estimates.
    random_effects : bool
        Also return the BLUPs of the random effects (field ``random_effects``, m × q).
    feature_names, coef_names, component_names, random_names : sequences of str, optional
        Names of the features, the columns of X, the random components and the columns of Z.

    Returns
    -------
    LMMFit
        See :class:`~kronlmm.features.LMMFit` for the fields.

    Raises
    ------
    ValueError
        Arrays of inconsistent shapes, non-finite values, d not summing to q, XX singular
        (X without full column rank), n ≤ p, a negative θ₀, an unknown method.

    Notes
    -----
    Features that cannot be fitted — constant or all-zero (nothing left after X), or
    explained exactly by X and Z (no residual variance) — get NaN estimates,
    ``converged=False`` and a ``reason``; so do features whose iterations stop before
    the tolerance (``reason`` says why).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import lmm_fit, lmm_from_summary, summary_statistics
    >>> rng = np.random.default_rng(2)
    >>> subject = np.repeat(np.arange(10), 20)
    >>> X = np.column_stack([np.ones(200), subject % 2])
    >>> Z = np.eye(10)[subject]
    >>> Y = rng.normal(size=(4, 200)) + 0.7 * rng.normal(size=(4, 10))[:, subject]
    >>> stats = summary_statistics(X, Y, Z)
    >>> fit = lmm_from_summary(**stats)
    >>> bool(np.array_equal(fit.theta, lmm_fit(Y, X, Z).theta))
    True
    >>> fit.df.shape, fit.method
    ((4, 2), 'REML')
    """
    reml = check_method(method)
    check_controls(max_iter, epsilon)
    summ = check_summary(XX, XY, ZX, ZY, ZZ, Ynorm, n, d, coef_names)
    m, K = summ.XY.shape[1], len(summ.d)
    start = check_theta0(theta0, K, m)
    prob = reduce_summary(summ.XX, summ.XY, summ.ZX, summ.ZY, summ.ZZ, summ.Ynorm, summ.n, summ.d)
    core = fit_reduced(prob, reml, start, int(max_iter), float(epsilon), random_effects)
    est = core.estimates

    p = summ.XX.shape[0]
    coef_names = list(coef_names) if coef_names is not None else [f"x{j}" for j in range(p)]
    component_names = (
        list(component_names) if component_names is not None else [f"Z{k + 1}" for k in range(K)]
    )
    q = summ.ZZ.shape[0]
    random_names = list(random_names) if random_names is not None else [f"z{j}" for j in range(q)]
    _check_names(feature_names, m, "feature_names")
    _check_names(coef_names, p, "coef_names")
    _check_names(component_names, K, "component_names")
    _check_names(random_names, q, "random_names")

    var, df = satterthwaite(est.cov, est.cov_jacobian, est.vcov_theta, np.eye(p))
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(var)
        t = est.coef / se
        pval = 2.0 * stats.t.sf(np.abs(t), df)
        se_theta = np.sqrt(np.einsum("ikk->ik", est.vcov_theta))
    se_theta = np.where(
        np.concatenate([core.at_boundary, np.zeros((m, 1), bool)], 1), np.nan, se_theta
    )
    summary = LMMSummary(
        XX=summ.XX,
        XY=summ.XY,
        ZX=summ.ZX,
        ZY=summ.ZY,
        ZZ=summ.ZZ,
        Ynorm=summ.Ynorm,
        n=summ.n,
        d=summ.d,
        feature_names=list(feature_names) if feature_names is not None else None,
        coef_names=coef_names,
        component_names=component_names,
        random_names=random_names,
    )
    fields: dict[str, Any] = {
        "method": "REML" if reml else "ML",
        "coef": est.coef,
        "se": se,
        "t": t,
        "p": pval,
        "df": df,
        "cov": est.cov,
        "theta": est.theta,
        "se_theta": se_theta,
        "loglik": est.loglik,
        "niter": core.niter,
        "converged": core.converged,
        "reason": core.reason,
        "dlogl": est.dlogl,
        "at_boundary": core.at_boundary,
        "cov_jacobian": est.cov_jacobian,
        "vcov_theta": est.vcov_theta,
        "n": summ.n,
        "d": summ.d,
        "epsilon": float(epsilon),
        "max_iter": int(max_iter),
        "feature_names": list(feature_names) if feature_names is not None else None,
        "coef_names": coef_names,
        "component_names": component_names,
        "theta_names": [*component_names, "residual"],
        "random_names": random_names,
        "summary": summary,
    }
    if random_effects:
        fields["random_effects"] = est.blup
    return LMMFit(fields)


def _check_names(names: Sequence[str] | None, size: int, arg: str) -> None:
    if names is not None and len(names) != size:
        raise ValueError(f"{arg} has {len(names)} names but there are {size} of them")


def lmm_fit(
    Y: Any,
    X: Any,
    Z: Any,
    d: Sequence[int] | int | None = None,
    method: str = "REML",
    max_iter: int = 50,
    epsilon: float = 1e-5,
    *,
    theta0: Any = None,
    random_effects: bool = False,
    data: Any = None,
    layer: str | None = None,
    block_size: int | None = None,
) -> LMMFit:
    """Fit the per-feature LMM to Y: :func:`summary_statistics` then :func:`lmm_from_summary`.

    Model, for every feature (row) y of Y::

        y ~ N(X β,  Σ_k θ_k Z_k Z_kᵀ + σ² I),   θ_k ≥ 0.

    Parameters
    ----------
    Y : array (features × cells), scipy.sparse matrix, DataFrame, or AnnData (cells × genes)
        Responses (e.g. log-normalised expression). A DataFrame's index and AnnData's
        ``var_names`` name the features.
    X : array (cells × p), DataFrame or formula str
        Fixed-effect design, e.g. ``"~ trt + cls"`` (formulaic, evaluated on ``data``).
    Z : array (cells × q), sparse matrix, formula str, or a list of these
        Random-effect designs, e.g. ``["~ 0 + subject", "~ 0 + batch"]``: one variance
        component per list entry (or per block of ``d``).
    d : sequence of int, optional
        Column counts of the random components when Z is one matrix (default: one component).
    method, max_iter, epsilon, theta0, random_effects
        As in :func:`lmm_from_summary`.
    data : DataFrame or AnnData, optional
        Cells table for formulas (default: ``Y.obs`` when Y is AnnData).
    layer : str, optional
        AnnData layer to fit instead of ``.X``.
    block_size : int, optional
        Rows of Y read at a time (see :func:`summary_statistics`).

    Returns
    -------
    LMMFit
        Identical to ``lmm_from_summary(**summary_statistics(X, Y, Z, d, ...))``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from kronlmm.features import lmm_fit
    >>> rng = np.random.default_rng(3)
    >>> cells = pd.DataFrame({"subject": np.repeat([f"s{i}" for i in range(12)], 15)})
    >>> cells["trt"] = np.where(cells.subject.str[1:].astype(int) < 6, "A", "B")
    >>> u = rng.normal(size=(5, 12))
    >>> Y = rng.normal(size=(5, 180)) + u[:, np.repeat(np.arange(12), 15)]
    >>> fit = lmm_fit(Y, "~ trt", "~ 0 + subject", data=cells)
    >>> fit.coef_names, fit.theta_names
    (['Intercept', 'trt[T.B]'], ['subject', 'residual'])
    >>> bool(((fit.df[:, 1] > 9) & (fit.df[:, 1] < 11)).all())  # ≈ 12 subjects − 2
    True
    """
    stats_ = summary_statistics(X, Y, Z, d, data=data, layer=layer, block_size=block_size)
    return lmm_from_summary(
        **stats_,
        method=method,
        max_iter=max_iter,
        epsilon=epsilon,
        theta0=theta0,
        random_effects=random_effects,
    )
