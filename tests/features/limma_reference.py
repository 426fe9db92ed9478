"""Read the R limma 3.54 reference files of ``reference/`` (made by make_limma_reference.R).

Inputs were written as integers (expression × 1000, simulated values × 10000, counts as
they are) and R computed on exactly those values, so dividing here gives the same doubles.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).resolve().parent / "reference"


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / name)


@cache
def scalars() -> dict[str, Any]:
    """limma_scalars.json with the "%.17g" strings turned back into floats (coefficient
    names stay strings, always as a list)."""

    def dec(x: Any, key: str = "") -> Any:
        if key == "coef_names":
            return [x] if isinstance(x, str) else list(x)
        if isinstance(x, dict):
            return {k: dec(v, k) for k, v in x.items()}
        if isinstance(x, list):
            return [dec(v) for v in x]
        return float(x) if isinstance(x, str) else x

    return dec(json.loads((REFERENCE / "limma_scalars.json").read_text()))


def _matrix(name: str, scale: float) -> tuple[np.ndarray, list[str], list[str]]:
    df = _read(name)
    ids = df.pop("id").astype(str).tolist()
    return df.to_numpy(dtype=np.float64) / scale, ids, list(df.columns)


def all_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """ALL subset: expression (600 probes × 125 samples, DataFrame) and the sample table."""
    E, ids, cols = _matrix("all_expression.csv.gz", 1000.0)
    samples = _read("all_samples.csv")
    return pd.DataFrame(E, index=ids, columns=cols), samples


def all_with_nan() -> np.ndarray:
    E, _ = all_data()
    values = E.to_numpy().copy()
    cells = _read("all_nan_cells.csv.gz").to_numpy()
    values[cells[:, 0], cells[:, 1]] = np.nan
    return values


def all_nan_rows() -> np.ndarray:
    return _read("all_nan_rows.csv.gz")["row"].to_numpy()


def bladder_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    E, ids, cols = _matrix("bladder_expression.csv.gz", 1000.0)
    return pd.DataFrame(E, index=ids, columns=cols), _read("bladder_samples.csv")


def bladder_weights() -> np.ndarray:
    return _read("bladder_weights.csv.gz")["w"].to_numpy(dtype=float) / 1e4


def bladder_dupcor() -> np.ndarray:
    return _read("bladder_dupcor.csv.gz")["atanh"].to_numpy(dtype=float)


def sim_data() -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """Simulated 800 × 20: values, samples, array weights, per-feature weights."""
    E, _, _ = _matrix("sim_expression.csv.gz", 1e4)
    W, _, _ = _matrix("sim_weights.csv.gz", 1e4)
    w = _read("sim_array_weights.csv.gz")["w"].to_numpy(dtype=float) / 1e4
    return E, _read("sim_samples.csv"), w, W


def sim_with_nan() -> np.ndarray:
    E, _, _, _ = sim_data()
    cells = _read("sim_nan_cells.csv.gz").to_numpy()
    E = E.copy()
    E[cells[:, 0], cells[:, 1]] = np.nan
    return E


def dups_data() -> np.ndarray:
    E, _, _ = _matrix("dups_expression.csv.gz", 1e4)
    return E


def voom_data() -> tuple[np.ndarray, pd.DataFrame]:
    counts, _, _ = _matrix("voom_counts.csv.gz", 1.0)
    return counts, _read("voom_samples.csv")


def voom_output() -> tuple[np.ndarray, np.ndarray]:
    E = _read("voom_E.csv.gz").to_numpy(dtype=float)
    W = _read("voom_weights.csv.gz").to_numpy(dtype=float)
    return E, W


def limma_fit(case: str) -> dict[str, np.ndarray]:
    """Per-feature fields of an R fit: ``coefficients`` etc. as m × k, vectors as m."""
    df = _read(f"{case}_limma.csv.gz")
    out: dict[str, np.ndarray] = {}
    for field in ("coefficients", "stdev.unscaled", "t", "p.value", "lods"):
        cols = sorted(
            (c for c in df.columns if c.startswith(field + ".") and c[len(field) + 1 :].isdigit()),
            key=lambda c: int(c.rsplit(".", 1)[1]),
        )
        if cols:
            out[field.replace(".", "_")] = df[cols].to_numpy(dtype=float)
    for field in (
        "sigma",
        "df.residual",
        "Amean",
        "s2.prior",
        "df.prior",
        "s2.post",
        "df.total",
        "F",
        "F.p.value",
    ):
        if field in df.columns:
            out[field.replace(".", "_")] = df[field].to_numpy(dtype=float)
    return out


def all_ols_adj_p() -> np.ndarray:
    return _read("all_ols_toptable.csv.gz")["adj.P.Val"].to_numpy(dtype=float)


def all_contrasts() -> pd.DataFrame:
    return _read("all_contrasts.csv").set_index("level")


def max_rel_err(ours: Any, ref: Any) -> float:
    """max |ours − ref| / |ref| over entries finite in both; inf when NaN positions differ
    (NaN must match NaN)."""
    a = np.asarray(ours, dtype=float)
    b = np.asarray(ref, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    ok = np.isfinite(b)
    if not np.array_equal(np.isfinite(a), ok):
        return float("inf")
    if not ok.any():
        return 0.0
    denom = np.maximum(np.abs(b[ok]), 1e-300)
    return float(np.max(np.abs(a[ok] - b[ok]) / denom))
