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

from kronlmm.gwas import ASSOC_COLUMNS, REFIT_COLUMNS  # noqa: E402
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
            "F": np.expm1(chi2 / 200) * 196 / dof,  # N = 200 observations, k₁ = 4
            "df1": dof,
            "df2": 196,
            "statistic": "chi2",  # the p-values below are the χ² test's
            "p_value": np.exp(logsf),
            "neg_log10_p_value": -logsf / np.log(10),
            "reason": np.where(np.isnan(chi2), "constant", ""),
            **{c: np.nan for c in REFIT_COLUMNS[:-1]},
            "refit_reason": "refit='none'",
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


# --------------------------------------------------------------------------- self-explaining
@pytest.fixture(scope="module")
def gwas_result() -> object:
    from kronlmm.data import example_paths
    from kronlmm.gwas import scan

    paths = example_paths()
    return scan(paths.prefix, paths.pheno, covar=paths.covar, kinship=None)


def test_manhattan_of_a_result_explains_itself(gwas_result: object) -> None:
    from kronlmm.gwas import GwasResult

    assert isinstance(gwas_result, GwasResult)
    fig = Figure()
    ax = manhattan(
        gwas_result,
        fig.add_subplot(),
        highlight=["rs27157911", "rs26858614"],
        highlight_label="simulated causal variants",
    )
    title = ax.get_title()
    lam = gwas_result.lambda_gc
    assert title == (
        f"'any' test (3 dof) of trait1, trait2, trait3; n = 395 samples, 2970 variants; "
        f"λ_GC = {lam:.3f}"
    )
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["genome-wide significance, p = 5e-08", "simulated causal variants (2)"]
    line = ax.get_lines()[0]
    assert line.get_ydata()[0] == pytest.approx(-np.log10(5e-8))
    assert ax.get_ylabel().endswith("('any' test)") and ax.get_xlabel() == "chromosome"
    rings = ax.collections[-1]
    assert len(rings.get_offsets()) == 2 and rings.get_facecolors().size == 0  # open rings


def test_plink_chromosome_codes_are_named(table: pd.DataFrame) -> None:
    codes = table.assign(chrom=np.repeat(["1", "23", "24", "26"], len(table) // 4))
    ax = manhattan(codes, Figure().add_subplot(), title=None)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "X", "Y", "MT"]
    assert ax.get_title() == ""
    ax = manhattan(table, Figure().add_subplot())  # a table: λ only
    lam = np.median(table["chi2"].dropna()) / st.chi2.ppf(0.5, 2)
    assert ax.get_title() == f"λ_GC = {lam:.3f}"


def test_qq_of_a_result_explains_itself(gwas_result: object) -> None:
    ax = qq(gwas_result, Figure().add_subplot())  # type: ignore[arg-type]
    assert ax.get_title().startswith("'any' test (3 dof) of trait1, trait2, trait3; n = 395")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "95% band of p-values under no association",
        "variants (2970)",
        "observed = expected",
    ]


def test_effects_plot_shows_per_trait_effects_with_intervals(gwas_result: object) -> None:
    from kronlmm.plot import effects_plot

    fig = effects_plot(gwas_result, 4)  # type: ignore[arg-type]
    top = gwas_result.top(4)  # type: ignore[attr-defined]
    assert fig._suptitle is not None
    assert fig._suptitle.get_text() == (
        "Per-trait effects (β, 95% CI) of the top 4 variants, 'any' test; n = 395"
    )
    assert [ax.get_title() for ax in fig.axes] == ["trait1", "trait2", "trait3"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert [label.split()[0] for label in labels] == top["variant_id"].tolist()
    assert all(ax.get_xlabel() == "β per effect allele" for ax in fig.axes)
    effects = gwas_result.effects  # type: ignore[attr-defined]
    for ax, trait in zip(fig.axes, ["trait1", "trait2", "trait3"], strict=True):
        data_line, _, (bars,) = ax.containers[0]  # errorbar: estimates, caps, intervals
        points = np.asarray(data_line.get_xdata(), dtype=float)  # top variant first
        rows = effects[(effects["trait"] == trait) & effects["variant_id"].isin(top["variant_id"])]
        beta = rows.set_index("variant_id").loc[top["variant_id"], "beta"].to_numpy()
        np.testing.assert_allclose(points, beta)
        segments = bars.get_segments()  # the intervals: β ± 1.96 se
        se = rows.set_index("variant_id").loc[top["variant_id"], "se"].to_numpy()
        widths = np.array([seg[1][0] - seg[0][0] for seg in segments])
        np.testing.assert_allclose(widths, 2 * st.norm.ppf(0.975) * se, rtol=1e-10)


def test_save_plots_writes_the_effects_plot(gwas_result: object, tmp_path: Path) -> None:
    written = save_plots(
        gwas_result,
        tmp_path / "m.png",
        None,  # type: ignore[arg-type]
        effects_path=tmp_path / "e.png",
        dpi=40,
    )
    assert written == [tmp_path / "m.png", tmp_path / "e.png"]
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in written)
