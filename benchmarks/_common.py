"""Shared helpers for the benchmarks: threads, simulation, timing, tables, peers.

A benchmark script does, in order::

    args = parser.parse_args()
    nthreads = ensure_threads(args.threads)   # may re-execute the script once
    ...
    data = simulate_kron2sum(n, p, r, rank, seed=0)
    seconds, result = median_time(lambda: fit(data), repeat=3)
    outcome = run_peer("bench_kron2sum:glimix_fit", data, timeout=600)
    print_table(header, rows)

Peers (other libraries) run in a child process started by :func:`run_peer`, so that a slow
or memory-hungry peer can be stopped at a time limit without taking the benchmark down. The
child inherits the thread settings of the parent, so both sides use the same BLAS threads.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "THREAD_VARIABLES",
    "PeerOutcome",
    "available_cores",
    "ensure_threads",
    "fmt_seconds",
    "machine_summary",
    "max_abs_diff",
    "median_time",
    "print_table",
    "run_peer",
    "simulate_dosages",
    "simulate_genotypes",
    "simulate_kron2sum",
    "write_plink",
]

BENCH_DIR = Path(__file__).resolve().parent

#: Environment variables read by OpenMP, OpenBLAS and MKL when they start.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_REEXEC_MARK = "KRONLMM_BENCH_THREADS_SET"


# ---- threads ------------------------------------------------------------------------------
def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def ensure_threads(nthreads: int | None) -> int:
    """Make OpenMP/OpenBLAS/MKL use ``nthreads`` threads (default: all available cores).

    BLAS libraries read these variables only when they are loaded, and NumPy is already
    imported here, so when the variables differ from the request the script is executed
    again (once) with them set. Peers run by :func:`run_peer` inherit the same variables.
    Returns the number of threads in effect.
    """
    n = available_cores() if nthreads is None else int(nthreads)
    if n < 1:
        raise ValueError(f"--threads must be ≥ 1, got {n}")
    wanted = str(n)
    if all(os.environ.get(v) == wanted for v in THREAD_VARIABLES):
        return n
    if os.environ.get(_REEXEC_MARK):  # pragma: no cover - re-exec did not take
        raise RuntimeError("could not set the BLAS thread variables")
    env = dict(os.environ)
    env.update({v: wanted for v in THREAD_VARIABLES})
    env[_REEXEC_MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
    raise AssertionError("unreachable")  # pragma: no cover


def machine_summary(nthreads: int) -> str:
    """One line: date, CPU, cores, threads used, Python/NumPy/SciPy versions."""
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    settings = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_VARIABLES)
    return (
        f"{time.strftime('%Y-%m-%d %H:%M')} | {cpu} | {available_cores()} cores available, "
        f"{nthreads} thread(s) used by every library ({settings}) | Python "
        f"{platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}"
    )


# ---- simulation ---------------------------------------------------------------------------
def simulate_genotypes(
    n: int, r: int, rng: np.random.Generator, *, maf: tuple[float, float] = (0.05, 0.5)
) -> NDArray[np.float64]:
    """n × r genotype-like matrix: allele counts 0/1/2 drawn with a frequency per column
    (uniform on ``maf``), each column standardised to mean 0 and variance 1, the whole
    scaled by ``1/√r`` so that ``GGᵀ`` has a diagonal near 1 (a kinship-like matrix).
    Monomorphic columns (possible for small n) are redrawn."""
    if r == 0:
        return np.zeros((n, 0))
    freq = rng.uniform(*maf, size=r)
    G = rng.binomial(2, freq, size=(n, r)).astype(float)
    sd = G.std(axis=0)
    while np.any(sd == 0):
        bad = np.flatnonzero(sd == 0)
        G[:, bad] = rng.binomial(2, freq[bad], size=(n, bad.size))
        sd = G.std(axis=0)
    G -= G.mean(axis=0)
    G /= sd
    G /= np.sqrt(r)
    return G


def simulate_dosages(
    n: int, m: int, rng: np.random.Generator, *, maf: tuple[float, float] = (0.05, 0.5)
) -> NDArray[np.float64]:
    """n × m raw allele counts (0/1/2 as floats, not standardised), e.g. candidate variants
    for a scan: one allele frequency per column, uniform on ``maf``; monomorphic columns
    are redrawn."""
    freq = rng.uniform(*maf, size=m)
    D = rng.binomial(2, freq, size=(n, m)).astype(float)
    const = np.flatnonzero(np.ptp(D, axis=0) == 0)
    while const.size:
        D[:, const] = rng.binomial(2, freq[const], size=(n, const.size))
        const = const[np.ptp(D[:, const], axis=0) == 0]
    return D


def simulate_kron2sum(
    n: int,
    p: int,
    r: int,
    rank: int,
    *,
    seed: int = 0,
    heritability: float = 0.4,
    residual_correlation: float = 0.5,
) -> dict[str, NDArray[np.float64]]:
    """Data from ``vec(Y) ~ N((A ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)``.

    - ``A = Iₚ``; ``X = [1ₙ, x]`` with x standard normal; B (2 × p) standard normal;
    - G from :func:`simulate_genotypes` (n × r, scaled by ``1/√r``);
    - genetic signal ``G W L₀ᵀ`` with W (r × rank) standard normal and L₀ (p × rank)
      random, scaled so that ``diag(C₀) = heritability`` (``C₀ = L₀L₀ᵀ``, rank ``rank``);
    - residuals ``E L₁ᵀ`` with E standard normal and ``C₁ = L₁L₁ᵀ`` having variances
      ``1 − heritability`` and correlations drawn around ``residual_correlation``.

    So every trait has total variance near 1. Returns a dict with Y, A, X, G, C0, C1 (the
    true trait covariances) and B.
    """
    if not 1 <= rank <= p:
        raise ValueError(f"rank must be in [1, p = {p}], got {rank}")
    rng = np.random.default_rng(seed)
    G = simulate_genotypes(n, r, rng)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    A = np.eye(p)
    B = rng.standard_normal((2, p))

    L0 = rng.standard_normal((p, rank))
    L0 *= np.sqrt(heritability / np.sum(L0**2, axis=1))[:, None]
    C0 = L0 @ L0.T

    # Residual correlation: a common factor plus trait-specific noise (positive definite).
    load = np.clip(residual_correlation + 0.2 * rng.standard_normal(p), 0.0, 0.9)
    R = np.outer(np.sqrt(load), np.sqrt(load))
    np.fill_diagonal(R, 1.0)
    C1 = (1.0 - heritability) * R
    L1 = np.linalg.cholesky(C1)

    W = rng.standard_normal((r, rank))
    Y = X @ B @ A.T + (G @ W) @ L0.T + rng.standard_normal((n, p)) @ L1.T
    return {"Y": Y, "A": A, "X": X, "G": G, "C0": C0, "C1": C1, "B": B}


def write_plink(
    prefix: str | os.PathLike[str],
    dosage: NDArray[np.float64],
    *,
    sample_ids: Sequence[str] | None = None,
    variant_ids: Sequence[str] | None = None,
    chrom: str = "1",
) -> Path:
    """Write n × m dosages (counts of allele 1: 0/1/2, NaN for missing) as
    ``prefix.bed/.bim/.fam`` with bed-reader's ``to_bed`` (``count_A1=True``, as
    :class:`kronlmm.io.PlinkGenotypes` reads by default). Samples ``s000000…`` (FID =
    IID) unless ``sample_ids`` is given; variants ``v000000…`` on chromosome ``chrom`` at
    positions 1000, 2000, …, alleles A/G. Returns the prefix."""
    from bed_reader import to_bed

    prefix = Path(prefix)
    n, m = dosage.shape
    iid = list(sample_ids) if sample_ids is not None else [f"s{i:06d}" for i in range(n)]
    sid = list(variant_ids) if variant_ids is not None else [f"v{j:06d}" for j in range(m)]
    to_bed(
        prefix.with_name(prefix.name + ".bed"),
        dosage,
        properties={
            "fid": iid,
            "iid": iid,
            "chromosome": [chrom] * m,
            "sid": sid,
            "bp_position": [1000 * (j + 1) for j in range(m)],
            "allele_1": ["A"] * m,
            "allele_2": ["G"] * m,
        },
        count_A1=True,
    )
    return prefix


# ---- timing -------------------------------------------------------------------------------
def median_time(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any, list[float]]:
    """Run ``fn`` ``repeat`` times; return (median seconds, last result, all seconds),
    timed with :func:`time.perf_counter`."""
    times: list[float] = []
    result: Any = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result, times


def fmt_seconds(t: float | None) -> str:
    """Seconds with a sensible number of digits (``"-"`` for None)."""
    if t is None:
        return "-"
    if t >= 100:
        return f"{t:.0f} s"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.1f} ms"
    return f"{t * 1e6:.0f} µs"


def max_abs_diff(a: Any, b: Any) -> float:
    """``max |a − b|`` over the entries finite in both (0.0 when there are none); ``inf``
    when the shapes or the positions of the non-finite entries differ."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("inf")
    ok = np.isfinite(a)
    return float(np.max(np.abs(a[ok] - b[ok]))) if ok.any() else 0.0


