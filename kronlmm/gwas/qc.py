"""Sample and variant filters of a GWAS, with PLINK 2's meanings and GEMMA-like defaults.

Order of operations (PLINK 2's):

1. ``keep`` / ``remove`` — sample lists (:func:`kronlmm.io.read_sample_list`);
2. ``extract`` / ``exclude`` — variant lists (:func:`kronlmm.io.read_variant_list`);
3. ``mind`` — samples whose share of missing calls over the remaining variants exceeds it;
4. alignment with the phenotypes, covariates and kinship (complete cases);
5. ``geno``, ``hwe``, ``maf`` — variants whose missing-call rate exceeds ``geno``, whose
   Hardy–Weinberg exact-test p-value is below ``hwe``, or whose minor allele frequency is
   below ``maf``, computed on the samples of the analysis (GEMMA's convention; PLINK uses
   every remaining sample, and only founders for ``maf``/``hwe``). A variant failing several
   filters is counted under the first of geno, hwe, maf.

Ties at a threshold are kept, as PLINK keeps them (within a relative ``1e-9``).
Defaults (:data:`DEFAULT_QC`): ``maf = 0.01`` and ``geno = 0.05``, as GEMMA filters by
default; ``hwe`` and ``mind`` off. The variants that pass are both tested and used for the
``"grm"`` kinship.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..io import (
    PlinkGenotypes,
    SampleList,
    sample_missing_rate,
    select_samples,
    select_variants,
    variant_qc_stats,
)

__all__ = ["QCFilters", "QCReport", "DEFAULT_QC", "NO_QC", "select_genotype_samples",
           "select_listed_variants", "filter_variants", "VariantList", "SampleSpec"]  # fmt: skip

logger = logging.getLogger("kronlmm")

PathLike = str | os.PathLike[str]
SampleSpec = SampleList | PathLike | Sequence[str]
VariantList = PathLike | Sequence[str]

TIE_RTOL = 1e-9


def _check_rate(name: str, value: float | None, upper: float) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, {upper:g}], got {value!r}") from None
    if not (math.isfinite(number) and 0.0 <= number <= upper):
        raise ValueError(f"{name} must be a number in [0, {upper:g}], got {value!r}")
    return number


@dataclass(frozen=True)
class QCFilters:
    """Thresholds of the sample and variant filters (``None``: filter off).

    Attributes
    ----------
    maf : float or None, default 0.01
        Minimum minor allele frequency (PLINK's ``--maf``), in [0, 0.5].
    geno : float or None, default 0.05
        Maximum missing-call rate of a variant (``--geno``), in [0, 1].
    hwe : float or None, default None
        Minimum Hardy–Weinberg exact-test p-value (``--hwe``), in [0, 1].
    mind : float or None, default None
        Maximum missing-call rate of a sample (``--mind``), in [0, 1].

    Examples
    --------
    >>> from kronlmm.gwas import QCFilters
    >>> QCFilters().describe()
    'MAF >= 0.01, variant missingness <= 0.05'
    >>> QCFilters(maf=None, geno=None, hwe=1e-6, mind=0.1).describe()
    'HWE p >= 1e-06, sample missingness <= 0.1'
    >>> QCFilters(maf=None, geno=None).describe()
    'none'
    """

    maf: float | None = 0.01
    geno: float | None = 0.05
    hwe: float | None = None
    mind: float | None = None

    def __post_init__(self) -> None:
        for name, upper in (("maf", 0.5), ("geno", 1.0), ("hwe", 1.0), ("mind", 1.0)):
            object.__setattr__(self, name, _check_rate(name, getattr(self, name), upper))

    def describe(self) -> str:
        """The active filters in words (``"none"`` when all are off)."""
        parts = []
        if self.maf is not None:
            parts.append(f"MAF >= {self.maf:g}")
        if self.geno is not None:
            parts.append(f"variant missingness <= {self.geno:g}")
        if self.hwe is not None:
            parts.append(f"HWE p >= {self.hwe:g}")
        if self.mind is not None:
            parts.append(f"sample missingness <= {self.mind:g}")
        return ", ".join(parts) if parts else "none"


DEFAULT_QC = QCFilters()
"""GEMMA-like defaults: MAF ≥ 0.01 and variant missingness ≤ 5 %; no HWE or sample filter."""

NO_QC = QCFilters(maf=None, geno=None, hwe=None, mind=None)
"""Every filter off."""


@dataclass
class QCReport:
    """What the filters removed: counts per reason, and the filters applied.

    Attributes
    ----------
    filters : QCFilters
        The thresholds.
    samples : dict
        ``"in_fam"``, ``"removed_by_keep"``, ``"removed_by_remove"``,
        ``"removed_by_mind"``, ``"kept"`` (samples of the ``.fam`` passed on to the
        alignment with the phenotypes).
    variants : dict
        ``"in_bim"``, ``"removed_by_extract"``, ``"removed_by_exclude"``,
        ``"removed_by_geno"``, ``"removed_by_hwe"``, ``"removed_by_maf"``, ``"kept"``.
    removed_by_mind : list of str
        IIDs of the samples removed by ``mind``.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> qc = fit_null(paths.prefix, paths.pheno, covar=paths.covar, kinship=None).qc
    >>> qc.variants["in_bim"], qc.variants["removed_by_maf"], qc.variants["kept"]
    (3000, 30, 2970)
    >>> print(qc.summary().replace("; ", ";\\n"))
    variant QC (MAF >= 0.01, variant missingness <= 0.05): 2970 of 3000 variants kept;
    removed: maf 30
    """

    filters: QCFilters
    samples: dict[str, int] = field(default_factory=dict)
    variants: dict[str, int] = field(default_factory=dict)
    removed_by_mind: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the filters, variants kept of those in the ``.bim`` and removed per reason
        (and the samples removed, when any were)."""
        removed = [
            f"{key.removeprefix('removed_by_')} {count}"
            for key, count in self.variants.items()
            if key.startswith("removed_by_") and count
        ]
        line = (
            f"variant QC ({self.filters.describe()}): {self.variants.get('kept', 0)} of "
            f"{self.variants.get('in_bim', 0)} variants kept; removed: "
            + (", ".join(removed) if removed else "none")
        )
        gone = [
            f"{key.removeprefix('removed_by_')} {count}"
            for key, count in self.samples.items()
            if key.startswith("removed_by_") and count
        ]
        if gone:
            line += f"; samples removed: {', '.join(gone)}"
        return line

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: ``filters``, ``samples``, ``variants``, ``removed_by_mind``."""
        return {
            "filters": asdict(self.filters),
            "samples": dict(self.samples),
            "variants": dict(self.variants),
            "removed_by_mind": list(self.removed_by_mind),
        }


def select_genotype_samples(
    genotypes: PlinkGenotypes,
    filters: QCFilters,
    *,
    keep: SampleSpec | None = None,
    remove: SampleSpec | None = None,
    variant_index: NDArray[np.intp] | None = None,
    report: QCReport,
) -> NDArray[np.intp]:
    """Steps 1 and 3 of the module notes: ``.fam`` positions left after ``keep``, ``remove``
    and ``mind`` (computed over ``variant_index``); counts go to ``report.samples``.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import QCFilters, QCReport, select_genotype_samples
    >>> from kronlmm.io import PlinkGenotypes
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> report = QCReport(QCFilters(mind=0.002))
    >>> kept = select_genotype_samples(geno, report.filters, remove=["IND000"], report=report)
    >>> report.samples
    {'in_fam': 400, 'removed_by_keep': 0, 'removed_by_remove': 1, 'removed_by_mind': 9, 'kept': 390}
    """
    positions, counts = select_samples(genotypes.sample_ids, genotypes.samples["FID"].to_numpy(),
                                       keep, remove)  # fmt: skip
    report.samples = {"in_fam": genotypes.nsamples, **counts, "removed_by_mind": 0}
    if filters.mind is not None and positions.size:
        rate = sample_missing_rate(genotypes, positions, variant_index)
        bad = rate > filters.mind * (1 + TIE_RTOL)
        report.removed_by_mind = genotypes.sample_ids[positions[bad]].tolist()
        report.samples["removed_by_mind"] = int(bad.sum())
        if bad.any():
            logger.info(
                "--mind %g: %d sample(s) removed for missing calls (e.g. %s)",
                filters.mind,
                int(bad.sum()),
                ", ".join(report.removed_by_mind[:3]),
            )
        positions = positions[~bad]
    report.samples["kept"] = int(positions.size)
    return positions


def select_listed_variants(
    genotypes: PlinkGenotypes,
    *,
    extract: VariantList | None = None,
    exclude: VariantList | None = None,
    report: QCReport,
) -> NDArray[np.intp]:
    """Step 2 of the module notes: ``.bim`` positions left after ``extract``/``exclude``.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import QCFilters, QCReport, select_listed_variants
    >>> from kronlmm.io import PlinkGenotypes
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> report = QCReport(QCFilters())
    >>> select_listed_variants(geno, exclude=["rs58370739"], report=report).size
    2999
    """
    ids = genotypes.variants["variant_id"].to_numpy(dtype=object)
    positions, counts = select_variants(ids, extract, exclude)
    report.variants = {"in_bim": genotypes.nvariants, **counts}
    if not positions.size:
        raise ValueError(
            f"no variant left after --extract/--exclude (the .bim has {genotypes.nvariants})"
        )
    return positions


def filter_variants(
    genotypes: PlinkGenotypes,
    sample_index: NDArray[np.intp],
    variant_index: NDArray[np.intp],
    filters: QCFilters,
    *,
    report: QCReport,
) -> NDArray[np.intp]:
    """Step 5 of the module notes: the positions of ``variant_index`` passing ``geno``,
    ``hwe`` and ``maf`` on the samples ``sample_index``; counts go to ``report.variants``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import QCFilters, QCReport, filter_variants
    >>> from kronlmm.io import PlinkGenotypes
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> report = QCReport(QCFilters(maf=0.05, geno=0.05, hwe=1e-6))
    >>> kept = filter_variants(geno, np.arange(400), np.arange(3000), report.filters,
    ...                        report=report)
    >>> kept.size, report.variants["removed_by_maf"]
    (2790, 210)
    """
    counts = {"removed_by_geno": 0, "removed_by_hwe": 0, "removed_by_maf": 0}
    active = any(v is not None for v in (filters.maf, filters.geno, filters.hwe))
    if active and variant_index.size:
        stats = variant_qc_stats(
            genotypes, sample_index, variant_index, hwe=filters.hwe is not None
        )
        keep = np.ones(len(stats), dtype=bool)
        n = max(int(sample_index.size), 1)
        tests: list[tuple[str, NDArray[np.bool_]]] = []
        if filters.geno is not None:
            missing = (n - stats["n_observed"].to_numpy()) / n
            tests.append(("geno", missing > filters.geno * (1 + TIE_RTOL)))
        if filters.hwe is not None:
            tests.append(("hwe", stats["hwe_p"].to_numpy() < filters.hwe * (1 - TIE_RTOL)))
        if filters.maf is not None:
            maf = stats["maf"].to_numpy()
            tests.append(("maf", ~(maf >= filters.maf * (1 - TIE_RTOL))))  # NaN: no call
        for name, fails in tests:
            counts[f"removed_by_{name}"] = int((fails & keep).sum())
            keep &= ~fails
        variant_index = variant_index[keep]
    report.variants = {**report.variants, **counts, "kept": int(variant_index.size)}
    logger.info("%s", report.summary())
    if not variant_index.size:
        raise ValueError(
            f"no variant passes the QC filters ({filters.describe()}): {report.summary()}; "
            "relax them (--maf, --geno, --hwe) or check the genotypes"
        )
    return variant_index
