"""What the subcommands of ``kronlmm`` do, given their parsed options.

Each ``run_*`` function takes the options of its subcommand as parsed by
:mod:`kronlmm.cli.parser` (a mapping of option names to values), prints its results to
stdout and returns the exit status; errors are raised and mapped to exit statuses by
:func:`kronlmm.cli.errors.run_logged`.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from .outputs import OUTPUT_SUFFIXES, check_prefix, write_output, write_outputs
from .publish import OutputSet

if TYPE_CHECKING:  # imported when a command runs, so that --help and --version are quick
    from ..gwas import GwasResult, NullFit

__all__ = ["run_scan", "run_fit_null", "run_example", "run_kinship", "split_names"]

Options = Mapping[str, Any]


def split_names(values: Sequence[str] | None) -> list[str] | None:
    """Names given as ``--pheno-cols a b,c`` → ``["a", "b", "c"]`` (``None`` if not given).

    Examples
    --------
    >>> from kronlmm.cli.commands import split_names
    >>> split_names(["trait1", "trait2,trait3"]), split_names(None), split_names(())
    (['trait1', 'trait2', 'trait3'], None, None)
    """
    if not values:
        return None
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _kinship(value: str) -> str | None:
    return None if value.lower() == "none" else value


def _missing_code(value: str) -> float | None:
    """``--missing-code``: a number, or ``none``."""
    if value.strip().lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"--missing-code must be a number (e.g. -9) or 'none', got {value!r}"
        ) from None


def _genotypes(opts: Options) -> Any:
    """The --bfile fileset, opened with the --ignore-bed-padding choice."""
    from ..io import PlinkGenotypes

    return PlinkGenotypes(opts["bfile"], check_padding=not opts.get("ignore_bed_padding"))


def _prepare_plots(opts: Options) -> bool:
    if opts["no_plots"]:
        return False
    from ..plot import require_matplotlib

    try:
        matplotlib = require_matplotlib()
    except ImportError as err:
        raise ImportError(f"{err}, or pass --no-plots") from None
    matplotlib.use("Agg")
    return True


def _progress(opts: Options) -> Literal["auto"] | bool:
    if opts.get("no_progress") or opts.get("quiet_count", 0):
        return False
    return "auto"


def _names(values: Sequence[str] | None) -> list[str] | None:
    """Like :func:`split_names`, but an option given with nothing in it stays an empty
    selection (refused by the model, naming the option) instead of "every column"."""
    if values is None or len(values) == 0:
        return None
    return split_names(values) or []


def _filters(opts: Options) -> dict[str, Any]:
    """The ``fit_null`` keywords of the sample and variant filter options."""
    from ..gwas import QCFilters

    return {
        "qc": QCFilters(maf=opts["maf"], geno=opts["geno"], hwe=opts["hwe"], mind=opts["mind"]),
        "keep": opts["keep"],
        "remove": opts["remove"],
        "extract": opts["extract"],
        "exclude": opts["exclude"],
    }


def _fit_null(opts: Options) -> NullFit:
    from ..gwas import fit_null

    if opts["pheno"] is None and not opts["pheno_from_fam"]:
        raise ValueError(
            "no phenotypes: give --pheno FILE, or --pheno-from-fam to read them from the .fam"
        )
    return fit_null(
        _genotypes(opts),
        opts["pheno"],
        _names(opts["pheno_cols"]),
        opts["covar"],
        _names(opts["covar_cols"]),
        _kinship(opts["kinship"]),
        rank=opts["rank"],
        restricted=opts["reml"],
        missing_code=_missing_code(opts["missing_code"]),
        progress=_progress(opts),
        id_col=opts["id_col"],
        pheno_from_fam=opts["pheno_from_fam"],
        loco=bool(opts.get("loco", False)),
        missing_traits=opts["missing_traits"],
        **_filters(opts),
    )


def _null_lines(null: NullFit) -> list[str]:
    """What the run summary says about the filters and the rank of C₀."""
    lines = []
    if null.qc is not None:
        lines.append(null.qc.summary())
    if null.rank_choice is not None:
        lines.append(f"rank of C0: {null.rank_choice.rank} ({null.rank_choice.reason})")
        for row in null.rank_choice.table:
            lines.append(
                f"  rank {row['rank']}: lml {row['lml']:.10g}, {row['n_parameters']} variance "
                f"parameters, BIC {row['bic']:.10g}{'' if row['converged'] else ' (NOT converged)'}"
            )
    if null.loco is not None:
        failed = [f.chrom for f in null.loco if not f.converged]
        lines.append(
            f"leave-one-chromosome-out: {len(null.loco)} chromosome(s), each tested against a "
            "null whose kinship leaves it out ("
            + (f"NOT converged: chromosome(s) {', '.join(failed)}" if failed else "all converged")
            + "; per-chromosome nulls under 'loco' in the null JSON)"
        )
    return lines


def _scan(null: NullFit, opts: Options, client: Any) -> GwasResult:
    return null.scan(
        opts["test"],
        chunk_size=opts["chunk_size"],
        statistic=opts["statistic"],
        refit=opts["refit"],
        refit_threshold=opts["refit_threshold"],
        bootstrap_replicates=opts["bootstrap_replicates"],
        bootstrap_variants=opts["bootstrap_variants"],
        bootstrap_method=opts["bootstrap_method"],
        seed=opts["seed"],
        progress=_progress(opts),
        scheduler=client,
        checkpoint=opts["checkpoint"],
    )


@contextlib.contextmanager
def _early_checks(opts: Options) -> Iterator[Any]:
    """What can fail without reading the genotypes, checked before reading them: the
    checkpoint folder, and the Dask cluster (connected, or started, now). Yields the Dask
    client (``None`` without Dask)."""
    from ..gwas import check_checkpoint_dir, dask_client
    from ..gwas.variant_scan import check_bootstrap_options

    check_bootstrap_options(
        opts.get("statistic", "F"),
        opts.get("bootstrap_replicates", 1),
        opts.get("bootstrap_variants", 1),
        bool(opts.get("loco", False)),
        opts.get("bootstrap_method", "single"),
    )
    if opts.get("checkpoint") is not None:
        check_checkpoint_dir(opts["checkpoint"])
    with dask_client(opts.get("scheduler"), opts.get("workers")) as client:
        yield client


def _fmt_p(p: float, neg_log10: float) -> str:
    if not math.isfinite(neg_log10):
        return "NA"
    if p > 0:
        return f"{p:.3g}"
    return f"10^-{neg_log10:.1f}"  # below the smallest double: from the log survival function


def _summary(result: GwasResult, out: TextIO) -> None:
    null = result.null
    for line in _null_lines(null):
        print(line, file=out)
    print(
        f"{result.n_tested} of {len(result.assoc)} variants tested ({result.test!r} test, "
        f"dof {result.dof}, p-values from {_statistic_words(result)}) on {null.nsamples} "
        f"samples and traits {', '.join(null.trait_names)} "
        f"({'REML' if null.restricted else 'ML'} null, C0 rank <= {null.rank}); "
        f"genomic-control lambda {result.lambda_gc:.3f}",
        file=out,
    )
    _samples_line(null, out)


def _statistic_words(result: GwasResult) -> str:
    """Which statistic the p_value column is from, in words."""
    calibration = result.calibration
    if calibration is not None:
        kind = "parametric" if calibration.method == "single" else "fast double"
        return (
            f"the F test calibrated by a {kind} bootstrap of the null: "
            f"{calibration.refits_used} of {calibration.replicates} refits used "
            f"({calibration.failed_refits} not converged, left out) x "
            f"{calibration.candidates} variants, p-values >= {calibration.resolution:.3g}"
        )
    statistic = set(result.assoc["statistic"]) or {"F"}
    return "the exact F test" if statistic == {"F"} else "the chi2 likelihood-ratio test"


def _samples_line(null: NullFit, out: TextIO) -> None:
    """How many of the phenotype table's samples were analysed, and why not the others."""
    from ..io import LOSS_REASONS

    lost = {reason: len(ids) for reason, ids in null.sample_losses.items() if ids}
    total = null.alignment.get("phenotypes", null.nsamples)
    line = f"samples: {null.nsamples} of the {total} in the phenotype table analysed"
    if lost:
        line += "; not analysed: " + ", ".join(
            f"{n} {'with ' if r.startswith('missing') else ''}{LOSS_REASONS[r]}"
            for r, n in lost.items()
        )
    if null.aliased_covariates:
        line += f"; aliased covariates left out: {', '.join(null.aliased_covariates)}"
    print(line, file=out)
    if null.observed_values:
        values = ", ".join(f"{t} {v}" for t, v in null.observed_values.items())
        print(
            f"trait values used ({null.missing_traits}): {values} of {null.nsamples} samples",
            file=out,
        )


