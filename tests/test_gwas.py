"""kronlmm.gwas: the high-level scan on PLINK input, result tables, SSF and writers.

Reference values are computed directly in the tests (dosage means, normal tail
probabilities, a whole-matrix scan with the lower-level scanner); the causal variants come
from the simulation that made the bundled example (``kronlmm/data/causal.tsv``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
import scipy.stats as st
from bed_reader import open_bed, to_bed

from kronlmm.data import example_paths
from kronlmm.gwas import (
    ASSOC_COLUMNS,
    EFFECT_COLUMNS,
    NO_QC,
    SSF_JOINT_COLUMNS,
    SSF_PER_TRAIT_COLUMNS,
    GwasResult,
    atomic_path,
    fit_null,
    genomic_control_lambda,
    read_results,
    scan,
    write_table,
)
from kronlmm.io import PlinkGenotypes, grm_from_genotypes, read_table, write_kinship
from kronlmm.testing import dense_gls, dense_ml_lml

PATHS = example_paths()
CAUSAL = pd.read_csv(PATHS.causal, sep="\t")


def write_plink_subset(
    prefix: Path,
    sample_order: np.ndarray | None = None,
    variants: np.ndarray | slice | None = None,
    extra_columns: np.ndarray | None = None,
) -> Path:
    """Write (a re-ordered subset of) the example PLINK fileset with bed-reader's to_bed.

    ``extra_columns`` (n_samples × k dosages, in the original sample order, NaN = missing)
    are appended as variants ``extra0``… on chromosome 9.
    """
    with open_bed(PATHS.bed) as bed:
        val = bed.read(dtype="float32")
        props = dict(bed.properties)
    rows = np.arange(val.shape[0]) if sample_order is None else np.asarray(sample_order)
    cols = np.arange(val.shape[1])[variants if variants is not None else slice(None)]
    val = val[np.ix_(rows, cols)]
    for key in ("fid", "iid", "father", "mother", "sex", "pheno"):
        props[key] = np.asarray(props[key])[rows]
    for key in ("chromosome", "sid", "cm_position", "bp_position", "allele_1", "allele_2"):
        props[key] = np.asarray(props[key])[cols]
    if extra_columns is not None:
        k = extra_columns.shape[1]
        val = np.hstack([val, extra_columns[rows].astype("float32")])
        extra = {
            "chromosome": ["9"] * k,
            "sid": [f"extra{j}" for j in range(k)],
            "cm_position": np.zeros(k),
            "bp_position": np.arange(1, k + 1) * 1000,
            "allele_1": ["A"] * k,
            "allele_2": ["G"] * k,
        }
        for key, add in extra.items():
            props[key] = np.concatenate([np.asarray(props[key]), np.asarray(add)])
    to_bed(prefix.with_suffix(".bed"), val, properties=props)
    return prefix


@pytest.fixture(scope="module")
def result() -> GwasResult:
    """Every variant scanned (no QC filter), so that the tables cover the whole .bim."""
    return scan(PATHS.prefix, PATHS.pheno, covar=PATHS.covar, qc=NO_QC)


# --------------------------------------------------------------------------- tables
def test_assoc_columns_and_dtypes(result: GwasResult) -> None:
    a = result.assoc
    assert tuple(a.columns) == ASSOC_COLUMNS
    assert len(a) == 3000
    text = ("chrom", "variant_id", "effect_allele", "other_allele", "reason", "statistic",
            "refit_reason")  # fmt: skip
    for col in text:
        assert pd.api.types.is_string_dtype(a[col]), col
    for col in ("pos", "n", "dof", "df1", "df2"):
        assert a[col].dtype == np.int64, col
    for col in ASSOC_COLUMNS[5:]:
        if col not in ("n", "dof", "df1", "df2", *text):
            assert a[col].dtype == np.float64, col
    # the default p-value is the exact F test's, named in the table
    assert (a["statistic"] == "F").all()
    t = a["reason"] == ""
    np.testing.assert_allclose(
        a.loc[t, "p_value"], st.f.sf(a.loc[t, "F"], a.loc[t, "df1"], a.loc[t, "df2"]), rtol=1e-10
    )
    # df2 = observed trait values (the example's 395 samples, some traits missing) minus the
    # rank of the alternative's design (3 covariates × 3 traits + 3 effects)
    n_obs = sum(result.null.observed_values.values())
    assert n_obs == int(np.sum(~np.isnan(result.null.model.Y)))
    assert (a["df1"] == 3).all() and (a.loc[t, "df2"] == n_obs - 3 * 3 - 3).all()
    bim = PlinkGenotypes(PATHS.prefix).variants
    assert a["variant_id"].tolist() == bim["variant_id"].tolist()
    assert (a["dof"] == 3).all() and result.dof == 3
    tested = a["reason"] == ""
    # the 18 samples with some trait missing are kept (every observed value used): one more
    # variant is polymorphic, and one (rs39320461) is untestable for "any", its only
    # carrier having trait3 missing (nothing to say about an effect on trait3)
    assert result.n_tested == tested.sum() == 2984
    reasons = a.set_index("variant_id")["reason"]
    assert reasons["rs39320461"].startswith("no information at the observed values")
    assert a.loc[tested, "p_value"].between(0, 1).all()
    assert a.loc[~tested, ["chi2", "p_value", "lml_alt"]].isna().all().all()
    np.testing.assert_allclose(
        a.loc[tested, "chi2"], 2 * (a.loc[tested, "lml_alt"] - a.loc[tested, "lml_null"]), atol=1e-6
    )
    np.testing.assert_allclose(
        a.loc[tested, "neg_log10_p_value"], -np.log10(a.loc[tested, "p_value"]), rtol=1e-10
    )


def test_effects_table(result: GwasResult) -> None:
    e = result.effects
    assert tuple(e.columns) == EFFECT_COLUMNS
    assert len(e) == 3 * len(result.assoc)
    assert e["variant_id"].tolist() == np.repeat(result.assoc["variant_id"], 3).tolist()
    assert e["trait"].tolist()[:3] == ["trait1", "trait2", "trait3"]
    assert e["beta"].dtype == np.float64 and e["se"].dtype == np.float64
    # the causal variant of trait 1 only: a clear positive effect on trait 1
    rows = e[e["variant_id"] == "rs27157911"].set_index("trait")
    assert rows.loc["trait1", "beta"] > 4 * rows.loc["trait1", "se"]
    assert abs(rows.loc["trait2", "beta"]) < 3 * rows.loc["trait2", "se"]


def test_effect_allele_frequency_and_n(result: GwasResult) -> None:
    geno = PlinkGenotypes(PATHS.prefix)
    dosage = geno.read(sample_index=result.null.genotype_index)
    expected_n = (~np.isnan(dosage)).sum(axis=0)
    expected_eaf = np.nansum(dosage, axis=0) / (2 * expected_n)
    np.testing.assert_array_equal(result.assoc["n"], expected_n)
    np.testing.assert_allclose(result.assoc["effect_allele_frequency"], expected_eaf, rtol=1e-12)
    assert result.assoc["n"].max() == result.null.nsamples == 395
    # effect allele = .bim allele 1
    causal = CAUSAL.set_index("variant_id")
    a = result.assoc.set_index("variant_id").loc[causal.index]
    assert (a["effect_allele"] == causal["effect_allele"]).all()


def test_top_hit_is_causal(result: GwasResult) -> None:
    top = result.top(10)
    assert top["variant_id"].iloc[0] in set(CAUSAL["variant_id"])
    assert set(CAUSAL["variant_id"]) <= set(top["variant_id"])


def test_null_summary(result: GwasResult) -> None:
    null = result.null
    assert null.converged
    assert null.trait_names == ["trait1", "trait2", "trait3"]
    assert null.covariate_names == ["intercept", "age", "sex"]
    assert null.intercept_added
    assert null.C0.shape == (3, 3) and null.C1.shape == (3, 3)
    assert list(null.B.index) == null.covariate_names
    np.testing.assert_allclose(null.C0.to_numpy(), null.model.C0)
    assert null.lml == pytest.approx(null.model.lml())
    # every sample of the phenotype table has some observed trait: all 395 kept
    assert result.alignment == {
        "genotypes": 400,
        "phenotypes": 395,
        "covariates": 400,
        "in_all_sources": 395,
        "missing_values": 0,
        "kept": 395,
    }
    # the values used per trait: the observed ones (the example has 18 samples with a
    # trait missing: 395·3 values less those missing)
    pheno = read_table(PATHS.pheno).loc[null.samples]
    assert null.missing_traits == "observed"
    assert null.observed_values == {t: int(pheno[t].notna().sum()) for t in null.trait_names}
    assert sum(null.observed_values.values()) < 3 * 395
    assert list(null.samples) == sorted(null.samples)
    assert null.kinship.method == "eigendecomposition" and null.kinship.source == "grm"
    d = json.loads(json.dumps(null.to_dict()))
    assert d["trait_names"] == null.trait_names
    np.testing.assert_allclose(d["C1"], null.model.C1)
    assert d["convergence"]["converged"] is True
    assert d["missing_traits"] == {"mode": "observed", "observed_values": null.observed_values}


def test_complete_case_option_keeps_the_complete_cases() -> None:
    null = fit_null(PATHS.prefix, PATHS.pheno, covar=PATHS.covar, missing_traits="complete-case")
    assert null.alignment["missing_values"] == 18 and null.nsamples == 377
    assert null.observed_values == {t: 377 for t in null.trait_names}
    assert len(null.sample_losses["missing_trait"]) == 18
    assert not np.isnan(null.model.Y).any()


def test_observed_values_null_is_the_dense_observed_likelihood(result: GwasResult) -> None:
    """The workflow's null (ML, standardised GRM with an intercept: restricted to span(U))
    on the samples with missing traits: its lml is the dense density of the observed
    contrasts, and the scan's null is the dense ML of the observed values."""
    null = result.null
    model = null.model
    Y = model.Y
    assert np.isnan(Y).any() and model.ml_projected
    n, p = Y.shape
    U, S2 = model.cov.svd.U, model.cov.svd.S2
    GG = (U * S2) @ U.T
    K = np.kron(model.C0, GG) + np.kron(model.C1, np.eye(n))
    O = ~np.isnan(Y.ravel(order="F"))
    y, KO = Y.ravel(order="F")[O], K[np.ix_(O, O)]
    M = np.kron(np.eye(p), model.X)[O]
    Up = sla.null_space(U.T)
    L = sla.null_space(np.kron(np.eye(p), Up)[O].T)
    assert model.lml() == pytest.approx(dense_ml_lml(L.T @ y, L.T @ M, L.T @ KO @ L), rel=1e-9)
    scanner = model.get_fast_scanner()
    No = int(O.sum())
    beta, _ = dense_gls(y, M, KO)
    r = y - M @ beta
    q = float(r @ np.linalg.solve(KO, r))
    logdet = np.linalg.slogdet(KO)[1]
    ref = -0.5 * (No * np.log(2 * np.pi) + logdet + No * np.log(q / No) + No)
    assert scanner.null_lml() == pytest.approx(ref, rel=1e-9)


