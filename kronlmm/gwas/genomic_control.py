"""Genomic control: the inflation of test statistics over their null distribution."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["genomic_control_lambda"]


def genomic_control_lambda(chi2: ArrayLike, dof: ArrayLike | int) -> float:
    """Genomic-control inflation factor ``λ = median(chi2) / chi2.ppf(0.5, dof)``.

    Parameters
    ----------
    chi2 : array_like
        Test statistics; NaN entries (untestable variants) are ignored.
    dof : int or array_like
        Degrees of freedom: one value, or one per statistic (all equal after dropping NaN
        statistics).

    Returns
    -------
    float
        λ (NaN if no finite statistic is given).

    Raises
    ------
    ValueError
        If the statistics have different degrees of freedom.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.gwas import genomic_control_lambda
    >>> rng = np.random.default_rng(0)
    >>> chi2 = rng.chisquare(1, size=100_000)  # statistics of null variants, 1 dof
    >>> round(genomic_control_lambda(chi2, 1), 2)
    1.0
    >>> round(genomic_control_lambda(1.2 * chi2, 1), 2)  # inflated by 20 %
    1.2
    >>> round(genomic_control_lambda([np.nan, 0.2, 0.455, 3.0], 1), 3)  # NaN ignored
    1.0
    """
    import scipy.stats as st

    x = np.asarray(chi2, dtype=np.float64).ravel()
    d = np.broadcast_to(np.asarray(dof), x.shape)
    keep = np.isfinite(x)
    if not keep.any():
        return float("nan")
    dofs = np.unique(d[keep])
    if dofs.size != 1:
        raise ValueError(f"genomic control needs a single dof, got {dofs.tolist()}")
    return float(np.median(x[keep]) / st.chi2.ppf(0.5, float(dofs[0])))
