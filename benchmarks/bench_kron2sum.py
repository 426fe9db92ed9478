"""Benchmark: kronlmm's ``Kron2Sum`` fit against glimix-core 3.1.14 on the same data.

Run ``python benchmarks/bench_kron2sum.py --help`` (or ``make bench``); see
``benchmarks/README.md`` for what the columns mean and the recorded results.

Every case simulates ``vec(Y) ~ N((A ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)`` with A = Iₚ,
X = [1, x], a standardised genotype-like G (n × r, scaled by 1/√r), a genetic signal of
rank ``rank`` and correlated residuals (``_common.simulate_kron2sum``), and fits it by ML
(REML with ``--reml``) with both libraries in the same run and the same BLAS threads.

- kronlmm: ``Kron2Sum(Y, A, X, G, rank).fit()``, set-up (constructor) + fit, timed
  ``--repeat`` times (default 3); the median is reported.
- glimix-core: constructor + ``fit()`` once, in a child process stopped after
  ``--glimix-timeout`` seconds (default 600). For rank ≥ 2 (where its gradient is wrong
  under SciPy ≥ 1.16 and a fit may fail or run for very long) one evaluation (``gradient()``
  + ``value()``, what its optimiser calls per step) is also timed, in its own child, and
  compared with one kronlmm evaluation (``lml()`` + ``gradient()``) at the same C₀, C₁.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _common import (
    PeerOutcome,
    ensure_threads,
    fmt_seconds,
    machine_summary,
    median_time,
    print_table,
    run_peer,
    simulate_kron2sum,
)

from kronlmm.lmm import Kron2Sum

#: Issue targets: kronlmm ≥ SPEEDUP_TARGET× faster than glimix-core with lml at least as
#: high on every shared case; every kronlmm-only case under KRON_ONLY_LIMIT seconds.
SPEEDUP_TARGET = 10.0
KRON_ONLY_LIMIT = 10.0
#: glimix-core's gradient needs about (rank·r)² · 8 bytes per parameter; cases given with
#: --cases run glimix-core only below this many GiB.
GLIMIX_MAX_GIB = 8.0


@dataclass(frozen=True)
class Case:
    n: int
    p: int
    r: int
    rank: int
    glimix: bool

    @property
    def label(self) -> str:
        return f"({self.n}, {self.p}, {self.r}, {self.rank})"

    def glimix_gib(self) -> float:
        """Rough memory of glimix-core's gradient: (rank·r)² doubles per parameter."""
        nparams = self.p * self.rank + self.p * (self.p + 1) // 2
        return (self.rank * self.r) ** 2 * 8 * nparams / 2**30


DEFAULT_CASES = (
    Case(500, 4, 50, 1, glimix=True),
    Case(2000, 4, 500, 1, glimix=True),
    Case(2000, 4, 500, 4, glimix=True),
    Case(2000, 10, 2000, 10, glimix=False),
    Case(20000, 5, 500, 5, glimix=False),
)


# ---- glimix-core, run in a child process by _common.run_peer -----------------------------
def _glimix_model(Y, A, X, G, rank, restricted):
    from glimix_core.lmm import Kron2Sum as GKron2Sum

    return GKron2Sum(Y, A, X, G, rank=int(rank), restricted=bool(restricted))


def glimix_fit(Y, A, X, G, rank, restricted, **_: Any) -> dict[str, Any]:
    """Constructor + ``fit()``; returns seconds, lml, C0, C1, evaluations and any error.

    The estimates are returned also when the fit raises (its state at that moment)."""
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    model = _glimix_model(Y, A, X, G, rank, restricted)
    count = {"n": 0}
    value = model.value

    def counted_value() -> float:
        count["n"] += 1
        return value()

    model.value = counted_value  # the optimiser calls self.value() once per step
    error = None
    try:
        model.fit(verbose=False)
    except Exception as e:  # reported in the table
        error = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "lml": float(value()),
        "C0": model.C0,
        "C1": model.C1,
        "nevals": count["n"],
        "error": error,
    }


def glimix_eval(Y, A, X, G, rank, restricted, **_: Any) -> dict[str, Any]:
    """Constructor, then one evaluation (``gradient()`` + ``value()``, as its optimiser
    does per step) at its default start; returns both times, lml, C0, C1 there."""
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    model = _glimix_model(Y, A, X, G, rank, restricted)
    t1 = time.perf_counter()
    model.gradient()
    lml = float(model.value())
    t2 = time.perf_counter()
    return {"setup": t1 - t0, "seconds": t2 - t1, "lml": lml, "C0": model.C0, "C1": model.C1}