def test_block_scan_equals_whole_matrix_scan(result: GwasResult) -> None:
    """Blocks of any size give what the scanner gives on the whole matrix at once."""
    null = result.null
    small = null.scan("any", chunk_size=37)
    pd.testing.assert_frame_equal(small.assoc, result.assoc, rtol=1e-10)
    dosage = PlinkGenotypes(PATHS.prefix).read(sample_index=null.genotype_index)
    ref = null.model.get_fast_scanner().scan_variants(dosage).to_dataframe()
    np.testing.assert_allclose(result.assoc["chi2"], ref["chi2"], rtol=1e-9)
    np.testing.assert_allclose(result.effects["beta"], ref.filter(like="beta_").to_numpy().ravel())


@pytest.mark.parametrize(
    ("test", "dof", "traits"), [("common", 1, ["common"]), ("interaction", 2, None)]
)
def test_other_tests(result: GwasResult, test: str, dof: int, traits: list[str] | None) -> None:
    res = result.null.scan(test)
    assert res.dof == dof and (res.assoc["dof"] == dof).all()
    q = len(traits) if traits else 3
    assert len(res.effects) == q * len(res.assoc)
    assert res.effects["trait"].iloc[:q].tolist() == (traits or ["trait1", "trait2", "trait3"])
    # the null of the interaction test contains the common effect: its likelihood is at
    # least that of the scan's base null (all the data, C₀ and C₁ fixed, scale profiled)
    if test == "interaction":
        tested = res.assoc["reason"] == ""
        base = result.null.model.get_fast_scanner().null_lml()
        assert (res.assoc.loc[tested, "lml_null"] > base - 1e-8).all()


