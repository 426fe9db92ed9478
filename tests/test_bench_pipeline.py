"""Smoke test of benchmarks/bench_pipeline.py (issue #17): the whole `kronlmm scan` per phase.

The benchmark runs at tiny sizes only (no timing is asserted): every phase is found in the
profile of the command and gets a floor, and the script's own PLINK writer produces files
that bed-reader decodes to the dosages written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench_pipeline(benchmark_script):
    return benchmark_script("bench_pipeline")


def test_bed_writer_round_trips(bench_pipeline, tmp_path):
    rng = np.random.default_rng(0)
    n, m = 10, 7  # n not a multiple of 4: padded bytes
    d = rng.integers(0, 4, size=(m, n)).astype(np.uint8)  # 3 = missing
    with open(tmp_path / "x.bed", "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]) + bench_pipeline.bed_bytes(d))
    with open_bed(tmp_path / "x.bed", iid_count=n, sid_count=m, count_A1=True) as bed:
        got = bed.read(dtype="float64")
    expected = np.where(d == 3, np.nan, d.astype(float)).T
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
def test_bench_pipeline_runs_at_tiny_sizes(tmp_path):
    result = tmp_path / "result.json"
    cmd = [
        sys.executable, str(BENCHMARKS / "bench_pipeline.py"), "--tiny", "--no-gemma",
        "--rank", "1", "--threads", "1", "--drivers-n", "50",
        "--workdir", str(tmp_path / "work"), "--json", str(result),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "## Whole `kronlmm scan` by phase" in proc.stdout
    assert "## LAPACK symmetric eigensolvers" in proc.stdout
    assert "## Targets (issue #17)" in proc.stdout
    (run,) = json.loads(result.read_text())
    assert (run["n"], run["m"], run["threads"]) == (150, 600, 1)
    for phase in ("read", "GRM", "eigh", "fit", "scan", "write"):
        assert run["phases"][phase] > 0, phase
    for phase in ("read", "GRM", "eigh", "scan", "write"):
        assert run["floors"][phase] > 0, phase
    assert run["phases"]["fit floor"] > 0
    # the phases are disjoint stages of the run (the refit, if any, is its own phase, not
    # counted in the fit or the scan): together they cannot exceed the whole run
    assert "refit" in run["phases"]
    assert run["phases"]["other"] >= 0
    assert run["phases"]["fit floor"] <= run["phases"]["fit"]
    assert run["null"]["kinship"]["method"] == "eigendecomposition"  # m = 600 > n = 150
    # nothing is left in the repository: the data and outputs are in the work folder
    assert (tmp_path / "work" / "n150_m600_p5_seed0" / "geno.bed").exists()