# ---- an earlier kronlmm (--baseline), run in a child process by _common.run_peer ----------
def baseline_fit(Y, A, X, G, rank, restricted, repeat, **_: Any) -> dict[str, Any]:
    """Constructor + ``fit()`` of the kronlmm first on this child's path (the ``--baseline``
    tree, the child's working directory), ``repeat`` times after one untimed warm-up fit;
    returns the median seconds, every time, lml and where kronlmm was imported from."""
    import kronlmm

    warnings.simplefilter("ignore")

    def one() -> Any:
        model = Kron2Sum(Y, A, X, G, int(rank), bool(restricted))
        model.fit(verbose=False)
        return model

    one_small = simulate_kron2sum(50, 2, 10, 1, seed=1)
    Kron2Sum(one_small["Y"], one_small["A"], one_small["X"], one_small["G"], 1).fit(verbose=False)
    seconds, model, times = median_time(one, repeat=int(repeat))
    return {"seconds": seconds, "times": times, "lml": float(model.lml()), "path": kronlmm.__file__}


# ---- kronlmm ----------------------------------------------------------------------------
def kron_fit(data: dict[str, np.ndarray], rank: int, restricted: bool):
    model = Kron2Sum(data["Y"], data["A"], data["X"], data["G"], rank, restricted)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(verbose=False)
    return model, result, [str(w.message) for w in caught]


def kron_lml_at(model, C0, C1) -> float:
    """kronlmm's lml at given C₀, C₁ (the fitted state of ``model`` is changed)."""
    model.set_start(np.asarray(C0), np.asarray(C1))
    return float(model.lml())


def kron_eval_time(model, C0, C1, repeat: int = 20) -> tuple[float, float]:
    """Median seconds of one kronlmm evaluation (``lml()`` + ``gradient()``) at C₀, C₁,
    set-up excluded; C₀ is reset before each one so nothing is cached. Returns
    (seconds, lml)."""
    C0, C1 = np.asarray(C0), np.asarray(C1)
    times = []
    for i in range(repeat):
        model.set_start(C0 * (1.0 + 1e-12 * (i % 2)), C1)
        t0 = time.perf_counter()
        model.lml()
        model.gradient()
        times.append(time.perf_counter() - t0)
    model.set_start(C0, C1)
    return float(np.median(times)), float(model.lml())


# ---- one case ---------------------------------------------------------------------------
@dataclass
class CaseResult:
    case: Case
    kron_seconds: float = math.nan
    kron_all: list[float] = field(default_factory=list)
    kron_lml: float = math.nan
    kron_fit: Any = None
    kron_warnings: list[str] = field(default_factory=list)
    glimix: PeerOutcome | None = None
    glimix_skip: str = ""
    eval_glimix: PeerOutcome | None = None
    eval_kron_seconds: float = math.nan
    eval_kron_lml: float = math.nan
    checks: list[tuple[str, float, float]] = field(default_factory=list)
    baseline: PeerOutcome | None = None