def _print_paths(paths: Sequence[Path], out: TextIO) -> None:
    print("outputs:", file=out)
    for p in paths:
        print(f"  {p}", file=out)


def run_scan(opts: Options) -> int:
    """``kronlmm scan``: fit the null, test every variant, write tables, null and plots."""
    from ..gwas.timing import stage

    prefix = check_prefix(opts["out"])
    plots = _prepare_plots(opts)
    with (
        OutputSet(prefix, list(OUTPUT_SUFFIXES.values())) as outputs,
        _early_checks(opts) as client,
    ):
        null = _fit_null(opts)
        result = _scan(null, opts, client)
        with stage("write outputs"):
            write_outputs(result, outputs, plots)
            written = outputs.publish()
    out = sys.stdout
    _summary(result, out)
    top = result.top(1)
    if len(top) and top["reason"].iloc[0] == "":
        row = top.iloc[0]
        print(
            f"top hit: {row['variant_id']} (chromosome {row['chrom']}, position {row['pos']}), "
            f"p = {_fmt_p(row['p_value'], row['neg_log10_p_value'])}",
            file=out,
        )
    _print_paths(written, out)
    return 0


def run_fit_null(opts: Options) -> int:
    """``kronlmm fit-null``: fit the null and write ``PREFIX.null.json``."""
    import pandas as pd

    prefix = check_prefix(opts["out"])
    with OutputSet(prefix, list(OUTPUT_SUFFIXES.values())) as outputs:
        null = _fit_null(opts)
        write_output(outputs, "null", null.write_json)
        written = outputs.publish()
    kind = "REML" if null.restricted else "ML"
    state = "converged" if null.converged else "NOT converged"
    out = sys.stdout
    print(
        f"null model ({kind}, rank {null.rank}): {null.nsamples} samples; traits "
        f"{', '.join(null.trait_names)}; covariates {', '.join(null.covariate_names)}",
        file=out,
    )
    print(f"lml = {null.lml:.10g} ({state}, {null.fit.niter} iterations)", file=out)
    for line in _null_lines(null):
        print(line, file=out)
    _samples_line(null, out)
    with pd.option_context("display.float_format", "{:.4g}".format):
        print("C0 (genetic trait covariance):", file=out)
        print(null.C0.to_string(), file=out)
        print("C1 (residual trait covariance):", file=out)
        print(null.C1.to_string(), file=out)
    _print_paths(written, out)
    return 0


