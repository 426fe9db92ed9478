"""Tests of the input layer (kronlmm.io) and the bundled example dataset (kronlmm.data).

Reference values: (i) a .bed file whose bytes are written here by hand from the PLINK 1 format
specification (https://www.cog-genomics.org/plink/1.9/formats#bed: magic 0x6c 0x1b, mode
0x01 = variant-major, two bits per sample with the first sample in the lowest bits; 00 =
homozygous for the .bim column-5 allele, 01 = missing, 10 = heterozygous, 11 = homozygous for
the column-6 allele); (ii) files written by bed-reader's ``to_bed``; (iii) dense numpy
computations of the standardised GRM written here from its definition.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from bed_reader import to_bed

from kronlmm.data import example_paths
from kronlmm.io import (
    BedPaddingError,
    InputFileNotFoundError,
    Kinship,
    PlinkGenotypes,
    PlinkSlice,
    align_samples,
    check_kinship,
    grm_from_genotypes,
    low_rank_G,
    read_kinship,
    read_table,
    write_kinship,
)


# ----------------------------------------------------------------------------- helpers
def _write_plink(prefix, dosage, iids=None, fids=None, rng=None):
    n, m = dosage.shape
    iids = [f"s{i}" for i in range(n)] if iids is None else list(iids)
    fids = [f"f{i}" for i in range(n)] if fids is None else list(fids)
    props = {
        "fid": fids,
        "iid": iids,
        "chromosome": ["1"] * (m // 2) + ["2"] * (m - m // 2),
        "sid": [f"v{j}" for j in range(m)],
        "bp_position": list(range(100, 100 + 10 * m, 10)),
        "allele_1": ["A"] * m,
        "allele_2": ["G"] * m,
    }
    to_bed(f"{prefix}.bed", dosage, properties=props)
    return props


def _random_dosage(rng, n, m, missing=0.05, monomorphic=()):
    freq = rng.uniform(0.05, 0.5, size=m)
    d = rng.binomial(2, freq, size=(n, m)).astype(float)
    for j in monomorphic:
        d[:, j] = 2.0
    d[rng.random((n, m)) < missing] = np.nan
    return d


def _dense_grm(d):
    """K = Z Zᵀ / m from the definition: observed-call mean/SD, NaN → 0, drop constant."""
    cols = []
    for j in range(d.shape[1]):
        x = d[:, j]
        obs = x[~np.isnan(x)]
        if obs.size < 2 or obs.max() == obs.min():
            continue
        z = (x - obs.mean()) / obs.std()
        cols.append(np.where(np.isnan(z), 0.0, z))
    Z = np.column_stack(cols)
    return Z @ Z.T / Z.shape[1], Z.shape[1]


@pytest.fixture
def plink_set(tmp_path, rng):
    d = _random_dosage(rng, 23, 37, monomorphic=(3, 20))
    props = _write_plink(tmp_path / "geno", d)
    return tmp_path / "geno", d, props


# ----------------------------------------------------------------------------- PLINK
def test_counted_allele_from_hand_written_bed(tmp_path):
    # One variant, 5 samples: genotypes A/A, G/G, A/G, missing, A/A where A = .bim column 5.
    codes = [0b00, 0b11, 0b10, 0b01, 0b00]
    byte0 = codes[0] | codes[1] << 2 | codes[2] << 4 | codes[3] << 6
    (tmp_path / "h.bed").write_bytes(bytes([0x6C, 0x1B, 0x01, byte0, codes[4]]))
    (tmp_path / "h.bim").write_text("7\trs1\t0\t1234\tA\tG\n")
    (tmp_path / "h.fam").write_text("".join(f"F{i} I{i} 0 0 0 -9\n" for i in range(5)))

    geno = PlinkGenotypes(tmp_path / "h")
    assert geno.counted_allele == "allele_1"
    v = geno.variants
    assert list(v.columns) == ["chrom", "pos", "variant_id", "effect_allele", "other_allele"]
    assert v.loc[0, "effect_allele"] == "A" and v.loc[0, "other_allele"] == "G"
    assert v.loc[0, "chrom"] == "7" and v.loc[0, "pos"] == 1234
    np.testing.assert_array_equal(geno.read()[:, 0], [2, 0, 1, np.nan, 2])

    geno2 = PlinkGenotypes(tmp_path / "h", count_A1=False)
    assert geno2.variants.loc[0, "effect_allele"] == "G"
    np.testing.assert_array_equal(geno2.read()[:, 0], [0, 2, 1, np.nan, 0])


def test_round_trip_values_ids_and_missing(plink_set):
    prefix, d, props = plink_set
    geno = PlinkGenotypes(prefix)
    assert geno.shape == d.shape
    assert list(geno.samples.columns) == ["FID", "IID"]
    assert geno.samples["IID"].tolist() == props["iid"]
    assert geno.samples["FID"].tolist() == props["fid"]
    assert geno.sample_ids.tolist() == props["iid"]
    assert geno.variants["variant_id"].tolist() == props["sid"]
    assert geno.variants["pos"].tolist() == props["bp_position"]
    assert (geno.variants["effect_allele"] == "A").all()
    x = geno.read()
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, d)  # NaN positions compare equal
    assert np.isnan(x).sum() == np.isnan(d).sum() > 0


def test_prefix_with_extension_is_accepted(plink_set):
    prefix, d, _ = plink_set
    geno = PlinkGenotypes(f"{prefix}.bed")
    np.testing.assert_array_equal(geno.read(slice(0, 5)), d[:, :5])


@pytest.mark.parametrize("block_size", [1, 7, 37, 100])
def test_iter_blocks_equals_full_read(plink_set, block_size, rng):
    prefix, d, _ = plink_set
    geno = PlinkGenotypes(prefix)
    samples = rng.permutation(d.shape[0])[:15]
    blocks = list(geno.iter_blocks(block_size, sample_index=samples))
    assert all(b.dosage.shape[1] <= block_size for b in blocks)
    np.testing.assert_array_equal(np.hstack([b.dosage for b in blocks]), d[samples])
    ids = pd.concat([b.variants for b in blocks])["variant_id"].tolist()
    assert ids == geno.variants["variant_id"].tolist()
    np.testing.assert_array_equal(geno.read(sample_index=samples), d[samples])

    chosen = np.array([30, 2, 5, 11])
    parts = [dos for _, dos in geno.iter_blocks(block_size, samples, variant_index=chosen)]
    np.testing.assert_array_equal(np.hstack(parts), d[np.ix_(samples, chosen)])


def test_iter_blocks_rejects_bad_block_size(plink_set):
    geno = PlinkGenotypes(plink_set[0])
    with pytest.raises(ValueError, match="block_size"):
        next(geno.iter_blocks(0))


@pytest.mark.parametrize("ext", ["bed", "bim", "fam"])
def test_missing_plink_file(plink_set, ext):
    prefix = plink_set[0]
    (prefix.parent / f"geno.{ext}").unlink()
    with pytest.raises(ValueError, match=rf"geno\.{ext}.*prefix") as info:
        PlinkGenotypes(prefix)
    assert isinstance(info.value, FileNotFoundError)
    assert str(prefix) in str(info.value)


def test_wrong_prefix(plink_set):
    prefix = plink_set[0]
    with pytest.raises(InputFileNotFoundError, match="genox.bed.*genox.bim.*genox.fam"):
        PlinkGenotypes(prefix.parent / "genox")


def test_mismatched_bed_size(plink_set):
    prefix = plink_set[0]
    with open(prefix.parent / "geno.bim", "a") as fh:
        fh.write("2\textra\t0\t999\tA\tC\n")
    with pytest.raises(ValueError, match="do not belong together"):
        PlinkGenotypes(prefix)


# ----------------------------------------------------------------------------- tables
PHENO = pd.DataFrame(
    {
        "FID": ["a", "b", "c", "d"],
        "IID": ["i1", "i2", "i3", "i4"],
        "y1": ["1.5", "NA", "-9", "2"],
        "y2": ["0", "3e-1", "", "nan"],
    }
)


@pytest.mark.parametrize("sep", ["\t", ",", " ", "  "])
def test_read_table_formats(tmp_path, sep):
    path = tmp_path / "p.txt"
    rows = PHENO.to_numpy().tolist()
    if sep.strip() == "":  # whitespace-separated files cannot hold an empty field
        rows = [[tok if tok else "NA" for tok in row] for row in rows]
    lines = [sep.join(PHENO.columns)] + [sep.join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    df = read_table(path)
    assert df.index.tolist() == ["i1", "i2", "i3", "i4"]
    assert df.index.name == "IID"
    assert list(df.columns) == ["y1", "y2"]
    assert all(df.dtypes == np.float64)
    np.testing.assert_array_equal(
        df.to_numpy(), [[1.5, 0.0], [np.nan, 0.3], [-9.0, np.nan], [2.0, np.nan]]
    )
    assert dict(df.attrs["FID"]) == {"i1": "a", "i2": "b", "i3": "c", "i4": "d"}


def test_read_table_plink_missing_and_columns(tmp_path):
    path = tmp_path / "p.tsv"
    PHENO.to_csv(path, sep="\t", index=False)
    df = read_table(path, columns=["y1"], plink_missing=True)
    assert list(df.columns) == ["y1"]
    np.testing.assert_array_equal(df["y1"].to_numpy(), [1.5, np.nan, np.nan, 2.0])


def test_read_table_plink2_header_and_id_col(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("#FID\tIID\tage\nx\ts1\t30\ny\ts2\t41\n")
    df = read_table(path)
    assert df.index.tolist() == ["s1", "s2"] and df["age"].tolist() == [30.0, 41.0]
    path2 = tmp_path / "q.csv"
    path2.write_text("sample,age,bmi\n007,30,21.5\n008,41,\n")
    df2 = read_table(path2, id_col="sample")
    assert df2.index.tolist() == ["007", "008"]  # IDs are strings: leading zeros kept
    assert np.isnan(df2.loc["008", "bmi"])


def test_read_table_dataframe_inputs():
    df = pd.DataFrame({"y": [1, 2]}, index=pd.Index(["b", "a"], name="IID"))
    out = read_table(df)
    assert out.index.tolist() == ["b", "a"] and out["y"].dtype == np.float64
    out2 = read_table(PHENO, plink_missing=True)
    assert out2.index.tolist() == ["i1", "i2", "i3", "i4"] and np.isnan(out2.loc["i3", "y1"])
    with pytest.raises(ValueError, match="RangeIndex"):
        read_table(pd.DataFrame({"y": [1.0, 2.0]}))


def test_read_table_errors(tmp_path):
    with pytest.raises(ValueError, match="nothere.tsv.*does not exist") as info:
        read_table(tmp_path / "nothere.tsv")
    assert isinstance(info.value, FileNotFoundError)

    path = tmp_path / "p.tsv"
    PHENO.to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match="'height' not found.*'FID', 'IID', 'y1', 'y2'"):
        read_table(path, columns=["y1", "height"])
    with pytest.raises(ValueError, match="'sample' not found"):
        read_table(path, id_col="sample")

    bad = PHENO.copy()
    bad.loc[2, "y2"] = "high"
    bad.to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"column 'y2'.*'high'.*row 3.*'i3'"):
        read_table(path)

    dup = PHENO.copy()
    dup.loc[3, "IID"] = "i1"
    dup.to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match="duplicate sample IDs 'i1'"):
        read_table(path)

    path.write_text("name\tage\nx\t3\n")
    with pytest.raises(ValueError, match="no sample-ID column.*'name', 'age'"):
        read_table(path)


def _full_precision_doubles(rng, size):
    """Doubles whose shortest repr has 15–17 significant digits, the kind pandas before 3.0
    reads one unit in the last place off by default (about a third of them)."""
    return rng.standard_normal(size) * 10.0 ** rng.integers(-8, 8, size)


@pytest.mark.parametrize("with_missing", [False, True])
def test_read_table_values_are_exact_to_the_last_digit(tmp_path, rng, with_missing):
    """Every value written with repr() reads back as the same double (Python's float is
    the reference), in a column of numbers only and in one with missing tokens and
    blanks around numbers (the cell-by-cell route)."""
    n = 3000
    values = _full_precision_doubles(rng, (n, 2))
    cells = [[repr(float(v)) for v in row] for row in values]
    if with_missing:
        for i in range(0, n, 7):
            cells[i][1] = ("NA", "nan", "", "NaN")[i % 4]
            values[i, 1] = np.nan
        for i in range(3, n, 11):
            cells[i][0] = f" {cells[i][0]} "
    lines = ["IID\ty1\ty2"] + [f"s{i}\t{a}\t{b}" for i, (a, b) in enumerate(cells)]
    path = tmp_path / "p.tsv"
    path.write_text("\n".join(lines) + "\n")
    df = read_table(path)
    expected = np.array([[float(c.strip()) if c.strip() not in ("NA", "nan", "", "NaN")
                          else np.nan for c in row] for row in cells])  # fmt: skip
    np.testing.assert_array_equal(df.to_numpy(), expected)
    np.testing.assert_array_equal(df.to_numpy(), values)


@pytest.mark.parametrize(
    ("cell", "match"),
    [("inf", "an infinite value 'inf'"), ("-nan", "a non-numeric value '-nan'"),
     ("1.5.2", "a non-numeric value '1.5.2'")],
)  # fmt: skip
def test_read_table_refuses_infinite_and_unknown_nan_spellings(tmp_path, cell, match):
    path = tmp_path / "p.tsv"
    path.write_text(f"IID\ty\ns1\t1.0\ns2\t{cell}\ns3\tNA\n")
    with pytest.raises(ValueError, match=rf"column 'y'.*{match} in data row 2.*'s2'"):
        read_table(path)


# ----------------------------------------------------------------------------- alignment
def _sources(rng, n=30):
    ids = np.array([f"s{i}" for i in range(n)])
    y = rng.standard_normal((n, 2))
    y[3, 1] = np.nan
    c = rng.standard_normal((n, 1))
    c[7, 0] = np.nan
    A = rng.standard_normal((n, n))
    K = A @ A.T / n
    pheno = pd.DataFrame(y, index=pd.Index(ids, name="IID"), columns=["t1", "t2"])
    covar = pd.DataFrame(c, index=pd.Index(ids, name="IID"), columns=["age"])
    return ids, y, c, K, pheno, covar


def test_alignment_is_by_id_not_position(rng, caplog):
    ids, y, c, K, pheno, covar = _sources(rng)
    n = ids.size
    geno_order = rng.permutation(n)[2:]  # two samples not genotyped
    pheno_order = rng.permutation(n)[1:]  # one sample not phenotyped
    kin_order = rng.permutation(n)
    results = []
    for trial in range(2):
        po = pheno_order if trial == 0 else pheno_order[::-1]
        co = rng.permutation(n)
        kin = (ids[kin_order], K[np.ix_(kin_order, kin_order)])
        with caplog.at_level(logging.INFO, logger="kronlmm"):
            a = align_samples(
                genotype_ids=ids[geno_order],
                phenotypes=pheno.iloc[po],
                covariates=covar.iloc[co],
                kinship=kin,
            )
        # Kept samples are in genotype order, with the sample-level data attached to them.
        expected = [i for i in geno_order if i in set(pheno_order) and i not in (3, 7)]
        assert a.ids.tolist() == ids[expected].tolist()
        np.testing.assert_array_equal(a.Y, y[expected])
        np.testing.assert_array_equal(a.covariate_matrix()[:, 1:], c[expected])
        np.testing.assert_array_equal(a.covariate_matrix()[:, 0], 1.0)
        np.testing.assert_array_equal(a.K, K[np.ix_(expected, expected)])
        np.testing.assert_array_equal(ids[geno_order][a.genotype_index], a.ids)
        np.testing.assert_array_equal(pheno.iloc[po].index[a.phenotype_index], a.ids)
        np.testing.assert_array_equal(covar.iloc[co].index[a.covariate_index], a.ids)
        np.testing.assert_array_equal(kin[0][a.kinship_index], a.ids)
        results.append(a)
    dropped = len(set(geno_order) & set(pheno_order) & {3, 7})
    assert results[0].counts["missing_values"] == dropped
    assert results[0].counts["kept"] == len(expected)
    assert "sample(s) kept" in caplog.text and "genotypes: 28 sample(s)" in caplog.text


def test_alignment_selected_traits_only(rng):
    ids, y, c, K, pheno, covar = _sources(rng)
    a = align_samples(ids, pheno, traits=["t1"])
    assert a.counts["missing_values"] == 0 and a.nsamples == ids.size
    b = align_samples(ids, pheno, covar)
    assert b.nsamples == ids.size - 2 and set(b.dropped_missing) == {"s3", "s7"}


def test_alignment_with_plink_and_kinship_object(plink_set, rng):
    prefix, d, props = plink_set
    geno = PlinkGenotypes(prefix)
    iids = np.array(props["iid"])
    pheno = pd.DataFrame(
        {"y": rng.standard_normal(iids.size)}, index=pd.Index(iids[::-1], name="IID")
    )
    kin = grm_from_genotypes(geno)
    a = align_samples(geno, pheno, kinship=kin)
    assert a.ids.tolist() == iids.tolist()
    np.testing.assert_array_equal(a.genotype_index, np.arange(iids.size))
    np.testing.assert_array_equal(a.Y[:, 0], pheno["y"].to_numpy()[::-1])


def test_alignment_errors(rng):
    ids, y, c, K, pheno, covar = _sources(rng)
    with pytest.raises(ValueError, match=r"no sample ID is present in all sources") as info:
        align_samples(genotype_ids=[f"F{i}" for i in range(5)], phenotypes=pheno)
    assert "'F0'" in str(info.value) and "'s0'" in str(info.value)

    fam_pheno = read_table(
        pd.DataFrame({"FID": [f"F{i}" for i in range(4)], "IID": list("abcd"), "y": 1.0})
    )
    with pytest.raises(ValueError, match="match the phenotype file's FID"):
        align_samples([f"F{i}" for i in range(4)], fam_pheno)

    with pytest.raises(ValueError, match=r"genotypes has duplicate sample IDs 's1'"):
        align_samples(["s0", "s1", "s1"], pheno)
    with pytest.raises(ValueError, match=r"kinship has duplicate sample IDs 's2'"):
        align_samples(ids, pheno, kinship=(["s2", "s2"], np.eye(2)))
    dup = pd.concat([pheno, pheno.iloc[:1]])
    with pytest.raises(ValueError, match=r"phenotypes has duplicate sample IDs 's0'"):
        align_samples(ids, dup)
    with pytest.raises(ValueError, match=r"shape \(30, 30\), expected \(2, 2\)"):
        align_samples(ids, pheno, kinship=(["s0", "s1"], K))
    with pytest.raises(ValueError, match="'t9' not found"):
        align_samples(ids, pheno, traits=["t9"])
    with pytest.raises(ValueError, match="RangeIndex"):
        align_samples(ids, pheno.reset_index(drop=True))


# ----------------------------------------------------------------------------- kinship
@pytest.mark.parametrize("block_size", [1, 8, 1000])
def test_grm_equals_dense(plink_set, rng, block_size):
    prefix, d, _ = plink_set
    geno = PlinkGenotypes(prefix)
    samples = rng.permutation(d.shape[0])[:17]
    ref, m = _dense_grm(d[samples])
    kin = grm_from_genotypes(geno, samples, block_size)
    np.testing.assert_allclose(kin.K, ref, rtol=1e-12, atol=1e-12)
    assert kin.n_variants == m and kin.n_monomorphic == d.shape[1] - m >= 2
    assert kin.ids.tolist() == geno.sample_ids[samples].tolist()
    G = low_rank_G(geno, samples, block_size)
    assert G.G.shape == (17, m)
    np.testing.assert_allclose(G.G @ G.G.T, ref, rtol=1e-12, atol=1e-12)
    ids, K = kin  # unpacks as (ids, K)
    assert K is kin.K


def test_grm_variant_subset(plink_set):
    prefix, d, _ = plink_set
    geno = PlinkGenotypes(prefix)
    chrom1 = (geno.variants["chrom"] == "1").to_numpy()
    ref, _ = _dense_grm(d[:, chrom1])
    np.testing.assert_allclose(grm_from_genotypes(geno, variant_index=chrom1).K, ref)


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".npz"])
def test_kinship_round_trip(tmp_path, rng, suffix):
    A = rng.standard_normal((6, 4))
    K = A @ A.T
    ids = [f"id{i}" for i in range(6)]
    path = write_kinship(tmp_path / f"k{suffix}", ids, K)
    kin = read_kinship(path)
    assert isinstance(kin, Kinship) and kin.ids.tolist() == ids
    np.testing.assert_allclose(kin.K, K, rtol=1e-9)
    # written with 17 significant digits, every double reads back exactly (pandas before
    # 3.0 parses about a third of such numbers one unit in the last place off)
    A = rng.standard_normal((60, 60))
    K = A @ A.T
    ids = [f"id{i}" for i in range(60)]
    path = write_kinship(tmp_path / f"k17{suffix}", ids, K, fmt="%.17g")
    np.testing.assert_array_equal(read_kinship(path).K, K)


@pytest.mark.parametrize("suffix", [".tsv", ".npz"])
def test_write_kinship_is_atomic(tmp_path, rng, monkeypatch, suffix):
    """A write that fails part-way leaves the previous complete file and no temporary one."""
    ids = [f"id{i}" for i in range(5)]
    A = rng.standard_normal((5, 3))
    path = write_kinship(tmp_path / f"k{suffix}", ids, A @ A.T)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"k{suffix}"]  # no "k.npz.npz"
    before = path.read_bytes()

    def half_then_fail(target):
        if hasattr(target, "write"):
            target.write(b"IID\tid0\n")  # a truncated file under the name being written
        else:
            with open(target, "wb") as fh:
                fh.write(b"IID\tid0\n")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda self, target, **kw: half_then_fail(target))
    monkeypatch.setattr(np, "savez", lambda target, **arrays: half_then_fail(target))
    with pytest.raises(OSError, match="disk full"):
        write_kinship(path, ids, np.eye(5))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"k{suffix}"]
    with pytest.raises(OSError, match="disk full"):
        write_kinship(tmp_path / f"new{suffix}", ids, np.eye(5))
    assert not (tmp_path / f"new{suffix}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"k{suffix}"]


def test_plink_slice_reads_like_the_fileset_and_travels(plink_set):
    """A PlinkSlice, pickled as it is sent to a worker, reads the block the fileset reads."""
    import pickle

    prefix, d, _ = plink_set
    geno = PlinkGenotypes(prefix)
    order = np.array([5, 0, 22, 7])
    part = geno.slice_variants(10, 25, sample_index=order)
    assert isinstance(part, PlinkSlice) and len(part) == 15
    assert part.bed == str((prefix.parent / "geno.bed").resolve())
    travelled = pickle.loads(pickle.dumps(part))
    np.testing.assert_array_equal(travelled.read(), d[np.ix_(order, range(10, 25))])
    np.testing.assert_array_equal(travelled.read(), geno.read(slice(10, 25), order), strict=True)
    everyone = geno.slice_variants(0, 37)  # all samples in .fam order
    np.testing.assert_array_equal(everyone.read(), d)
    assert geno.slice_variants(37, 37).read().shape == (23, 0)
    with pytest.raises(ValueError, match=r"variant range 30:40 is outside 0:37"):
        geno.slice_variants(30, 40)


def test_kinship_text_columns_matched_by_id(tmp_path):
    K = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]])
    # Columns in the order b, c, a; rows a, b, c.
    text = "IID b c a\na 0.5 0.1 2.0\nb 1.0 0.2 0.5\nc 0.2 1.5 0.1\n"
    (tmp_path / "k.txt").write_text(text)
    kin = read_kinship(tmp_path / "k.txt")
    assert kin.ids.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(kin.K, K)


def test_kinship_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_kinship(tmp_path / "none.tsv")
    ids = ["a", "b", "c"]
    not_psd = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # eigenvalue -1
    write_kinship(tmp_path / "bad.tsv", ids, not_psd)
    with pytest.raises(ValueError, match="kinship is not positive semidefinite: smallest eig"):
        read_kinship(tmp_path / "bad.tsv")
    assert read_kinship(tmp_path / "bad.tsv", check_psd=False).K.shape == (3, 3)

    asym = np.eye(3)
    asym[0, 1] = 0.3
    np.savez(tmp_path / "asym.npz", ids=np.array(ids), K=asym)
    with pytest.raises(ValueError, match=r"not symmetric: K\['a', 'b'\] = 0.3"):
        read_kinship(tmp_path / "asym.npz")
    np.savez(tmp_path / "nokey.npz", K=np.eye(3))
    with pytest.raises(ValueError, match="lacks array.*ids"):
        read_kinship(tmp_path / "nokey.npz")

    (tmp_path / "mismatch.tsv").write_text("IID\ta\tx\na\t1\t0\nb\t0\t1\n")
    with pytest.raises(ValueError, match="row and column IDs differ"):
        read_kinship(tmp_path / "mismatch.tsv")
    (tmp_path / "text.tsv").write_text("IID\ta\tb\na\t1\tzero\nb\t0\t1\n")
    with pytest.raises(ValueError, match=r"non-numeric value 'zero' at row 'a', column 'b'"):
        read_kinship(tmp_path / "text.tsv")
    with pytest.raises(ValueError, match="duplicate sample IDs 'a'"):
        check_kinship(["a", "a"], np.eye(2))
    with pytest.raises(ValueError, match=r"shape \(2, 2\), expected \(3, 3\)"):
        check_kinship(ids, np.eye(2))


def test_grm_all_monomorphic(tmp_path):
    _write_plink(tmp_path / "mono", np.full((5, 3), 2.0))
    with pytest.raises(ValueError, match="no variable variant"):
        grm_from_genotypes(PlinkGenotypes(tmp_path / "mono"))


# ----------------------------------------------------------------------------- example data
def test_example_dataset():
    paths = example_paths()
    geno = PlinkGenotypes(paths.prefix)
    assert geno.shape == (400, 3000)
    assert sorted(geno.variants["chrom"].unique()) == ["1", "2", "3"]
    pheno = read_table(paths.pheno)
    covar = read_table(paths.covar)
    assert list(pheno.columns) == ["trait1", "trait2", "trait3"]
    assert list(covar.columns) == ["age", "sex"]
    assert pheno.index.tolist() != geno.sample_ids.tolist()[: len(pheno)]
    assert pheno.isna().to_numpy().sum() > 0
    a = align_samples(geno, pheno, covar)
    assert a.nsamples == 377 and a.counts["in_all_sources"] == 395
    assert np.all(np.diff(a.genotype_index) > 0)  # genotype order
    causal = pd.read_csv(paths.causal, sep="\t", dtype={"chrom": str})
    v = geno.variants.set_index("variant_id").loc[causal["variant_id"]]
    assert v["effect_allele"].tolist() == causal["effect_allele"].tolist()
    assert v["chrom"].tolist() == ["1", "2", "3"]
    first = next(geno.iter_blocks(500, a.genotype_index))
    assert first.dosage.shape == (377, 500) and np.isnan(first.dosage).any()


# ----------------------------------------------------------------------------- .fam ↔ .bed checks
def _drop_fam_row(prefix, row):
    fam = prefix.parent / f"{prefix.name}.fam"
    lines = fam.read_text().splitlines()
    fam.write_text("\n".join(lines[:row] + lines[row + 1 :]) + "\n")


def test_fam_that_lost_a_row_is_refused(tmp_path, rng):
    """22 samples written, the .fam loses one: same .bed size (⌈21/4⌉ = ⌈22/4⌉), and the
    22nd sample's genotypes sit in what the 21-sample reading calls padding."""
    d = _random_dosage(rng, 22, 40, missing=0.0)
    d[-1, :] = rng.choice([0.0, 1.0], size=40)  # codes 11/10: never zero bits
    _write_plink(tmp_path / "geno", d)
    assert PlinkGenotypes(tmp_path / "geno").shape == (22, 40)  # written by bed-reader: clean
    _drop_fam_row(tmp_path / "geno", 5)
    with pytest.raises(BedPaddingError, match=r"40 of the 40 variant records.*geno\.fam.*lists 21"):
        PlinkGenotypes(tmp_path / "geno")
    # the override reads it, misaligned as the message said: row 5 is labelled s6 but holds
    # the genotypes of s5
    geno = PlinkGenotypes(tmp_path / "geno", check_padding=False)
    assert geno.shape == (21, 40) and geno.sample_ids[5] == "s6"
    np.testing.assert_array_equal(geno.read()[5], d[5])


