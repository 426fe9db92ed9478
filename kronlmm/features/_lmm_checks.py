"""Checks of the arguments of the per-feature LMM: block sizes d, method, iteration
controls, starting values θ₀ and the summary statistics themselves (shapes, finiteness,
n > p, XᵀX positive definite). Each raises ``ValueError`` naming the argument, the shapes
or values involved and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._lmm_reduce import FloatArray

#: Methods accepted by the fits.
METHODS = ("REML", "ML")


def check_d(d: tuple[int, ...], q: int, what: str) -> None:
    """d must be positive block sizes summing to the number of random columns q."""
    if not d or any(x < 1 for x in d) or sum(d) != q:
        raise ValueError(
            f"d={list(d)} does not match the {q} columns of {what}: d lists the number of "
            f"columns of each random component (d_1 + … + d_K = {q}); for one component "
            f"use d=[{q}] (or pass the components as a list of matrices)"
        )


def check_method(method: str) -> bool:
    """True for REML, False for ML; anything else raises."""
    key = str(method).upper()
    if key not in METHODS:
        raise ValueError(f"method={method!r} is not one of {list(METHODS)}")
    return key == "REML"


def check_controls(max_iter: int, epsilon: float) -> None:
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter={max_iter!r} must be a positive integer")
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon={epsilon!r} must be a positive number")


def check_theta0(theta0: Any, K: int, m: int) -> FloatArray | None:
    """θ₀ as (m, K+1) (one row per feature, or one row for all), ≥ 0 with σ² > 0."""
    if theta0 is None:
        return None
    arr = np.asarray(theta0, dtype=np.float64)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (m, arr.shape[0]))
    if arr.ndim != 2 or arr.shape != (m, K + 1):
        raise ValueError(
            f"theta0 has shape {np.shape(theta0)}; expected ({K + 1},) or ({m}, {K + 1}): the "
            f"starting variances of the {K} random components followed by the residual σ²"
        )
    if not np.isfinite(arr).all():
        raise ValueError("theta0 has non-finite values: give finite starting variances")
    if (arr < 0).any():
        raise ValueError(
            f"theta0 has negative values (min {arr.min():g}): variance components are ≥ 0; "
            "give non-negative starting values (0 is allowed for a random component)"
        )
    if (arr[:, K] <= 0).any():
        raise ValueError(
            "theta0's last entry (the residual variance σ²) must be positive: give σ² > 0"
        )
    return np.ascontiguousarray(arr)


@dataclass
class Summary:
    """Validated summary statistics as float arrays."""

    XX: FloatArray
    XY: FloatArray
    ZX: FloatArray
    ZY: FloatArray
    ZZ: FloatArray
    Ynorm: FloatArray
    n: int
    d: tuple[int, ...]


def _matrix(value: Any, name: str, shape: tuple[int | None, ...]) -> FloatArray:
    arr = np.asarray(value.toarray() if _is_sparse(value) else value, dtype=np.float64)
    if len(shape) == 2 and arr.ndim == 1 and shape[1] is not None and shape[1] == 1:
        arr = arr[:, None]
    expected = tuple("?" if s is None else s for s in shape)
    if arr.ndim != len(shape) or any(
        s is not None and a != s for a, s in zip(arr.shape, shape, strict=False)
    ):
        raise ValueError(
            f"{name} has shape {arr.shape}; expected {expected} (XX: p × p, XY: p × m, "
            "ZX: q × p, ZY: q × m, ZZ: q × q, Ynorm: m — FLASHMM's layout, one column of "
            "XY/ZY per feature)"
        )
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} has {int((~np.isfinite(arr)).sum())} non-finite values (NaN or inf): "
            "recompute the summary statistics from finite data"
        )
    return arr


def check_summary(
    XX: Any,
    XY: Any,
    ZX: Any,
    ZY: Any,
    ZZ: Any,
    Ynorm: Any,
    n: Any,
    d: Any,
    coef_names: Sequence[str] | None,
) -> Summary:
    """Shapes, finiteness, n > p, XX positive definite, d matching the q columns of Z."""
    XXa = np.asarray(XX, dtype=np.float64)
    if XXa.ndim != 2 or XXa.shape[0] != XXa.shape[1] or XXa.shape[0] == 0:
        raise ValueError(f"XX must be a square p × p matrix (p ≥ 1), got shape {XXa.shape}")
    p = XXa.shape[0]
    XYa = np.asarray(XY, dtype=np.float64)
    if XYa.ndim == 1:
        XYa = XYa[:, None]
    m = XYa.shape[1] if XYa.ndim == 2 else -1
    ZZa = np.asarray(ZZ.toarray() if _is_sparse(ZZ) else ZZ, dtype=np.float64)
    q = ZZa.shape[0] if ZZa.ndim == 2 else -1
    XXa = _matrix(XXa, "XX", (p, p))
    XYa = _matrix(XYa, "XY", (p, m))
    ZZa = _matrix(ZZa, "ZZ", (q, q))
    ZXa = _matrix(ZX, "ZX", (q, p))
    ZYa = np.asarray(ZY, dtype=np.float64)
    if ZYa.ndim == 1:
        ZYa = ZYa[:, None]
    ZYa = _matrix(ZYa, "ZY", (q, m))
    Yn = _matrix(np.atleast_1d(np.asarray(Ynorm, dtype=np.float64)), "Ynorm", (m,))
    if (Yn < 0).any():
        raise ValueError("Ynorm has negative entries: it holds the sums of squares ‖y_f‖² ≥ 0")
    if int(n) != n or n <= p:
        raise ValueError(
            f"n={n!r} must be an integer larger than the number of fixed effects p={p} "
            "(n is the number of cells)"
        )
    dd = tuple(int(x) for x in np.atleast_1d(np.asarray(d)))
    check_d(dd, q, "ZZ/ZX/ZY")
    check_full_rank(XXa, coef_names)
    return Summary(XXa, XYa, ZXa, ZYa, ZZa, Yn, int(n), dd)


def check_full_rank(XX: FloatArray, coef_names: Sequence[str] | None) -> None:
    """XX = XᵀX must be positive definite (X of full column rank)."""
    p = XX.shape[0]
    scale = np.sqrt(np.clip(np.diagonal(XX), 1e-300, None))
    w, V = np.linalg.eigh(XX / np.outer(scale, scale))
    if (np.diagonal(XX) > 0).all() and w[0] > 1e3 * p * np.finfo(float).eps * max(w[-1], 1.0):
        return
    names = list(coef_names) if coef_names is not None else [f"column {j}" for j in range(p)]
    if (np.diagonal(XX) <= 0).any():
        zero = [names[j] for j in np.flatnonzero(np.diagonal(XX) <= 0)]
        involved = zero
    else:
        vec = V[:, 0]
        involved = [names[j] for j in np.flatnonzero(np.abs(vec) > 0.1 * np.abs(vec).max())]
    rank = int((w > 1e3 * p * np.finfo(float).eps * max(w[-1], 1.0)).sum())
    raise ValueError(
        f"X (n × {p}) does not have full column rank (numerical rank {rank}): the columns "
        f"{involved} are (nearly) linearly dependent or zero. Drop one of them, or remove "
        "the intercept when a factor is coded with all its levels"
    )


def _is_sparse(x: Any) -> bool:
    return bool(sp.issparse(x))
