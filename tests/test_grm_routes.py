"""The routes to the genetic factor agree where both apply (issue #17).

A GRM from m variants has rank ≤ m. Three routes give its decomposition
``K = U diag(S2) Uᵀ``:

- low rank (m < n): ``G = Z/√m`` from :func:`kronlmm.io.low_rank_G`, then the thin SVD of
  the n × m factor (:func:`kronlmm.core.economic_svd`) — nothing n × n is formed;
- full: ``K`` from :func:`kronlmm.io.grm_from_genotypes`, all eigenpairs (LAPACK syevd,
  :func:`kronlmm.core.economic_eigh`);
- partial: the same ``K``, only its m largest eigenpairs (syevr with a subset).

References: ``numpy.linalg.eigh`` of the dense ``Z Zᵀ/m`` written out from the definition
(observed-call mean and SD); the identity ``U diag(S2) Uᵀ = K``; and the model built on
each route — the null likelihood and the scan statistics at the same C₀, C₁, and the whole
GWAS from files (:func:`kronlmm.gwas.fit_null` on the low-rank route vs. the same GRM given
as a kinship, decomposed) — which must agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bed_reader import to_bed

from kronlmm.core import economic_eigh, economic_svd
from kronlmm.gwas import NO_QC, fit_null
from kronlmm.io import PlinkGenotypes, grm_by_group, grm_from_genotypes, low_rank_G
from kronlmm.scan import KronFastScanner

RTOL = 1e-10


def _write_plink(prefix, dosage):
    n, m = dosage.shape
    iid = [f"s{i:03d}" for i in range(n)]
    to_bed(
        f"{prefix}.bed",
        dosage,
        properties={
            "fid": iid,
            "iid": iid,
            "chromosome": ["1"] * m,
            "sid": [f"v{j:03d}" for j in range(m)],
            "bp_position": [1000 * (j + 1) for j in range(m)],
            "allele_1": ["A"] * m,
            "allele_2": ["G"] * m,
        },
        count_A1=True,
    )
    return iid


@pytest.fixture(scope="module")
def genotypes(tmp_path_factory):
    """60 samples × 25 variants (rank ≤ 25 < n), 3% missing calls, one monomorphic."""
    rng = np.random.default_rng(11)
    n, m = 60, 25
    d = rng.binomial(2, rng.uniform(0.1, 0.5, size=m), size=(n, m)).astype(float)
    d[rng.random((n, m)) < 0.03] = np.nan
    d[:, 7] = 1.0
    prefix = tmp_path_factory.mktemp("grm") / "set"
    iid = _write_plink(prefix, d)
    return PlinkGenotypes(prefix), d, iid


def _dense_grm(d):
    cols = []
    for x in d.T:
        obs = x[~np.isnan(x)]
        if obs.size >= 2 and obs.max() > obs.min():
            cols.append(np.where(np.isnan(x), 0.0, (x - obs.mean()) / obs.std()))
    Z = np.column_stack(cols)
    return Z @ Z.T / Z.shape[1]


def _projector(svd):
    return svd.U @ svd.U.T


def test_low_rank_full_and_partial_decompositions_agree(genotypes):
    geno, d, _ = genotypes
    ref = _dense_grm(d)
    lr = low_rank_G(geno, block_size=4)
    kin = grm_from_genotypes(geno, block_size=4)
    assert lr.n_variants == kin.n_variants == 24 and lr.n_monomorphic == 1
    np.testing.assert_allclose(kin.K, ref, rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(lr.G @ lr.G.T, ref, rtol=RTOL, atol=RTOL)
    w_ref = np.linalg.eigvalsh(ref)[::-1]
    routes = {
        "low rank": economic_svd(lr.G),
        "full": economic_eigh(kin.K, 1e-10),
        "partial": economic_eigh(kin.K, 1e-10, max_rank=kin.n_variants),
    }
    for name, svd in routes.items():
        k = svd.S2.size
        assert k == 24, name  # 24 standardised columns (centred: in 1ᗮ, of dimension 59)
        np.testing.assert_allclose(svd.S2, w_ref[:k], rtol=RTOL, err_msg=name)
        np.testing.assert_allclose(svd.U.T @ svd.U, np.eye(k), atol=1e-12, err_msg=name)
        np.testing.assert_allclose((svd.U * svd.S2) @ svd.U.T, ref, atol=1e-12, err_msg=name)
    for name in ("full", "partial"):
        np.testing.assert_allclose(
            _projector(routes[name]), _projector(routes["low rank"]), atol=1e-11
        )


def test_the_model_is_the_same_on_every_route(genotypes):
    geno, d, _ = genotypes
    n = d.shape[0]
    rng = np.random.default_rng(5)
    Y = rng.standard_normal((n, 2))
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    C0, C1 = np.array([[0.5, 0.2], [0.2, 0.4]]), np.array([[0.6, 0.1], [0.1, 0.7]])
    kin = grm_from_genotypes(geno)
    routes = {
        "low rank": low_rank_G(geno).G,
        "full": economic_eigh(kin.K, 1e-10),
        "partial": economic_eigh(kin.K, 1e-10, max_rank=kin.n_variants),
    }
    D = np.nan_to_num(d, nan=1.0)
    scans = {}
    for name, G in routes.items():
        scanner = KronFastScanner(Y, np.eye(2), X, G, C0, C1)
        scans[name] = (scanner.null_lml(), scanner.scan_variants(D, "any"))
    lml0, res0 = scans["low rank"]
    for name in ("full", "partial"):
        lml, res = scans[name]
        np.testing.assert_allclose(lml, lml0, rtol=1e-12)
        np.testing.assert_allclose(res.lml_alt, res0.lml_alt, rtol=1e-12)
        np.testing.assert_allclose(res.chi2, res0.chi2, rtol=1e-8, atol=1e-9)


def test_a_gwas_gives_the_same_results_from_both_routes(genotypes, tmp_path):
    """fit_null(kinship="grm") takes the low-rank route here (m ≤ n); the same GRM given as
    a Kinship object is eigendecomposed (its m largest pairs): same fit, same scan."""
    geno, d, iid = genotypes
    n = d.shape[0]
    rng = np.random.default_rng(8)
    pheno = pd.DataFrame(
        rng.standard_normal((n, 2)) + np.nan_to_num(d[:, :2], nan=1.0),
        index=pd.Index(iid, name="IID"),
        columns=["t1", "t2"],
    )
    low = fit_null(geno, pheno, qc=NO_QC)  # every variant, as in grm_from_genotypes
    eig = fit_null(geno, pheno, kinship=grm_from_genotypes(geno), qc=NO_QC)
    assert low.kinship.method == "low-rank genotypes"
    assert eig.kinship.method == "eigendecomposition"
    assert low.kinship.rank == eig.kinship.rank == 24
    np.testing.assert_allclose(eig.lml, low.lml, rtol=1e-9)
    np.testing.assert_allclose(eig.C0.to_numpy(), low.C0.to_numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(eig.C1.to_numpy(), low.C1.to_numpy(), rtol=1e-5, atol=1e-7)
    a, b = low.scan("any").assoc, eig.scan("any").assoc
    np.testing.assert_allclose(b["neg_log10_p_value"], a["neg_log10_p_value"], rtol=1e-5)


def test_economic_eigh_against_numpy():
    rng = np.random.default_rng(2)
    n = 40
    W = rng.standard_normal((n, 12))
    K = W @ W.T
    w, V = np.linalg.eigh(K)
    full = economic_eigh(K)
    assert full.S2.size == 12
    np.testing.assert_allclose(full.S2, w[::-1][:12], rtol=1e-12)
    np.testing.assert_allclose(_projector(full), V[:, -12:] @ V[:, -12:].T, atol=1e-12)
    top = economic_eigh(K, max_rank=12)
    np.testing.assert_allclose(top.S2, full.S2, rtol=1e-12)
    np.testing.assert_allclose(_projector(top), _projector(full), atol=1e-12)
    # a bound below the true rank is noticed (the pairs do not add up to the trace)
    np.testing.assert_allclose(economic_eigh(K, max_rank=5).S2, full.S2, rtol=1e-12)
    # K is not touched unless overwrite=True
    K0 = K.copy()
    economic_eigh(K)
    economic_eigh(K, max_rank=12)
    np.testing.assert_array_equal(K, K0)
    with pytest.raises(ValueError, match=r"K has shape \(3, 2\)"):
        economic_eigh(np.zeros((3, 2)))


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("block_size", [6, 512])
def test_grm_and_its_groups_with_and_without_a_reader_thread(
    genotypes, monkeypatch, overlap, block_size
):
    """Blocks decoded by a reader thread beside the products, or between them and
    standardised in column ranges on several threads: the dense GRM either way, and the
    per-chromosome sums add up to it (monomorphic variant 7 skipped in both)."""
    import kronlmm.io.grm as grm

    geno, d, _ = genotypes
    monkeypatch.setattr(grm, "_core_left_for_reading", lambda: overlap)
    monkeypatch.setattr(grm, "cores_available", lambda: 3)  # three column ranges
    monkeypatch.setattr(grm, "MIN_STANDARDIZE_COLUMNS", 2)
    kin = grm_from_genotypes(geno, block_size=block_size)
    np.testing.assert_allclose(kin.K, _dense_grm(d), rtol=0, atol=1e-12)
    assert (kin.n_variants, kin.n_monomorphic) == (24, 1)
    chroms = np.array(["1"] * 10 + ["2"] * 15)
    parts = grm_by_group(geno, chroms, block_size=block_size, factor=False)
    np.testing.assert_allclose(parts.total() / parts.m, kin.K, rtol=0, atol=1e-12)
