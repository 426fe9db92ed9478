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
    mean : ndarray (m,)
        Mean of each candidate's observed values (for dosages: twice the frequency of the
        counted allele); NaN where nothing was observed.
    reason : ndarray (m,) of str
        Empty for tested candidates; otherwise why the row is NaN.
    effect_names : list of str
    ids : ndarray (m,) or None
        Candidate identifiers (e.g. variant IDs), if given.

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
    pvalue: NDArray[np.float64]
    neg_log10_pvalue: NDArray[np.float64]
    scale: NDArray[np.float64]
    beta: NDArray[np.float64]
    se: NDArray[np.float64]
    n_missing: NDArray[np.int64]
    mean: NDArray[np.float64]
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