def test_genomic_control_lambda(result: GwasResult) -> None:
    chi2 = result.assoc["chi2"].to_numpy()
    direct = np.median(chi2[np.isfinite(chi2)]) / st.chi2.ppf(0.5, 3)
    assert result.lambda_gc == pytest.approx(direct, rel=1e-12)
    assert genomic_control_lambda([0.5, np.nan, 1.5, 1.0], 1) == pytest.approx(
        1.0 / st.chi2.ppf(0.5, 1)
    )
    with pytest.raises(ValueError, match="single dof"):
        genomic_control_lambda([1.0, 2.0], [1, 2])


# --------------------------------------------------------------------------- SSF and writers
def test_to_ssf(result: GwasResult) -> None:
    ssf = result.to_ssf()
    assert tuple(ssf.joint.columns) == SSF_JOINT_COLUMNS
    assert tuple(ssf.per_trait.columns) == SSF_PER_TRAIT_COLUMNS
    assert len(ssf.joint) == result.n_tested
    assert len(ssf.per_trait) == 3 * result.n_tested
    tested = result.assoc[result.assoc["reason"] == ""].reset_index(drop=True)
    np.testing.assert_array_equal(ssf.joint["base_pair_location"], tested["pos"])
    np.testing.assert_array_equal(ssf.joint["p_value"], tested["p_value"])
    np.testing.assert_array_equal(ssf.joint["neg_log_10_p_value"], tested["neg_log10_p_value"])
    row = ssf.per_trait.iloc[7]
    eff = result.effects.set_index(["variant_id", "trait"]).loc[(row["variant_id"], row["trait"])]
    assert row["beta"] == eff["beta"] and row["standard_error"] == eff["se"]
    assert row["p_value"] == pytest.approx(2 * st.norm.sf(abs(eff["beta"] / eff["se"])), rel=1e-10)
    assert ssf.per_trait["p_value"].between(0, 1).all()


