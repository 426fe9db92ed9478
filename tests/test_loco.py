"""Leave-one-chromosome-out (LOCO) kinships, nulls and scans (issue #15, item 2).

References, each independent of the LOCO code:

- the GRM written out from its definition (observed-call mean and SD, mean imputation) over
  the other chromosomes' dosages, and :func:`kronlmm.io.grm_from_genotypes` of those
  variants (the existing, non-LOCO path);
- per chromosome, the manual run: :func:`kronlmm.gwas.fit_null` excluding the chromosome's
  variants (the existing kinship path), fitted from the genome-wide estimates, and that
  chromosome's variants scanned against it — LOCO must give the same numbers;
- the dense Gaussian log-density with covariance ``C₀ ⊗ K₋c + C₁ ⊗ Iₙ`` at the fitted
  values, for the null and for one variant's alternative;
- the low-rank route (``m ≤ n``: the dosages kept) against the n × n sums route.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bed_reader import to_bed
from click.testing import CliRunner

from kronlmm.cli import cli
from kronlmm.gwas import ASSOC_COLUMNS, NO_QC, fit_null, read_results
from kronlmm.gwas import loco as loco_module
from kronlmm.io import Kinship, PlinkGenotypes, grm_by_group, grm_from_genotypes
from kronlmm.testing import dense_gls, dense_ml_lml

#: Chromosome of each variant: chromosome 1 in two runs (a .bim not sorted by chromosome),
#: chromosome 5 of three variants that do not vary (left out of every kinship).
LAYOUT = ["1"] * 80 + ["2"] * 70 + ["3"] * 60 + ["1"] * 40 + ["4"] * 50 + ["5"] * 3
N = 120
COMPARED = ["lml_null", "lml_alt", "chi2", "p_value", "effect_allele_frequency"]


def _write_set(folder: Path, n: int, chroms: list[str], seed: int) -> tuple[Path, np.ndarray]:
    """A PLINK set (3 % missing calls; chromosome 5's variants constant), a two-trait
    phenotype table with a polygenic signal and a covariate table; returns the prefix and
    the dosages (NaN: missing)."""
    rng = np.random.default_rng(seed)
    m = len(chroms)
    f = rng.uniform(0.1, 0.5, size=m)
    d = rng.binomial(2, f, size=(n, m)).astype(float)
    d[:, np.array(chroms) == "5"] = 1.0
    d[rng.random((n, m)) < 0.03] = np.nan
    iid = [f"s{i:03d}" for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / "geno"
    to_bed(
        f"{prefix}.bed",
        d,
        properties={
            "fid": iid,
            "iid": iid,
            "chromosome": chroms,
            "sid": [f"v{j:03d}" for j in range(m)],
            "bp_position": [1000 * (j + 1) for j in range(m)],
            "allele_1": ["A"] * m,
            "allele_2": ["G"] * m,
        },
        count_A1=True,
    )
    z = np.nan_to_num((d - np.nanmean(d, 0)) / (np.nanstd(d, 0) + 1e-12))
    genetic = z @ rng.standard_normal((m, 2)) * np.sqrt(0.5 / m)
    age = rng.normal(50, 10, size=n)
    Y = 0.02 * age[:, None] + genetic + rng.standard_normal((n, 2)) * np.sqrt(0.5)
    Y[:, 1] += 0.4 * Y[:, 0]
    pd.DataFrame({"FID": iid, "IID": iid, "t1": Y[:, 0], "t2": Y[:, 1]}).to_csv(
        folder / "pheno.tsv", sep="\t", index=False
    )
    pd.DataFrame({"FID": iid, "IID": iid, "age": age}).to_csv(
        folder / "covar.tsv", sep="\t", index=False
    )
    return prefix, d


def _dense_grm(d: np.ndarray) -> np.ndarray:
    cols = []
    for x in d.T:
        obs = x[~np.isnan(x)]
        if obs.size >= 2 and obs.max() > obs.min():
            cols.append(np.where(np.isnan(x), 0.0, (x - obs.mean()) / obs.std()))
    Z = np.column_stack(cols)
    return Z @ Z.T / Z.shape[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    return _write_set(tmp_path_factory.mktemp("loco"), N, LAYOUT, seed=5)


def _fit(prefix: Path, **kw: object):
    folder = prefix.parent
    return fit_null(
        prefix, folder / "pheno.tsv", covar=folder / "covar.tsv", qc=NO_QC, block_size=37, **kw
    )


@pytest.fixture(scope="module")
def loco_run(data):
    prefix, _ = data
    null = _fit(prefix, loco=True)
    return null, null.scan("any", chunk_size=29)


# ------------------------------------------------------------------ the GRM contributions
@pytest.mark.parametrize("block_size", [37, 500])  # 500: one block, chromosome 1 split in it
def test_group_contributions_sum_to_the_genome_wide_grm(data, block_size):
    prefix, d = data
    geno = PlinkGenotypes(prefix)
    chroms = np.array(LAYOUT)
    parts = grm_by_group(geno, chroms, block_size=block_size)
    assert parts.groups == ["1", "2", "3", "4", "5"]
    assert parts.n_variants.tolist() == [120, 70, 60, 50, 0]
    assert parts.n_monomorphic.tolist() == [0, 0, 0, 0, 3]
    genome = grm_from_genotypes(geno)
    assert parts.m == genome.n_variants
    np.testing.assert_allclose(parts.total() / parts.m, genome.K, rtol=0, atol=1e-12)
    np.testing.assert_allclose(genome.K, _dense_grm(d), rtol=0, atol=1e-12)
    for g, chrom in enumerate(parts.groups):
        others = chroms != chrom
        K = parts.kinship_without(g)
        np.testing.assert_allclose(K, _dense_grm(d[:, others]), rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            K, grm_from_genotypes(geno, variant_index=others).K, rtol=0, atol=1e-12
        )
        # each S_g from its own variants alone: m_g · GRM_g
        if parts.n_variants[g]:
            own = grm_from_genotypes(geno, variant_index=~others)
            assert parts.sums is not None
            np.testing.assert_allclose(parts.sums[g], own.n_variants * own.K, rtol=0, atol=1e-10)


def test_factor_route_equals_sums_route(data):
    prefix, _ = data
    geno = PlinkGenotypes(prefix)
    chroms = np.array(LAYOUT)
    sums = grm_by_group(geno, chroms, block_size=50)
    factor = grm_by_group(geno, chroms, block_size=50, factor=True)
    assert factor.n_variants.tolist() == sums.n_variants.tolist()
    total = sums.total()
    for g in range(len(sums.groups)):
        G = factor.factor_without(g)
        assert G.shape == (N, factor.m - factor.n_variants[g])
        np.testing.assert_allclose(G @ G.T, sums.kinship_without(g, total), rtol=0, atol=1e-12)
    # released as it goes: the memory of S_g holds K₋g, then S_g is gone
    K0 = sums.kinship_without(0, total, release=True)
    assert sums.sums is not None and sums.sums[0] is None
    np.testing.assert_allclose(K0, factor.kinship_without(0), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="released"):
        sums.kinship_without(0, total)


def test_group_labels_must_match_the_variants(data):
    prefix, _ = data
    with pytest.raises(ValueError, match="one label per selected variant"):
        grm_by_group(PlinkGenotypes(prefix), ["1", "2"])


# ------------------------------------------------------------------ LOCO = manual runs
def test_loco_tables_equal_manual_per_chromosome_runs(data, loco_run):
    prefix, _ = data
    null, result = loco_run
    geno = PlinkGenotypes(prefix)
    variants = geno.variants
    assert [f.chrom for f in null.loco] == ["1", "2", "3", "4", "5"]
    for fit in null.loco:
        on_chrom = variants.index[variants["chrom"] == fit.chrom].to_numpy()
        np.testing.assert_array_equal(fit.variant_index, on_chrom)
        rows = result.assoc["chrom"] == fit.chrom
        got = result.assoc[rows].reset_index(drop=True)
        if fit.left_out == 0:  # chromosome 5: nothing varies, the genome-wide null is used
            assert fit.model() is null.model
            assert (got["reason"] != "").all()
            continue
        # the manual run: the existing kinship path without the chromosome's variants,
        # fitted from the genome-wide estimates, scanning the chromosome only
        ids = variants.loc[on_chrom, "variant_id"].tolist()
        manual = _fit(prefix, exclude=ids)
        assert manual.kinship.n_variants == fit.kinship.n_variants
        manual.model.set_start(C0=null.model.C0, C1=null.model.C1)
        manual.model.fit(verbose=False, start="current", restarts=0)
        # the same optimum: the likelihood to the last digits, the estimates to what the
        # fit's tolerance (projected gradient ~1e-9) determines
        assert manual.model.lml() == pytest.approx(fit.lml, rel=1e-11)
        np.testing.assert_allclose(fit.C0, manual.model.C0, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(fit.C1, manual.model.C1, rtol=1e-5, atol=1e-8)
        # and the same scan at the same estimates
        manual.model.set_start(C0=fit.C0, C1=fit.C1)
        only = dataclasses.replace(manual, variant_index=on_chrom)
        want = only.scan("any").assoc
        pd.testing.assert_frame_equal(
            got.drop(columns=COMPARED), want.drop(columns=COMPARED), check_dtype=True
        )
        for col in COMPARED:
            np.testing.assert_allclose(got[col], want[col], rtol=1e-8, atol=1e-8, err_msg=col)


def test_loco_table_has_the_usual_order_and_columns(data, loco_run):
    prefix, _ = data
    null, result = loco_run
    plain = _fit(prefix).scan("any")
    assert tuple(result.assoc.columns) == ASSOC_COLUMNS
    assert result.assoc["variant_id"].tolist() == plain.assoc["variant_id"].tolist()
    assert result.assoc.index.equals(plain.assoc.index)
    assert result.effects["variant_id"].tolist() == plain.effects["variant_id"].tolist()
    assert result.effects["trait"].tolist() == plain.effects["trait"].tolist()
    # effects follow their variant: the per-trait betas of a variant of chromosome 2
    row = int(np.flatnonzero(result.assoc["chrom"] == "2")[0])
    vid = result.assoc["variant_id"][row]
    loco2 = next(f for f in null.loco if f.chrom == "2")
    sub = dataclasses.replace(
        null, model=loco2.model(), variant_index=loco2.variant_index, loco=None
    )
    alone = sub.scan("any")
    np.testing.assert_allclose(
        result.effects.loc[result.effects["variant_id"] == vid, "beta"],
        alone.effects.loc[alone.effects["variant_id"] == vid, "beta"],
        rtol=1e-12,
    )
    # the genome-wide null from the summed contributions is the non-LOCO null
    np.testing.assert_allclose(null.model.C0, plain.null.model.C0, rtol=1e-7, atol=1e-9)
    assert null.lml == pytest.approx(plain.null.lml, rel=1e-10)
    # LOCO changes the tests of the chromosomes that were in the kinship
    tested = result.assoc["reason"] == ""
    assert not np.allclose(result.assoc["chi2"][tested], plain.assoc["chi2"][tested])


def test_loco_null_and_alternative_match_the_dense_density(data, loco_run):
    prefix, d = data
    null, result = loco_run
    fit = next(f for f in null.loco if f.chrom == "3")
    others = np.array(LAYOUT) != "3"
    K = _dense_grm(d[:, others])  # samples are in file order: IDs s000… sort as written
    model = fit.model()
    assert model.lml() == pytest.approx(fit.lml, rel=1e-12)
    np.testing.assert_allclose(model.C0, fit.C0, rtol=1e-12, atol=1e-14)
    n, p = N, 2
    Y = pd.read_csv(prefix.parent / "pheno.tsv", sep="\t")[["t1", "t2"]].to_numpy()
    X = np.column_stack([np.ones(n), pd.read_csv(prefix.parent / "covar.tsv", sep="\t")["age"]])
    # the standardised GRM has the constant vector in its null space, so the model's
    # likelihood is that of the data projected onto span(K) (Kron2Sum.ml_projected); the
    # dense reference projects the same way, with an orthonormal basis Q of span(K)
    assert model.ml_projected
    w, Q = np.linalg.eigh(K)
    Q = Q[:, w > 1e-10 * w[-1]]
    P = np.kron(np.eye(p), Q.T)
    V = np.kron(model.C0, Q.T @ K @ Q) + np.kron(model.C1, np.eye(Q.shape[1]))
    y = P @ Y.ravel(order="F")
    assert model.lml() == pytest.approx(dense_ml_lml(y, P @ np.kron(np.eye(p), X), V), rel=1e-10)
    # one variant of chromosome 3 with every call observed: the scan's likelihoods are
    # those of all the data (not projected) at C0, C1 with the overall scale profiled
    cols = np.flatnonzero(np.array(LAYOUT) == "3")
    j = int(cols[np.flatnonzero(~np.isnan(d[:, cols]).any(axis=0))[0]])
    row = result.assoc.loc[result.assoc["variant_id"] == f"v{j:03d}"].iloc[0]
    V = np.kron(model.C0, K) + np.kron(model.C1, np.eye(n))
    y = Y.ravel(order="F")
    M0 = np.kron(np.eye(p), X)
    M1 = np.kron(np.eye(p), np.column_stack([X, d[:, j]]))
    assert row["lml_null"] == pytest.approx(_profiled_lml(y, M0, V), rel=1e-10)
    assert row["lml_alt"] == pytest.approx(_profiled_lml(y, M1, V), rel=1e-10)


def _profiled_lml(y: np.ndarray, M: np.ndarray, V: np.ndarray) -> float:
    """``max_{β, s} log N(y; Mβ, s·V)``, densely."""
    beta, _ = dense_gls(y, M, V)
    r = y - M @ beta
    s = float(r @ np.linalg.solve(V, r)) / y.size
    return dense_ml_lml(y, M, s * V)


def test_low_rank_route_equals_full_route(tmp_path, monkeypatch):
    """m ≤ n: every LOCO factor is the dosages themselves; forced through the n × n sums
    and eigendecompositions instead, the fits and tests are the same."""
    prefix, _ = _write_set(tmp_path / "lr", 150, ["1"] * 40 + ["2"] * 30 + ["3"] * 30, seed=9)
    low = _fit(prefix, loco=True)
    assert {f.kinship.method for f in low.loco} == {"low-rank genotypes"}
    assert low.kinship.method == "low-rank genotypes"
    low_result = low.scan("any")
    real = loco_module.LocoKinships
    monkeypatch.setattr(loco_module, "LocoKinships", lambda: real(factor=False))
    full = _fit(prefix, loco=True)
    assert {f.kinship.method for f in full.loco} == {"eigendecomposition"}
    full_result = full.scan("any")
    for a, b in zip(low.loco, full.loco, strict=True):
        assert a.kinship.n_variants == b.kinship.n_variants
        # the same optimum: the likelihood to the last digits, the estimates (and so the
        # tests) to what the fits' tolerance (projected gradient ~1e-9) determines
        assert a.lml == pytest.approx(b.lml, rel=1e-11)
        np.testing.assert_allclose(a.C0, b.C0, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(a.C1, b.C1, rtol=1e-5, atol=1e-8)
    for col in COMPARED:
        np.testing.assert_allclose(
            low_result.assoc[col], full_result.assoc[col], rtol=1e-5, atol=1e-8, err_msg=col
        )


def test_loco_checkpoint_progress_and_reml(data, loco_run, tmp_path):
    """A checkpointed LOCO scan (one sub-folder per chromosome) gives the same table and
    resumes from its blocks; a progress callback counts over every chromosome; REML nulls
    stay REML per chromosome."""
    prefix, _ = data
    null, result = loco_run
    seen: list[tuple[int, int]] = []
    ckpt = tmp_path / "ckpt"
    first = null.scan(
        "any", chunk_size=29, checkpoint=ckpt, progress=lambda d, t: seen.append((d, t))
    )
    assert sorted(p.name for p in ckpt.iterdir()) == [f"chrom-{c}" for c in "12345"]
    again = null.scan("any", chunk_size=29, checkpoint=ckpt)
    for got in (first, again):
        pd.testing.assert_frame_equal(got.assoc, result.assoc)
        pd.testing.assert_frame_equal(got.effects, result.effects)
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1] == (len(result.assoc), len(result.assoc))
    reml = _fit(prefix, loco=True, restricted=True)
    assert all(f.restricted and f.model().restricted for f in reml.loco)
    assert not np.allclose(reml.loco[1].C0, null.loco[1].C0)  # REML, not ML, estimates


def test_loco_scan_on_dask_equals_the_serial_one(loco_run):
    """One Dask client serves every chromosome; the table is the serial one."""
    distributed = pytest.importorskip("distributed")
    null, result = loco_run
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = null.scan("any", chunk_size=29, scheduler=client)
    assert got.assoc["variant_id"].tolist() == result.assoc["variant_id"].tolist()
    for col in COMPARED:
        np.testing.assert_allclose(got.assoc[col], result.assoc[col], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got.effects["beta"], result.effects["beta"], rtol=1e-10)


# ------------------------------------------------------------------ errors
def test_loco_refuses_a_given_kinship_or_none(data, tmp_path):
    prefix, _ = data
    kin = grm_from_genotypes(PlinkGenotypes(prefix))
    for given, what in (
        (Kinship(ids=kin.ids, K=kin.K), "a Kinship object"),
        (None, "no kinship"),
        (str(tmp_path / "any.sXX.txt"), "any.sXX.txt"),
    ):
        with pytest.raises(ValueError, match="cannot be used with") as err:
            _fit(prefix, kinship=given, loco=True)
        assert what in str(err.value) and "--kinship grm" in str(err.value)


def test_loco_needs_two_chromosomes(tmp_path):
    prefix, _ = _write_set(tmp_path / "one", 60, ["7"] * 50, seed=3)
    with pytest.raises(ValueError, match="at least two chromosomes.*chromosome '7'"):
        _fit(prefix, loco=True)
    # and the variants passing the filters count: only chromosome 2 left after --extract
    prefix, _ = _write_set(tmp_path / "two", 60, ["1"] * 20 + ["2"] * 30, seed=4)
    keep = [f"v{j:03d}" for j in range(20, 50)]
    with pytest.raises(ValueError, match="all 30 variant.*chromosome '2'"):
        _fit(prefix, extract=keep, loco=True)
    # two chromosomes, but the other one's variants do not vary (chromosome 5 is constant)
    prefix, _ = _write_set(tmp_path / "flat", 60, ["1"] * 40 + ["5"] * 4, seed=6)
    with pytest.raises(ValueError, match="every variable variant is on chromosome '1'; the 4"):
        _fit(prefix, loco=True)


# ------------------------------------------------------------------ CLI
def _cli(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_loco_end_to_end(data, loco_run, tmp_path):
    prefix, _ = data
    null, result = loco_run
    folder = prefix.parent
    base = [
        "--bfile", str(prefix),
        "--pheno", str(folder / "pheno.tsv"),
        "--covar", str(folder / "covar.tsv"),
        "--maf", "none", "--geno", "none",
        "--no-progress",
    ]  # fmt: skip
    out = tmp_path / "run"
    done = _cli(["scan", *base, "--loco", "--no-plots", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "leave-one-chromosome-out: 5 chromosome(s)" in done.stdout
    table = read_results(Path(f"{out}.assoc.tsv.gz"))
    assert table["variant_id"].tolist() == result.assoc["variant_id"].tolist()
    # the CLI's fits and the fixture's are separate fits of the same problem, the GRM summed
    # in blocks of another size: equal to what rounding and the fits' tolerance (projected
    # gradient ~1e-9) determine
    for col in COMPARED:
        np.testing.assert_allclose(table[col], result.assoc[col], rtol=1e-6, atol=1e-8)
    with gzip.open(f"{out}.effects.tsv.gz", "rt") as fh:
        assert len(pd.read_csv(fh, sep="\t")) == len(result.effects)
    summary = json.loads(Path(f"{out}.null.json").read_text())
    assert [c["chrom"] for c in summary["loco"]] == ["1", "2", "3", "4", "5"]
    first = summary["loco"][0]
    assert first["kinship_variants"] == null.loco[0].kinship.n_variants == 180
    assert first["left_out_variants"] == 120 and first["n_scanned"] == 120
    np.testing.assert_allclose(first["C0"], null.loco[0].C0, rtol=1e-5, atol=1e-8)
    # without --loco: no LOCO entry, other numbers
    plain = tmp_path / "plain"
    assert _cli(["scan", *base, "--no-plots", "--out", str(plain)]).exit_code == 0
    assert json.loads(Path(f"{plain}.null.json").read_text())["loco"] is None
    # fit-null --loco records the per-chromosome nulls too
    nul = tmp_path / "null"
    assert _cli(["fit-null", *base[:-1], "--loco", "--out", str(nul)]).exit_code == 0
    assert len(json.loads(Path(f"{nul}.null.json").read_text())["loco"]) == 5


def test_cli_loco_with_kinship_file_is_an_error(data, tmp_path):
    prefix, _ = data
    folder = prefix.parent
    kin = tmp_path / "k.sXX.txt"
    K = grm_from_genotypes(PlinkGenotypes(prefix)).K
    np.savetxt(kin, K)
    done = _cli(
        [
            "scan", "--bfile", str(prefix), "--pheno", str(folder / "pheno.tsv"),
            "--kinship", str(kin), "--loco", "--no-plots", "--out", str(tmp_path / "x"),
        ]
    )  # fmt: skip
    assert done.exit_code != 0
    assert "cannot be used with the given kinship" in done.stderr
    assert "--kinship grm" in done.stderr
    assert not list(tmp_path.glob("x.*"))


def test_loco_uses_every_observed_trait_value(tmp_path):
    """LOCO with missing trait values (the default missing_traits="observed"): each
    chromosome's null uses every observed value and equals the manual run of the same
    chromosome (the kinship without its variants, fitted from the genome-wide estimates)."""
    prefix, _ = _write_set(tmp_path / "miss", 90, ["1"] * 60 + ["2"] * 50, seed=11)
    pheno = pd.read_csv(tmp_path / "miss" / "pheno.tsv", sep="\t")
    pheno.loc[[3, 10, 17, 40], "t1"] = np.nan
    pheno.loc[[5, 10, 61], "t2"] = np.nan  # sample 10: no trait observed, left out
    pheno.to_csv(tmp_path / "miss" / "pheno.tsv", sep="\t", index=False)
    null = _fit(prefix, loco=True)
    assert null.missing_traits == "observed"
    assert null.observed_values == {"t1": 86, "t2": 87}
    result = null.scan("any")
    variants = PlinkGenotypes(prefix).variants
    for fit in null.loco:
        assert fit.converged
        ids = variants.loc[variants["chrom"] == fit.chrom, "variant_id"].tolist()
        manual = _fit(prefix, exclude=ids)
        assert manual.observed_values == null.observed_values
        manual.model.set_start(C0=null.model.C0, C1=null.model.C1)
        manual.model.fit(verbose=False, start="current", restarts=0)
        assert manual.model.lml() == pytest.approx(fit.lml, rel=1e-9)
        rows = result.assoc["chrom"] == fit.chrom
        assert (result.assoc.loc[rows, "reason"] == "").sum() > 0