def test_padding_is_checked_on_every_block_read(tmp_path, rng):
    """The first variants look clean (the lost sample is homozygous A1 there, code 00), so
    the fileset opens; the blocks read later are refused, through the fileset and a slice."""
    from kronlmm.io.plink import PADDING_CHECK_OPEN

    m = PADDING_CHECK_OPEN + 60
    d = _random_dosage(rng, 22, m, missing=0.0)
    d[-1, :PADDING_CHECK_OPEN] = 2.0  # 00: zero padding bits
    d[-1, PADDING_CHECK_OPEN:] = 1.0
    _write_plink(tmp_path / "geno", d)
    _drop_fam_row(tmp_path / "geno", 0)
    geno = PlinkGenotypes(tmp_path / "geno")
    assert geno.read(slice(0, PADDING_CHECK_OPEN)).shape == (21, PADDING_CHECK_OPEN)
    with pytest.raises(BedPaddingError, match="60 of the 60 variant records"):
        list(geno.iter_blocks(100))
    part = geno.slice_variants(PADDING_CHECK_OPEN, m)
    with pytest.raises(BedPaddingError, match="padding bits"):
        part.read()
    loose = PlinkGenotypes(tmp_path / "geno", check_padding=False)
    assert loose.slice_variants(PADDING_CHECK_OPEN, m).read().shape == (21, 60)