@pytest.mark.parametrize("name", ["assoc.tsv", "assoc.tsv.gz"])
@pytest.mark.parametrize("table", ["assoc", "effects"])
def test_tsv_round_trip(result: GwasResult, tmp_path: Path, name: str, table: str) -> None:
    path = result.write_tsv(tmp_path / name, table=table)
    back = read_results(path)
    pd.testing.assert_frame_equal(back, getattr(result, table), check_dtype=False)
    assert tuple(back.dtypes == getattr(result, table).dtypes)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_gzip_output_is_reproducible(result: GwasResult, tmp_path: Path) -> None:
    a = result.write_tsv(tmp_path / "a.tsv.gz").read_bytes()
    b = result.write_tsv(tmp_path / "b.tsv.gz").read_bytes()
    assert a == b and a[:2] == b"\x1f\x8b"


@pytest.mark.parametrize("table", ["assoc", "effects"])
def test_parquet_round_trip(result: GwasResult, tmp_path: Path, table: str) -> None:
    pytest.importorskip("pyarrow")
    path = result.write_parquet(tmp_path / "r.parquet", table=table)
    back = read_results(path)
    pd.testing.assert_frame_equal(back, getattr(result, table), check_dtype=False)


def test_ssf_write_uses_hash_na(result: GwasResult, tmp_path: Path) -> None:
    df = pd.DataFrame({"chromosome": ["1"], "beta": [np.nan]})
    text = write_table(df, tmp_path / "s.tsv", na_rep="#NA").read_text()
    assert text == "chromosome\tbeta\n1\t#NA\n"


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    final.write_text("old complete file")
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert final.read_text() == "old complete file"
    assert list(tmp_path.iterdir()) == [final]


# --------------------------------------------------------------------------- inputs
def test_dataframes_in_any_order_give_identical_results(result: GwasResult) -> None:
    rng = np.random.default_rng(5)
    pheno = read_table(PATHS.pheno)
    covar = read_table(PATHS.covar)
    pheno = pheno.iloc[rng.permutation(len(pheno))]
    covar = covar.iloc[rng.permutation(len(covar))]
    null = fit_null(PATHS.prefix, pheno, covar=covar, qc=NO_QC)
    assert null.lml == result.null.lml
    np.testing.assert_array_equal(null.model.C0, result.null.model.C0)
    res = null.scan()
    pd.testing.assert_frame_equal(res.assoc, result.assoc)


