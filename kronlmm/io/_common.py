"""Helpers shared by the readers: the missing-file error, ID formatting, separator sniffing."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .text_files import not_utf8_error, open_text

__all__ = ["InputFileNotFoundError", "format_ids", "sniff_separator", "duplicate_ids", "as_ids"]

PathLike = str | os.PathLike[str]


class InputFileNotFoundError(FileNotFoundError, ValueError):
    """An input file does not exist.

    Subclasses both :class:`FileNotFoundError` and :class:`ValueError`, so either ``except``
    clause catches it.

    Examples
    --------
    >>> from kronlmm.io import read_table
    >>> try:
    ...     read_table("no/such/pheno.tsv")
    ... except ValueError as err:  # also caught by `except FileNotFoundError`
    ...     print(type(err).__name__, isinstance(err, FileNotFoundError))
    InputFileNotFoundError True
    """


def format_ids(ids: Iterable[object], limit: int = 5) -> str:
    """Return the first ``limit`` IDs quoted and comma separated, with a count of the rest."""
    ids = list(ids)
    shown = ", ".join(repr(str(i)) for i in ids[:limit])
    if len(ids) > limit:
        shown += f", ... ({len(ids) - limit} more)"
    return shown if shown else "(none)"


def as_ids(ids: Sequence[object] | NDArray[np.generic], name: str) -> NDArray[np.object_]:
    """Return sample IDs as a 1-D array of ``str`` (``object`` dtype), checking for blanks."""
    arr = np.asarray(list(map(str, ids)), dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} sample IDs must be one-dimensional")
    if "" in set(map(str.strip, arr)):  # (map and set loop in C: quick for many IDs)
        blank = [i for i, v in enumerate(arr) if v.strip() == ""]
        raise ValueError(
            f"{name} has {len(blank)} empty sample ID(s), at position(s) {format_ids(blank)}"
        )
    return arr


def duplicate_ids(ids: Sequence[object] | NDArray[np.generic]) -> list[str]:
    """Return the IDs that occur more than once, in order of first repetition."""
    strings = list(map(str, ids))
    if len(set(strings)) == len(strings):
        return []
    seen: set[str] = set()
    dups: list[str] = []
    dup_set: set[str] = set()
    for s in strings:
        if s in seen and s not in dup_set:
            dups.append(s)
            dup_set.add(s)
        seen.add(s)
    return dups


def check_exists(path: Path, what: str) -> None:
    """Raise :class:`InputFileNotFoundError` if ``path`` is not an existing file."""
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise InputFileNotFoundError(f"{what} file {str(path)!r} {where}")


def sniff_separator(path: Path, what: str = "table") -> str:
    """Guess the column separator of a delimited text file from its first non-empty line.

    A tab anywhere in that line means tab-separated, otherwise a comma means
    comma-separated, otherwise columns are separated by runs of whitespace (returned as the
    regular expression ``r"\\s+"``).
    """
    try:
        with open_text(path, what) as fh:
            line = next((line for line in fh if line.strip()), None)
    except UnicodeDecodeError:
        raise not_utf8_error(path, what) from None
    if line is not None:
        if "\t" in line:
            return "\t"
        if "," in line:
            return ","
        return r"\s+"
    raise ValueError(f"{what} file {str(path)!r} is empty")
