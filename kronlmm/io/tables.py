"""Phenotype and covariate tables keyed by sample ID.

File format
-----------
A delimited text file with a header row, UTF-8, plain or gzipped (read transparently; binary
files and other encodings are refused by name, see :mod:`kronlmm.io.text_files`). The
separator is sniffed from the first non-empty line: a tab means tab-separated, otherwise a
comma means CSV, otherwise runs of whitespace (PLINK style). The ``FID`` and ``IID`` headers
are recognised in any letter case and with PLINK 2's ``#`` (``#FID``, ``#IID``, ``iid``,
``Iid``).

Sample-ID rule
--------------
1. ``id_col`` given: that column holds the sample IDs.
2. Otherwise an ``IID`` column holds them (as in PLINK ``FID IID ...`` files). The ``FID``
   column, if present, is not a value column; it is kept in ``df.attrs["FID"]`` (a read-only
   mapping sample ID → FID). IIDs must be unique on their own.
3. A :class:`pandas.DataFrame` without such a column must already be indexed by sample ID; a
   default ``RangeIndex`` is refused, since that would align samples by position.

IDs are compared as strings, exactly (no stripping of leading zeros, case-sensitive).

Missing values
--------------
``""``, ``"NA"`` and ``"nan"`` (any letter case) become ``NaN``. With ``plink_missing=True``
the PLINK 1 phenotype missing code ``-9`` also becomes ``NaN``; it is off by default because
-9 can be a genuine covariate value. Anything else that does not parse as a finite number is an
error naming the column, the row and the value.

Numbers
-------
A value is read as Python's ``float`` reads its text with surrounding blanks removed: the
nearest double, so a value written at full precision (``repr``, ``%.17g``) reads back
exactly. (pandas' own parser before pandas 3.0 is off by one unit in the last place for many
such numbers.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._common import (
    PathLike,
    as_ids,
    check_exists,
    duplicate_ids,
    format_ids,
    sniff_separator,
)
from .text_files import not_utf8_error, text_compression

__all__ = ["read_table", "FamilyIDs", "MISSING_TOKENS", "table_from_strings", "canonical_header"]

MISSING_TOKENS = frozenset({"", "na", "nan"})
"""Lower-cased text values read as missing (``NaN``)."""

ID_HEADERS = ("FID", "IID")
"""Header names of PLINK's ID columns, recognised in any letter case and with a leading ``#``."""


def canonical_header(name: str) -> str:
    """``"#iid"`` → ``"IID"``, ``"fid"`` → ``"FID"``; any other header unchanged."""
    key = name.lstrip("#").upper()
    return key if key in ID_HEADERS else name