def run_case(case: Case, args: argparse.Namespace) -> CaseResult:
    out = CaseResult(case)
    data = simulate_kron2sum(case.n, case.p, case.r, case.rank, seed=args.seed)
    arrays = {k: data[k] for k in ("Y", "A", "X", "G")}
    options = {"rank": case.rank, "restricted": args.reml}
    print(f"{case.label}: kronlmm ×{args.repeat} …", end=" ", flush=True)
    out.kron_seconds, (model, fit, warns), out.kron_all = median_time(
        lambda: kron_fit(data, case.rank, args.reml), repeat=args.repeat
    )
    out.kron_lml, out.kron_fit, out.kron_warnings = fit.lml, fit, warns
    print(f"{fmt_seconds(out.kron_seconds)} (median), lml {fit.lml:.6f}", flush=True)
    if args.baseline:
        print(f"{case.label}: baseline kronlmm ×{args.repeat} …", end=" ", flush=True)
        out.baseline = run_peer(
            "bench_kron2sum:baseline_fit",
            arrays,
            timeout=args.glimix_timeout,
            options={**options, "repeat": args.repeat},
            cwd=os.path.abspath(args.baseline),
        )
        b = out.baseline
        print(f"{fmt_seconds(b.result['seconds'])} (median)" if b.ok else b.short(), flush=True)

    run_glimix = case.glimix and not args.no_glimix
    if args.no_glimix:
        out.glimix_skip = "not run (--no-glimix)"
    elif not case.glimix:
        out.glimix_skip = "not run (kronlmm only)"
    if not run_glimix:
        return out

    # One evaluation first for rank ≥ 2: it is bounded (~30 s at (2000, 4, 500, 4)),
    # the fit may not be.
    if case.rank >= 2:
        print(f"{case.label}: glimix-core one evaluation …", end=" ", flush=True)
        ev = run_peer(
            "bench_kron2sum:glimix_eval", arrays, timeout=args.glimix_timeout, options=options
        )
        out.eval_glimix = ev
        if ev.ok:
            r = ev.result
            out.eval_kron_seconds, out.eval_kron_lml = kron_eval_time(model, r["C0"], r["C1"])
            out.checks.append(("glimix-core's start", r["lml"], out.eval_kron_lml))
            print(
                f"{fmt_seconds(r['seconds'])} (kronlmm {fmt_seconds(out.eval_kron_seconds)})",
                flush=True,
            )
        else:
            print(ev.short(), flush=True)

    print(f"{case.label}: glimix-core fit (limit {args.glimix_timeout:g} s) …", end=" ")
    sys.stdout.flush()
    g = run_peer("bench_kron2sum:glimix_fit", arrays, timeout=args.glimix_timeout, options=options)
    out.glimix = g
    if g.ok:
        r = g.result
        fitted = kron_lml_at(model, r["C0"], r["C1"])
        out.checks.append(("glimix-core's fit", r["lml"], fitted))
        state = f"error {r['error']}" if r["error"] else "done"
        print(
            f"{state} in {fmt_seconds(r['seconds'])}, {r['nevals']} evaluations, "
            f"lml {r['lml']:.6f}",
            flush=True,
        )
    else:
        print(g.short(), flush=True)
    return out


# ---- report -----------------------------------------------------------------------------
HEADER = (
    "case (n, p, r, rank)",
    "per",
    "kronlmm time",
    "kronlmm lml",
    "glimix-core time",
    "glimix-core lml",
    "ratio glimix/kronlmm",
    "Δlml kronlmm − glimix",
)


def _ratio(num: float, den: float, bound: bool = False) -> str:
    if not (den > 0 and math.isfinite(num)):
        return "-"
    return f"{'> ' if bound else ''}{num / den:.1f}×"


def table_rows(results: list[CaseResult], timeout: float) -> list[list[str]]:
    rows = []
    for res in results:
        c = res.case
        kt, kl = fmt_seconds(res.kron_seconds), f"{res.kron_lml:.4f}"
        g = res.glimix
        if g is None:
            rows.append([c.label, "fit", kt, kl, res.glimix_skip or "-", "-", "-", "-"])
        elif g.status == "timeout":
            rows.append(
                [c.label, "fit", kt, kl, g.short(), "-", _ratio(timeout, res.kron_seconds, True)]
                + ["-"]
            )
        elif not g.ok:
            rows.append([c.label, "fit", kt, kl, g.short(), "-", "-", "-"])
        else:
            r = g.result
            gt = fmt_seconds(r["seconds"])
            if r["error"]:
                gt += f" ({r['error'][:40]})"
            rows.append(
                [
                    c.label,
                    "fit",
                    kt,
                    kl,
                    gt,
                    f"{r['lml']:.4f}",
                    _ratio(r["seconds"], res.kron_seconds),
                    f"{res.kron_lml - r['lml']:+.2e}",
                ]
            )
        ev = res.eval_glimix
        if ev is not None:
            if ev.ok:
                r = ev.result
                rows.append(
                    [
                        c.label,
                        "1 evaluation",
                        fmt_seconds(res.eval_kron_seconds),
                        f"{res.eval_kron_lml:.4f}",
                        fmt_seconds(r["seconds"]),
                        f"{r['lml']:.4f}",
                        _ratio(r["seconds"], res.eval_kron_seconds),
                        f"{res.eval_kron_lml - r['lml']:+.2e}",
                    ]
                )
                rows.append(
                    [
                        c.label,
                        "kronlmm fit vs 1 glimix eval",
                        fmt_seconds(res.kron_seconds),
                        "-",
                        fmt_seconds(r["seconds"]),
                        "-",
                        _ratio(r["seconds"], res.kron_seconds),
                        "-",
                    ]
                )
            else:
                rows.append([c.label, "1 evaluation", "-", "-", ev.short(), "-", "-", "-"])
    return rows


