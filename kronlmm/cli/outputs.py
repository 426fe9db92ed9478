"""Output naming of the ``kronlmm`` command: ``--out PREFIX`` → the files it writes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..gwas import GwasResult

__all__ = ["OUTPUT_SUFFIXES", "DEFAULT_PREFIX", "output_paths", "check_prefix", "write_outputs"]

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


def write_outputs(
    result: GwasResult,
    prefix: str,
    plots: bool,
    highlight: Sequence[str] | None = None,
    highlight_label: str = "highlighted variants",
) -> list[Path]:
    """Write the tables, the null model and (with ``plots``) the plots of a scan; each file
    atomically, all after the analysis succeeded. Returns the paths written."""
    paths = output_paths(prefix)
    paths["assoc"].parent.mkdir(parents=True, exist_ok=True)
    written = [
        result.write_tsv(paths["assoc"], table="assoc"),
        result.write_tsv(paths["effects"], table="effects"),
        result.null.write_json(paths["null"]),
    ]
    if plots:
        from ..plot import save_plots

        written += save_plots(
            result,
            paths["manhattan"],
            paths["qq"],
            highlight=highlight,
            highlight_label=highlight_label,
            effects_path=paths["top_effects"],
        )
    return written
