"""High-level GWAS: PLINK genotypes and phenotype/covariate tables → tidy result tables.

* :func:`scan` — align samples by ID, fit the multi-trait null once (:func:`fit_null`),
  read the genotypes in variant blocks and test every variant; returns a
  :class:`GwasResult` with a per-variant joint-test table (``assoc``) and a long per-trait
  effects table (``effects``).
* :meth:`GwasResult.write_tsv`, :meth:`GwasResult.write_parquet`,
  :meth:`GwasResult.to_ssf` (GWAS-SSF), :func:`read_results`; every writer is atomic.
* :func:`genomic_control_lambda` — ``median(chi2) / chi2.ppf(0.5, dof)``.

Choices
-------
* An intercept is added to the covariates unless they already span a constant column.
* Samples missing a trait or covariate value are dropped and counted (complete cases).
* Samples are analysed in sorted ID order: results do not depend on file order.
* The ``"grm"`` kinship is built from all variants, including the tested one (proximal
  contamination, GEMMA's default); leave-one-chromosome-out is not implemented yet.
"""

from ..io import atomic_path
from ._inputs import KinshipInfo
from .null import NullFit, Progress, fit_null
from .output import read_results, write_json, write_parquet_table, write_table
from .result import (
    ASSOC_COLUMNS,
    EFFECT_COLUMNS,
    SSF_JOINT_COLUMNS,
    SSF_PER_TRAIT_COLUMNS,
    GwasResult,
    SsfTables,
    genomic_control_lambda,
)
from .workflow import scan

__all__ = [
    "ASSOC_COLUMNS",
    "EFFECT_COLUMNS",
    "SSF_JOINT_COLUMNS",
    "SSF_PER_TRAIT_COLUMNS",
    "GwasResult",
    "KinshipInfo",
    "NullFit",
    "Progress",
    "SsfTables",
    "atomic_path",
    "fit_null",
    "genomic_control_lambda",
    "read_results",
    "scan",
    "write_json",
    "write_parquet_table",
    "write_table",
]
