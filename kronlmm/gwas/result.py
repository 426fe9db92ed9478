"""Tidy result tables of a GWAS scan and their conversion to GWAS-SSF.

Tables
------
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
p_value                    float64  ``P(χ²_dof > chi2)`` (0 where it underflows)
neg_log10_p_value          float64  ``−log10 p`` from the log survival function (exact)
reason                     str      ``""`` if tested; otherwise why the row is NaN
=========================  =======  ==========================================================

``lml_null``/``lml_alt`` are maximum (never restricted) log-likelihoods with C₀, C₁ fixed
at the null estimates and the overall scale re-profiled, so their difference is a valid
likelihood ratio; after an ML fit ``lml_null`` equals the null's ``lml`` (for the
``"interaction"`` test the null also contains the common effect of the variant).

``effects`` (long; one row per variant and effect, in ``assoc`` row order, effects inner),
columns :data:`EFFECT_COLUMNS`: ``variant_id``, ``trait`` (the trait name, or ``"common"``
for the shared-effect test), ``beta`` (effect of one extra copy of the effect allele, in
trait units) and ``se`` (its standard error).

GWAS-SSF
--------
The GWAS Catalog summary-statistics format (GWAS-SSF) has one effect size per row. A
multi-trait joint test has ``p`` effects and one p-value, so :meth:`GwasResult.to_ssf`
returns two tables: the joint test without ``beta``/``standard_error`` (the p-value is the
joint likelihood-ratio test) and a long per-trait table with each trait's ``beta``,
``standard_error`` and a per-trait Wald p-value (``z = beta/se``, two-sided normal, with the
variance components of the null), plus a ``trait`` column. Untestable variants are left out
of both, since GWAS-SSF requires a p-value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .output import write_parquet_table, write_table

if TYPE_CHECKING:
    from .null import NullFit

__all__ = [
    "ASSOC_COLUMNS",
    "EFFECT_COLUMNS",
    "SSF_JOINT_COLUMNS",
    "SSF_PER_TRAIT_COLUMNS",
    "GwasResult",
    "SsfTables",
    "genomic_control_lambda",
]

PathLike = str | os.PathLike[str]

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
    "p_value",
    "neg_log10_p_value",
    "reason",
)
"""Columns of :attr:`GwasResult.assoc`, in order."""

EFFECT_COLUMNS = ("variant_id", "trait", "beta", "se")
"""Columns of :attr:`GwasResult.effects`, in order."""

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


def genomic_control_lambda(chi2: ArrayLike, dof: ArrayLike | int) -> float:
    """Genomic-control inflation factor ``λ = median(chi2) / chi2.ppf(0.5, dof)``.

    Parameters
    ----------
    chi2 : array_like
        Test statistics; NaN entries (untestable variants) are ignored.
    dof : int or array_like
        Degrees of freedom: one value, or one per statistic (all equal after dropping NaN
        statistics).

    Returns
    -------
    float
        λ (NaN if no finite statistic is given).

    Raises
    ------
    ValueError
        If the statistics have different degrees of freedom.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.gwas import genomic_control_lambda
    >>> rng = np.random.default_rng(0)
    >>> chi2 = rng.chisquare(1, size=100_000)  # statistics of null variants, 1 dof
    >>> round(genomic_control_lambda(chi2, 1), 2)
    1.0
    >>> round(genomic_control_lambda(1.2 * chi2, 1), 2)  # inflated by 20 %
    1.2
    >>> round(genomic_control_lambda([np.nan, 0.2, 0.455, 3.0], 1), 3)  # NaN ignored
    1.0
    """
    import scipy.stats as st

    x = np.asarray(chi2, dtype=np.float64).ravel()
    d = np.broadcast_to(np.asarray(dof), x.shape)
    keep = np.isfinite(x)
    if not keep.any():
        return float("nan")
    dofs = np.unique(d[keep])
    if dofs.size != 1:
        raise ValueError(f"genomic control needs a single dof, got {dofs.tolist()}")
    return float(np.median(x[keep]) / st.chi2.ppf(0.5, float(dofs[0])))


class SsfTables(NamedTuple):
    """GWAS-SSF tables of a multi-trait scan (see :mod:`kronlmm.gwas.result`).

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
    (2984, 8952)
    >>> "beta" in ssf.joint, ssf.per_trait["trait"].head(3).tolist()
    (False, ['trait1', 'trait2', 'trait3'])
    >>> ssf.joint.columns[:3].tolist()
    ['chromosome', 'base_pair_location', 'effect_allele']
    """

    joint: pd.DataFrame
    per_trait: pd.DataFrame


@dataclass(eq=False)
class GwasResult:
    """Result of :func:`kronlmm.gwas.scan`: tidy tables plus the fitted null.

    Attributes
    ----------
    assoc : pandas.DataFrame
        Per-variant joint test, columns :data:`ASSOC_COLUMNS` (see the module notes).
    effects : pandas.DataFrame
        Per-variant, per-trait effects (long), columns :data:`EFFECT_COLUMNS`.
    null : NullFit
        The fitted null model: C₀, C₁, B, lml, trait and covariate names, convergence,
        alignment counts and how the kinship was built.
    test : str
        ``"any"``, ``"common"`` or ``"interaction"``.
    dof : int
        Degrees of freedom of the test.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan
    >>> paths = example_paths()
    >>> result = scan(paths.prefix, paths.pheno, covar=paths.covar, test="common")
    >>> result
    GwasResult(test='common', dof=1, variants=3000, tested=2984, samples=377, ...)
    >>> result.top(2)[["variant_id", "chrom", "pos"]]
          variant_id chrom       pos
    2500  rs26858614     3  25936215
    313   rs88169581     1  14749081
    >>> result.effects.columns.tolist(), result.effects["trait"].iloc[0]
    (['variant_id', 'trait', 'beta', 'se'], 'common')
    >>> round(result.lambda_gc, 2)
    1.02

    The tables round-trip through the writers:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.gwas import read_results
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = result.write_tsv(Path(tmp.name) / "common.assoc.tsv.gz")
    >>> read_results(path).equals(result.assoc)
    True
    >>> path = result.write_parquet(Path(tmp.name) / "common.assoc.parquet")
    >>> read_results(path).equals(result.assoc)
    True
    >>> tmp.cleanup()
    """

    assoc: pd.DataFrame
    effects: pd.DataFrame
    null: NullFit
    test: str
    dof: int

    @property
    def alignment(self) -> dict[str, int]:
        """Sample counts per source, in all sources, dropped and kept (see ``align_samples``)."""
        return dict(self.null.alignment)

    @property
    def n_tested(self) -> int:
        """Number of variants with a test result (``reason == ""``)."""
        return int((self.assoc["reason"] == "").sum())

    @property
    def lambda_gc(self) -> float:
        """Genomic-control λ of the tested variants (:func:`genomic_control_lambda`)."""
        return genomic_control_lambda(self.assoc["chi2"], self.assoc["dof"])

    def top(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` most significant variants (by ``neg_log10_p_value``, untestable last).

        Parameters
        ----------
        k : int, default 10
            Rows to return.

        Returns
        -------
        pandas.DataFrame
            Rows of :attr:`assoc`, most significant first (the index keeps the row number).
        """
        order = self.assoc["neg_log10_p_value"].sort_values(
            ascending=False, na_position="last", kind="stable"
        )
        return self.assoc.loc[order.index[:k]]

    def _table(self, table: Literal["assoc", "effects"]) -> pd.DataFrame:
        if table == "assoc":
            return self.assoc
        if table == "effects":
            return self.effects
        raise ValueError(f"table must be 'assoc' or 'effects', got {table!r}")

    def write_tsv(self, path: PathLike, table: Literal["assoc", "effects"] = "assoc") -> Path:
        """Write a table as tab-separated text (``.tsv``, or gzipped ``.tsv.gz``), atomically.

        Parameters
        ----------
        path : str or os.PathLike
            Destination; a name ending in ``.gz`` is compressed.
        table : {"assoc", "effects"}
            Which table.

        Returns
        -------
        pathlib.Path
            The path written. Read it back with :func:`kronlmm.gwas.read_results`.
        """
        return write_table(self._table(table), path)

    def write_parquet(self, path: PathLike, table: Literal["assoc", "effects"] = "assoc") -> Path:
        """Write a table as Parquet (needs pyarrow: ``pip install 'kronlmm[parquet]'``).

        Parameters
        ----------
        path : str or os.PathLike
            Destination.
        table : {"assoc", "effects"}
            Which table.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        return write_parquet_table(self._table(table), path)

    def to_ssf(self) -> SsfTables:
        """Both tables renamed to GWAS-SSF columns (see the module notes for the layout).

        Returns
        -------
        SsfTables
            ``joint`` (no beta/standard_error; the joint test's p-value) and ``per_trait``
            (long: one row per variant and trait, per-trait Wald p-values). Untestable
            variants are left out. Write them with
            ``kronlmm.gwas.write_table(df, path, na_rep="#NA")``.
        """
        import scipy.stats as st

        a = self.assoc
        tested = (a["reason"] == "").to_numpy()
        joint = a.loc[tested].rename(columns=_SSF_RENAME)[list(SSF_JOINT_COLUMNS)]
        joint = joint.reset_index(drop=True)

        q = len(self.effects) // max(len(a), 1)
        eff = self.effects.loc[np.repeat(tested, q)].reset_index(drop=True)
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

    def __repr__(self) -> str:
        return (
            f"GwasResult(test={self.test!r}, dof={self.dof}, variants={len(self.assoc)}, "
            f"tested={self.n_tested}, samples={self.null.nsamples}, "
            f"traits={self.null.trait_names})"
        )
