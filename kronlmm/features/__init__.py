"""Many independent features, one design: limma-style linear models and per-feature LMMs.

Expression, proteomics and single-cell studies fit the same model to thousands of
features (genes, proteins, …). Arrays are features × samples (limma's orientation);
AnnData objects are samples × features. Every result is a :class:`FeatureResult`: fields
read both as attributes and as mapping keys (``fit.t``, ``fit["t"]``).
"""

from .result import FeatureResult

__all__ = ["FeatureResult"]