class FamilyIDs(Mapping[str, str]):
    """Read-only mapping sample ID (IID) → family ID (FID), stored in ``df.attrs["FID"]``.

    Immutable, so copying a DataFrame does not copy it (pandas deep-copies ``attrs`` on most
    operations, which would be slow for a plain dict of many samples).

    Examples
    --------
    >>> import pandas as pd
    >>> from kronlmm.io import read_table
    >>> df = read_table(pd.DataFrame({"FID": ["f1", "f2"], "IID": ["a", "b"], "y": [1.0, 2.0]}))
    >>> fids = df.attrs["FID"]
    >>> fids["b"], len(fids), list(df.columns)
    ('f2', 2, ['y'])
    """

    def __init__(self, iids: Sequence[str], fids: Sequence[str]) -> None:
        self._map = dict(zip(iids, fids, strict=True))

    def __getitem__(self, key: str) -> str:
        return self._map[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __copy__(self) -> FamilyIDs:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FamilyIDs:
        return self

    def __repr__(self) -> str:
        return f"FamilyIDs({len(self)} samples)"


def read_table(
    path_or_df: PathLike | pd.DataFrame,
    id_col: str | None = None,
    columns: str | Sequence[str] | None = None,
    *,
    plink_missing: bool = False,
    sep: str | None = None,
) -> pd.DataFrame:
    """Read a phenotype or covariate table into a float DataFrame indexed by sample ID.

    Parameters
    ----------
    path_or_df : str, os.PathLike or pandas.DataFrame
        A delimited text file with a header row (tab, comma or whitespace separated; sniffed),
        or a DataFrame (indexed by sample ID, or with an ``IID``/``id_col`` column).
    id_col : str, optional
        Column holding the sample IDs. By default the ``IID`` column (``FID`` kept in
        ``df.attrs["FID"]``); see the module notes for the full rule.
    columns : str or sequence of str, optional
        Value columns to keep, in this order. By default every column other than the ID
        columns (``FID``, ``IID``, ``id_col``).
    plink_missing : bool, default False
        Also read the PLINK 1 phenotype missing code ``-9`` as ``NaN`` (use for PLINK
        phenotype files). ``""``, ``"NA"`` and ``"nan"`` are always missing.
    sep : str, optional
        Column separator, overriding the sniffed one (``r"\\s+"`` for whitespace).

    Returns
    -------
    pandas.DataFrame
        Index: sample IDs (``str``), named after the ID column. Columns: ``float64`` values,
        ``NaN`` where missing. ``df.attrs["source"]`` describes the input and
        ``df.attrs["FID"]`` (when there is an FID column) maps IID → FID.

    Raises
    ------
    InputFileNotFoundError
        (also a ValueError) if the file does not exist.
    ValueError
        For an unknown column (the available ones are listed), a value that is not a number
        (column, row, sample ID and value are named), duplicate or empty sample IDs, a missing
        ID column, or a DataFrame with a default ``RangeIndex``.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import read_table
    >>> pheno = read_table(example_paths().pheno)
    >>> pheno.index.name, list(pheno.columns), pheno.shape
    ('IID', ['trait1', 'trait2', 'trait3'], (395, 3))
    >>> pheno.attrs["FID"][pheno.index[0]][:3]  # FID kept aside, never a value column
    'FAM'
    """
    if isinstance(path_or_df, pd.DataFrame):
        return _from_frame(path_or_df, id_col, columns, plink_missing)
    path = Path(path_or_df)
    check_exists(path, "table")
    raw = _read_raw(path, sep)
    source = f"table {str(path)!r}"
    return _from_strings(raw, id_col, columns, plink_missing, source)


# --------------------------------------------------------------------------- internals
def _read_raw(path: Path, sep: str | None, what: str = "table") -> pd.DataFrame:
    """Read every cell as ``str``; the first row becomes the header. Gzipped files are read
    transparently; binary and non-UTF-8 files are refused (:mod:`kronlmm.io.text_files`)."""
    compression = text_compression(path, what)
    sep = sniff_separator(path, what) if sep is None else sep
    try:
        raw = pd.read_csv(
            path,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            encoding="utf-8-sig",
            compression=compression,
        )
    except UnicodeDecodeError:
        raise not_utf8_error(path, what) from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"table {str(path)!r} is empty") from None
    except pd.errors.ParserError as err:
        raise ValueError(f"cannot parse table {str(path)!r}: {err}") from None
    raw = raw.fillna("")
    header = [str(h).strip() for h in raw.iloc[0]]
    dups = duplicate_ids(header)
    if dups:
        raise ValueError(f"table {str(path)!r} has duplicate column names {format_ids(dups)}")
    raw = raw.iloc[1:].reset_index(drop=True)
    names = [canonical_header(h) for h in header]
    dups = duplicate_ids(names)
    if dups:
        raise ValueError(
            f"table {str(path)!r} has more than one {format_ids(dups)} column (ID headers "
            "are matched in any letter case, with or without '#')"
        )
    raw.columns = names
    return raw


def _unknown_column(name: str, available: Sequence[str], source: str) -> ValueError:
    return ValueError(
        f"column {name!r} not found in {source}; available columns: "
        f"{', '.join(repr(str(c)) for c in available)}"
    )


def _pick_columns(
    available: list[str], id_col: str | None, columns: str | Sequence[str] | None, source: str
) -> tuple[str | None, list[str]]:
    """Return (ID column or None for 'use the index', value columns)."""
    if id_col is not None:
        if id_col not in available and canonical_header(id_col) in available:
            id_col = canonical_header(id_col)  # the header was read as FID/IID
        if id_col not in available:
            raise _unknown_column(id_col, available, source)
        id_name: str | None = id_col
    elif "IID" in available:
        id_name = "IID"
    else:
        id_name = None
    id_like = {id_name, "FID"} if id_name == "IID" else {id_name}
    if columns is None:
        values = [c for c in available if c not in id_like]
    else:
        values = [columns] if isinstance(columns, str) else list(columns)
        for c in values:
            if c not in available:
                raise _unknown_column(c, available, source)
            if c == id_name:
                raise ValueError(f"column {c!r} of {source} is the sample-ID column")
        dups = duplicate_ids(values)
        if dups:
            raise ValueError(f"columns {format_ids(dups)} requested more than once")
    return id_name, values


def _from_strings(
    raw: pd.DataFrame,
    id_col: str | None,
    columns: str | Sequence[str] | None,
    plink_missing: bool,
    source: str,
) -> pd.DataFrame:
    available = [str(c) for c in raw.columns]
    id_name, values = _pick_columns(available, id_col, columns, source)
    if id_name is None:
        raise ValueError(
            f"{source} has no sample-ID column: expected an 'IID' column (PLINK 'FID IID ...' "
            f"header, any letter case) or name the ID column (--id-col NAME on the command "
            f"line, id_col='NAME' in Python); available columns: "
            f"{', '.join(repr(c) for c in available)}"
        )
    # every cell is a str here (read as strings, NA filling off): strip them in C
    ids = as_ids(list(map(str.strip, raw[id_name].to_numpy(dtype=object))), source)
    fids = (
        list(map(str.strip, raw["FID"].to_numpy(dtype=object)))
        if id_name == "IID" and "FID" in raw
        else None
    )
    return _assemble(raw, ids, id_name, fids, values, plink_missing, source)


