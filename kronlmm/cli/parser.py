"""The command-line parser of ``kronlmm``, on Click: the command group, its options.

Usage::

    kronlmm scan --bfile PREFIX (--pheno FILE | --pheno-from-fam) [--pheno-cols T ...]
                 [--id-col NAME] [--covar FILE [--covar-cols C ...]]
                 [--kinship grm|none|FILE] [--loco] [--test any|common|interaction]
                 [--statistic F|chi2|bootstrap [--bootstrap-replicates B]
                 [--bootstrap-variants M] [--bootstrap-method single|fast-double]
                 [--seed N]]
                 [--rank full|auto|K] [--reml] [--missing-code NUMBER|none]
                 [--missing-traits observed|complete-case]
                 [--ignore-bed-padding] [--keep FILE] [--remove FILE]
                 [--extract FILE] [--exclude FILE] [--maf X] [--geno X] [--hwe P]
                 [--mind X] [--chunk-size N] [--out PREFIX] [--no-plots]
                 [--scheduler ADDRESS | --workers N] [--checkpoint DIR]
                 [--no-progress]
    kronlmm fit-null --bfile PREFIX --pheno FILE [...] [--out PREFIX]
    kronlmm kinship --bfile PREFIX [--format plink-bin|plink|gcta|gemma|tsv|npz]
                 [--kind standardized|centered] [--shape square|triangle] [filters]
                 [--out PREFIX]
    kronlmm example [--out DIR] [--test ...] [--top N] [--no-plots]
    kronlmm --version

``scan`` writes ``PREFIX.assoc.tsv.gz`` (per-variant joint test), ``PREFIX.effects.tsv.gz``
(per-variant, per-trait effects), ``PREFIX.null.json`` (the fitted null model) and, unless
``--no-plots``, ``PREFIX.manhattan.png``, ``PREFIX.qq.png`` and ``PREFIX.top_effects.png``
(per-trait effects of the top variants). ``fit-null`` writes only
``PREFIX.null.json``. ``kinship`` writes the GRM of a fileset in GEMMA's, GCTA's, PLINK's
or kronlmm's format. ``example`` runs ``scan`` on the bundled example data (outputs
``DIR/example.*``) and prints the top hits, marking the known causal variants.

The files of a run are written into a hidden staging folder and published together, only
after the whole analysis succeeded: a failed or interrupted run leaves the previous complete
set as it was, and a second run with the same ``--out`` is refused while one runs (see
:mod:`kronlmm.cli.publish`). What can be checked without reading the genotypes (the output
folder, ``--checkpoint``, the Dask cluster) is checked first. Progress: a bar on a
terminal, otherwise a log line at least every 30 s. Messages and exit statuses:
:mod:`kronlmm.cli.errors`. ``--pheno-cols`` and ``--covar-cols`` take one
or more names (space or comma separated), as they did before Click.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from .commands import run_example, run_fit_null, run_kinship, run_scan
from .errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, run_logged, show_usage_error
from .outputs import DEFAULT_PREFIX

__all__ = ["cli", "main"]


# --------------------------------------------------------------------------- option kinds
if TYPE_CHECKING:  # generic in recent Click only: subscripted for the type checker alone
    IntParamType = click.ParamType[int, Any]
    AnyParamType = click.ParamType[Any, Any]
    StrChoice = click.Choice[str]
else:
    IntParamType = click.ParamType
    AnyParamType = click.ParamType
    StrChoice = click.Choice


class PositiveInt(IntParamType):
    """An integer ≥ 1 (``expected a positive integer, got …`` otherwise)."""

    name = "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(value)
            except (TypeError, ValueError):
                self.fail(f"expected a positive integer, got {value!r}", param, ctx)
        if number < 1:
            self.fail(f"expected a positive integer, got {number}", param, ctx)
        return number


POSITIVE_INT = PositiveInt()


class RankParam(AnyParamType):
    """``full``, ``auto`` or a positive integer (the rank of C₀)."""

    name = "full|auto|K"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str | int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip().lower()
            if text in ("full", "auto"):
                return text
            try:
                number = int(text)
            except ValueError:
                self.fail(
                    f"expected 'full', 'auto' or a positive integer, got {value!r}", param, ctx
                )
        if number < 1:
            self.fail(f"expected 'full', 'auto' or a positive integer, got {number}", param, ctx)
        return number


class Threshold(AnyParamType):
    """A number in [0, upper], or ``none`` (``off``) for no filter."""

    name = "X|none"

    def __init__(self, upper: float) -> None:
        self.upper = upper

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | None:
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() in ("none", "off"):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(
                f"expected a number in [0, {self.upper:g}] or 'none', got {value!r}", param, ctx
            )
        if not 0.0 <= number <= self.upper:
            self.fail(
                f"expected a number in [0, {self.upper:g}] or 'none', got {value!r}", param, ctx
            )
        return number


class ScannerTests(StrChoice):
    """The choices of ``--test``: the scanner's own list, :data:`kronlmm.scan.TESTS`.

    Read when first needed (checking a value, printing a subcommand's help), so that
    ``kronlmm --version`` and ``kronlmm --help`` do not import the numerical stack.
    """

    def __init__(self) -> None:
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        from ..scan import TESTS

        return TESTS

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        """Set by click.Choice's constructor; the list is always the scanner's."""


class GroupedOption(click.Option):
    """An option shown under a heading of the help text (``inputs``, ``model``, …); with
    ``greedy=True`` it takes every following value up to the next option, like argparse's
    ``nargs="+"`` (``--pheno-cols trait1 trait2``)."""

    def __init__(
        self, *args: Any, group: str = "options", greedy: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.group = group
        self.greedy = greedy


class KronlmmCommand(click.Command):
    """A subcommand: greedy multi-value options, help grouped by heading."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        greedy = {
            opt
            for param in self.params
            if isinstance(param, GroupedOption) and param.greedy
            for opt in param.opts
        }
        return super().parse_args(ctx, _expand_greedy(args, greedy))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                group = param.group if isinstance(param, GroupedOption) else "options"
                groups.setdefault(group, []).append(record)
        for group, records in groups.items():
            with formatter.section(group):
                formatter.write_dl(records)


