"""The χ² log survival function against 50-digit mpmath and SciPy."""

import numpy as np
import pytest
import scipy.stats as st

from kronlmm.core.stats import chi2_logsf


@pytest.mark.parametrize("dof", [1, 2, 3, 10, 40, 100])
def test_chi2_logsf_matches_scipy_where_representable(dof):
    x = np.array([0.0, 0.01, 0.5, 5.0, 50.0, 300.0, 600.0])
    np.testing.assert_allclose(chi2_logsf(x, dof), st.chi2.logsf(x, dof), rtol=1e-12)


@pytest.mark.parametrize("dof", [1, 2, 3, 10, 40, 100])
def test_chi2_logsf_beyond_underflow_matches_mpmath(dof):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    x = np.array([1390.0, 1437.0, 2301.51, 1e4, 1e6])
    ref = [float(mp.log(mp.gammainc(mp.mpf(dof) / 2, mp.mpf(v) / 2, mp.inf, regularized=True)))
           for v in x]  # fmt: skip
    got = chi2_logsf(x, dof)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_chi2_logsf_edge_values():
    got = chi2_logsf(np.array([np.nan, np.inf, 0.0]), 2)
    assert np.isnan(got[0]) and got[1] == -np.inf and got[2] == 0.0
