"""Input layer of the GWAS workflow: genotypes, phenotype/covariate tables, kinship, alignment.

* :class:`PlinkGenotypes` — PLINK 1 ``.bed/.bim/.fam`` read in variant blocks (bed-reader).
  Dosages count ``effect_allele`` = ``.bim`` allele_1 (A1) by default; missing calls are NaN.
  :class:`PlinkSlice` — one block described by value, read where it is used (a Dask worker).
* :func:`read_table` — phenotype/covariate files (tab/comma/whitespace) or DataFrames →
  float DataFrame indexed by sample ID (IID).
* :func:`grm_from_genotypes`, :func:`low_rank_G`, :func:`read_kinship`,
  :func:`write_kinship` — kinship matrices with sample IDs.
* :func:`align_samples` — match every source by sample ID and keep complete cases.
* :func:`atomic_path` — the atomic writer every kronlmm file goes through.

Every error about the input is a :class:`ValueError` whose message names the file, column or
sample involved; a missing file raises :class:`InputFileNotFoundError`, which is both a
ValueError and a FileNotFoundError.
"""

from ._common import InputFileNotFoundError
from .align import LOSS_REASONS, LOSS_WARNING_SHARE, AlignedSamples, align_samples
from .atomic import OutOfSpaceError, atomic_path, mount_point
from .grm import grm_from_genotypes, low_rank_G, standardize_dosage
from .kinship import Kinship, LowRankG, check_kinship
from .kinship_file import read_kinship, write_kinship
from .plink import BedPaddingError, GenotypeBlock, PlinkGenotypes, PlinkSlice
from .tables import FamilyIDs, read_table

__all__ = [
    "LOSS_REASONS",
    "LOSS_WARNING_SHARE",
    "AlignedSamples",
    "BedPaddingError",
    "FamilyIDs",
    "GenotypeBlock",
    "InputFileNotFoundError",
    "Kinship",
    "LowRankG",
    "OutOfSpaceError",
    "PlinkGenotypes",
    "PlinkSlice",
    "align_samples",
    "atomic_path",
    "check_kinship",
    "grm_from_genotypes",
    "low_rank_G",
    "mount_point",
    "read_kinship",
    "read_table",
    "standardize_dosage",
    "write_kinship",
]