def _expand_greedy(args: list[str], greedy: set[str]) -> list[str]:
    """``--opt a b c`` → ``--opt a --opt b --opt c`` for the greedy options."""
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        out.append(token)
        i += 1
        if token == "--":
            out.extend(args[i:])
            break
        if token in greedy and i < len(args):
            out.append(args[i])  # the first value, whatever it looks like
            i += 1
            while i < len(args) and not args[i].startswith("-"):
                out += [token, args[i]]
                i += 1
    return out


class KronlmmGroup(click.Group):
    """The ``kronlmm`` group: exit statuses and usage errors as documented in
    :mod:`kronlmm.cli.errors`, whether run as a program or in-process."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        try:
            status = super().main(
                args=list(args) if args is not None else None,
                prog_name=prog_name or "kronlmm",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except click.UsageError as err:
            show_usage_error(err)
            status = EXIT_USAGE
        except click.Abort:
            print("kronlmm: interrupted", file=sys.stderr)
            status = EXIT_INTERRUPTED
        except click.ClickException as err:
            print(f"kronlmm: error: {err.format_message()}", file=sys.stderr)
            status = err.exit_code
        status = EXIT_OK if status is None else int(status)
        if standalone_mode:
            sys.exit(status)
        return status


# --------------------------------------------------------------------------- options
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _options(*decorators: Decorator) -> Decorator:
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def _option(*names: str, **kwargs: Any) -> Decorator:
    return click.option(*names, cls=GroupedOption, **kwargs)


VERBOSITY = _options(
    _option("-v", "--verbose", count=True, help="more messages (DEBUG) and tracebacks on errors"),
    _option("-q", "--quiet", count=True, help="fewer messages: -q warnings only, -qq errors only"),
)

MODEL_INPUTS = _options(
    _option(
        "--bfile",
        required=True,
        metavar="PREFIX",
        group="inputs",
        help="PLINK 1 binary fileset PREFIX.bed/.bim/.fam (dosages count .bim allele 1)",
    ),
    _option(
        "--pheno",
        metavar="FILE",
        group="inputs",
        help="phenotype table with an IID column (FID IID trait ...; header in any letter "
        "case; NA, nan or empty for missing; FID is not used for matching)",
    ),
    _option(
        "--pheno-from-fam",
        is_flag=True,
        group="inputs",
        help="read the phenotypes from the .fam instead: column 6 and any further columns "
        "(a GEMMA-style .fam), named pheno1, pheno2, ...; -9 and NA are missing",
    ),
    _option(
        "--id-col",
        metavar="NAME",
        group="inputs",
        help="sample-ID column of --pheno and --covar (default: IID, any letter case)",
    ),
    _option(
        "--pheno-cols",
        multiple=True,
        greedy=True,
        metavar="NAME...",
        group="inputs",
        help="traits to analyse jointly (space or comma separated; default: all)",
    ),
    _option("--covar", metavar="FILE", group="inputs", help="covariate table with an IID column"),
    _option(
        "--covar-cols",
        multiple=True,
        greedy=True,
        metavar="NAME...",
        group="inputs",
        help="covariates to use (default: all); an intercept is added unless present",
    ),
    _option(
        "--kinship",
        default="grm",
        show_default=True,
        metavar="grm|none|FILE",
        group="inputs",
        help="'grm': standardised GRM of the variants passing QC; 'none': no genetic random "
        "effect; or a kinship file, by its name: GEMMA P.cXX.txt/P.sXX.txt (rows: the .fam's "
        "samples), GCTA P.grm.bin (+.grm.id), PLINK P.rel or P.rel.bin (+.rel.id), .npz, or "
        "a .tsv/.csv matrix with IDs",
    ),
    _option(
        "--rank",
        type=RankParam(),
        default=None,
        metavar="full|auto|K",
        group="model",
        help="rank of the genetic trait covariance C0: 'full' (p traits), 'auto' (the rank "
        "1..p with the smallest BIC) or K [default: full when the sample allows it; a rank "
        "below p forces genetic correlations of ±1 and inflates tests where they are not]",
    ),
    _option("--reml", is_flag=True, group="model", help="fit the null by REML (default ML)"),
    _option(
        "--loco",
        is_flag=True,
        group="model",
        help="leave one chromosome out: test each chromosome's variants against a null whose "
        "kinship is the GRM of the other chromosomes (needs --kinship grm; one more "
        "eigendecomposition and null fit per chromosome, and about one n x n matrix per "
        "chromosome in memory)",
    ),
    _option(
        "--missing-code",
        default="-9",
        show_default=True,
        metavar="NUMBER|none",
        group="inputs",
        help="trait value read as missing, as PLINK and GEMMA do (a warning counts them); "
        "'none' keeps every value",
    ),
    _option(
        "--missing-traits",
        type=click.Choice(["observed", "complete-case"]),
        default="observed",
        show_default=True,
        group="inputs",
        help="samples with some traits missing: 'observed' keeps them and uses every "
        "observed trait value (exact observed-data likelihood and tests); 'complete-case' "
        "drops them. Samples with no observed trait are dropped either way",
    ),
    _option(
        "--ignore-bed-padding",
        is_flag=True,
        group="inputs",
        help="read a .bed whose padding bits are not zero (only for writers that leave "
        "garbage there: PLINK and bed-reader write zeros, and non-zero padding usually "
        "means the .fam does not match the .bed)",
    ),
)

IGNORE_BED_PADDING = _options(
    _option(
        "--ignore-bed-padding",
        is_flag=True,
        group="inputs",
        help="read a .bed whose padding bits are not zero (only for writers that leave "
        "garbage there)",
    ),
)

FILTER_GROUP = "sample and variant filters (PLINK 2's meanings and order)"

FILTERS = _options(
    _option(
        "--keep",
        metavar="FILE",
        group=FILTER_GROUP,
        help="keep only these samples (PLINK list: FID IID or IID per line)",
    ),
    _option("--remove", metavar="FILE", group=FILTER_GROUP, help="remove these samples"),
    _option(
        "--extract",
        metavar="FILE",
        group=FILTER_GROUP,
        help="keep only these variants (one ID per line)",
    ),
    _option("--exclude", metavar="FILE", group=FILTER_GROUP, help="remove these variants"),
    _option(
        "--maf",
        type=Threshold(0.5),
        default="0.01",
        show_default=True,
        group=FILTER_GROUP,
        help="remove variants with minor allele frequency below X ('none': keep all)",
    ),
    _option(
        "--geno",
        type=Threshold(1.0),
        default="0.05",
        show_default=True,
        group=FILTER_GROUP,
        help="remove variants with more than this share of missing calls",
    ),
    _option(
        "--hwe",
        type=Threshold(1.0),
        default=None,
        group=FILTER_GROUP,
        help="remove variants with a Hardy-Weinberg exact-test p-value below X [default: none]",
    ),
    _option(
        "--mind",
        type=Threshold(1.0),
        default=None,
        group=FILTER_GROUP,
        help="remove samples with more than this share of missing calls [default: none]",
    ),
)

DISTRIBUTED = "distributed (Dask; pip install 'kronlmm[dask]')"

SCAN_OPTIONS = _options(
    _option(
        "--test",
        type=ScannerTests(),
        default="any",
        show_default=True,
        group="scan",
        help="any: effect on any trait (dof p); common: one shared effect (dof 1); "
        "interaction: trait-specific beyond common (dof p-1)",
    ),
    _option(
        "--statistic",
        type=StrChoice(["F", "chi2", "bootstrap"]),
        default="F",
        show_default=True,
        group="scan",
        help="what p_value is from: F, the exact F test at the null's variance components "
        "(columns F, df1, df2), chi2, the asymptotic likelihood-ratio test (chi2, dof), or "
        "bootstrap, the F test calibrated by a parametric bootstrap of the null (small "
        "cohorts: p-values never below 1/(1 + B*M); not with --loco); the statistic column "
        "names it",
    ),
    _option(
        "--bootstrap-replicates",
        type=POSITIVE_INT,
        default=100,
        show_default=True,
        metavar="B",
        group="scan",
        help="--statistic bootstrap: phenotype sets simulated from the null and refit",
    ),
    _option(
        "--bootstrap-variants",
        type=POSITIVE_INT,
        default=1000,
        show_default=True,
        metavar="M",
        group="scan",
        help="--statistic bootstrap: variants (a random sample of those tested) scanned at "
        "each refit",
    ),
    _option(
        "--bootstrap-method",
        type=StrChoice(["single", "fast-double"]),
        default="single",
        show_default=True,
        group="scan",
        help="--statistic bootstrap: single, the parametric bootstrap, or fast-double, the "
        "fast double bootstrap (one more phenotype set simulated from each refit and refit: "
        "2B refits)",
    ),
    _option(
        "--seed",
        type=click.IntRange(0),
        default=0,
        show_default=True,
        group="scan",
        help="seed of --statistic bootstrap (the choice of the variants and the simulations)",
    ),
    _option(
        "--refit",
        type=StrChoice(["significant", "all", "none"]),
        default="significant",
        show_default=True,
        group="scan",
        help="variants also tested with C0, C1 re-estimated under both hypotheses (exact "
        "likelihood ratio of two ML fits, in the columns ending in _refit): those with "
        "p_value below --refit-threshold, all, or none ('any' test only)",
    ),
    _option(
        "--refit-threshold",
        type=click.FloatRange(0.0, 1.0, min_open=True),
        default=1e-5,
        show_default=True,
        metavar="P",
        group="scan",
        help="p_value below which --refit significant refits a variant",
    ),
    _option(
        "--chunk-size",
        type=POSITIVE_INT,
        default=None,
        metavar="N",
        group="scan",
        help="variants read and tested per block (default: automatic)",
    ),
    _option(
        "--no-plots",
        is_flag=True,
        group="scan",
        help="do not draw the Manhattan, QQ and top-effects plots",
    ),
    _option(
        "--no-progress",
        is_flag=True,
        group="scan",
        help="no progress bar, nor progress lines in the log (shown every 30 s without a terminal)",
    ),
    _option(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        group=DISTRIBUTED,
        help="scan on an existing Dask cluster (e.g. tcp://host:8786); workers read their "
        "own variant blocks, so the .bed must be at the same path for them",
    ),
    _option(
        "--workers",
        type=POSITIVE_INT,
        default=None,
        metavar="N",
        group=DISTRIBUTED,
        help="scan on a local Dask cluster of N single-threaded worker processes",
    ),
    _option(
        "--checkpoint",
        metavar="DIR",
        default=None,
        group=DISTRIBUTED,
        help="keep per-block results in DIR; rerunning the same scan resumes, recomputing "
        "only blocks that are not there yet (with or without Dask)",
    ),
)


def _one_of(ctx: click.Context, params: dict[str, Any], *names: str) -> None:
    given = [name for name in names if params.get(name)]
    if len(given) > 1:
        flags = " and ".join("--" + name.replace("_", "-") for name in given)
        raise click.UsageError(f"{flags} exclude each other", ctx)


def _run(
    ctx: click.Context, command: Callable[[dict[str, Any]], int], params: dict[str, Any]
) -> int:
    """Check the exclusive options, merge the verbosity of the group and the subcommand,
    and run the command with kronlmm's messages and error mapping."""
    top = ctx.parent.params if ctx.parent is not None else {}
    _one_of(ctx, params, "verbose", "quiet")
    _one_of(ctx, params, "scheduler", "workers")
    verbose = params.get("verbose") or top.get("verbose") or 0
    quiet = params.get("quiet") or top.get("quiet") or 0
    opts = dict(params, verbose_count=verbose, quiet_count=quiet)
    return run_logged(lambda: command(opts), verbose=verbose, quiet=quiet)


