"""Many independent features, one design: limma-style linear models and per-feature LMMs.

Expression, proteomics and single-cell studies fit the same model to thousands of
features (genes, proteins, …). Arrays are features × samples (limma's orientation);
AnnData objects are samples × features. Every result is a :class:`FeatureResult`: fields
read both as attributes and as mapping keys (``fit.t``, ``fit["t"]``).

Per-feature linear mixed models (FLASH-MM from summary statistics, θ ≥ 0, Satterthwaite
and Kenward–Roger df): :func:`summary_statistics`, :func:`lmm_from_summary`,
:func:`lmm_fit`, :func:`lmm_test`, :func:`lmm_component_test`.
"""

from .lmm_fit import LMMFit, lmm_fit, lmm_from_summary
from .lmm_summary import LMMSummary, summary_statistics
from .lmm_test import lmm_component_test, lmm_test
from .result import FeatureResult

__all__ = [
    "FeatureResult",
    "LMMFit",
    "LMMSummary",
    "lmm_component_test",
    "lmm_fit",
    "lmm_from_summary",
    "lmm_test",
    "summary_statistics",
]
