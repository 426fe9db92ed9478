"""High-level GWAS: PLINK genotypes and phenotype/covariate tables → tidy result tables,
and the scan driver that every many-candidate scan of kronlmm runs on.

* :func:`scan` — align samples by ID, fit the multi-trait null once (:func:`fit_null`),
  read the genotypes in variant blocks and test every variant; returns a
  :class:`GwasResult` with a per-variant joint-test table (``assoc``) and a long per-trait
  effects table (``effects``).
* :meth:`GwasResult.write_tsv`, :meth:`GwasResult.write_parquet`,
  :meth:`GwasResult.to_ssf` (GWAS-SSF), :func:`read_results`; every writer is atomic.
* :func:`genomic_control_lambda` — ``median(chi2) / chi2.ppf(0.5, dof)``.
* ``p_value`` is the exact F test's at the null's variance components by default
  (``statistic="chi2"``: the likelihood-ratio test's; ``statistic="bootstrap"``: the F
  test calibrated by a parametric bootstrap of the null, :mod:`kronlmm.lmm.bootstrap`,
  for small cohorts); the variants with ``p_value < 1e-5``
  are also tested with C₀, C₁ re-estimated (``refit``; :func:`kronlmm.lmm.refit_lrt`).
* :class:`QCFilters` — PLINK-style sample and variant filters with GEMMA-like defaults
  (:mod:`kronlmm.gwas.qc`); :class:`RankChoice` — the rank of C₀ the workflow chose
  (:mod:`kronlmm.gwas.rank`).
* The scan driver — :func:`scan_source` (and :func:`scan_candidates`, from a scanner):
  a candidate *source* (:class:`ArraySource`, :class:`DaskArraySource`,
  :class:`PlinkSource`, :class:`ChunkSource`) cut into blocks, an *execution strategy*
  (:class:`~kronlmm.scan.ThreadedExecution`, the default,
  :class:`~kronlmm.scan.SerialExecution`, :class:`DaskExecution`, wrapped by
  :class:`Checkpointed` for a checkpoint directory), and the one block loop
  :func:`kronlmm.scan.scan_blocks`.

Modules: ``null`` (the fitted null, presented), ``fit`` (fitting it from files),
``variant_scan`` (scanning its variants), ``loco`` / ``loco_scan`` (leave-one-chromosome-out
nulls and their scan), ``tables`` / ``ssf`` / ``result`` (the result
tables, GWAS-SSF, the result object), ``output`` (writers and reader), ``sources``,
``execution``, ``checkpoint``, ``driver`` (the scan driver).

Choices
-------
* An intercept is added to the covariates unless they already span a constant column.
* Samples missing a trait or covariate value are dropped and counted (complete cases);
  the phenotype table's samples that are not analysed are counted by reason, a WARNING
  when they are more than 5 % (samples removed by the sample filters not included).
* Trait values equal to -9 (PLINK's and GEMMA's missing code) are read as missing, with a
  WARNING; ``missing_code=None`` keeps them.
* A covariate that is a linear combination of the columns before it is left out by name
  (R's ``lm`` reports NA for it); linearly dependent traits, fewer residual degrees of
  freedom than traits and an all-zero kinship are refused.
* Variants with MAF < 0.01 or more than 5 % missing calls are not tested (GEMMA's defaults;
  ``qc=NO_QC`` for none), and the ``"grm"`` kinship is built from the variants tested.
* C₀ has full rank when the sample allows it (``rank="auto"``: chosen by BIC).
* Samples are analysed in sorted ID order: results do not depend on file order.
* The ``"grm"`` kinship includes the tested variant (proximal
  contamination, GEMMA's default) unless ``loco=True``: leave-one-chromosome-out, one
  kinship and one null per chromosome (:mod:`kronlmm.gwas.loco`).
"""

from ..core.progress import Progress
from ..io import atomic_path
from ..scan import SerialExecution
from ._inputs import KinshipInfo
from .checkpoint import (
    Checkpointed,
    ChunkStore,
    StoringTask,
    check_checkpoint_dir,
    content_fingerprint,
    null_fingerprint,
)
from .driver import scan_candidates, scan_source
from .execution import DaskExecution, dask_client
from .fit import fit_null
from .genomic_control import genomic_control_lambda
from .loco import LocoFit
from .null import NullFit
from .output import read_results, write_json, write_parquet_table, write_table
from .qc import (
    DEFAULT_QC,
    NO_QC,
    QCFilters,
    QCReport,
    filter_variants,
    select_genotype_samples,
    select_listed_variants,
)
from .rank import RankChoice, bic, default_rank, n_variance_parameters
from .result import GwasResult
from .sources import (
    ArraySource,
    CandidateSource,
    ChunkReader,
    ChunkSource,
    DaskArraySource,
    PlinkSource,
    as_source,
)
from .ssf import SSF_JOINT_COLUMNS, SSF_PER_TRAIT_COLUMNS, SsfTables, to_ssf
from .tables import ASSOC_COLUMNS, EFFECT_COLUMNS, REFIT_COLUMNS, assoc_table, effects_table
from .variant_scan import scan_genotypes
from .workflow import scan

__all__ = [
    "ASSOC_COLUMNS",
    "DEFAULT_QC",
    "NO_QC",
    "QCFilters",
    "QCReport",
    "RankChoice",
    "bic",
    "default_rank",
    "filter_variants",
    "n_variance_parameters",
    "select_genotype_samples",
    "select_listed_variants",
    "EFFECT_COLUMNS",
    "REFIT_COLUMNS",
    "SSF_JOINT_COLUMNS",
    "SSF_PER_TRAIT_COLUMNS",
    "ArraySource",
    "CandidateSource",
    "Checkpointed",
    "ChunkReader",
    "ChunkSource",
    "ChunkStore",
    "DaskArraySource",
    "DaskExecution",
    "GwasResult",
    "KinshipInfo",
    "LocoFit",
    "NullFit",
    "PlinkSource",
    "Progress",
    "SerialExecution",
    "SsfTables",
    "StoringTask",
    "as_source",
    "assoc_table",
    "atomic_path",
    "check_checkpoint_dir",
    "content_fingerprint",
    "dask_client",
    "effects_table",
    "fit_null",
    "genomic_control_lambda",
    "null_fingerprint",
    "read_results",
    "scan",
    "scan_candidates",
    "scan_genotypes",
    "scan_source",
    "to_ssf",
    "write_json",
    "write_parquet_table",
    "write_table",
]
