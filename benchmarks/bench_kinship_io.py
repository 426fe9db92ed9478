"""Reading kinship files: kronlmm's readers per format, side by side with NumPy's own.

    .venv/bin/python benchmarks/bench_kinship_io.py [--sizes 822 3000] [--repeat 3]

For each n, one random n × n kinship is written in every format kronlmm reads (its own
ID-labelled TSV, GEMMA's .sXX.txt, PLINK's .rel text and .rel.bin float64, GCTA's .grm.bin
float32) and read back with ``kronlmm.io.read_kinship(..., check_psd=False)`` (parsing
only; the PSD check is one eigendecomposition, timed on its own row). The references are
``numpy.loadtxt`` on the same text files and ``numpy.fromfile`` on the binary ones (the
floor: reading the bytes). Median of ``--repeat`` reads; BLAS threads as threadpoolctl
reports them (only the PSD check uses BLAS).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from kronlmm.io import read_kinship, write_kinship


def _median_time(func: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[822, 3000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    threads = sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})
    print(f"BLAS: {', '.join(f'{api} {n} thread(s)' for api, n in threads)}\n")
    print("| n | format | kronlmm read (s) | NumPy reference (s) | reference | ratio |")
    print("|--:|:--|--:|--:|:--|--:|")
    for n in args.sizes:
        rng = np.random.default_rng(n)
        G = rng.standard_normal((n, 2 * n)) / np.sqrt(2 * n)
        K = G @ G.T
        ids = [f"s{i}" for i in range(n)]
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            files = {
                "kronlmm .tsv": (write_kinship(tmp / "k.tsv", ids, K), "loadtxt"),
                "GEMMA .sXX.txt": (write_kinship(tmp / "k.sXX.txt", ids, K), "loadtxt"),
                "PLINK .rel (square)": (write_kinship(tmp / "k.rel", ids, K), "loadtxt"),
                "PLINK .rel.bin": (write_kinship(tmp / "k.rel.bin", ids, K), "fromfile <f8"),
                "GCTA .grm.bin": (write_kinship(tmp / "k.grm.bin", ids, K), "fromfile <f4"),
            }
            for name, (path, ref) in files.items():
                gemma_ids = ids if name.startswith("GEMMA") else None
                ours = _median_time(
                    lambda p=path, i=gemma_ids: read_kinship(p, ids=i, check_psd=False),
                    args.repeat,
                )
                if ref == "loadtxt":
                    skip = 1 if name.startswith("kronlmm") else 0
                    cols = range(1, n + 1) if skip else None
                    theirs = _median_time(
                        lambda p=path, s=skip, c=cols: np.loadtxt(p, skiprows=s, usecols=c),
                        args.repeat,
                    )
                else:
                    dtype = ref.split()[1]
                    theirs = _median_time(lambda p=path, d=dtype: np.fromfile(p, d), args.repeat)
                print(f"| {n} | {name} | {ours:.3f} | {theirs:.3f} | {ref} | {ours / theirs:.2f} |")
            binary = files["PLINK .rel.bin"][0]
            check = _median_time(lambda p=binary: read_kinship(p), args.repeat)
            print(f"| {n} | PLINK .rel.bin + PSD check | {check:.3f} | | | |")


if __name__ == "__main__":
    main()