# ---- tables -------------------------------------------------------------------------------
def print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    align: str | None = None,
    file: Any = None,
) -> str:
    """Print (and return) a Markdown table; ``align`` holds one ``l``/``r`` per column
    (default: first column left, the others right)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    ncol = len(header)
    if any(len(row) != ncol for row in cells):
        raise ValueError("every row must have as many cells as the header")
    align = align or "l" + "r" * (ncol - 1)
    width = [max(len(row[j]) for row in cells) for j in range(ncol)]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[j].ljust(width[j]) if align[j] == "l" else row[j].rjust(width[j])
            for j in range(ncol)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join(
            (":" + "-" * (width[j] + 1)) if align[j] == "l" else ("-" * (width[j] + 1) + ":")
            for j in range(ncol)
        )
        + "|"
    )
    text = "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])
    print(text, file=file or sys.stdout, flush=True)
    return text


# ---- peers in a child process -------------------------------------------------------------
@dataclass
class PeerOutcome:
    """What :func:`run_peer` got back.

    ``status`` is ``"ok"`` (``result`` holds the target's return value), ``"error"`` (the
    target raised; ``message`` is ``"Type: text"``), ``"timeout"`` (stopped after
    ``timeout`` seconds) or ``"crashed"`` (the child died, e.g. killed for memory;
    ``message`` has the exit status and the end of its stderr). ``wall`` is the time seen
    by the parent, start-up and imports included.
    """

    status: str
    result: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    wall: float = 0.0
    timeout: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def short(self) -> str:
        """A table cell: ``> 600 s`` or the exception, shortened."""
        if self.status == "timeout":
            return f"> {self.timeout:g} s (limit)"
        if self.status in ("error", "crashed"):
            msg = self.message.strip().splitlines()[-1] if self.message.strip() else ""
            return f"{self.status}: {msg[:60]}"
        return "ok"


_CHILD = r"""
import importlib, json, sys, time, traceback
import numpy as np
target, npz_path, out_path = sys.argv[1:4]
sys.path.insert(0, sys.argv[4])
module, _, name = target.partition(":")
fn = getattr(importlib.import_module(module), name)
with np.load(npz_path) as z:
    kwargs = {k: z[k] for k in z.files}
