"""Contrasts of the coefficients: limma's ``makeContrasts`` and ``contrasts.fit``.

A contrast matrix C (k coefficients × q contrasts) turns each feature's coefficients β_g
into γ_g = Cᵀ β_g. With V the unscaled covariance of β̂ (``cov_coefficients``) and
u_g the unscaled standard errors of feature g, the unscaled standard error of γ_gj is
``√(c_jᵀ D_g R D_g c_j)`` with D_g = diag(u_g) and R the correlation matrix of V (exact
when all features share V, limma's approximation otherwise); the new
``cov_coefficients`` is ``Cᵀ V C``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._access import fit_from, store_fit
from .linear_model import LinearModelFit

__all__ = ["contrasts_fit", "make_contrasts"]

FloatArray = NDArray[np.float64]


def _level_names(levels: Any) -> list[str]:
    if isinstance(levels, pd.DataFrame):
        return [str(c) for c in levels.columns]
    if isinstance(levels, LinearModelFit):
        return list(levels.coef_names)
    if isinstance(levels, pd.Categorical):
        return [str(c) for c in levels.categories]
    if isinstance(levels, pd.Series) and isinstance(levels.dtype, pd.CategoricalDtype):
        return [str(c) for c in levels.cat.categories]
    names = [str(x) for x in (levels if not isinstance(levels, str) else [levels])]
    return names


class _Linear(ast.NodeVisitor):
    """Evaluate a linear expression in the level names (as unit vectors)."""

    def __init__(self, symbols: dict[str, int], nlevels: int, text: str) -> None:
        self.symbols = symbols
        self.nlevels = nlevels
        self.text = text

    def fail(self, why: str) -> ValueError:
        return ValueError(f"contrast {self.text!r}: {why}")

    def evaluate(self, node: ast.AST) -> FloatArray | float:
        if isinstance(node, ast.Expression):
            return self.evaluate(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in self.symbols:
                raise self.fail(f"unknown name {node.id!r}")
            vec = np.zeros(self.nlevels)
            vec[self.symbols[node.id]] = 1.0
            return vec
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.evaluate(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            a, b = self.evaluate(node.left), self.evaluate(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
                    raise self.fail("a product of two levels is not linear")
                return a * b
            if isinstance(node.op, ast.Div):
                if isinstance(b, np.ndarray):
                    raise self.fail("division by a level is not linear")
                return a / b
        raise self.fail(f"unsupported syntax {ast.dump(node)[:40]}")


def _parse(text: str, levels: list[str]) -> FloatArray:
    symbols: dict[str, int] = {}
    expr = text
    # Level names may hold characters Python names cannot ("B.F", "group[T.b]"):
    # replace the longest names first by placeholders.
    for i, name in sorted(enumerate(levels), key=lambda item: -len(item[1])):
        token = f"__level{i}__"
        pattern = r"(?<![A-Za-z0-9_.\[\]])" + re.escape(name) + r"(?![A-Za-z0-9_.\[\]])"
        expr, count = re.subn(pattern, token, expr)
        if count:
            symbols[token] = i
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise ValueError(
            f"contrast {text!r} is not a linear expression in the levels {levels}"
        ) from None
    value = _Linear(symbols, len(levels), text).evaluate(tree)
    if not isinstance(value, np.ndarray):
        raise ValueError(f"contrast {text!r} names none of the levels {levels}")
    return value


def make_contrasts(
    *expressions: str | Sequence[str],
    levels: Any,
    **named: str,
) -> pd.DataFrame:
    """The contrast matrix of linear expressions in the levels (limma's
    ``makeContrasts``).

    Parameters
    ----------
    *expressions : str
        Expressions such as ``"B - A"`` or ``"(B + C)/2 - A"`` (a list of them is also
        accepted); each becomes a column named by the expression.
    levels : list of str, DataFrame (design), LinearModelFit or categorical
        The coefficient names: a design DataFrame's columns, a fit's ``coef_names``, or
        the categories of a factor.
    **named : str
        Named contrasts, ``TvsC="T - C"``: the column is called by the keyword.

    Returns
    -------
    DataFrame
        Levels × contrasts, index named ``"Levels"``, columns ``"Contrasts"``.

    Examples
    --------
    >>> from kronlmm.features import make_contrasts
    >>> cm = make_contrasts("B - A", BvsAC="B - (A + C)/2", levels=["A", "B", "C"])
    >>> cm.columns.tolist(), cm.index.tolist()
    (['B - A', 'BvsAC'], ['A', 'B', 'C'])
    >>> cm.to_numpy().tolist()
    [[-1.0, -0.5], [1.0, 1.0], [0.0, -0.5]]
    """
    names = _level_names(levels)
    if len(set(names)) != len(names):
        raise ValueError(f"levels has duplicated names: {names}")
    items: list[tuple[str, str]] = []
    for expr in expressions:
        if isinstance(expr, str):
            items.append((expr, expr))
        else:
            items.extend((e, e) for e in expr)
    items.extend((label, expr) for label, expr in named.items())
    if not items:
        raise ValueError("make_contrasts needs at least one contrast expression")
    columns = {label: _parse(expr, names) for label, expr in items}
    out = pd.DataFrame(columns, index=pd.Index(names, name="Levels"))
    out.columns.name = "Contrasts"
    return out


def contrasts_fit(
    fit: Any,
    contrasts: Any = None,
    coefficients: Any = None,
    *,
    key: str = "kronlmm",
) -> LinearModelFit:
    """Re-express a fit in terms of contrasts (limma's ``contrasts.fit``).

    Parameters
    ----------
    fit : LinearModelFit, mapping or AnnData
        From :func:`~kronlmm.features.lm_fit` (AnnData: ``uns[key]``, updated).
    contrasts : array or DataFrame
        Coefficients × contrasts (from :func:`make_contrasts`; a DataFrame's index must
        name the fit's coefficients, in any order, and its columns name the contrasts).
    coefficients : names or indices, optional
        Instead of ``contrasts``: keep only these coefficients.

    Returns
    -------
    LinearModelFit
        A copy with ``coefficients``, ``stdev_unscaled`` (m × q), ``cov_coefficients``
        (q × q), ``coef_names`` (the contrast names) and ``contrasts``; moderated
        statistics of the input are dropped (run :func:`~kronlmm.features.e_bayes`).

    Raises
    ------
    ValueError
        When the contrast matrix does not have one row per coefficient, or names rows
        that are not coefficients.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from kronlmm.features import contrasts_fit, lm_fit, make_contrasts
    >>> design = pd.DataFrame({"A": [1, 1, 0, 0, 0, 0], "B": [0, 0, 1, 1, 0, 0],
    ...                        "C": [0, 0, 0, 0, 1, 1]})
    >>> y = np.array([[1.0, 1.2, 2.0, 2.2, 3.1, 2.9]])
    >>> fit = lm_fit(y, design)
    >>> cfit = contrasts_fit(fit, make_contrasts("B - A", "C - A", levels=design))
    >>> cfit.coef_names, cfit.coefficients.round(3).tolist()
    (['B - A', 'C - A'], [[1.0, 1.9]])
    """
    fit, adata = fit_from(fit, key)
    if (contrasts is None) == (coefficients is None):
        raise ValueError("give exactly one of contrasts= or coefficients=")
    names = list(fit.get("coef_names") or [f"x{j + 1}" for j in range(fit.coefficients.shape[1])])
    fit["coef_names"] = names
    for field in ("t", "p_value", "lods", "F", "F_p_value", "treat_lfc"):
        fit.pop(field, None)
    if coefficients is not None:
        idx = fit.coef_index(coefficients, argument="coefficients")
        fit["coefficients"] = np.asarray(fit.coefficients)[:, idx]
        fit["stdev_unscaled"] = np.asarray(fit.stdev_unscaled)[:, idx]
        cov = fit.get("cov_coefficients")
        if cov is not None:
            fit["cov_coefficients"] = np.asarray(cov)[np.ix_(idx, idx)]
        fit["coef_names"] = [names[j] for j in idx]
        store_fit(adata, key, fit)
        subset: LinearModelFit = fit
        return subset

    k = len(names)
    if isinstance(contrasts, pd.DataFrame):
        rows = [str(r) for r in contrasts.index]
        unknown = [r for r in rows if r not in names]
        if unknown or len(rows) != k:
            raise ValueError(
                f"contrasts has rows {rows} (shape {contrasts.shape}) but the fit's "
                f"coefficients are {names}: build it with make_contrasts(..., "
                "levels=<the design or the fit>)"
            )
        C = (
            contrasts.loc[names].to_numpy(dtype=np.float64)
            if rows != names
            else (contrasts.to_numpy(dtype=np.float64))
        )
        labels = [str(c) for c in contrasts.columns]
    else:
        C = np.asarray(contrasts, dtype=np.float64)
        if C.ndim == 1:
            C = C[:, None]
        if C.ndim != 2 or C.shape[0] != k:
            raise ValueError(
                f"contrasts has shape {C.shape} but the fit has {k} coefficients {names}: "
                f"give a {k} × q matrix (one row per coefficient)"
            )
        labels = [f"c{j + 1}" for j in range(C.shape[1])]
    if not np.all(np.isfinite(C)):
        raise ValueError("contrasts has NaN or infinite entries")

    coef = np.array(fit.coefficients, dtype=np.float64)
    stdev = np.array(fit.stdev_unscaled, dtype=np.float64)
    cov = fit.get("cov_coefficients")
    if cov is None:
        cov = np.diag(np.nanmean(stdev**2, axis=0))
    cov = np.asarray(cov, dtype=np.float64)
    nonzero = np.abs(C).sum(axis=1) != 0
    C, coef, stdev = C[nonzero], coef[:, nonzero], stdev[:, nonzero]
    cov = cov[np.ix_(nonzero, nonzero)]
    sd = np.sqrt(np.diag(cov))
    cor = cov / np.outer(sd, sd)
    missing = np.isnan(coef)
    if missing.any():
        coef[missing] = 0.0
        stdev[missing] = 1e30
    new_coef = coef @ C
    new_cov = C.T @ cov @ C
    kk = cor.shape[0]
    orthogonal = kk < 2 or bool(np.all(np.abs(cor[np.tril_indices(kk, -1)]) < 1e-14))
    if orthogonal:
        new_stdev = np.sqrt(stdev**2 @ C**2)
    else:
        new_stdev = np.empty((coef.shape[0], C.shape[1]))
        for j in range(C.shape[1]):
            scaled = stdev * C[:, j][None, :]
            new_stdev[:, j] = np.sqrt(np.einsum("gi,ij,gj->g", scaled, cor, scaled))
    if missing.any():
        bad = new_stdev > 1e20
        new_coef[bad] = np.nan
        new_stdev[bad] = np.nan
    fit.update(
        coefficients=new_coef,
        stdev_unscaled=new_stdev,
        cov_coefficients=new_cov,
        coef_names=labels,
        contrasts=pd.DataFrame(
            np.asarray(contrasts, dtype=np.float64)
            if not isinstance(contrasts, pd.DataFrame)
            else contrasts.loc[names].to_numpy(dtype=np.float64),
            index=pd.Index(names, name="Levels"),
            columns=pd.Index(labels, name="Contrasts"),
        ),
    )
    store_fit(adata, key, fit)
    result: LinearModelFit = fit
    return result
