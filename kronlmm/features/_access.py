"""Find the fit in what users pass: a fit object, a plain mapping (pylimma's dicts) or an
AnnData whose ``uns[key]`` holds one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._inputs import is_anndata
from .linear_model import LinearModelFit

__all__ = ["fit_from", "store_fit"]


def fit_from(data: Any, key: str, *, argument: str = "fit") -> tuple[LinearModelFit, Any]:
    """A shallow copy of the fit as a :class:`LinearModelFit`, and the AnnData it came
    from (or None)."""
    adata = None
    if is_anndata(data):
        adata = data
        if key not in data.uns:
            raise ValueError(
                f"the AnnData has no fit in .uns[{key!r}] (keys: {sorted(data.uns.keys())}): "
                "run lm_fit on it first, or pass key= naming where the fit is"
            )
        data = data.uns[key]
    if not isinstance(data, Mapping):
        raise ValueError(
            f"{argument} must be the result of lm_fit (or contrasts_fit, e_bayes), got "
            f"{type(data).__name__}"
        )
    missing = [f for f in ("coefficients", "stdev_unscaled") if f not in data]
    if missing:
        raise ValueError(
            f"{argument} lacks the field(s) {missing}: pass the result of lm_fit, "
            "contrasts_fit or e_bayes"
        )
    fit = LinearModelFit(dict(data))
    if "amean" not in fit and "Amean" in fit:  # pylimma's name
        fit["amean"] = fit["Amean"]
    return fit, adata


def store_fit(adata: Any, key: str, fit: LinearModelFit) -> None:
    if adata is not None:
        adata.uns[key] = fit