def print_report(results: list[CaseResult], args: argparse.Namespace, nthreads: int) -> int:
    kind = "REML" if args.reml else "ML"
    print()
    print(f"## Kron2Sum {kind} fit: kronlmm vs glimix-core ({nthreads} thread(s) each)")
    print()
    print_table(HEADER, table_rows(results, args.glimix_timeout), align="llrrrrrr")
    print()
    print(
        f"- per = fit: kronlmm time = constructor + fit(), median of {args.repeat} runs "
        "(the default fit: a moment start, L-BFGS-B, a Newton polish only where "
        "L-BFGS-B stopped short of the tolerance, boundary escapes); glimix-core time = "
        "constructor + fit(), one run in a child process (start-up and imports excluded)."
    )
    if any(res.eval_glimix is not None for res in results):
        print(
            "- per = 1 evaluation: one likelihood + gradient evaluation (what an optimiser step "
            "costs), set-up excluded, both libraries at glimix-core's default start (same C₀, "
            "C₁, so Δlml there checks that both compute the same function); kronlmm: median of "
            "20."
        )
        print(
            "- 'kronlmm fit vs 1 glimix eval': kronlmm's whole set-up + fit against ONE "
            "glimix-core evaluation (a glimix-core fit needs tens of them)."
        )
    print(
        "- ratio > 1: kronlmm faster ('> x×': glimix-core was stopped at the limit, which "
        "includes its start-up, so x is a lower bound); Δlml > 0: kronlmm found the higher "
        "likelihood."
    )
    for res in results:
        g = res.glimix
        if g is not None and g.ok:
            print(
                f"- {res.case.label}: glimix-core fit used {g.result['nevals']} evaluations "
                f"({fmt_seconds(g.result['seconds'] / max(g.result['nevals'], 1))} each)."
            )
        if g is not None and g.status in ("error", "crashed"):
            print(f"- {res.case.label}: glimix-core {g.status}: {g.message.strip()}")
        if res.kron_fit is not None and not res.kron_fit.success:
            print(f"- {res.case.label}: kronlmm fit did not converge: {res.kron_fit}")
        kt = ", ".join(fmt_seconds(t) for t in res.kron_all)
        print(f"- {res.case.label}: kronlmm runs {kt}; best start {res.kron_fit}")

    checks = [(res.case.label, *c, res.kron_lml) for res in results for c in res.checks]
    if checks:
        print()
        print("## Same function: kronlmm's lml at glimix-core's C₀, C₁ (set_start, lml())")
        print()
        rows = [
            [
                label,
                where,
                f"{g:.6f}",
                f"{k:.6f}",
                f"{k - g:+.2e}",
                f"{kfit:.6f}",
                f"{kfit - k:+.2e}",
            ]
            for label, where, g, k, kfit in checks
        ]
        print_table(
            (
                "case",
                "point",
                "glimix-core lml",
                "kronlmm lml there",
                "difference",
                "kronlmm fitted lml",
                "fitted − there",
            ),
            rows,
            align="llrrrrr",
        )
    if any(res.baseline is not None for res in results):
        print_baseline(results, args)
    return print_targets(results)


def print_baseline(results: list[CaseResult], args: argparse.Namespace) -> None:
    """The table of this kronlmm against the --baseline tree (same data, same threads)."""
    print()
    print(f"## Against the baseline kronlmm in {args.baseline}")
    print()
    rows = []
    for res in results:
        b = res.baseline
        if b is None:
            continue
        if not b.ok:
            rows.append([res.case.label, fmt_seconds(res.kron_seconds), b.short(), "-", "-"])
            continue
        r = b.result
        rows.append(
            [
                res.case.label,
                fmt_seconds(res.kron_seconds),
                fmt_seconds(r["seconds"]),
                f"{res.kron_seconds / r['seconds']:.2f}×",
                f"{res.kron_lml - r['lml']:+.2e}",
            ]
        )
    print_table(
        ("case (n, p, r, rank)", "kronlmm", "baseline", "time kronlmm / baseline", "Δlml"),
        rows,
        align="lrrrr",
    )
    print()
    print(
        f"- both: constructor + fit(), median of {args.repeat} runs after a warm-up fit; the "
        "baseline in a child process started in its tree (imports excluded); "
        "Δlml > 0: this kronlmm found the higher likelihood."
    )
    for res in results:
        if res.baseline is not None and res.baseline.ok:
            kt = ", ".join(fmt_seconds(t) for t in res.baseline.result["times"])
            print(f"- {res.case.label}: baseline runs {kt} ({res.baseline.result['path']})")


