"""Quality-control statistics of genotypes, computed one block of variants at a time.

For the selected samples and variants (every statistic uses only the samples given, so
computing them on the samples of an analysis gives GEMMA's convention):

* ``missing_rate`` of a variant — missing calls / samples (PLINK's ``--geno`` statistic);
* ``effect_allele_frequency`` — mean observed dosage / 2 (the counted allele, ``.bim``
  allele 1 by default) and ``maf = min(f, 1 − f)`` (PLINK 2's default "non-major" allele
  frequency of a biallelic variant, the ``--maf`` statistic);
* ``hwe_p`` — the Hardy–Weinberg equilibrium exact test (Wigginton, Cutler & Abecasis 2005,
  *Am J Hum Genet* 76:887): with ``N`` observed genotypes and ``n₁`` copies of one allele,
  the probability of ``h`` heterozygotes is ``N! n₁! n₂! 2ʰ / ((2N)! a! h! b!)`` with
  ``a = (n₁ − h)/2``, ``b = (n₂ − h)/2`` homozygotes, and the p-value is the sum of the
  probabilities of every ``h`` at most as probable as the observed one (PLINK's ``--hwe``
  without ``midp``);
* the ``missing_rate`` of a sample — missing calls / variants (PLINK's ``--mind`` statistic).

Dosages are the ``.bed`` hard calls; the ``.bed`` stores a hemizygous call (e.g. chromosome
X of a male) as homozygous, and these statistics count it so, while PLINK counts it as one
allele: results for non-autosomal variants can differ from PLINK's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln

from .plink import MISSING_COUNT, IndexLike, PlinkGenotypes, _positions

__all__ = ["variant_qc_stats", "sample_missing_rate", "hwe_exact_p"]

#: Relative tolerance under which two genotype configurations count as equally probable.
HWE_TIES_RTOL = 1e-7


def _log_probabilities(n: int, n1: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Heterozygote counts ``h`` possible with ``n`` genotypes and ``n1`` copies of allele 1,
    and ``log P(h)`` under Hardy–Weinberg equilibrium."""
    n2 = 2 * n - n1
    h = np.arange(n1 % 2, min(n1, n2) + 1, 2, dtype=np.int64)
    a, b = (n1 - h) // 2, (n2 - h) // 2
    logp = (
        gammaln(n + 1)
        + gammaln(n1 + 1)
        + gammaln(n2 + 1)
        - gammaln(2 * n + 1)
        - gammaln(a + 1)
        - gammaln(h + 1)
        - gammaln(b + 1)
        + h * np.log(2.0)
    )
    return h, logp


def hwe_exact_p(n_hom1: ArrayLike, n_het: ArrayLike, n_hom2: ArrayLike) -> NDArray[np.float64]:
    """Hardy–Weinberg equilibrium exact test p-values (see the module notes).

    Parameters
    ----------
    n_hom1, n_het, n_hom2 : array_like of int
        Genotype counts per variant (homozygous allele 1, heterozygous, homozygous allele 2).

    Returns
    -------
    numpy.ndarray
        p-values (1 for a variant with no genotype or no variation).

    Examples
    --------
    100 genotypes with 20 copies of one allele: no heterozygote at all is very unlikely
    under equilibrium, 21 heterozygotes (and 21 copies) is not:

    >>> from kronlmm.io import hwe_exact_p
    >>> p = hwe_exact_p([90, 79, 89], [0, 21, 1], [10, 0, 10])
    >>> [f"{v:.3g}" for v in p]
    ['1.07e-14', '0.594', '2.25e-13']
    """
    aa = np.asarray(n_hom1, dtype=np.int64).ravel()
    ab = np.asarray(n_het, dtype=np.int64).ravel()
    bb = np.asarray(n_hom2, dtype=np.int64).ravel()
    n = aa + ab + bb
    n1 = 2 * aa + ab
    out = np.ones(n.size)
    groups: dict[tuple[int, int], list[int]] = {}
    for row, key in enumerate(zip(n.tolist(), n1.tolist(), strict=True)):
        groups.setdefault(key, []).append(row)
    for (size, copies), members in groups.items():
        if size == 0 or copies in (0, 2 * size):
            continue
        rows = np.asarray(members)
        h, logp = _log_probabilities(size, copies)
        top = logp.max()
        prob = np.exp(logp - top)
        order = np.argsort(prob, kind="stable")
        cumulative = np.cumsum(prob[order])
        total = cumulative[-1]
        observed = prob[np.searchsorted(h, ab[rows])]
        # every h at most as probable as the observed one (ties within HWE_TIES_RTOL)
        last = np.searchsorted(prob[order], observed * (1 + HWE_TIES_RTOL), side="right")
        out[rows] = np.minimum(cumulative[last - 1] / total, 1.0)
    return out


