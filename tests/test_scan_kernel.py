"""impute_block, the scan kernel's mean imputation, against a column-by-column reference.

Two code paths: few columns with a missing value (those are picked out) and most of them (the
whole block is imputed at once, as for genotype blocks with a low missing-call rate).
Reference: for each column, the mean of its observed values replaces its NaNs (NaN mean and
zeros for a column with none); an infinite value raises, naming its column.
"""

from __future__ import annotations

import numpy as np
import pytest

from kronlmm.scan.kernel import impute_block


def _reference(G):
    G = np.array(G, dtype=float)
    nmiss = np.isnan(G).sum(axis=0)
    means = np.array([np.mean(c[~np.isnan(c)]) if (~np.isnan(c)).any() else np.nan for c in G.T])
    out = np.where(np.isnan(G), np.nan_to_num(means)[None, :], G)
    return out, nmiss, means


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.2], ids=["none", "few columns", "most columns"])
def test_impute_block_matches_the_reference(rate):
    rng = np.random.default_rng(3)
    n, m = 50, 40
    G = rng.binomial(2, 0.3, size=(n, m)).astype(float)
    G[rng.random((n, m)) < rate] = np.nan
    if rate:
        G[:, 7] = np.nan  # every value missing
    original = G.copy()
    out, nmiss, means = impute_block(np.asfortranarray(G))
    ref_out, ref_nmiss, ref_means = _reference(G)
    np.testing.assert_allclose(out, ref_out, rtol=1e-14)
    np.testing.assert_array_equal(nmiss, ref_nmiss)
    np.testing.assert_allclose(means, ref_means, rtol=1e-14)
    np.testing.assert_array_equal(G, original)  # the input is not modified
    few = int(np.isnan(G).any(axis=0).sum())
    assert (few == 0) == (rate == 0.0) and (2 * few > m) == (rate == 0.2)


@pytest.mark.parametrize("rate", [0.01, 0.2], ids=["few columns", "most columns"])
def test_impute_block_names_the_column_of_an_infinite_value(rate):
    rng = np.random.default_rng(4)
    G = rng.binomial(2, 0.3, size=(30, 20)).astype(float)
    G[rng.random(G.shape) < rate] = np.nan
    G[3, 13] = -np.inf
    with pytest.raises(ValueError, match="candidate column 13 contains an infinite value"):
        impute_block(G)