def run_example(opts: Options) -> int:
    """``kronlmm example``: scan the bundled data, print the top hits and the causal ones."""
    import numpy as np
    import pandas as pd

    from ..data import example_paths
    from ..gwas import fit_null

    out_dir = Path(opts["out"])
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {opts['out']!r} exists and is not a folder")
    plots = _prepare_plots(opts)
    paths = example_paths()
    causal = pd.read_csv(paths.causal, sep="\t", dtype={"variant_id": str})
    causal_ids = set(causal["variant_id"])
    with (
        OutputSet(out_dir / "example", list(OUTPUT_SUFFIXES.values())) as outputs,
        _early_checks(opts) as client,
    ):
        null = fit_null(
            paths.prefix,
            paths.pheno,
            covar=paths.covar,
            rank=opts["rank"],
            progress=_progress(opts),
        )
        result = _scan(null, opts, client)
        write_outputs(
            result,
            outputs,
            plots,
            highlight=sorted(causal_ids),
            highlight_label="simulated causal variants",
        )
        written = outputs.publish()
    out = sys.stdout
    _summary(result, out)
    top = result.top(opts["top"])
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(top) + 1),
            "variant_id": top["variant_id"].to_numpy(),
            "chrom": top["chrom"].to_numpy(),
            "pos": top["pos"].to_numpy(),
            "p_value": [
                _fmt_p(p, q) for p, q in zip(top["p_value"], top["neg_log10_p_value"], strict=True)
            ],
            "causal": ["yes" if v in causal_ids else "" for v in top["variant_id"]],
        }
    )
    print(f"\ntop {len(top)} variants (causal = one of the simulated causal variants):", file=out)
    print(table.to_string(index=False), file=out)
    found = [v for v in causal["variant_id"] if v in set(top["variant_id"])]
    print(f"\n{len(found)} of {len(causal_ids)} causal variants in the top {len(top)}", file=out)
    _print_paths(written, out)
    return 0


