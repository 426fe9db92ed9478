"""Input checks that fail with a message naming the argument, its shape and the fix."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["as_matrix", "as_vector", "check_square_symmetric", "check_positive_int"]


def _describe_nonfinite(name: str, arr: NDArray[np.float64]) -> str:
    bad = np.argwhere(~np.isfinite(arr))
    where = ", ".join(str(tuple(int(i) for i in b)) for b in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    return (
        f"{name} has {len(bad)} non-finite value(s) (NaN or inf) at index {where}{more}; "
        "remove or impute them before building the model"
    )


def as_matrix(
    name: str,
    value: ArrayLike,
    *,
    nrows: int | None = None,
    ncols: int | None = None,
    allow_vector: bool = True,
    finite: bool = True,
) -> NDArray[np.float64]:
    """Return ``value`` as a float 2-D array, checking shape and finiteness.

    A 1-D input becomes a single column when ``allow_vector`` is true. ``nrows``/``ncols``
    (if given) must match, otherwise a ValueError names ``name`` and both shapes.
    """
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if arr.ndim == 1 and allow_vector:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    expected = (
        nrows if nrows is not None else arr.shape[0],
        ncols if ncols is not None else arr.shape[1],
    )
    if arr.shape != expected:
        want = f"({'n' if nrows is None else nrows}, {'any' if ncols is None else ncols})"
        raise ValueError(f"{name} has shape {arr.shape}, expected {want}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(_describe_nonfinite(name, arr))
    return arr


def as_vector(
    name: str, value: ArrayLike, *, size: int | None = None, finite: bool = True
) -> NDArray[np.float64]:
    """Return ``value`` as a float 1-D array (a single column is accepted)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if size is not None and arr.size != size:
        raise ValueError(f"{name} has shape {arr.shape}, expected ({size},)")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(_describe_nonfinite(name, arr))
    return arr


def check_square_symmetric(
    name: str, value: ArrayLike, *, size: int | None = None, rtol: float = 1e-8
) -> NDArray[np.float64]:
    """Return ``value`` as a finite square symmetric matrix or raise ValueError."""
    arr = as_matrix(name, value, allow_vector=False)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} has shape {arr.shape}, expected ({size}, {size})")
    diff = np.max(np.abs(arr - arr.T)) if arr.size else 0.0
    scale = max(np.max(np.abs(arr)) if arr.size else 0.0, np.finfo(float).tiny)
    if diff > rtol * scale:
        i, j = np.unravel_index(np.argmax(np.abs(arr - arr.T)), arr.shape)
        raise ValueError(
            f"{name} must be symmetric: {name}[{i}, {j}] = {arr[i, j]!r} but "
            f"{name}[{j}, {i}] = {arr[j, i]!r} (max asymmetry {diff:.3g})"
        )
    return arr


def check_positive_int(name: str, value: int, *, minimum: int = 1) -> int:
    """Return ``value`` as an int ≥ ``minimum`` or raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")
    return int(value)
