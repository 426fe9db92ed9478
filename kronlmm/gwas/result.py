"""The result of a GWAS scan: the tidy tables, the fitted null, their writers.

The tables and their columns are described in :mod:`kronlmm.gwas.tables`; their GWAS-SSF
form in :mod:`kronlmm.gwas.ssf`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from .genomic_control import genomic_control_lambda
from .output import write_parquet_table, write_table
from .ssf import SsfTables, to_ssf

if TYPE_CHECKING:
    from ..lmm import BootstrapCalibration
    from .null import NullFit

__all__ = ["GwasResult"]

PathLike = str | os.PathLike[str]


@dataclass(eq=False)
class GwasResult:
    """Result of :func:`kronlmm.gwas.scan`: tidy tables plus the fitted null.

    Attributes
    ----------
    assoc : pandas.DataFrame
        Per-variant joint test, columns :data:`~kronlmm.gwas.ASSOC_COLUMNS` (see
        :mod:`kronlmm.gwas.tables`).
    effects : pandas.DataFrame
        Per-variant, per-trait effects (long), columns :data:`~kronlmm.gwas.EFFECT_COLUMNS`.
    null : NullFit
        The fitted null model: C₀, C₁, B, lml, trait and covariate names, convergence,
        alignment counts and how the kinship was built.
    test : str
        ``"any"``, ``"common"`` or ``"interaction"``.
    dof : int
        Degrees of freedom of the test.
    calibration : kronlmm.lmm.BootstrapCalibration or None
        With ``statistic="bootstrap"``: the pooled null F p-values that calibrate
        ``p_value``, B, M and the refits left out (:func:`kronlmm.lmm.bootstrap_calibration`);
        ``None`` otherwise.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import scan
    >>> paths = example_paths()
    >>> result = scan(paths.prefix, paths.pheno, covar=paths.covar, test="common")
    >>> result
    GwasResult(test='common', dof=1, variants=2970, tested=2970, samples=395, ...)
    >>> result.top(2)[["variant_id", "chrom", "pos"]]
          variant_id chrom       pos
    2475  rs26858614     3  25936215
    310   rs88169581     1  14749081
    >>> result.effects.columns.tolist(), result.effects["trait"].iloc[0]
    (['variant_id', 'trait', 'beta', 'se'], 'common')
    >>> round(result.lambda_gc, 2)
    0.97

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
    calibration: BootstrapCalibration | None = None

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

        Ties (e.g. bootstrap-calibrated p-values at their floor ``1/(1 + B·M)``) are
        ordered by the likelihood-ratio statistic ``chi2``, largest first.

        Parameters
        ----------
        k : int, default 10
            Rows to return.

        Returns
        -------
        pandas.DataFrame
            Rows of :attr:`assoc`, most significant first (the index keeps the row number).
        """
        order = self.assoc[["neg_log10_p_value", "chi2"]].sort_values(
            ["neg_log10_p_value", "chi2"], ascending=False, na_position="last", kind="stable"
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
        """Both tables renamed to GWAS-SSF columns (layout: :mod:`kronlmm.gwas.ssf`).

        Returns
        -------
        SsfTables
            ``joint`` (no beta/standard_error; the joint test's p-value) and ``per_trait``
            (long: one row per variant and trait, per-trait Wald p-values). Untestable
            variants are left out. Write them with
            ``kronlmm.gwas.write_table(df, path, na_rep="#NA")``.
        """
        return to_ssf(self.assoc, self.effects)

    def __repr__(self) -> str:
        return (
            f"GwasResult(test={self.test!r}, dof={self.dof}, variants={len(self.assoc)}, "
            f"tested={self.n_tested}, samples={self.null.nsamples}, "
            f"traits={self.null.trait_names})"
        )