def variant_qc_stats(
    plink: PlinkGenotypes,
    sample_index: IndexLike = None,
    variant_index: IndexLike = None,
    *,
    hwe: bool = False,
    block_size: int = 2000,
) -> pd.DataFrame:
    """Per-variant missingness, allele frequency and (optionally) HWE p-value.

    Parameters
    ----------
    plink : PlinkGenotypes
        Genotype source.
    sample_index : slice, int array, bool mask or None
        Samples (``.fam`` positions) the statistics are computed on; ``None``: all.
    variant_index : slice, int array, bool mask or None
        Variants (``.bim`` positions); ``None``: all.
    hwe : bool, default False
        Also compute the HWE exact test (else ``hwe_p`` is NaN).
    block_size : int, default 2000
        Variants decoded at a time where the ``.bed`` must be decoded (see
        :meth:`PlinkGenotypes.genotype_counts`, which counts the genotypes).

    Returns
    -------
    pandas.DataFrame
        Index: ``.bim`` positions. Columns ``variant_id``, ``chrom``, ``n_observed``,
        ``missing_rate``, ``effect_allele_frequency``, ``maf``, ``hwe_p`` (definitions in the
        module notes).

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, variant_qc_stats
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> stats = variant_qc_stats(geno, variant_index=slice(0, 5), hwe=True)
    >>> list(stats.columns)
    ['variant_id', 'chrom', 'n_observed', 'missing_rate', 'effect_allele_frequency', 'maf', 'hwe_p']
    >>> stats["maf"].round(3).tolist()
    [0.085, 0.488, 0.316, 0.429, 0.151]
    """
    counts = plink.genotype_counts(sample_index, variant_index, block_size=block_size)
    variants = plink.variants.iloc[_positions(variant_index, plink.nvariants, "variant_index")]
    observed = counts.n_observed
    selected = observed + counts.n_missing  # the number of selected samples, per variant
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = np.where(observed > 0, counts.allele_total / (2.0 * observed), np.nan)
        missing_rate = np.where(selected > 0, counts.n_missing / selected, np.nan)
    hwe_p = hwe_exact_p(counts.n_two, counts.n_one, counts.n_zero) if hwe else np.nan
    return pd.DataFrame(
        {
            "variant_id": variants["variant_id"].to_numpy(),
            "chrom": variants["chrom"].to_numpy(),
            "n_observed": observed,
            "missing_rate": missing_rate,
            "effect_allele_frequency": freq,
            "maf": np.minimum(freq, 1.0 - freq),
            "hwe_p": hwe_p,
        },
        index=variants.index,
    )


def sample_missing_rate(
    plink: PlinkGenotypes,
    sample_index: IndexLike = None,
    variant_index: IndexLike = None,
    *,
    block_size: int = 2000,
) -> NDArray[np.float64]:
    """Share of missing calls of each sample over the selected variants (``--mind``).

    Parameters
    ----------
    plink : PlinkGenotypes
        Genotype source.
    sample_index : slice, int array, bool mask or None
        Samples (``.fam`` positions); ``None``: all.
    variant_index : slice, int array, bool mask or None
        Variants the rate is computed over; ``None``: all.
    block_size : int, default 2000
        Variants read at a time.

    Returns
    -------
    numpy.ndarray
        One rate per selected sample, in the order given.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, sample_missing_rate
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> rates = sample_missing_rate(geno)
    >>> rates.shape, bool(rates.max() < 0.01)
    ((400,), True)
    """
    rows = _positions(sample_index, plink.nsamples, "sample_index")
    n = len(range(*rows.indices(plink.nsamples))) if isinstance(rows, slice) else rows.size
    missing = np.zeros(n)
    m = 0
    for _, dosage in plink.iter_blocks(block_size, sample_index, variant_index, dtype="int8"):
        missing += np.count_nonzero(dosage == MISSING_COUNT, axis=1)
        m += dosage.shape[1]
    return missing / m if m else np.zeros(n)
