"""Warning classes raised by model fitting."""

from __future__ import annotations

__all__ = ["FitWarning"]


class FitWarning(UserWarning):
    """A fit stopped without meeting its convergence criteria.

    The message says what happened: the optimiser's own message, the number of
    iterations and the final gradient norm.
    """
