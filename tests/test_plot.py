"""kronlmm.plot: Manhattan and QQ plots render; λ_GC matches a direct computation."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from kronlmm.gwas import ASSOC_COLUMNS  # noqa: E402
from kronlmm.plot import chromosome_order, manhattan, qq, require_matplotlib, save_plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def table(rng: np.random.Generator) -> pd.DataFrame:
    """A synthetic result table with dof 2, mild inflation and two untestable rows."""
    m = 600
    dof = 2
    chi2 = 1.1 * rng.chisquare(dof, m)
    chi2[:2] = np.nan
    logsf = st.chi2.logsf(chi2, dof)
    chroms = np.repeat(["1", "2", "10", "X"], m // 4)
    return pd.DataFrame(
        {
            "chrom": chroms,
            "pos": np.tile(np.arange(1, m // 4 + 1) * 1000, 4),
            "variant_id": [f"v{i}" for i in range(m)],
            "effect_allele": "A",
            "other_allele": "G",
            "effect_allele_frequency": 0.3,
            "n": 100,
            "lml_null": 0.0,
            "lml_alt": chi2 / 2,
            "chi2": chi2,
            "dof": dof,
            "p_value": np.exp(logsf),
            "neg_log10_p_value": -logsf / np.log(10),
            "reason": np.where(np.isnan(chi2), "constant", ""),
        }
    )[list(ASSOC_COLUMNS)]


def _lambda_text(ax: object) -> float:
    texts = [t.get_text() for t in ax.texts]  # type: ignore[attr-defined]
    found = [re.search(r"= ([0-9.]+)", t) for t in texts if "lambda" in t]
    assert found and found[0] is not None, texts
    return float(found[0].group(1))


def test_qq_annotates_lambda(table: pd.DataFrame) -> None:
    fig = Figure()
    ax = qq(table, fig.add_subplot())
    chi2 = table["chi2"].dropna().to_numpy()
    direct = np.median(chi2) / st.chi2.ppf(0.5, 2)
    assert _lambda_text(ax) == pytest.approx(direct, abs=5e-4)
    # 598 finite points, sorted observed against expected
    offsets = ax.collections[-1].get_offsets()
    assert len(offsets) == 598
    assert np.all(np.diff(np.asarray(offsets)[:, 1]) <= 0)


def test_manhattan_orders_chromosomes(table: pd.DataFrame) -> None:
    fig = Figure()
    ax = manhattan(table, fig.add_subplot(), highlight=["v10", "v500"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "10", "X"]
    assert sum(len(c.get_offsets()) for c in ax.collections[:4]) == 598
    assert len(ax.collections[4].get_offsets()) == 2  # highlighted


def test_chromosome_order() -> None:
    assert chromosome_order(["chr10", "X", "2", "MT", "1", "Y", "scaffold", "chr2"]) == [
        "1",
        "2",
        "chr2",
        "chr10",
        "X",
        "Y",
        "MT",
        "scaffold",
    ]


def test_save_plots_writes_png(table: pd.DataFrame, tmp_path: Path) -> None:
    written = save_plots(table, tmp_path / "m.png", tmp_path / "q.png", title="t")
    assert written == [tmp_path / "m.png", tmp_path / "q.png"]
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png", "q.png"]


def test_pyplot_axes_when_none_given(table: pd.DataFrame, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    ax = manhattan(table)
    ax2 = qq(table)
    try:
        ax.figure.savefig(tmp_path / "m.png")
        ax2.figure.savefig(tmp_path / "q.png")
        assert (tmp_path / "m.png").read_bytes()[:8] == PNG_MAGIC
    finally:
        plt.close(ax.figure)
        plt.close(ax2.figure)


def test_missing_matplotlib_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'kronlmm\[plot\]'"):
        require_matplotlib()
