"""kronlmm.features against pylimma 0.2.0 on the same inputs (skipped where pylimma is
not installed): the same moderated statistics, the same top_table columns, and voom with
limma 3.54's fixed span."""

from __future__ import annotations

import limma_reference as ref
import numpy as np
import pytest

from kronlmm.features import e_bayes, lm_fit, top_table, voom

pylimma = pytest.importorskip("pylimma")

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    E, samples = ref.all_data()
    design = np.c_[np.ones(len(samples)), samples.BT == "T", samples.sex == "M"]
    return E.to_numpy(), design.astype(float)


@pytest.mark.parametrize("trend,robust", [(False, False), (True, True)])
def test_ebayes_agrees_with_pylimma(
    data: tuple[np.ndarray, np.ndarray], trend: bool, robust: bool
) -> None:
    E, design = data
    theirs = pylimma.e_bayes(pylimma.lm_fit(E, design), trend=trend, robust=robust)
    ours = e_bayes(lm_fit(E, design), trend=trend, robust=robust)
    for field in ("t", "p_value", "lods", "F", "F_p_value", "s2_prior", "df_prior", "s2_post"):
        expected = np.asarray(theirs[field], dtype=float)
        got = np.broadcast_to(np.asarray(ours[field], dtype=float), expected.shape)
        assert ref.max_rel_err(got, expected) <= 1e-8, field


def test_top_table_columns_match_pylimma(data: tuple[np.ndarray, np.ndarray]) -> None:
    E, design = data
    theirs = pylimma.top_table(pylimma.e_bayes(pylimma.lm_fit(E, design)), coef=1, number=20)
    ours = top_table(e_bayes(lm_fit(E, design)), coef=1, number=20)
    assert list(ours.columns) == list(theirs.columns)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-8)
    with pytest.warns(DeprecationWarning):  # pylimma's F-table path warns about itself
        f_theirs = pylimma.top_table(pylimma.e_bayes(pylimma.lm_fit(E, design)), number=20)
    f_ours = top_table(e_bayes(lm_fit(E, design)), number=20)
    assert list(f_ours.columns)[-4:] == list(f_theirs.columns)[-4:]
    np.testing.assert_allclose(f_ours["F"].to_numpy(), f_theirs["F"].to_numpy(), rtol=1e-8)


def test_voom_agrees_with_pylimma_fixed_span() -> None:
    counts, samples = ref.voom_data()
    design = np.c_[np.ones(len(samples)), samples.group == "B"].astype(float)
    theirs = pylimma.voom(counts, design, span=0.5, adaptive_span=False)
    ours = voom(counts, design)
    assert ref.max_rel_err(ours.E, theirs["E"]) <= 1e-12
    assert ref.max_rel_err(ours.weights, theirs["weights"]) <= 1e-6
