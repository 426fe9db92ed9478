"""Many independent features, one design: limma-style linear models and per-feature LMMs.

Expression, proteomics, metabolomics and single-cell studies fit the same model to
thousands of features (genes, proteins, …). Arrays are features × samples (limma's
orientation); AnnData objects are samples × features (results of the limma-style models
are also stored in ``adata.uns[key]``). Every result is a :class:`FeatureResult`: fields
read both as attributes and as mapping keys (``fit.t``, ``fit["t"]``).

Linear models with empirical Bayes moderation follow R limma 3.54 (and the names of its
Python port pylimma), so that pylimma scripts port by changing the import:

- :func:`voom` — counts to log-CPM with precision weights;
- :func:`lm_fit` — OLS, WLS, block/duplicate GLS and robust fits of every feature;
- :func:`duplicate_correlation` — the common intra-block correlation;
- :func:`make_contrasts`, :func:`contrasts_fit` — contrasts of the coefficients;
- :func:`e_bayes`, :func:`treat` — moderated t, F and B statistics;
- :func:`top_table`, :func:`decide_tests` — ranked tables and decisions;
- :func:`squeeze_var`, :func:`fit_f_dist`, :func:`fit_f_dist_robustly` — the variance
  prior on its own.

Per-feature linear mixed models from summary statistics (FLASH-MM's idea, with θ ≥ 0 and
Satterthwaite or Kenward–Roger degrees of freedom): :func:`summary_statistics`,
:func:`lmm_from_summary`, :func:`lmm_fit`, :func:`lmm_test`, :func:`lmm_component_test`.
"""

from .contrasts import contrasts_fit, make_contrasts
from .duplicate_correlation import DuplicateCorrelation, duplicate_correlation
from .ebayes import e_bayes, f_statistic, treat
from .linear_model import LinearModelFit, lm_fit
from .lmm_fit import LMMFit, lmm_fit, lmm_from_summary
from .lmm_summary import LMMSummary, summary_statistics
from .lmm_test import lmm_component_test, lmm_test
from .moderation import fit_f_dist, fit_f_dist_robustly, squeeze_var, trigamma_inverse
from .result import FeatureResult
from .toptable import TestResults, decide_tests, p_adjust, top_table
from .voom import VoomResult, voom

__all__ = [
    "DuplicateCorrelation",
    "FeatureResult",
    "LinearModelFit",
    "LMMFit",
    "LMMSummary",
    "TestResults",
    "VoomResult",
    "contrasts_fit",
    "decide_tests",
    "duplicate_correlation",
    "e_bayes",
    "f_statistic",
    "fit_f_dist",
    "fit_f_dist_robustly",
    "lm_fit",
    "lmm_component_test",
    "lmm_fit",
    "lmm_from_summary",
    "lmm_test",
    "make_contrasts",
    "p_adjust",
    "squeeze_var",
    "summary_statistics",
    "top_table",
    "treat",
    "trigamma_inverse",
    "voom",
]
