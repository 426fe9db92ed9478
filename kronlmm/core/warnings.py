"""Warning classes raised by model fitting."""

from __future__ import annotations

__all__ = ["FitWarning"]


class FitWarning(UserWarning):
    """A fit stopped without meeting its convergence criteria.

    The message says what happened: the optimiser's own message, the number of
    iterations and the final gradient norm.

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
    ...     result = model.fit(verbose=False, maxiter=1, restarts=0)
    >>> result.success, caught[0].category is FitWarning
    (False, True)
    """
