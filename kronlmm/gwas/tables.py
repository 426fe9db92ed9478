"""The result tables of a GWAS scan: per-variant joint tests and per-trait effects.

Their column names are the result vocabulary of kronlmm, shared by
:class:`kronlmm.scan.ScanResult` and the writers (``p_value``, ``neg_log10_p_value``,
``trait``).

``assoc`` (one row per variant, in ``.bim`` order), columns :data:`ASSOC_COLUMNS`:

=========================  =======  ==========================================================
column                     dtype    meaning
=========================  =======  ==========================================================
chrom                      str      chromosome as written in the ``.bim`` file
pos                        int64    base-pair position
variant_id                 str      ``.bim`` variant ID
effect_allele              str      the counted allele (``.bim`` A1 by default)
other_allele               str      the other allele
effect_allele_frequency    float64  mean observed dosage / 2 over the samples used
n                          int64    samples used with an observed call for this variant
lml_null, lml_alt          float64  ML log-likelihoods of null and alternative (see below)
chi2                       float64  likelihood-ratio statistic ``2(lml_alt − lml_null)``
dof                        int64    degrees of freedom of the test
F                          float64  exact F statistic at the fixed variance components
df1, df2                   int64    its degrees of freedom: ``dof`` and ``n·p − k₁``
statistic                  str      what ``p_value`` is from: ``"F"`` (default), ``"chi2"``,
                                    or ``"F, parametric bootstrap (B=…, M=…)"``
p_value                    float64  ``P(F(df1, df2) > F)`` or ``P(χ²_dof > chi2)`` (0 where it
                                    underflows), or the F p-value calibrated by the
                                    bootstrap (:mod:`kronlmm.lmm.bootstrap`)
neg_log10_p_value          float64  ``−log10 p`` from the log survival function (exact)
reason                     str      ``""`` if tested; otherwise why the row is NaN
lml_null_refit,            float64  exact likelihood-ratio test with C₀, C₁ re-estimated (ML)
lml_alt_refit, chi2_refit,          under null and alternative, for the variants refit
p_value_refit,                      (:func:`kronlmm.lmm.refit_lrt`); NaN for the others
neg_log10_p_value_refit
refit_reason               str      ``""`` if refit; otherwise why not (e.g. not significant)
=========================  =======  ==========================================================

With N = n·p observations and k₁ the rank of the alternative's mean design, the F test
``F = ((Q₀ − Q₁)/df1)/(Q₁/(N − k₁))`` (Q: ``rᵀK⁻¹r`` at the GLS estimate) is exact at the
fixed C₀, C₁ for ML and REML nulls alike (see :mod:`kronlmm.scan.block_scan`); ``chi2`` is
``N log(Q₀/Q₁)``.

``lml_null``/``lml_alt`` are maximum (never restricted) log-likelihoods with C₀, C₁ fixed
at the null estimates and the overall scale re-profiled, so their difference is a valid
likelihood ratio; after an ML fit ``lml_null`` equals the null's ``lml`` (for the
``"interaction"`` test the null also contains the common effect of the variant).

``effects`` (long; one row per variant and trait, in ``assoc`` row order, traits inner),
columns :data:`EFFECT_COLUMNS`: ``variant_id``, ``trait`` (the trait name, or ``"common"``
for the shared-effect test), ``beta`` (effect of one extra copy of the effect allele, in
trait units) and ``se`` (its standard error).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..scan import ScanResult

__all__ = ["ASSOC_COLUMNS", "EFFECT_COLUMNS", "REFIT_COLUMNS", "assoc_table", "effects_table"]

REFIT_COLUMNS = (
    "lml_null_refit",
    "lml_alt_refit",
    "chi2_refit",
    "p_value_refit",
    "neg_log10_p_value_refit",
    "refit_reason",
)
"""The columns of the refit likelihood-ratio test, last in :data:`ASSOC_COLUMNS`."""

ASSOC_COLUMNS = (
    "chrom",
    "pos",
    "variant_id",
    "effect_allele",
    "other_allele",
    "effect_allele_frequency",
    "n",
    "lml_null",
    "lml_alt",
    "chi2",
    "dof",
    "F",
    "df1",
    "df2",
    "statistic",
    "p_value",
    "neg_log10_p_value",
    "reason",
    *REFIT_COLUMNS,
)
"""Columns of :attr:`GwasResult.assoc`, in order."""

EFFECT_COLUMNS = ("variant_id", "trait", "beta", "se")
"""Columns of :attr:`GwasResult.effects`, in order."""


def assoc_table(
    variants: pd.DataFrame, result: ScanResult, n: int, refit_reason: str = "refit='none'"
) -> pd.DataFrame:
    """The ``assoc`` table: one row per variant, columns :data:`ASSOC_COLUMNS`.

    The refit columns are NaN, with ``refit_reason`` for every row (the refit step fills
    them in for the variants it refits).

    Parameters
    ----------
    variants : pandas.DataFrame
        The scanned variants in scan order (:attr:`kronlmm.io.PlinkGenotypes.variants`).
    result : kronlmm.scan.ScanResult
        Their scan, one row per variant.
    n : int
        Samples of the null model (``n`` is those with an observed call).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from kronlmm.gwas import ASSOC_COLUMNS, assoc_table
    >>> from kronlmm.io import PlinkGenotypes
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.scan import KronFastScanner
    >>> import numpy as np
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> variants, dosage = next(geno.iter_blocks(5))
    >>> rng = np.random.default_rng(0)
    >>> n, p = geno.nsamples, 2
    >>> scanner = KronFastScanner(rng.standard_normal((n, p)), np.eye(p), np.ones((n, 1)),
    ...                           np.zeros((n, 0)), np.zeros((p, p)), np.eye(p))
    >>> table = assoc_table(variants, scanner.scan_variants(dosage), n)
    >>> tuple(table.columns) == ASSOC_COLUMNS, len(table)
    (True, 5)
    """
    ids = variants["variant_id"].to_numpy()
    assoc = pd.DataFrame(
        {
            "chrom": variants["chrom"].to_numpy(),
            "pos": variants["pos"].to_numpy(dtype=np.int64),
            "variant_id": ids,
            "effect_allele": variants["effect_allele"].to_numpy(),
            "other_allele": variants["other_allele"].to_numpy(),
            "effect_allele_frequency": result.mean / 2.0,
            "n": (n - result.n_missing).astype(np.int64),
            "lml_null": result.lml_null,
            "lml_alt": result.lml_alt,
            "chi2": result.chi2,
            "dof": result.dof.astype(np.int64),
            "F": result.F,
            "df1": result.df1.astype(np.int64),
            "df2": result.df2.astype(np.int64),
            "statistic": np.full(len(ids), result.statistic, dtype=object),
            "p_value": result.p_value,
            "neg_log10_p_value": result.neg_log10_p_value,
            "reason": result.reason.astype(str),
            **{col: np.full(len(ids), np.nan) for col in REFIT_COLUMNS[:-1]},
            "refit_reason": np.full(len(ids), refit_reason, dtype=object),
        }
    )
    for col in ("chrom", "variant_id", "effect_allele", "other_allele", "reason", "statistic",
                "refit_reason"):  # fmt: skip
        assoc[col] = assoc[col].astype(str)
    return assoc


def effects_table(variants: pd.DataFrame, result: ScanResult) -> pd.DataFrame:
    """The ``effects`` table: one row per variant and trait, columns :data:`EFFECT_COLUMNS`.

    Parameters
    ----------
    variants : pandas.DataFrame
        The scanned variants in scan order.
    result : kronlmm.scan.ScanResult
        Their scan (``trait_names`` name the effects).

    Returns
    -------
    pandas.DataFrame
        Rows in variant order, traits inner.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from kronlmm.gwas import effects_table
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 50, 2
    >>> scanner = KronFastScanner(rng.standard_normal((n, p)), np.eye(p), np.ones((n, 1)),
    ...                           np.zeros((n, 0)), np.zeros((p, p)), np.eye(p),
    ...                           trait_names=["height", "weight"])
    >>> result = scanner.scan_variants(rng.binomial(2, 0.3, size=(n, 2)).astype(float))
    >>> effects_table(pd.DataFrame({"variant_id": ["rs1", "rs2"]}), result)[["variant_id", "trait"]]
      variant_id   trait
    0        rs1  height
    1        rs1  weight
    2        rs2  height
    3        rs2  weight
    """
    ids = variants["variant_id"].to_numpy()
    q = len(result.trait_names)
    effects = pd.DataFrame(
        {
            "variant_id": np.repeat(ids, q),
            "trait": np.tile(np.asarray(result.trait_names, dtype=object), len(ids)),
            "beta": result.beta.ravel(),
            "se": result.se.ravel(),
        }
    )
    for col in ("variant_id", "trait"):
        effects[col] = effects[col].astype(str)
    return effects
