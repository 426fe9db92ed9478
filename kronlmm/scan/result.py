"""Per-candidate association results."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["ScanResult"]


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
    pvalue : ndarray (m,)
        ``P(χ²_dof > chi2)``; underflows to 0 below ~1e-308.
    neg_log10_pvalue : ndarray (m,)
        ``−log10 pvalue`` from the log survival function: exact where ``pvalue`` underflows.
    scale : ndarray (m,)
        Profiled scale s of the alternative.
    beta, se : ndarray (m, q)
        Effect sizes of the candidate under the alternative and their standard errors
        (``√(s · diag Cov)``), one column per ``effect_names``.
    n_missing : ndarray (m,) of int
        Missing genotype values (mean-imputed) per candidate.
    reason : ndarray (m,) of str
        Empty for tested candidates; otherwise why the row is NaN.
    effect_names : list of str
    ids : ndarray (m,) or None
        Candidate identifiers (e.g. variant IDs), if given.
    """

    lml_null: NDArray[np.float64]
    lml_alt: NDArray[np.float64]
    chi2: NDArray[np.float64]
    dof: NDArray[np.int64]
    pvalue: NDArray[np.float64]
    neg_log10_pvalue: NDArray[np.float64]
    scale: NDArray[np.float64]
    beta: NDArray[np.float64]
    se: NDArray[np.float64]
    n_missing: NDArray[np.int64]
    reason: NDArray[np.object_]
    effect_names: list[str]
    ids: NDArray | None = None

    def __len__(self) -> int:
        return self.chi2.size

    @classmethod
    def concat(cls, parts: list[ScanResult]) -> ScanResult:
        """Concatenate results of consecutive blocks (same test and effect names)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        names = parts[0].effect_names
        kw = {}
        for f in fields(cls):
            if f.name == "effect_names":
                kw[f.name] = names
            elif f.name == "ids":
                ids = [p.ids for p in parts]
                kw[f.name] = None if any(i is None for i in ids) else np.concatenate(ids)
            else:
                kw[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
        return cls(**kw)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per candidate: statistics, then ``beta_<effect>`` and ``se_<effect>``."""
        df = pd.DataFrame(
            {
                "lml_null": self.lml_null,
                "lml_alt": self.lml_alt,
                "chi2": self.chi2,
                "dof": self.dof,
                "p_value": self.pvalue,
                "neg_log10_p_value": self.neg_log10_pvalue,
                "scale": self.scale,
                "n_missing": self.n_missing,
                "reason": self.reason.astype(str),
            },
            index=pd.Index(self.ids if self.ids is not None else np.arange(len(self)), name="id"),
        )
        for j, name in enumerate(self.effect_names):
            df[f"beta_{name}"] = self.beta[:, j]
        for j, name in enumerate(self.effect_names):
            df[f"se_{name}"] = self.se[:, j]
        return df

    def effects_dataframe(self) -> pd.DataFrame:
        """Long table: one row per (candidate, effect) with ``beta`` and ``se``."""
        m, q = self.beta.shape
        ids = self.ids if self.ids is not None else np.arange(m)
        return pd.DataFrame(
            {
                "id": np.repeat(ids, q),
                "effect": np.tile(np.asarray(self.effect_names, dtype=object), m),
                "beta": self.beta.ravel(),
                "se": self.se.ravel(),
            }
        )
