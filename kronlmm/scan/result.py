"""Per-candidate association results.

The vocabulary is the one of the GWAS tables and writers (:mod:`kronlmm.gwas`):
``p_value``, ``neg_log10_p_value``, ``trait``. The attribute and key names of kronlmm 0.1.0
(``pvalue``, ``neg_log10_pvalue``, ``effect_names``) still read, with a
:class:`DeprecationWarning`; the ``effect`` column of
:meth:`ScanResult.effects_dataframe` is now ``trait``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["ScanResult", "ScanDict", "RENAMED"]

RENAMED = {
    "pvalue": "p_value",
    "neg_log10_pvalue": "neg_log10_p_value",
    "effect_names": "trait_names",
}
"""Names of kronlmm 0.1.0 → their names now (ScanResult attributes and ``scan()`` keys)."""


def _deprecated(old: str, owner: str) -> None:
    warnings.warn(
        f"{owner} {old!r} is deprecated (a kronlmm 0.1.0 name): use {RENAMED[old]!r}, the name "
        "of the GWAS tables",
        DeprecationWarning,
        stacklevel=3,
    )


class ScanDict(dict[str, Any]):
    """The dict of one candidate set's test (``KronFastScanner.scan``), which still answers
    the 0.1.0 keys ``"pvalue"`` and ``"neg_log10_pvalue"`` with a DeprecationWarning.

    Examples
    --------
    >>> import warnings
    >>> from kronlmm.scan.result import ScanDict
    >>> out = ScanDict(p_value=0.01, neg_log10_p_value=2.0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     old = out["pvalue"]
    >>> old, caught[0].category.__name__
    (0.01, 'DeprecationWarning')
    """

    def __missing__(self, key: str) -> Any:
        if key in RENAMED and RENAMED[key] in self:
            _deprecated(key, "the key")
            return self[RENAMED[key]]
        raise KeyError(key)


@dataclass
class ScanResult:
    """Results of an association scan, one entry per candidate.

    Attributes
    ----------
    lml_null, lml_alt : ndarray (m,)
        Log-likelihoods (ML, scale profiled) under the null and the alternative.
    chi2 : ndarray (m,)
        Likelihood-ratio statistic ``2(lml_alt − lml_null)``.
    dof : ndarray (m,) of int
        Degrees of freedom: rank of the added design, not its column count.
    F : ndarray (m,)
        The exact F statistic at the fixed variance components,
        ``((Q₀ − Q₁)/df1) / (Q₁/df2)``, with Q₀, Q₁ the generalised residual sums of
        squares ``rᵀK⁻¹r`` of null and alternative (see :mod:`kronlmm.scan.block_scan`).
    df1, df2 : ndarray (m,) of int
        Its degrees of freedom: ``df1 = dof`` and ``df2 = N − k₁`` (N = n·p observations,
        k₁ the rank of the alternative's mean design).
    p_value : ndarray (m,)
        P-value of the test named by ``statistic``: ``P(F(df1, df2) > F)`` (the default)
        or ``P(χ²_dof > chi2)``; underflows to 0 below ~1e-308.
    neg_log10_p_value : ndarray (m,)
        ``−log10 p_value`` from the log survival function: exact where ``p_value``
        underflows.
    scale : ndarray (m,)
        Profiled scale s of the alternative.
    beta, se : ndarray (m, q)
        Effect sizes of the candidate under the alternative and their standard errors
        (``√(s · diag Cov)``), one column per ``trait_names``.
    n_missing : ndarray (m,) of int
        Missing genotype values (mean-imputed) per candidate.
    mean : ndarray (m,)
        Mean of each candidate's observed values (for dosages: twice the frequency of the
        counted allele); NaN where nothing was observed.
    reason : ndarray (m,) of str
        Empty for tested candidates; otherwise why the row is NaN.
    trait_names : list of str
        What each column of ``beta`` is the effect on: the trait names (test ``"any"``),
        ``"common"`` (one shared effect), or ``A1_j`` for the columns of an explicit design
        — the ``trait`` column of the GWAS effects table.
    ids : ndarray (m,) or None
        Candidate identifiers (e.g. variant IDs), if given.
    statistic : {"F", "chi2"}
        Which statistic ``p_value`` comes from (the ``statistic`` column of
        :meth:`to_dataframe`).

    ``pvalue``, ``neg_log10_pvalue`` and ``effect_names`` (kronlmm 0.1.0) are deprecated
    read-only aliases of ``p_value``, ``neg_log10_p_value`` and ``trait_names``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> scanner = KronFastScanner(
    ...     rng.standard_normal((n, p)), np.eye(p), np.ones((n, 1)),
    ...     rng.standard_normal((n, 10)), C0=0.1 * np.eye(p), C1=np.eye(p),
    ...     trait_names=["height", "weight"],
    ... )
    >>> dosages = rng.binomial(2, 0.4, size=(n, 3)).astype(float)
    >>> dosages[0, 0] = np.nan  # a missing call: mean-imputed and counted
    >>> dosages[:, 2] = 1.0  # constant: untestable
    >>> res = scanner.scan_variants(dosages, ids=["rs1", "rs2", "rs3"])
    >>> len(res), res.n_missing.tolist(), res.reason.tolist()
    (3, [1, 0, 0], ['', '', 'constant'])
    >>> df = res.to_dataframe()
    >>> df.index.tolist(), df.columns[-4:].tolist()
    (['rs1', 'rs2', 'rs3'], ['beta_height', 'beta_weight', 'se_height', 'se_weight'])
    """

    lml_null: NDArray[np.float64]
    lml_alt: NDArray[np.float64]
    chi2: NDArray[np.float64]
    dof: NDArray[np.int64]
    F: NDArray[np.float64]
    df1: NDArray[np.int64]
    df2: NDArray[np.int64]
    p_value: NDArray[np.float64]
    neg_log10_p_value: NDArray[np.float64]
    scale: NDArray[np.float64]
    beta: NDArray[np.float64]
    se: NDArray[np.float64]
    n_missing: NDArray[np.int64]
    mean: NDArray[np.float64]
    reason: NDArray[np.object_]
    trait_names: list[str]
    ids: NDArray[Any] | None = None
    statistic: str = "F"

    def __len__(self) -> int:
        return self.chi2.size

    # ---- kronlmm 0.1.0 names (deprecated) ---------------------------------------------
    @property
    def pvalue(self) -> NDArray[np.float64]:
        """Deprecated alias of :attr:`p_value`."""
        _deprecated("pvalue", "ScanResult attribute")
        return self.p_value

    @property
    def neg_log10_pvalue(self) -> NDArray[np.float64]:
        """Deprecated alias of :attr:`neg_log10_p_value`."""
        _deprecated("neg_log10_pvalue", "ScanResult attribute")
        return self.neg_log10_p_value

    @property
    def effect_names(self) -> list[str]:
        """Deprecated alias of :attr:`trait_names`."""
        _deprecated("effect_names", "ScanResult attribute")
        return self.trait_names

    @classmethod
    def concat(cls, parts: list[ScanResult]) -> ScanResult:
        """Concatenate results of consecutive blocks (same test and trait names)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        names = parts[0].trait_names
        statistics = {p.statistic for p in parts}
        if len(statistics) > 1:
            raise ValueError(f"cannot concatenate results of different statistics {statistics}")
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "trait_names":
                kw[f.name] = names
            elif f.name == "statistic":
                kw[f.name] = parts[0].statistic
            elif f.name == "ids":
                ids = [p.ids for p in parts if p.ids is not None]
                kw[f.name] = np.concatenate(ids) if len(ids) == len(parts) else None
            else:
                kw[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
        return cls(**kw)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per candidate: statistics (``statistic`` names the one ``p_value`` is from),
        then ``beta_<trait>`` and ``se_<trait>``."""
        df = pd.DataFrame(
            {
                "lml_null": self.lml_null,
                "lml_alt": self.lml_alt,
                "chi2": self.chi2,
                "dof": self.dof,
                "F": self.F,
                "df1": self.df1,
                "df2": self.df2,
                "statistic": np.full(len(self), self.statistic, dtype=object),
                "p_value": self.p_value,
                "neg_log10_p_value": self.neg_log10_p_value,
                "scale": self.scale,
                "n_missing": self.n_missing,
                "reason": self.reason.astype(str),
            },
            index=pd.Index(self.ids if self.ids is not None else np.arange(len(self)), name="id"),
        )
        for j, name in enumerate(self.trait_names):
            df[f"beta_{name}"] = self.beta[:, j]
        for j, name in enumerate(self.trait_names):
            df[f"se_{name}"] = self.se[:, j]
        return df

    def effects_dataframe(self) -> pd.DataFrame:
        """Long table: one row per (candidate, trait) with ``beta`` and ``se``: columns
        ``id``, ``trait``, ``beta``, ``se`` (those of the GWAS effects table, with ``id``
        for ``variant_id``)."""
        m, q = self.beta.shape
        ids = self.ids if self.ids is not None else np.arange(m)
        return pd.DataFrame(
            {
                "id": np.repeat(ids, q),
                "trait": np.tile(np.asarray(self.trait_names, dtype=object), m),
                "beta": self.beta.ravel(),
                "se": self.se.ravel(),
            }
        )