# --------------------------------------------------------------------------- commands
@click.group(
    cls=KronlmmGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Multi-trait linear mixed models: GWAS scans from PLINK files.",
)
@click.version_option(__version__, "--version", prog_name="kronlmm", message="%(prog)s %(version)s")
@VERBOSITY
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Multi-trait linear mixed models: GWAS scans from PLINK files."""
    _one_of(ctx, {"verbose": verbose, "quiet": quiet}, "verbose", "quiet")


@cli.command(
    "scan",
    cls=KronlmmCommand,
    short_help="fit the null model and test every variant",
    help="Fit the multi-trait null model once and test every variant that passes the filters. "
    "Writes PREFIX.assoc.tsv.gz, PREFIX.effects.tsv.gz, PREFIX.null.json, "
    "PREFIX.manhattan.png, PREFIX.qq.png and PREFIX.top_effects.png.",
)
@MODEL_INPUTS
@FILTERS
@SCAN_OPTIONS
@_option("--out", default=DEFAULT_PREFIX, show_default=True, metavar="PREFIX", help="output prefix")
@VERBOSITY
@click.pass_context
def scan_command(ctx: click.Context, /, **params: Any) -> int:
    return _run(ctx, run_scan, params)


@cli.command(
    "fit-null",
    cls=KronlmmCommand,
    short_help="fit the null model only",
    help="Fit the multi-trait null model and write C0, C1, B, lml and convergence to "
    "PREFIX.null.json.",
)
@MODEL_INPUTS
@FILTERS
@_option("--out", default=DEFAULT_PREFIX, show_default=True, metavar="PREFIX", help="output prefix")
@VERBOSITY
@click.pass_context
def fit_null_command(ctx: click.Context, /, **params: Any) -> int:
    return _run(ctx, run_fit_null, params)


@cli.command(
    "example",
    cls=KronlmmCommand,
    short_help="run the whole workflow on the bundled example data",
    help="Scan the bundled example data (400 samples, 3000 variants, 3 traits, covariates "
    "age and sex, 3 known causal variants), print the top hits and write the outputs to "
    "DIR/example.*.",
)
@_option("--out", default="kronlmm-example", show_default=True, metavar="DIR", help="output folder")
@_option(
    "--top", type=POSITIVE_INT, default=10, show_default=True, metavar="N", help="hits to print"
)
@_option(
    "--rank",
    type=RankParam(),
    default=None,
    metavar="full|auto|K",
    help="rank of C0: 'full', 'auto' (by BIC) or K [default: full when the sample allows it]",
)
@SCAN_OPTIONS
@VERBOSITY
@click.pass_context
def example_command(ctx: click.Context, /, **params: Any) -> int:
    return _run(ctx, run_example, params)


@cli.command(
    "kinship",
    cls=KronlmmCommand,
    short_help="write a kinship matrix (GRM) for GEMMA, GCTA, PLINK or kronlmm",
    help="Compute the genetic relationship matrix of a PLINK fileset (the variants passing "
    "the filters) and write it in another tool's format: GEMMA (PREFIX.sXX.txt, or "
    "PREFIX.cXX.txt with --kind centered), GCTA (PREFIX.grm.bin, .grm.N.bin, .grm.id), PLINK "
    "(PREFIX.rel or PREFIX.rel.bin with PREFIX.rel.id), or kronlmm's PREFIX.kinship.tsv / "
    ".npz. `kronlmm scan --kinship FILE` reads every one of them.",
)
@_option(
    "--bfile",
    required=True,
    metavar="PREFIX",
    group="inputs",
    help="PLINK 1 binary fileset PREFIX.bed/.bim/.fam",
)
@_option(
    "--format",
    "file_format",
    type=StrChoice(["plink-bin", "plink", "gcta", "gemma", "tsv", "npz"]),
    default="plink-bin",
    show_default=True,
    group="output",
    help="plink-bin: PREFIX.rel.bin (float64); plink: PREFIX.rel (text); gcta: "
    "PREFIX.grm.bin (float32); gemma: PREFIX.sXX.txt/.cXX.txt (no IDs: all .fam samples, "
    "in order); tsv/npz: kronlmm's matrix with IDs",
)
@_option(
    "--kind",
    type=StrChoice(["standardized", "centered"]),
    default="standardized",
    show_default=True,
    group="output",
    help="standardized: Z Zᵀ/m of dosages scaled to unit variance (kronlmm's 'grm'; GEMMA's "
    "-gk 2 where no call is missing); centered: centred dosages only (GEMMA's -gk 1)",
)
@_option(
    "--shape",
    type=StrChoice(["square", "triangle"]),
    default="square",
    show_default=True,
    group="output",
    help="of a PLINK .rel/.rel.bin (GCTA's is always the lower triangle)",
)
@IGNORE_BED_PADDING
@FILTERS
@_option("--out", default=DEFAULT_PREFIX, show_default=True, metavar="PREFIX", help="output prefix")
@VERBOSITY
@click.pass_context
def kinship_command(ctx: click.Context, /, **params: Any) -> int:
    return _run(ctx, run_kinship, params)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kronlmm`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 on bad input or a failed analysis, 2 on a usage error,
        130 when interrupted.

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
    null model (ML, rank 3): 395 samples; traits trait1, trait2, trait3; covariates ...
    lml = ... (converged, ... iterations)
    variant QC (MAF >= 0.01, variant missingness <= 0.05): 2970 of 3000 variants kept; ...
    rank of C0: 3 (full rank (p = 3): 1158 observations for 12 variance parameters)
    samples: 395 of the 395 in the phenotype table analysed
    trait values used (observed): trait1 389, trait2 389, trait3 389 of 395 samples
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

    A usage error (here an unknown test) prints the usage and exits with status 2:

    >>> with contextlib.redirect_stderr(sys.stdout):
    ...     status = main(["scan", "--bfile", "x", "--pheno", "y", "--test", "bogus"])
    Usage: kronlmm scan [OPTIONS]
    Try 'kronlmm scan --help' for help.
    kronlmm scan: error: Invalid value for '--test': 'bogus' is not one of 'any', ...
    >>> status
    2
    >>> tmp.cleanup()
    """
    return cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