def test_a_stray_padding_bit_is_tolerated(tmp_path, rng):
    """One variant in 200 with a set padding bit (below the 1 % tolerance) is read."""
    d = _random_dosage(rng, 21, 200)
    _write_plink(tmp_path / "geno", d)
    bed = tmp_path / "geno.bed"
    raw = bytearray(bed.read_bytes())
    raw[3 + 6 - 1] |= 0b11000000  # the last byte of variant 0 (6 bytes per variant)
    bed.write_bytes(bytes(raw))
    np.testing.assert_array_equal(PlinkGenotypes(tmp_path / "geno").read(), d)


def test_sample_major_bed_is_read_with_a_warning(plink_set, caplog):
    prefix = plink_set[0]
    bed = prefix.parent / "geno.bed"
    raw = bytearray(bed.read_bytes())
    n, m = plink_set[1].shape
    raw[2] = 0  # mode byte: sample-major; the size no longer matches (23×⌈37/4⌉ ≠ 37×⌈23/4⌉)
    bed.write_bytes(bytes(raw[:3]) + bytes(n * ((m + 3) // 4)))
    with caplog.at_level(logging.WARNING, logger="kronlmm"):
        geno = PlinkGenotypes(prefix)
    assert geno.shape == (n, m)
    assert "sample-major (mode byte 0)" in caplog.text


def test_empty_fileset_is_refused(tmp_path):
    (tmp_path / "e.bed").write_bytes(bytes([0x6C, 0x1B, 0x01]))
    (tmp_path / "e.bim").write_text("")
    (tmp_path / "e.fam").write_text("f1 s1 0 0 0 -9\n")
    with pytest.raises(ValueError, match=r"holds no variants \(its \.bim file .* is empty\)"):
        PlinkGenotypes(tmp_path / "e")


# ----------------------------------------------------------------------------- text inputs
def test_gzipped_tables_are_read_transparently(tmp_path):
    import gzip

    plain = example_paths().pheno
    for name in ("pheno.tsv.gz", "pheno_without_gz_suffix.tsv"):
        (tmp_path / name).write_bytes(gzip.compress(plain.read_bytes()))
        pd.testing.assert_frame_equal(read_table(tmp_path / name), read_table(plain))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("IID\ty\nMüller\t1.5\n".encode("latin-1"), r"not UTF-8 text: byte 0xfc on line 2 .*iconv"),
        (b"IID\ty\x00\x00\x01", r"not text: it holds binary data \(a NUL byte at offset 5\)"),
        (b"PK\x03\x04rest", r"is a zip archive \(an Excel \.xlsx workbook is one\)"),
        ("IID\ty\n".encode("utf-16"), r"is UTF-16 text.*save it as UTF-8"),
        (b"\x1f\x8b\x08\x00broken", r"not a readable gzip file"),
    ],
)
def test_unreadable_tables_are_named(tmp_path, content, match):
    path = tmp_path / "pheno.tsv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"table file '.*pheno\.tsv' (is )?" + match):
        read_table(path)


def test_latin1_kinship_is_named(tmp_path):
    path = tmp_path / "kin.tsv"
    path.write_bytes("IID\tJosé\nJosé\t1.0\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"kinship file '.*kin\.tsv' is not UTF-8 text"):
        read_kinship(path)


@pytest.mark.parametrize(
    "layout", ["spaces", "crlf", "mixed", "double tabs", "leading tab", "trailing tab"]
)
def test_bim_read_the_same_whatever_its_whitespace(tmp_path, layout):
    """A PLINK .bim is split at tabs when that equals splitting at any whitespace (the
    quick path), and at any whitespace otherwise: every layout gives the tab file's table."""
    rng = np.random.default_rng(7)
    _write_plink(tmp_path / "tab", _random_dosage(rng, 9, 6))
    reference = PlinkGenotypes(tmp_path / "tab").variants
    lines = (tmp_path / "tab.bim").read_text().splitlines()
    rows = [line.split("\t") for line in lines]
    text = {
        "spaces": "\n".join(" ".join(r) for r in rows) + "\n",
        "crlf": "\r\n".join(lines) + "\r\n",
        "mixed": "\n".join("\t".join(r[:3]) + "  " + " \t".join(r[3:]) for r in rows) + "\n",
        "double tabs": "\n".join("\t\t".join(r) for r in rows) + "\n",
        "leading tab": "\n".join("\t" + line for line in lines) + "\n",
        "trailing tab": "\n".join(line + "\t" for line in lines) + "\n",
    }[layout]
    for ext in ("bed", "fam"):
        (tmp_path / f"x.{ext}").write_bytes((tmp_path / f"tab.{ext}").read_bytes())
    (tmp_path / "x.bim").write_text(text, newline="")
    pd.testing.assert_frame_equal(PlinkGenotypes(tmp_path / "x").variants, reference)
    assert reference["pos"].dtype == np.int64 and reference["chrom"].tolist()[0] == "1"


def test_bim_genetic_positions_are_exact_to_the_last_digit(tmp_path):
    rng = np.random.default_rng(9)
    _write_plink(tmp_path / "g", _random_dosage(rng, 9, 200))
    rows = [line.split("\t") for line in (tmp_path / "g.bim").read_text().splitlines()]
    cm = rng.uniform(0, 300, len(rows))
    for row, value in zip(rows, cm, strict=True):
        row[2] = repr(float(value))
    (tmp_path / "g.bim").write_text("\n".join("\t".join(r) for r in rows) + "\n")
    np.testing.assert_array_equal(PlinkGenotypes(tmp_path / "g").cm, cm)


def test_bim_with_a_non_numeric_position_is_named(tmp_path):
    rng = np.random.default_rng(8)
    _write_plink(tmp_path / "g", _random_dosage(rng, 9, 4))
    bim = (tmp_path / "g.bim").read_text().splitlines()
    fields = bim[2].split("\t")
    fields[3] = "12kb"
    bim[2] = "\t".join(fields)
    (tmp_path / "g.bim").write_text("\n".join(bim) + "\n")
    with pytest.raises(ValueError, match=r"g\.bim' has a non-numeric position.*12kb"):
        PlinkGenotypes(tmp_path / "g")