KINSHIP_SUFFIXES = {
    "plink-bin": ".rel.bin",
    "plink": ".rel",
    "gcta": ".grm.bin",
    "tsv": ".kinship.tsv",
    "npz": ".kinship.npz",
}
"""Output suffix of ``kronlmm kinship --format F`` (GEMMA: ``.sXX.txt`` or ``.cXX.txt``)."""


def run_kinship(opts: Options) -> int:
    """``kronlmm kinship``: the GRM of a fileset's variants passing the filters, written in
    GEMMA's, GCTA's, PLINK's or kronlmm's format."""
    import numpy as np

    from ..gwas import QCReport, filter_variants, select_genotype_samples, select_listed_variants
    from ..gwas.timing import stage
    from ..io import grm_from_genotypes, write_kinship

    prefix = check_prefix(opts["out"])
    fmt, kind = opts["file_format"], opts["kind"]
    filters = _filters(opts)
    drops_samples = filters["keep"] is not None or filters["remove"] is not None
    if fmt == "gemma" and (drops_samples or filters["qc"].mind is not None):
        raise ValueError(
            "GEMMA's kinship files hold no sample IDs, so their rows must be every sample of "
            "the .fam in order: --keep, --remove and --mind cannot be used with --format gemma "
            "(choose plink-bin, plink, gcta, tsv or npz)"
        )
    if fmt == "gemma":
        suffix = ".sXX.txt" if kind == "standardized" else ".cXX.txt"
    else:
        suffix = KINSHIP_SUFFIXES[fmt]
    path = Path(f"{prefix}{suffix}")
    with stage("read inputs"):
        geno = _genotypes(opts)
    report = QCReport(filters["qc"])
    with stage("sample and variant filters"):
        variants = select_listed_variants(
            geno, extract=filters["extract"], exclude=filters["exclude"], report=report
        )
        samples = select_genotype_samples(
            geno, filters["qc"], keep=filters["keep"], remove=filters["remove"],
            variant_index=variants, report=report,
        )  # fmt: skip
        variants = filter_variants(geno, samples, variants, filters["qc"], report=report)
    with stage(f"{kind} GRM"):
        kin = grm_from_genotypes(
            geno, samples, variant_index=variants, standardize=kind == "standardized"
        )
    fids = geno.samples["FID"].to_numpy()[samples]
    path.parent.mkdir(parents=True, exist_ok=True)
    with stage("write the kinship"):
        write_kinship(
            path, kin.ids, kin.K, fids=list(fids), shape=opts["shape"],
            n_variants=int(kin.n_variants or 0),
        )  # fmt: skip
    out = sys.stdout
    print(report.summary(), file=out)
    diag = np.diag(kin.K)
    print(
        f"{kind} GRM of {kin.ids.size} samples from {kin.n_variants} variants (mean diagonal "
        f"{diag.mean():.4g}); {fmt} format",
        file=out,
    )
    written = [path]
    if fmt in ("plink-bin", "plink"):
        written.append(Path(f"{prefix}.rel.id"))
    elif fmt == "gcta":
        written += [Path(f"{prefix}.grm.N.bin"), Path(f"{prefix}.grm.id")]
    _print_paths(written, out)
    return 0
