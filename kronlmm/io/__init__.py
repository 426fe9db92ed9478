"""Input layer of the GWAS workflow: genotypes, phenotype/covariate tables, kinship, alignment.

* :class:`PlinkGenotypes` — PLINK 1 ``.bed/.bim/.fam`` read in variant blocks (bed-reader).
  Dosages count ``effect_allele`` = ``.bim`` allele_1 (A1) by default; missing calls are NaN.
  :class:`PlinkSlice` — one block described by value, read where it is used (a Dask worker).
* :func:`read_table` — phenotype/covariate files (tab/comma/whitespace) or DataFrames →
  float DataFrame indexed by sample ID (IID).
* :func:`grm_from_genotypes`, :func:`low_rank_G`, :func:`read_kinship`,
  :func:`write_kinship` — kinship matrices with sample IDs, also in GEMMA, GCTA and PLINK
  formats (:mod:`kronlmm.io.kinship_formats`); :func:`grm_by_group` — the GRM's
  per-chromosome contributions in one pass (leave-one-chromosome-out kinships).
* :func:`align_samples` — match every source by sample ID and keep complete cases.
* :func:`read_sample_list`, :func:`read_variant_list`, :func:`select_samples`,
  :func:`select_variants` — PLINK's ``--keep``/``--remove`` and ``--extract``/``--exclude``.
* :func:`variant_qc_stats`, :func:`sample_missing_rate`, :func:`hwe_exact_p` — the
  statistics of PLINK's ``--maf``, ``--geno``, ``--hwe`` and ``--mind`` filters; the
  per-variant :class:`GenotypeCounts` behind them come from the packed ``.bed`` bytes
  (:meth:`PlinkGenotypes.genotype_counts`).
* :func:`atomic_path` — the atomic writer every kronlmm file goes through.

Every error about the input is a :class:`ValueError` whose message names the file, column or
sample involved; a missing file raises :class:`InputFileNotFoundError`, which is both a
ValueError and a FileNotFoundError.
"""

from ._common import InputFileNotFoundError
from .align import LOSS_REASONS, LOSS_WARNING_SHARE, AlignedSamples, align_samples
from .atomic import OutOfSpaceError, atomic_path, mount_point
from .bed_counts import GenotypeCounts
from .grm import grm_block_size, grm_from_genotypes, low_rank_G, standardize_dosage
from .grm_groups import GroupedGRM, grm_by_group
from .kinship import TOOL_PSD_TOLERANCE, Kinship, LowRankG, check_kinship
from .kinship_file import read_kinship, write_kinship
from .kinship_formats import (
    kinship_format,
    read_gcta_grm,
    read_gemma_kinship,
    read_id_file,
    read_plink_rel,
    write_gcta_grm,
    write_gemma_kinship,
    write_plink_rel,
)
from .lists import SampleList, read_sample_list, read_variant_list, select_samples, select_variants
from .plink import BedPaddingError, GenotypeBlock, PlinkGenotypes, PlinkSlice
from .qc import hwe_exact_p, sample_missing_rate, variant_qc_stats
from .tables import FamilyIDs, read_table
from .text_files import EXACT_FLOAT_PARSING

__all__ = [
    "EXACT_FLOAT_PARSING",
    "LOSS_REASONS",
    "LOSS_WARNING_SHARE",
    "TOOL_PSD_TOLERANCE",
    "AlignedSamples",
    "BedPaddingError",
    "FamilyIDs",
    "GenotypeBlock",
    "GenotypeCounts",
    "GroupedGRM",
    "InputFileNotFoundError",
    "Kinship",
    "LowRankG",
    "OutOfSpaceError",
    "PlinkGenotypes",
    "PlinkSlice",
    "SampleList",
    "align_samples",
    "atomic_path",
    "check_kinship",
    "grm_block_size",
    "grm_by_group",
    "grm_from_genotypes",
    "hwe_exact_p",
    "kinship_format",
    "low_rank_G",
    "mount_point",
    "read_gcta_grm",
    "read_gemma_kinship",
    "read_id_file",
    "read_kinship",
    "read_plink_rel",
    "read_sample_list",
    "read_table",
    "read_variant_list",
    "sample_missing_rate",
    "select_samples",
    "select_variants",
    "standardize_dosage",
    "variant_qc_stats",
    "write_gcta_grm",
    "write_gemma_kinship",
    "write_kinship",
    "write_plink_rel",
]
