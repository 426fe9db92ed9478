"""Output naming of the ``kronlmm`` command: ``--out PREFIX`` → the files it writes.

The files of a run are written through a :class:`~kronlmm.cli.publish.OutputSet`: into a
staging folder, then published together (see :mod:`kronlmm.cli.publish`).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .publish import OutputSet

if TYPE_CHECKING:
    from ..gwas import GwasResult

__all__ = [
    "OUTPUT_SUFFIXES",
    "DEFAULT_PREFIX",
    "output_paths",
    "check_prefix",
    "write_output",
    "write_outputs",
]

OUTPUT_SUFFIXES = {
    "assoc": ".assoc.tsv.gz",
    "effects": ".effects.tsv.gz",
    "null": ".null.json",
    "manhattan": ".manhattan.png",
    "qq": ".qq.png",
    "top_effects": ".top_effects.png",
}
"""Suffix appended to ``--out PREFIX`` for each output file."""

DEFAULT_PREFIX = "kronlmm_results"
"""Output prefix when ``--out`` is not given."""


def output_paths(prefix: str | Path) -> dict[str, Path]:
    """The output files of ``kronlmm scan --out PREFIX``.

    Parameters
    ----------
    prefix : str or pathlib.Path
        Output prefix.

    Returns
    -------
    dict
        ``"assoc"``, ``"effects"``, ``"null"``, ``"manhattan"``, ``"qq"``,
        ``"top_effects"`` → path.

    Examples
    --------
    >>> from kronlmm.cli import output_paths
    >>> paths = output_paths("results/cohort")
    >>> str(paths["assoc"]), str(paths["null"])
    ('results/cohort.assoc.tsv.gz', 'results/cohort.null.json')
    """
    return {key: Path(f"{prefix}{suffix}") for key, suffix in OUTPUT_SUFFIXES.items()}


def check_prefix(prefix: str) -> str:
    """Refuse an ``--out`` that names a folder (a prefix is needed); return it otherwise."""
    if prefix.endswith(("/", "\\")) or Path(prefix).is_dir():
        raise ValueError(
            f"--out {prefix!r} is a folder; give a file prefix such as {prefix.rstrip('/')}/run1"
        )
    return prefix


def write_output(outputs: OutputSet, key: str, write: Callable[[Path], Any]) -> None:
    """Write the output ``key`` (``"assoc"``, …) of a run with ``write(path)`` into its
    staging folder; a full disk is reported under the file's final name."""
    from ..io import OutOfSpaceError

    kind = OUTPUT_SUFFIXES[key]
    path = outputs.path(kind)
    try:
        write(path)
    except OutOfSpaceError as err:
        message = str(err).replace(str(path), str(outputs.final(kind)))
        raise OutOfSpaceError(
            err.errno or errno.ENOSPC,
            f"{message}; the previous outputs of --out {outputs.prefix} are unchanged",
        ) from None


def write_outputs(
    result: GwasResult,
    outputs: OutputSet,
    plots: bool,
    highlight: Sequence[str] | None = None,
    highlight_label: str = "highlighted variants",
) -> None:
    """Write the tables, the null model and (with ``plots``) the plots of a scan into the
    staging folder of ``outputs``, after the analysis succeeded (published by the caller)."""
    write_output(outputs, "assoc", lambda path: result.write_tsv(path, table="assoc"))
    write_output(outputs, "effects", lambda path: result.write_tsv(path, table="effects"))
    write_output(outputs, "null", result.null.write_json)
    if plots:
        from ..plot import save_plots

        write_output(
            outputs,
            "manhattan",
            lambda path: save_plots(
                result, path, None, highlight=highlight, highlight_label=highlight_label
            ),
        )
        write_output(outputs, "qq", lambda path: save_plots(result, None, path))
        write_output(
            outputs, "top_effects", lambda path: save_plots(result, None, None, effects_path=path)
        )