def test_missing_covariates_are_dropped_and_counted(
    result: GwasResult, caplog: pytest.LogCaptureFixture
) -> None:
    covar = read_table(PATHS.covar)
    kept = list(result.null.samples[:4])
    covar.loc[kept, "age"] = np.nan
    with caplog.at_level(logging.INFO, logger="kronlmm"):
        null = fit_null(PATHS.prefix, PATHS.pheno, covar=covar)
    assert null.alignment["missing_values"] == 4
    assert null.nsamples == 391
    assert not set(kept) & set(null.samples)
    assert "4 sample(s) dropped for no observed trait or a missing covariate value" in caplog.text
    assert sorted(null.sample_losses["missing_covariate"]) == sorted(str(k) for k in kept)


def test_intercept_not_added_when_present(result: GwasResult) -> None:
    covar = read_table(PATHS.covar)
    covar.insert(0, "const", 1.0)
    null = fit_null(PATHS.prefix, PATHS.pheno, covar=covar, qc=NO_QC)
    assert not null.intercept_added
    assert null.covariate_names == ["const", "age", "sex"]
    assert null.lml == pytest.approx(result.null.lml, rel=1e-8)


def test_trait_selection_and_no_covariates() -> None:
    null = fit_null(PATHS.prefix, PATHS.pheno, pheno_cols=["trait2", "trait1"], kinship=None)
    assert null.trait_names == ["trait2", "trait1"]
    assert null.covariate_names == ["intercept"]
    assert null.kinship.method == "none" and null.kinship.rank == 0
    pheno = read_table(PATHS.pheno)[["trait2", "trait1"]]
    assert null.alignment["kept"] == int(pheno.notna().any(axis=1).sum())  # some trait observed
    res = null.scan(chunk_size=1000)
    assert set(res.effects["trait"]) == {"trait1", "trait2"}


def test_kinship_file_equals_grm(result: GwasResult, tmp_path: Path) -> None:
    geno = PlinkGenotypes(PATHS.prefix)
    kin = grm_from_genotypes(geno, result.null.genotype_index)
    path = write_kinship(tmp_path / "grm.npz", kin.ids, kin.K)
    null = fit_null(PATHS.prefix, PATHS.pheno, covar=PATHS.covar, kinship=path, qc=NO_QC)
    assert null.kinship.source == str(path)
    assert null.lml == pytest.approx(result.null.lml, rel=1e-9)
    np.testing.assert_allclose(null.model.C0, result.null.model.C0, rtol=1e-4, atol=1e-6)


def test_low_rank_genotype_factor_equals_eigendecomposition(tmp_path: Path) -> None:
    """With fewer variants than samples G = Z/√m is used; a kinship file of ZZᵀ/m agrees."""
    prefix = write_plink_subset(tmp_path / "few", variants=slice(0, 3000, 20))
    lr = fit_null(prefix, PATHS.pheno, covar=PATHS.covar, qc=NO_QC)
    assert lr.kinship.method == "low-rank genotypes" and lr.kinship.n_variants == 150
    kin = grm_from_genotypes(PlinkGenotypes(prefix), lr.genotype_index)
    path = write_kinship(tmp_path / "few_grm.npz", kin.ids, kin.K)
    eig = fit_null(prefix, PATHS.pheno, covar=PATHS.covar, kinship=path, qc=NO_QC)
    assert eig.kinship.method == "eigendecomposition"
    assert lr.lml == pytest.approx(eig.lml, rel=1e-9)


