"""The scan driver: three candidate sources × three execution strategies, one set of tables.

The same variants of the bundled example data are scanned from an in-memory array, a Dask
array and the PLINK fileset itself, serially, on Dask's local threaded scheduler and on a
(threaded, in-process) Dask cluster, and with a checkpoint; every combination must give the
same GWAS tables, bit for bit: same blocks, same process and one BLAS thread everywhere (the
Dask tasks' default) make the same arithmetic, so any difference would be a difference in
what is computed. (With a multi-threaded BLAS the serial scan differs in the last bits:
BLAS splits products by thread count.) The reference is the in-memory scanner
(``KronFastScanner.scan_variants``), itself checked against dense fits in
tests/test_scan.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronlmm.data import example_paths
from kronlmm.gwas import (
    ArraySource,
    Checkpointed,
    DaskArraySource,
    DaskExecution,
    NullFit,
    PlinkSource,
    assoc_table,
    effects_table,
    fit_null,
    scan_source,
)
from kronlmm.scan import SerialExecution

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
threadpoolctl = pytest.importorskip("threadpoolctl")

BLOCK = 700  # 3000 variants: 5 blocks, the last one narrower


@pytest.fixture(scope="module")
def null() -> NullFit:
    paths = example_paths()
    return fit_null(paths.prefix, paths.pheno, covar=paths.covar)


@pytest.fixture(scope="module")
def cluster_client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        yield client


def _sources(null: NullFit) -> dict[str, object]:
    plink = PlinkSource(null.genotypes, null.genotype_index)
    dosage = null.genotypes.read(sample_index=null.genotype_index)
    ids = plink.variants["variant_id"].to_numpy()
    return {
        "array": ArraySource(dosage, ids=ids),
        "dask": DaskArraySource(da.from_array(dosage, chunks=(50, BLOCK)), ids=ids),
        "plink": plink,
    }


def _tables(null: NullFit, result) -> tuple[pd.DataFrame, pd.DataFrame]:
    variants = null.genotypes.variants
    return assoc_table(variants, result, null.nsamples), effects_table(variants, result)


@pytest.mark.slow
def test_three_sources_three_strategies_one_table(null, cluster_client, tmp_path):
    with threadpoolctl.threadpool_limits(limits=1):
        _three_by_three(null, cluster_client, tmp_path)


def _three_by_three(null, cluster_client, tmp_path):
    scanner = null.model.get_fast_scanner(trait_names=null.trait_names)
    plan = scanner.plan("any")
    dosage = null.genotypes.read(sample_index=null.genotype_index)
    reference = scanner.scan_variants(dosage, "any", block_size=BLOCK)
    ref_assoc, ref_effects = _tables(null, reference)
    # the example's testable variants (on its 395 samples, every observed trait value)
    assert (ref_assoc["reason"] == "").sum() == 2984
    strategies = {
        "serial": lambda: SerialExecution(),
        "dask-local": lambda: DaskExecution(),
        "dask-cluster": lambda: DaskExecution(cluster_client),
    }
    seen = 0
    for source_name, source in _sources(null).items():
        for strategy_name, make in strategies.items():
            block_size = None if source_name == "dask" else BLOCK  # the array's own chunks
            result = scan_source(
                scanner.null, plan, source, block_size=block_size, execution=make()
            )
            assoc, effects = _tables(null, result)
            where = f"{source_name} × {strategy_name}"
            pd.testing.assert_frame_equal(assoc, ref_assoc, check_exact=True, obj=where)
            pd.testing.assert_frame_equal(effects, ref_effects, check_exact=True, obj=where)
            seen += 1
        # checkpointed (around the serial strategy): written, then read back bit for bit
        directory = tmp_path / source_name
        for _ in range(2):
            result = scan_source(
                scanner.null, plan, source, block_size=None if source_name == "dask" else BLOCK,
                checkpoint=directory, execution=SerialExecution(),
            )  # fmt: skip
            assoc, _ = _tables(null, result)
            pd.testing.assert_frame_equal(assoc, ref_assoc, check_exact=True)
        assert len(list(directory.glob("chunk-*.npz"))) == 5
    assert seen == 9


def test_gwas_scan_is_the_driver_over_a_plink_source(null):
    """NullFit.scan (the GWAS workflow) gives the tables of the driver on a PlinkSource."""
    scanner = null.model.get_fast_scanner(trait_names=null.trait_names)
    source = PlinkSource(null.genotypes, null.genotype_index, null.variant_index)  # QC passed
    result = scan_source(scanner.null, scanner.plan("common"), source, block_size=BLOCK)
    assoc = assoc_table(source.variants, result, null.nsamples)
    effects = effects_table(source.variants, result)
    assert len(assoc) == null.qc.variants["kept"] == 2970
    gwas = null.scan("common", chunk_size=BLOCK, refit="none")  # the driver alone
    pd.testing.assert_frame_equal(gwas.assoc, assoc, check_exact=True)
    pd.testing.assert_frame_equal(gwas.effects, effects, check_exact=True)


def test_driver_checks_and_defaults(null, tmp_path):
    scanner = null.model.get_fast_scanner()
    plan = scanner.plan("any")
    with pytest.raises(
        ValueError, match=r"the candidates have 10 samples \(rows\), the null model 395"
    ):
        scan_source(scanner.null, plan, ArraySource(np.zeros((10, 3))))
    with pytest.raises(ValueError, match="manifest describes a checkpoint"):
        scan_source(scanner.null, plan, ArraySource(np.zeros((395, 3))), manifest={"a": 1})
    # a lazy source runs on Dask by default, an in-memory one serially: same numbers
    dosage = null.genotypes.read(slice(0, 300), null.genotype_index)
    lazy = scan_source(
        scanner.null, plan, DaskArraySource(da.from_array(dosage, chunks=(395, 100)))
    )
    with threadpoolctl.threadpool_limits(limits=1):
        eager = scan_source(scanner.null, plan, ArraySource(dosage), block_size=100)
    np.testing.assert_array_equal(lazy.chi2, eager.chi2)
    # a checkpoint of another scan is refused before anything is computed
    scan_source(scanner.null, plan, ArraySource(dosage), block_size=100, checkpoint=tmp_path)
    with pytest.raises(ValueError, match="different scan"):
        Checkpointed(SerialExecution(), tmp_path)(
            lambda *a: pytest.fail("computed"), scanner.null, scanner.plan("common"), []
        )


def test_delayed_chunks_need_a_dask_strategy(null):
    """A dask.delayed chunk is computed by Dask; scanned serially it is a clear TypeError."""
    from dask import delayed

    from kronlmm.gwas import ChunkSource

    scanner = null.model.get_fast_scanner()
    dosage = null.genotypes.read(slice(0, 20), null.genotype_index)
    source = ChunkSource([delayed(dosage[:, :10]), delayed(dosage[:, 10:])])
    assert source.lazy
    on_dask = scan_source(scanner.null, scanner.plan("any"), source)  # Dask by default
    with threadpoolctl.threadpool_limits(limits=1):
        in_memory = scanner.scan_variants(dosage, block_size=10)
    np.testing.assert_array_equal(on_dask.chi2, in_memory.chi2)
    with pytest.raises(TypeError, match=r"block 0: its data \(Delayed\w*\).*Dask execution"):
        scan_source(scanner.null, scanner.plan("any"), source, execution=SerialExecution())


def test_chunk_files_of_kronlmm_0_1_are_read(null, tmp_path):
    """0.1.0 stored pvalue, neg_log10_pvalue and effect_names; a resumed scan reads them."""
    from kronlmm.gwas import ChunkStore

    scanner = null.model.get_fast_scanner()
    result = scanner.scan_variants(null.genotypes.read(slice(0, 30), null.genotype_index))
    old = {
        "lml_null": result.lml_null, "lml_alt": result.lml_alt, "chi2": result.chi2,
        "dof": result.dof, "pvalue": result.p_value,
        "neg_log10_pvalue": result.neg_log10_p_value, "scale": result.scale,
        "beta": result.beta, "se": result.se, "n_missing": result.n_missing,
        "mean": result.mean, "reason": result.reason.astype(str),
        "effect_names": np.asarray(result.trait_names, dtype=str),
    }  # fmt: skip
    store = ChunkStore(tmp_path, {"what": "0.1.0"})
    np.savez(store.path(0), **old)
    back = store.read(0)
    np.testing.assert_array_equal(back.p_value, result.p_value)
    np.testing.assert_array_equal(back.neg_log10_p_value, result.neg_log10_p_value)
    assert back.trait_names == result.trait_names