def print_targets(results: list[CaseResult]) -> int:
    """Print the issue's targets; return the number missed."""
    print()
    print("## Targets")
    print()
    missed = 0
    for res in results:
        c, g = res.case, res.glimix
        if g is not None:
            if g.ok and not g.result["error"]:
                ratio = g.result["seconds"] / res.kron_seconds
                dl = res.kron_lml - g.result["lml"]
                good = ratio >= SPEEDUP_TARGET and dl >= -1e-6 * max(1.0, abs(res.kron_lml))
                what = f"{ratio:.1f}× faster, Δlml {dl:+.2e}"
            elif g.status == "timeout":
                ratio = g.timeout / res.kron_seconds
                good = ratio >= SPEEDUP_TARGET
                what = f"> {ratio:.1f}× faster (glimix-core stopped at the limit), no lml"
            else:
                what = "glimix-core failed to fit; kronlmm converged" + (
                    "" if res.kron_fit.success else " NOT"
                )
                good = bool(res.kron_fit.success)
            want = f"≥ {SPEEDUP_TARGET:.0f}× and lml ≥ glimix-core"
        elif not c.glimix:
            good = res.kron_seconds < KRON_ONLY_LIMIT
            what = f"{fmt_seconds(res.kron_seconds)}"
            want = f"< {KRON_ONLY_LIMIT:.0f} s"
        else:
            continue
        missed += not good
        print(f"- {'PASS' if good else 'MISS'} {c.label}: {what} (target {want})")
    return missed


# ---- command line -----------------------------------------------------------------------
def parse_case(text: str) -> Case:
    """``3`` (1-based index into the default cases) or ``n,p,r,rank``."""
    if text.isdigit():
        i = int(text)
        if not 1 <= i <= len(DEFAULT_CASES):
            raise argparse.ArgumentTypeError(f"case index must be 1…{len(DEFAULT_CASES)}")
        return DEFAULT_CASES[i - 1]
    try:
        n, p, r, rank = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected n,p,r,rank or an index, got {text!r}") from None
    for case in DEFAULT_CASES:
        if (case.n, case.p, case.r, case.rank) == (n, p, r, rank):
            return case
    case = Case(n, p, r, rank, glimix=True)
    return Case(n, p, r, rank, glimix=case.glimix_gib() <= GLIMIX_MAX_GIB)


def build_parser() -> argparse.ArgumentParser:
    cases = "; ".join(
        f"{i}: {c.label}{'' if c.glimix else ' kronlmm only'}"
        for i, c in enumerate(DEFAULT_CASES, 1)
    )
    ap = argparse.ArgumentParser(
        description="Kron2Sum fit: kronlmm vs glimix-core on the same simulated data.",
        epilog=f"Default cases (n, p, r, rank): {cases}.",
    )
    ap.add_argument("--quick", action="store_true", help="only case 1 (glimix-core included)")
    ap.add_argument("--no-glimix", action="store_true", help="run kronlmm only")
    ap.add_argument(
        "--cases",
        nargs="+",
        type=parse_case,
        metavar="CASE",
        help="cases to run: indices of the default cases or n,p,r,rank (glimix-core runs "
        f"on a new case when its gradient needs ≤ {GLIMIX_MAX_GIB:.0f} GiB)",
    )
    ap.add_argument(
        "--glimix-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="time limit of each glimix-core child process, seconds (default 600)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS/OpenMP threads for both libraries (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, "
        "MKL_NUM_THREADS); default: all available cores",
    )
    ap.add_argument("--repeat", type=int, default=3, help="kronlmm fits per case (median)")
    ap.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    ap.add_argument("--reml", action="store_true", help="REML instead of ML")
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="also time the kronlmm of this source tree (e.g. 0.1.0: git worktree add "
        "--detach DIR 372aebd) on the same data, in a child process",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    nthreads = ensure_threads(args.threads)
    if args.quick and args.cases:
        raise SystemExit("--quick and --cases exclude each other")
    cases = list(args.cases or (DEFAULT_CASES[:1] if args.quick else DEFAULT_CASES))
    print(machine_summary(nthreads))
    if not args.no_glimix:
        try:
            from importlib.metadata import version

            print(f"glimix-core {version('glimix-core')}, optimix {version('optimix')}")
        except Exception:  # not installed
            print("glimix-core is not installed: running kronlmm only")
            args.no_glimix = True
    # One untimed small fit first, so that lazy imports and first-call costs (SciPy's
    # optimiser, LAPACK loading) are not charged to the first timed case; glimix-core's
    # imports are likewise outside its timing.
    kron_fit(simulate_kron2sum(50, 2, 10, 1, seed=1), 1, args.reml)
    results = [run_case(case, args) for case in cases]
    missed = print_report(results, args, nthreads)
    print(f"\n{missed} target(s) missed" if missed else "\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