def test_untestable_variants_have_a_reason(tmp_path: Path) -> None:
    n = 400
    extra = np.zeros((n, 3))
    extra[:, 1] = np.nan  # nothing observed
    extra[:, 2] = np.where(np.arange(n) % 2, 1.0, 0.0)
    extra[:10, 2] = np.nan  # a few missing calls
    prefix = write_plink_subset(tmp_path / "odd", variants=slice(0, 50), extra_columns=extra)
    res = scan(prefix, PATHS.pheno, covar=PATHS.covar, kinship=None, qc=NO_QC)
    rows = res.assoc.set_index("variant_id").loc[["extra0", "extra1", "extra2"]]
    assert rows.loc["extra0", "reason"].startswith("constant")
    assert rows.loc["extra1", "reason"] == "all values missing"
    assert rows.loc["extra2", "reason"] == ""
    assert rows.loc["extra0", "effect_allele_frequency"] == 0.0
    assert np.isnan(rows.loc["extra1", "effect_allele_frequency"])
    assert rows.loc["extra1", "n"] == 0
    assert (
        rows.loc["extra2", "n"]
        == res.null.nsamples - np.isin(res.null.samples, [f"IND{i:03d}" for i in range(10)]).sum()
    )
    assert np.isnan(rows.loc["extra1", ["chi2", "p_value"]].astype(float)).all()
    assert not set(res.to_ssf().joint["variant_id"]) & {"extra0", "extra1"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pheno_cols": ["nosuch"]}, "column 'nosuch' not found"),
        ({"covar_cols": ["age"]}, "without a covariate table"),
        ({"test": "bogus"}, "test must be one of"),
        ({"rank": 4}, "rank must be"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        scan(PATHS.prefix, PATHS.pheno, **kwargs)


def test_progress_reporting(result: GwasResult, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[int, int]] = []
    result.null.scan(chunk_size=1000, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1000, 3000), (2000, 3000), (3000, 3000)]
    result.null.scan(chunk_size=1500, progress=True)
    assert "scan:" in capsys.readouterr().err  # a tqdm bar
    result.null.scan(chunk_size=1500, progress="auto")  # stderr is not a terminal here
    assert capsys.readouterr().err == ""


def test_trait_with_large_mean_is_scanned_not_rejected():
    """A trait with mean 1e7 and sd ≈ 1 has variance left after the intercept; shifting a
    trait by a constant changes nothing but its intercept (algebra), so the null lml and
    C₀, C₁ equal those of the unshifted data."""
    from kronlmm.data import example_paths
    from kronlmm.gwas import fit_null
    from kronlmm.io import read_table

    paths = example_paths()
    pheno = read_table(paths.pheno)
    shifted = pheno.copy()
    shifted["trait1"] = shifted["trait1"] + 1e7
    ref = fit_null(paths.prefix, pheno, covar=paths.covar, kinship=None)
    got = fit_null(paths.prefix, shifted, covar=paths.covar, kinship=None)
    assert got.lml == pytest.approx(ref.lml, rel=1e-9)
    np.testing.assert_allclose(got.C1.to_numpy(), ref.C1.to_numpy(), rtol=1e-6)


def test_samples_removed_by_filters_are_a_loss_reason_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """--keep/--remove/--mind remove genotyped samples on purpose: they are counted under
    "sample_filters" (not "not_genotyped") and do not make the losses a WARNING."""
    pheno = read_table(PATHS.pheno)
    removed = list(pheno.index[:60])  # 15 % of the table, far above the warning share
    with caplog.at_level(logging.INFO, logger="kronlmm"):
        null = fit_null(PATHS.prefix, PATHS.pheno, covar=PATHS.covar, kinship=None, remove=removed)
    assert sorted(null.sample_losses["sample_filters"]) == sorted(removed)
    assert null.sample_losses["not_genotyped"] == []
    assert null.alignment["phenotypes"] == null.nsamples + sum(
        len(ids) for ids in null.sample_losses.values()
    )
    losses = [r for r in caplog.records if "are not analysed" in r.getMessage()]
    assert losses and all(r.levelno == logging.INFO for r in losses)
    assert "60 removed by the sample filters" in losses[0].getMessage()


def test_plink_slice_fingerprint_covers_the_variants_chosen() -> None:
    """A checkpoint block is reused only for the same variants: the fingerprint of a slice
    changes with the variants chosen in its range (e.g. by QC filters)."""
    geno = PlinkGenotypes(PATHS.prefix)
    whole = geno.slice_variants(0, 10)
    some = geno.slice_variants(0, 10, variants=[0, 2, 5, 9])
    other = geno.slice_variants(0, 10, variants=[0, 2, 6, 9])
    prints = {s.fingerprint() for s in (whole, some, other)}
    assert len(prints) == 3
    assert some.fingerprint() == geno.slice_variants(0, 10, variants=[0, 2, 5, 9]).fingerprint()
    assert some.read().shape == (geno.nsamples, 4)
