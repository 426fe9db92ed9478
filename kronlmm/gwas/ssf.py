"""GWAS-SSF, the GWAS Catalog summary-statistics format, for a multi-trait scan.

The GWAS Catalog summary-statistics format (GWAS-SSF) has one effect size per row. A
multi-trait joint test has ``p`` effects and one p-value, so :func:`to_ssf` (and
:meth:`GwasResult.to_ssf <kronlmm.gwas.GwasResult.to_ssf>`) returns two tables: the joint
test without ``beta``/``standard_error`` (the p-value is the joint test of ``assoc``: the
exact F test at the null's variance components, the likelihood-ratio test if the scan
asked for ``statistic="chi2"``, or the bootstrap-calibrated F test for
``statistic="bootstrap"``) and a long per-trait table with each trait's ``beta``,
``standard_error`` and a per-trait Wald p-value (``z = beta/se``, two-sided normal, with
the variance components of the null), plus a ``trait`` column. Untestable variants are
left out of both, since GWAS-SSF requires a p-value.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["SSF_JOINT_COLUMNS", "SSF_PER_TRAIT_COLUMNS", "SsfTables", "to_ssf"]

SSF_JOINT_COLUMNS = (
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "effect_allele_frequency",
    "p_value",
    "neg_log_10_p_value",
    "variant_id",
    "n",
)
"""Columns of :attr:`SsfTables.joint` (GWAS-SSF order, without beta/standard_error)."""

SSF_PER_TRAIT_COLUMNS = (
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "beta",
    "standard_error",
    "effect_allele_frequency",
    "p_value",
    "neg_log_10_p_value",
    "variant_id",
    "n",
    "trait",
)
"""Columns of :attr:`SsfTables.per_trait` (GWAS-SSF order, then ``trait``)."""

_SSF_RENAME = {
    "chrom": "chromosome",
    "pos": "base_pair_location",
    "neg_log10_p_value": "neg_log_10_p_value",
}


class SsfTables(NamedTuple):
    """GWAS-SSF tables of a multi-trait scan (see :mod:`kronlmm.gwas.ssf`).

    Attributes
    ----------
    joint : pandas.DataFrame
        Columns :data:`SSF_JOINT_COLUMNS`: the joint test, one row per tested variant.
    per_trait : pandas.DataFrame
        Columns :data:`SSF_PER_TRAIT_COLUMNS`: one row per tested variant and trait, with
        that trait's effect, standard error and Wald p-value.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan
    >>> paths = example_paths()
    >>> ssf = scan(paths.prefix, paths.pheno, covar=paths.covar, test="any").to_ssf()
    >>> len(ssf.joint), len(ssf.per_trait)  # tested variants; 3 traits each
    (2970, 8910)
    >>> "beta" in ssf.joint, ssf.per_trait["trait"].head(3).tolist()
    (False, ['trait1', 'trait2', 'trait3'])
    >>> ssf.joint.columns[:3].tolist()
    ['chromosome', 'base_pair_location', 'effect_allele']
    """

    joint: pd.DataFrame
    per_trait: pd.DataFrame


def to_ssf(assoc: pd.DataFrame, effects: pd.DataFrame) -> SsfTables:
    """Both tables of a scan renamed to GWAS-SSF columns (the layout is in the module notes).

    Parameters
    ----------
    assoc, effects : pandas.DataFrame
        :attr:`GwasResult.assoc <kronlmm.gwas.GwasResult.assoc>` and
        :attr:`GwasResult.effects <kronlmm.gwas.GwasResult.effects>`.

    Returns
    -------
    SsfTables
        ``joint`` (no beta/standard_error; the joint test's p-value) and ``per_trait``
        (long: one row per variant and trait, per-trait Wald p-values). Untestable
        variants are left out. Write them with
        ``kronlmm.gwas.write_table(df, path, na_rep="#NA")``.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan, to_ssf
    >>> paths = example_paths()
    >>> result = scan(paths.prefix, paths.pheno, covar=paths.covar, test="common")
    >>> ssf = to_ssf(result.assoc, result.effects)
    >>> len(ssf.joint), ssf.per_trait["trait"].unique().tolist()
    (2970, ['common'])
    """
    import scipy.stats as st

    a = assoc
    tested = (a["reason"] == "").to_numpy()
    joint = a.loc[tested].rename(columns=_SSF_RENAME)[list(SSF_JOINT_COLUMNS)]
    joint = joint.reset_index(drop=True)

    q = len(effects) // max(len(a), 1)
    eff = effects.loc[np.repeat(tested, q)].reset_index(drop=True)
    rows = a.loc[tested].rename(columns=_SSF_RENAME).reset_index(drop=True)
    rows = rows.loc[np.repeat(np.arange(len(rows)), q)].reset_index(drop=True)
    beta = eff["beta"].to_numpy(dtype=np.float64)
    se = eff["se"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        absz = np.abs(beta / se)
    logsf = np.log(2.0) + st.norm.logsf(absz)
    per_trait = pd.DataFrame(
        {
            "chromosome": rows["chromosome"],
            "base_pair_location": rows["base_pair_location"],
            "effect_allele": rows["effect_allele"],
            "other_allele": rows["other_allele"],
            "beta": beta,
            "standard_error": se,
            "effect_allele_frequency": rows["effect_allele_frequency"],
            "p_value": np.exp(logsf),
            "neg_log_10_p_value": -logsf / np.log(10.0),
            "variant_id": rows["variant_id"],
            "n": rows["n"],
            "trait": eff["trait"],
        }
    )
    return SsfTables(joint=joint, per_trait=per_trait)
