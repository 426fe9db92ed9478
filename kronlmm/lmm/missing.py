"""Which samples of a multi-trait model with missing phenotypes are used, and how.

Y (n × p) may hold NaN for a missing trait value. Two modes:

- ``"observed"`` (default): every observed value is used (the exact observed-data
  likelihood, :mod:`kronlmm.core.missing_likelihood`); samples with no observed trait
  carry no information and are dropped;
- ``"complete-case"``: only samples with every trait observed are kept (the usual
  practice, for comparison).

A trait with no observed value, or an infinite value, is an error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.linalg import orthonormal_basis

__all__ = ["MISSING_MODES", "MissingSelection", "select_observed"]

#: The accepted values of ``missing``.
MISSING_MODES = ("observed", "complete-case")


@dataclass(frozen=True)
class MissingSelection:
    """The rows of Y a model uses.

    Attributes
    ----------
    mode : str
        ``"observed"`` or ``"complete-case"``.
    rows : ndarray of int
        Indices (into the Y given) of the samples kept, in order.
    dropped : ndarray of int
        Indices of the samples dropped.
    nobs : ndarray of int (p,)
        Observed values per trait among the rows kept.
    """

    mode: str
    rows: NDArray[np.intp]
    dropped: NDArray[np.intp]
    nobs: NDArray[np.intp]

    @staticmethod
    def filled(Y: NDArray[np.float64], X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Y with each missing value replaced by its trait's least-squares prediction from
        X on the rows where the trait is observed (used for starting values and rank
        checks only, never for the likelihood).

        Examples
        --------
        >>> import numpy as np
        >>> from kronlmm.lmm.missing import MissingSelection
        >>> Y = np.array([[1.0], [np.nan], [3.0]])
        >>> MissingSelection.filled(Y, np.ones((3, 1))).ravel().round(12).tolist()
        [1.0, 2.0, 3.0]
        """
        out = Y.copy()
        for t in range(Y.shape[1]):
            miss = np.isnan(Y[:, t])
            if not miss.any():
                continue
            b = orthonormal_basis(X[~miss])
            coef = np.linalg.lstsq(X[~miss], Y[~miss, t], rcond=None)[0] if b.rank else None
            out[miss, t] = X[miss] @ coef if coef is not None else 0.0
        return out


def select_observed(Y: NDArray[np.float64], mode: str) -> MissingSelection:
    """Choose the rows of Y (n × p, NaN where missing) a model uses under ``mode``.

    Warns (UserWarning) with the number and row indices of the samples dropped.

    Raises
    ------
    ValueError
        If Y has infinite values, a trait has no observed value among the rows kept, or
        ``mode`` is unknown.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from kronlmm.lmm.missing import select_observed
    >>> Y = np.array([[1.0, 2.0], [np.nan, 1.0], [np.nan, np.nan], [0.5, 0.1]])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     sel = select_observed(Y, "observed")
    >>> sel.rows.tolist(), sel.dropped.tolist(), sel.nobs.tolist()
    ([0, 1, 3], [2], [2, 3])
    """
    if mode not in MISSING_MODES:
        raise ValueError(f"missing must be one of {MISSING_MODES}, got {mode!r}")
    inf = np.argwhere(np.isinf(Y))
    if inf.size:
        where = ", ".join(str(tuple(int(i) for i in b)) for b in inf[:5])
        raise ValueError(
            f"Y has {len(inf)} infinite value(s) at index {where}; missing values must be "
            "NaN, and infinite ones removed or corrected"
        )
    nan = np.isnan(Y)
    n, p = Y.shape
    empty = np.flatnonzero(nan.all(axis=0)).tolist()
    if empty:
        raise ValueError(
            f"trait column(s) {empty} of Y have no observed value (all NaN); drop them"
        )
    keep = ~nan.any(axis=1) if mode == "complete-case" else ~nan.all(axis=1)
    rows = np.flatnonzero(keep).astype(np.intp)
    dropped = np.flatnonzero(~keep).astype(np.intp)
    if dropped.size:
        why = "a missing trait value" if mode == "complete-case" else "no observed trait value"
        shown = dropped[:20].tolist()
        more = f" (and {dropped.size - 20} more)" if dropped.size > 20 else ""
        warnings.warn(
            f"{dropped.size} of {n} samples dropped for {why} ({mode}): rows {shown}{more}",
            UserWarning,
            stacklevel=3,
        )
    nobs = (~nan[rows]).sum(axis=0).astype(np.intp)
    if mode == "complete-case" and rows.size == 0:
        raise ValueError("no sample has every trait observed: complete-case analysis is empty")
    return MissingSelection(mode, rows, dropped, nobs)
