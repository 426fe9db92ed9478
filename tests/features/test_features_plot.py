"""kronlmm.plot.volcano and mean_variance draw what they say: titles, labels, points."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from kronlmm.features import e_bayes, lm_fit, top_table, voom  # noqa: E402
from kronlmm.plot import mean_variance, volcano  # noqa: E402


@pytest.fixture
def fit(rng: np.random.Generator):  # noqa: ANN201
    y = rng.normal(size=(120, 8))
    y[:6, 4:] += 3.0
    return e_bayes(lm_fit(y, np.c_[np.ones(8), [0] * 4 + [1] * 4]), trend=True)


def test_volcano_titles_labels_and_points(fit) -> None:  # noqa: ANN001
    ax = volcano(fit, coef=1, ax=Figure().add_subplot(), label_top=4)
    assert ax.get_title() == "Volcano plot: x2"
    assert ax.get_xlabel() == "log2 fold change" and "p-value" in ax.get_ylabel()
    assert sum(len(c.get_offsets()) for c in ax.collections) == 120
    red = ax.collections[1].get_offsets()
    table = top_table(fit, coef=1, number=np.inf)
    assert len(red) == int((table["adj_p_value"] <= 0.05).sum()) > 0
    assert [t.get_text() for t in ax.texts] == list(map(str, table.index[:4]))
    ax2 = volcano(table, ax=Figure().add_subplot(), title="from a table")
    assert ax2.get_title() == "from a table"


def test_mean_variance_voom_and_fit(rng: np.random.Generator, fit) -> None:  # noqa: ANN001
    counts = rng.negative_binomial(5, 0.02, size=(150, 6))
    v = voom(counts, np.c_[np.ones(6), [0, 0, 0, 1, 1, 1]])
    ax = mean_variance(v, Figure().add_subplot())
    assert ax.get_title() == "voom: mean-variance trend"
    assert ax.get_xlabel() == "log2(count size + 0.5)"
    assert ax.get_ylabel() == "sqrt(standard deviation)"
    assert len(ax.collections[0].get_offsets()) == 150
    np.testing.assert_allclose(ax.lines[0].get_ydata(), v.voom_line["y"])
    ax2 = mean_variance(fit, Figure().add_subplot(), title="SA plot")
    assert ax2.get_title() == "SA plot" and ax2.get_ylabel() == "sqrt(sigma)"
    assert np.ptp(ax2.lines[0].get_ydata()) > 0  # trend=True: the prior varies