def table_from_strings(raw: pd.DataFrame, *, plink_missing: bool, source: str) -> pd.DataFrame:
    """A table of strings with ``FID``/``IID`` and value columns (e.g. a ``.fam``'s) as
    :func:`read_table` returns it, errors naming ``source``."""
    return _from_strings(raw, None, None, plink_missing, source)


def _from_frame(
    df: pd.DataFrame,
    id_col: str | None,
    columns: str | Sequence[str] | None,
    plink_missing: bool,
) -> pd.DataFrame:
    source = "DataFrame"
    available = [str(c) for c in df.columns]
    if len(set(available)) != len(available):
        raise ValueError(
            f"DataFrame has duplicate column names {format_ids(duplicate_ids(available))}"
        )
    if id_col is None:
        available = [canonical_header(c) for c in available]
        if len(set(available)) != len(available):
            raise ValueError(
                f"DataFrame has more than one {format_ids(duplicate_ids(available))} column "
                "(ID headers are matched in any letter case, with or without '#')"
            )
    frame = df.copy()
    frame.columns = available
    id_name, values = _pick_columns(available, id_col, columns, source)
    fids = None
    if id_name is None:
        if isinstance(frame.index, pd.RangeIndex):
            raise ValueError(
                "DataFrame has a default RangeIndex, not sample IDs; set the sample IDs as the "
                "index (df.set_index('IID')) or pass id_col=..., so that samples are matched "
                "by ID and never by position"
            )
        ids = as_ids(frame.index.to_numpy(), source)
        id_name = str(frame.index.name) if frame.index.name is not None else "sample_id"
        fid_attr = df.attrs.get("FID")
        if isinstance(fid_attr, Mapping):
            fids = [str(fid_attr.get(i, "")) for i in ids]
    else:
        ids = as_ids(frame[id_name].astype(str).str.strip().to_numpy(), source)
        if id_name == "IID" and "FID" in frame:
            fids = frame["FID"].astype(str).str.strip().tolist()
    frame = frame.reset_index(drop=True)
    return _assemble(frame, ids, str(id_name), fids, values, plink_missing, source)


def _assemble(
    frame: pd.DataFrame,
    ids: np.ndarray,
    id_name: str,
    fids: list[str] | None,
    values: list[str],
    plink_missing: bool,
    source: str,
) -> pd.DataFrame:
    dups = duplicate_ids(ids)
    if dups:
        hint = (
            " (IIDs must be unique on their own; FID is not part of the sample ID)"
            if fids is not None
            else ""
        )
        raise ValueError(f"{source} has duplicate sample IDs {format_ids(dups)}{hint}")
    data = {c: _to_float(frame[c], c, ids, plink_missing, source) for c in values}
    index = pd.Index(ids, dtype=object, name=id_name)
    out = pd.DataFrame(data, index=index, columns=values, dtype=np.float64)
    out.attrs["source"] = source
    if fids is not None:
        out.attrs["FID"] = FamilyIDs(list(ids), fids)
    return out


def _to_float(
    col: pd.Series, name: str, ids: np.ndarray, plink_missing: bool, source: str
) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        out = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(np.isinf(out))
    else:
        out, bad = _parse_numbers(col.to_numpy(dtype=object))
    if bad.size:
        i = int(bad[0])
        kind = "an infinite" if np.isinf(out[i]) else "a non-numeric"
        raise ValueError(
            f"column {name!r} of {source} has {kind} value {str(col.iloc[i])!r} in data "
            f"row {i + 1} (sample ID {str(ids[i])!r})"
            + (f"; {bad.size - 1} more such value(s)" if bad.size > 1 else "")
            + "; encode categories as numbers and use '', 'NA' or 'nan' for missing values"
        )
    if plink_missing:
        out = np.where(out == -9.0, np.nan, out)
    return out


def _parse_numbers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells (objects) → (float64 values, NaN where missing; positions of bad cells).

    A number is what Python's ``float`` reads from the cell with surrounding blanks removed
    (the nearest double: exact to the last digit, where pandas before 3.0 is not); a missing
    value is a :data:`MISSING_TOKENS` spelling. Anything else, including ``inf`` and NaN
    spellings that are not missing tokens (``-nan``), is bad. A column of plain numbers
    converts in one call; the cells are looked at one by one only otherwise.
    """
    try:
        out = np.array(cells, dtype=np.float64)  # float() per cell, in C
    except (ValueError, TypeError):
        out = np.array([_cell_number(v) for v in cells], dtype=np.float64)
    invalid = np.flatnonzero(~np.isfinite(out))
    if invalid.size:
        missing = np.array([_cell_text(cells[i]).lower() in MISSING_TOKENS for i in invalid])
        out[invalid[missing]] = np.nan
        return out, invalid[~missing]
    return out, invalid


def _cell_number(value: object) -> float:
    """The number in a cell (``float`` of its stripped text), NaN where there is none."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(_cell_text(value))
    except ValueError:
        return np.nan


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()
