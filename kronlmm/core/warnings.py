"""Warning classes raised by model fitting."""

from __future__ import annotations

__all__ = ["FitWarning"]


class FitWarning(UserWarning):
    """A fit stopped without meeting its convergence criteria.

    The message says what happened: the norm of the final projected gradient against
    the tolerance, the number of iterations, and anything else that went wrong (e.g. C₁
    ending at its floor). Here a tolerance no fit can meet forces it:

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from kronlmm.lmm import FitWarning, Kron2Sum
    >>> rng = np.random.default_rng(0)
    >>> G = rng.standard_normal((40, 5))
    >>> model = Kron2Sum(rng.standard_normal((40, 2)), np.eye(2), np.ones((40, 1)), G)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     result = model.fit(verbose=False, gtol=1e-300)
    >>> result.success, caught[0].category is FitWarning
    (False, True)
    """
