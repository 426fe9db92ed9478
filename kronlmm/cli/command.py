"""The ``kronlmm`` command: multi-trait GWAS from PLINK files.

Usage::

    kronlmm scan --bfile PREFIX --pheno FILE [--pheno-cols T ...] [--covar FILE
                 [--covar-cols C ...]] [--kinship grm|none|FILE] [--test any|common|interaction]
                 [--rank K] [--reml] [--chunk-size N] [--out PREFIX] [--no-plots]
                 [--scheduler ADDRESS | --workers N] [--checkpoint DIR]
                 [--no-progress]
    kronlmm fit-null --bfile PREFIX --pheno FILE [...] [--out PREFIX]
    kronlmm example [--out DIR] [--test ...] [--top N] [--no-plots]
    kronlmm --version

``scan`` writes ``PREFIX.assoc.tsv.gz`` (per-variant joint test), ``PREFIX.effects.tsv.gz``
(per-variant, per-trait effects), ``PREFIX.null.json`` (the fitted null model) and, unless
``--no-plots``, ``PREFIX.manhattan.png`` and ``PREFIX.qq.png``. ``fit-null`` writes only
``PREFIX.null.json``. ``example`` runs ``scan`` on the bundled example data (outputs
``DIR/example.*``) and prints the top hits, marking the known causal variants.

Every file is written to a temporary name and renamed when complete, and only after the
whole analysis succeeded, so a failed run leaves no file posing as complete.

Messages go to stderr through the ``"kronlmm"`` logger: INFO by default, ``-v`` for DEBUG
(and tracebacks on errors), ``-q`` for warnings only, ``-qq`` for errors only. A problem with
the input ends the run with one line ``kronlmm: error: …`` and exit status 1 (2 for a
command-line usage error). The progress bar (tqdm) is shown only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .. import __version__

if TYPE_CHECKING:  # imported when a command runs, so that --help and --version are quick
    from ..gwas import GwasResult, NullFit

__all__ = ["main", "build_parser", "output_paths", "OUTPUT_SUFFIXES"]

logger = logging.getLogger("kronlmm")

OUTPUT_SUFFIXES = {
    "assoc": ".assoc.tsv.gz",
    "effects": ".effects.tsv.gz",
    "null": ".null.json",
    "manhattan": ".manhattan.png",
    "qq": ".qq.png",
}
"""Suffix appended to ``--out PREFIX`` for each output file."""

DEFAULT_PREFIX = "kronlmm_results"
"""Output prefix when ``--out`` is not given."""

EXIT_ERROR = 1
"""Exit status for bad input or a failed analysis."""

EXIT_USAGE = 2
"""Exit status for a command-line usage error (argparse's)."""


# --------------------------------------------------------------------------- arguments
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_verbosity(parser: argparse.ArgumentParser, top: bool) -> None:
    default: Any = 0 if top else argparse.SUPPRESS
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more messages (DEBUG) and tracebacks on errors",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=default,
        help="fewer messages: -q warnings only, -qq errors only",
    )