kwargs.update(json.loads(sys.argv[5]))

def plain(x):
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x

try:
    out = {"status": "ok", "result": plain(fn(**kwargs))}
except BaseException as e:
    out = {"status": "error", "message": f"{type(e).__name__}: {e}",
           "traceback": traceback.format_exc()}
with open(out_path, "w") as fh:
    json.dump(out, fh)
"""


def run_peer(
    target: str,
    arrays: dict[str, NDArray[Any]],
    *,
    timeout: float,
    options: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    python: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> PeerOutcome:
    """Call ``module:function`` in a fresh Python process with a time limit.

    The function (importable from the ``benchmarks`` folder) is called as
    ``function(**arrays, **options)``; ``arrays`` travel through a temporary ``.npz``,
    ``options`` (JSON-serialisable) on the command line. It must return a
    JSON-serialisable dict (NumPy arrays and scalars are converted), and should time its
    own work so that process start-up and imports do not count. After ``timeout`` seconds
    the child's whole process group is killed.

    ``python`` is the interpreter of the child (default: this one), e.g. a separate
    virtual environment holding a peer that must not be installed next to kronlmm; it
    needs NumPy, and the target module must import there (no kronlmm at its top level).
    ``cwd`` is the child's working directory, which comes first on its ``sys.path`` (to
    import another kronlmm source tree, run the child there).
    """
    with tempfile.TemporaryDirectory(prefix="kronlmm-bench-") as tmp:
        npz = os.path.join(tmp, "in.npz")
        out = os.path.join(tmp, "out.json")
        np.savez(npz, **arrays)
        cmd = [
            os.fspath(python) if python is not None else sys.executable,
            "-c",
            _CHILD,
            target,
            npz,
            out,
            str(BENCH_DIR),
            json.dumps(options or {}),
        ]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return PeerOutcome("timeout", wall=time.perf_counter() - t0, timeout=timeout)
        wall = time.perf_counter() - t0
        if not os.path.exists(out):
            tail = "\n".join(stderr.strip().splitlines()[-5:])
            return PeerOutcome(
                "crashed", message=f"exit status {proc.returncode}\n{tail}", wall=wall
            )
        with open(out, encoding="utf-8") as fh:
            data = json.load(fh)
    return PeerOutcome(
        data["status"],
        result=data.get("result") or {},
        message=data.get("message", ""),
        wall=wall,
        timeout=timeout,
    )


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child started by :func:`run_peer` and everything in its session."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass
    proc.communicate()