def _add_model_inputs(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("inputs")
    g.add_argument(
        "--bfile",
        required=True,
        metavar="PREFIX",
        help="PLINK 1 binary fileset PREFIX.bed/.bim/.fam (dosages count .bim allele 1)",
    )
    g.add_argument(
        "--pheno",
        required=True,
        metavar="FILE",
        help="phenotype table with an IID column (FID IID trait ...; NA for missing)",
    )
    g.add_argument(
        "--pheno-cols",
        nargs="+",
        metavar="NAME",
        help="traits to analyse jointly (space or comma separated; default: all)",
    )
    g.add_argument("--covar", metavar="FILE", help="covariate table with an IID column")
    g.add_argument(
        "--covar-cols",
        nargs="+",
        metavar="NAME",
        help="covariates to use (default: all); an intercept is added unless present",
    )
    g.add_argument(
        "--kinship",
        default="grm",
        metavar="grm|none|FILE",
        help="'grm': GRM of all variants (default); 'none': no genetic random effect; "
        "or a kinship file (.tsv/.csv matrix with IDs, or .npz)",
    )
    m = parser.add_argument_group("model")
    m.add_argument(
        "--rank",
        type=_positive_int,
        default=1,
        metavar="K",
        help="maximum rank of the genetic trait covariance C0 (default 1; the number of "
        "traits gives a full-rank C0)",
    )
    m.add_argument("--reml", action="store_true", help="fit the null by REML (default ML)")


def _add_scan_options(parser: argparse.ArgumentParser) -> None:
    s = parser.add_argument_group("scan")
    s.add_argument(
        "--test",
        choices=("any", "common", "interaction"),
        default="any",
        help="any: effect on any trait (dof p); common: one shared effect (dof 1); "
        "interaction: trait-specific beyond common (dof p-1). Default any",
    )
    s.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="variants read and tested per block (default: automatic)",
    )
    s.add_argument("--no-plots", action="store_true", help="do not draw the Manhattan and QQ plots")
    s.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    d = parser.add_argument_group("distributed (Dask; pip install 'kronlmm[dask]')")
    where = d.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="scan on an existing Dask cluster (e.g. tcp://host:8786); workers read their "
        "own variant blocks, so the .bed must be at the same path for them",
    )
    where.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="scan on a local Dask cluster of N single-threaded worker processes",
    )
    d.add_argument(
        "--checkpoint",
        metavar="DIR",
        default=None,
        help="keep per-block results in DIR; rerunning the same scan resumes, recomputing "
        "only blocks that are not there yet",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``kronlmm`` command.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> from kronlmm.cli import build_parser
    >>> parser = build_parser()
    >>> args = parser.parse_args(["scan", "--bfile", "data/cohort", "--pheno", "pheno.tsv",
    ...                           "--workers", "4", "--checkpoint", "ck/"])
    >>> args.command, args.bfile, args.test, args.workers, args.checkpoint, args.scheduler
    ('scan', 'data/cohort', 'any', 4, 'ck/', None)
    >>> args = parser.parse_args(["scan", "--bfile", "data/cohort", "--pheno", "pheno.tsv",
    ...                           "--scheduler", "tcp://head-node:8786"])
    >>> args.scheduler, args.workers
    ('tcp://head-node:8786', None)
    """
    parser = argparse.ArgumentParser(
        prog="kronlmm",
        description="Multi-trait linear mixed models: GWAS scans from PLINK files.",
    )
    parser.add_argument("--version", action="version", version=f"kronlmm {__version__}")
    _add_verbosity(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    scan = sub.add_parser(
        "scan",
        help="fit the null model and test every variant",
        description="Fit the multi-trait null model once and test every variant. Writes "
        "PREFIX.assoc.tsv.gz, PREFIX.effects.tsv.gz, PREFIX.null.json, "
        "PREFIX.manhattan.png and PREFIX.qq.png.",
    )
    _add_model_inputs(scan)
    _add_scan_options(scan)
    scan.add_argument(
        "--out", default=DEFAULT_PREFIX, metavar="PREFIX", help=f"output prefix ({DEFAULT_PREFIX})"
    )
    _add_verbosity(scan, top=False)
    scan.set_defaults(func=_cmd_scan)

    null = sub.add_parser(
        "fit-null",
        help="fit the null model only",
        description="Fit the multi-trait null model and write C0, C1, B, lml and "
        "convergence to PREFIX.null.json.",
    )
    _add_model_inputs(null)
    null.add_argument(
        "--out", default=DEFAULT_PREFIX, metavar="PREFIX", help=f"output prefix ({DEFAULT_PREFIX})"
    )
    _add_verbosity(null, top=False)
    null.set_defaults(func=_cmd_fit_null)

    ex = sub.add_parser(
        "example",
        help="run the whole workflow on the bundled example data",
        description="Scan the bundled example data (400 samples, 3000 variants, 3 traits, "
        "covariates age and sex, 3 known causal variants), print the top hits and write "
        "the outputs to DIR/example.*.",
    )
    ex.add_argument("--out", default="kronlmm-example", metavar="DIR", help="output folder")
    ex.add_argument("--top", type=_positive_int, default=10, metavar="N", help="hits to print (10)")
    ex.add_argument(
        "--rank",
        type=_positive_int,
        default=3,
        help="maximum rank of C0 (default 3: full rank for the 3 example traits)",
    )
    _add_scan_options(ex)
    _add_verbosity(ex, top=False)
    ex.set_defaults(func=_cmd_example)
    return parser


# --------------------------------------------------------------------------- helpers
def output_paths(prefix: str | Path) -> dict[str, Path]:
    """The output files of ``kronlmm scan --out PREFIX``.

    Parameters
    ----------
    prefix : str or pathlib.Path
        Output prefix.

    Returns
    -------
    dict
        ``"assoc"``, ``"effects"``, ``"null"``, ``"manhattan"``, ``"qq"`` → path.
    """
    return {key: Path(f"{prefix}{suffix}") for key, suffix in OUTPUT_SUFFIXES.items()}


def _check_prefix(prefix: str) -> str:
    if prefix.endswith(("/", "\\")) or Path(prefix).is_dir():
        raise ValueError(
            f"--out {prefix!r} is a folder; give a file prefix such as {prefix.rstrip('/')}/run1"
        )
    return prefix


def _split_names(values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    names = [part.strip() for v in values for part in v.split(",") if part.strip()]
    return names


def _kinship_arg(value: str) -> str | None:
    return None if value.lower() == "none" else value


def _prepare_plots(args: argparse.Namespace) -> bool:
    if args.no_plots:
        return False
    from ..plot import require_matplotlib

    try:
        matplotlib = require_matplotlib()
    except ImportError as err:
        raise ImportError(f"{err}, or pass --no-plots") from None
    matplotlib.use("Agg")
    return True


def _progress(args: argparse.Namespace) -> str | bool:
    if args.no_progress or getattr(args, "quiet", 0):
        return False
    return "auto"


def _fit_null(args: argparse.Namespace) -> NullFit:
    from ..gwas import fit_null

    return fit_null(
        args.bfile,
        args.pheno,
        _split_names(args.pheno_cols),
        args.covar,
        _split_names(args.covar_cols),
        _kinship_arg(args.kinship),
        rank=args.rank,
        restricted=args.reml,
    )


def _write_outputs(
    result: GwasResult, prefix: str, plots: bool, highlight: Sequence[str] | None = None
) -> list[Path]:
    paths = output_paths(prefix)
    paths["assoc"].parent.mkdir(parents=True, exist_ok=True)
    written = [
        result.write_tsv(paths["assoc"], table="assoc"),
        result.write_tsv(paths["effects"], table="effects"),
        result.null.write_json(paths["null"]),
    ]
    if plots:
        from ..plot import save_plots

        written += save_plots(result, paths["manhattan"], paths["qq"], highlight=highlight)
    return written


def _fmt_p(p: float, neg_log10: float) -> str:
    if not np.isfinite(neg_log10):
        return "NA"
    if p > 0:
        return f"{p:.3g}"
    return f"10^-{neg_log10:.1f}"  # below the smallest double: from the log survival function


def _summary(result: GwasResult, out: TextIO) -> None:
    null = result.null
    print(
        f"{result.n_tested} of {len(result.assoc)} variants tested ({result.test!r} test, "
        f"dof {result.dof}) on {null.nsamples} samples and traits {', '.join(null.trait_names)} "
        f"({'REML' if null.restricted else 'ML'} null, C0 rank <= {null.rank}); "
        f"genomic-control lambda {result.lambda_gc:.3f}",
        file=out,
    )


def _print_paths(paths: Sequence[Path], out: TextIO) -> None:
    print("outputs:", file=out)
    for p in paths:
        print(f"  {p}", file=out)


# --------------------------------------------------------------------------- commands
def _cmd_scan(args: argparse.Namespace) -> int:
    prefix = _check_prefix(args.out)
    plots = _prepare_plots(args)
    null = _fit_null(args)
    result = null.scan(
        args.test,
        chunk_size=args.chunk_size,
        progress=_progress(args),
        scheduler=args.scheduler,
        workers=args.workers,
        checkpoint=args.checkpoint,
    )
    written = _write_outputs(result, prefix, plots)
    _summary(result, sys.stdout)
    top = result.top(1)
    if len(top) and top["reason"].iloc[0] == "":
        row = top.iloc[0]
        print(
            f"top hit: {row['variant_id']} (chromosome {row['chrom']}, position {row['pos']}), "
            f"p = {_fmt_p(row['p_value'], row['neg_log10_p_value'])}",
            file=sys.stdout,
        )
    _print_paths(written, sys.stdout)
    return 0


def _cmd_fit_null(args: argparse.Namespace) -> int:
    prefix = _check_prefix(args.out)
    null = _fit_null(args)
    path = output_paths(prefix)["null"]
    path.parent.mkdir(parents=True, exist_ok=True)
    null.write_json(path)
    kind = "REML" if null.restricted else "ML"
    state = "converged" if null.converged else "NOT converged"
    import pandas as pd

    out = sys.stdout
    print(
        f"null model ({kind}, rank {null.rank}): {null.nsamples} samples; traits "
        f"{', '.join(null.trait_names)}; covariates {', '.join(null.covariate_names)}",
        file=out,
    )
    print(f"lml = {null.lml:.10g} ({state}, {null.fit.niter} iterations)", file=out)
    with pd.option_context("display.float_format", "{:.4g}".format):
        print("C0 (genetic trait covariance):", file=out)
        print(null.C0.to_string(), file=out)
        print("C1 (residual trait covariance):", file=out)
        print(null.C1.to_string(), file=out)
    _print_paths([path], out)
    return 0


def _cmd_example(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..data import example_paths
    from ..gwas import fit_null

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {args.out!r} exists and is not a folder")
    plots = _prepare_plots(args)
    paths = example_paths()
    causal = pd.read_csv(paths.causal, sep="\t", dtype={"variant_id": str})
    causal_ids = set(causal["variant_id"])
    null = fit_null(paths.prefix, paths.pheno, covar=paths.covar, rank=args.rank)
    result = null.scan(
        args.test,
        chunk_size=args.chunk_size,
        progress=_progress(args),
        scheduler=args.scheduler,
        workers=args.workers,
        checkpoint=args.checkpoint,
    )
    written = _write_outputs(result, str(out_dir / "example"), plots, highlight=sorted(causal_ids))
    out = sys.stdout
    _summary(result, out)
    top = result.top(args.top)
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


# --------------------------------------------------------------------------- main
class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"kronlmm: error: {msg}"
        if record.levelno >= logging.WARNING:
            return f"kronlmm: warning: {msg}"
        return f"kronlmm: {msg}"


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    head, rest = lines[0], lines[1:]
    if rest:
        return head.rstrip(":") + ": " + "; ".join(rest)
    return head


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    logger.warning("%s (%s)", message, category.__name__)


def _level(args: argparse.Namespace) -> int:
    verbose, quiet = getattr(args, "verbose", 0) or 0, getattr(args, "quiet", 0) or 0
    if verbose:
        return logging.DEBUG
    if quiet >= 2:
        return logging.ERROR
    if quiet == 1:
        return logging.WARNING
    return logging.INFO


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kronlmm`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 on bad input or a failed analysis, 2 on a usage error
        (argparse exits by itself then), 130 when interrupted.

    Examples
    --------
    ``kronlmm fit-null`` on the bundled data, from Python (results to stdout, messages to
    stderr; ``-q``: warnings and errors only):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.cli import main
    >>> from kronlmm.data import example_paths
    >>> paths = example_paths()
    >>> tmp = tempfile.TemporaryDirectory()
    >>> status = main(["fit-null", "--bfile", str(paths.prefix), "--pheno", str(paths.pheno),
    ...                "--covar", str(paths.covar), "--out", f"{tmp.name}/run1", "-q"])
    null model (ML, rank 1): 377 samples; traits trait1, trait2, trait3; covariates ...
    lml = ... (converged, ... iterations)
    C0 (genetic trait covariance):
    ...
    outputs:
      .../run1.null.json
    >>> status, sorted(path.name for path in Path(tmp.name).iterdir())
    (0, ['run1.null.json'])

    A problem with the input is one line on stderr and exit status 1:

    >>> import contextlib
    >>> import sys
    >>> with contextlib.redirect_stderr(sys.stdout):
    ...     status = main(["fit-null", "--bfile", "no/such/prefix", "--pheno", str(paths.pheno)])
    kronlmm: error: PLINK file(s) 'no/such/prefix.bed', ... not found ...
    >>> status
    1
    >>> tmp.cleanup()
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(_level(args))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _log_warning
            return func(args)
    except KeyboardInterrupt:
        print("kronlmm: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, ImportError, np.linalg.LinAlgError) as err:
        if getattr(args, "verbose", 0):
            traceback.print_exc(file=sys.stderr)
        print(f"kronlmm: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # a bug: still one line, traceback with -v
        if getattr(args, "verbose", 0):
            traceback.print_exc(file=sys.stderr)
        hint = "" if getattr(args, "verbose", 0) else "; rerun with -v for the traceback"
        print(
            f"kronlmm: error: internal error ({type(err).__name__}: {_one_line(err)}){hint}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


if __name__ == "__main__":
    sys.exit(main())
