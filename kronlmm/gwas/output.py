"""Atomic writers and a reader for result tables (TSV, gzipped TSV, Parquet) and JSON.

Every writer goes through kronlmm's one atomic writer, :func:`kronlmm.io.atomic_path`: a
hidden temporary file next to the destination, renamed onto it only once complete. A run
that fails part-way therefore never leaves a truncated file under the final name.

Text tables are tab separated with a header row; missing numbers are written as ``NA``
(``#NA`` in GWAS-SSF files, see :meth:`kronlmm.gwas.GwasResult.to_ssf`) and floats with
enough digits to be read back exactly. A name ending in ``.gz`` is gzip-compressed (with a
zero timestamp, so the same table always gives the same bytes).
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import EXACT_FLOAT_PARSING, atomic_path

__all__ = [
    "write_table",
    "write_parquet_table",
    "write_json",
    "read_results",
    "jsonable",
    "STRING_COLUMNS",
    "INTEGER_COLUMNS",
]

PathLike = str | os.PathLike[str]

STRING_COLUMNS = frozenset(
    {
        "chrom",
        "variant_id",
        "effect_allele",
        "other_allele",
        "reason",
        "statistic",
        "refit_reason",
        "trait",
        "chromosome",
    }
)
"""Columns read back as text by :func:`read_results` (never converted to numbers or NaN)."""

INTEGER_COLUMNS = frozenset({"pos", "n", "dof", "df1", "df2", "base_pair_location"})
"""Columns read back as ``int64`` by :func:`read_results`."""


def write_table(df: pd.DataFrame, path: PathLike, *, na_rep: str = "NA") -> Path:
    """Write a table as tab-separated text, atomically (gzip when ``path`` ends in ``.gz``).

    Parameters
    ----------
    df : pandas.DataFrame
        The table; its index is not written.
    path : str or os.PathLike
        Destination, e.g. ``results.tsv`` or ``results.tsv.gz``.
    na_rep : str, default ``"NA"``
        Text written for missing values (GWAS-SSF uses ``"#NA"``).

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from kronlmm.gwas import read_results, write_table
    >>> tmp = tempfile.TemporaryDirectory()
    >>> table = pd.DataFrame({"variant_id": ["rs1", "rs2"], "pos": [100, 200],
    ...                       "p_value": [0.5, float("nan")]})
    >>> path = write_table(table, Path(tmp.name) / "hits.tsv.gz")
    >>> first = path.read_bytes()
    >>> write_table(table, path).read_bytes() == first  # same table, same bytes
    True
    >>> read_results(path)
      variant_id  pos  p_value
    0        rs1  100      0.5
    1        rs2  200      NaN
    >>> tmp.cleanup()
    """
    path = Path(path)
    options: dict[str, Any] = {"sep": "\t", "index": False, "na_rep": na_rep}
    with atomic_path(path) as tmp:
        if path.name.lower().endswith(".gz"):
            # no file name and a zero time stamp in the gzip header: reproducible bytes
            with (
                open(tmp, "wb") as raw,
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
                io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
            ):
                df.to_csv(text, lineterminator="\n", **options)
        else:
            df.to_csv(tmp, lineterminator="\n", **options)
    return path


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(
            "writing or reading Parquet needs pyarrow: pip install 'kronlmm[parquet]'"
        ) from None


def write_parquet_table(df: pd.DataFrame, path: PathLike) -> Path:
    """Write a table as Parquet (pyarrow), atomically; the index is not written.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    path : str or os.PathLike
        Destination, e.g. ``results.parquet``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ImportError
        If pyarrow is not installed (``pip install 'kronlmm[parquet]'``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from kronlmm.gwas import read_results, write_parquet_table
    >>> tmp = tempfile.TemporaryDirectory()
    >>> table = pd.DataFrame({"variant_id": ["rs1", "rs2"], "pos": [100, 200],
    ...                       "p_value": [0.5, 1e-300]})
    >>> path = write_parquet_table(table, Path(tmp.name) / "hits.parquet")
    >>> read_results(path).equals(table)
    True
    >>> tmp.cleanup()
    """
    _require_pyarrow()
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=False)
    return path


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas values to plain JSON types, recursively.

    Parameters
    ----------
    value : object
        Mappings, sequences, numpy arrays and scalars, DataFrames (their values), paths.

    Returns
    -------
    object
        Dicts, lists, ``float``, ``int``, ``bool``, ``str`` or ``None`` (NaN and infinities
        become ``None``).
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return jsonable(value.to_numpy())
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(obj: Mapping[str, Any], path: PathLike) -> Path:
    """Write a mapping as indented JSON, atomically (NaN written as ``null``).

    Parameters
    ----------
    obj : mapping
        Values may be numpy arrays or scalars; they are converted to plain JSON types.
    path : str or os.PathLike
        Destination.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import json
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from kronlmm.gwas import write_json
    >>> tmp = tempfile.TemporaryDirectory()
    >>> values = {"C0": np.eye(2), "lml": np.nan, "n": np.int64(377)}
    >>> path = write_json(values, Path(tmp.name) / "null.json")
    >>> json.loads(path.read_text())
    {'C0': [[1.0, 0.0], [0.0, 1.0]], 'lml': None, 'n': 377}
    >>> tmp.cleanup()
    """
    path = Path(path)
    text = json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def read_results(path: PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_table` or :func:`write_parquet_table`.

    Parameters
    ----------
    path : str or os.PathLike
        ``.parquet`` file, or tab-separated text (``.gz`` compressed or not).

    Returns
    -------
    pandas.DataFrame
        Text columns (:data:`STRING_COLUMNS`) as strings with ``""`` kept as is, integer
        columns (:data:`INTEGER_COLUMNS`) as ``int64``, every other column as ``float64``
        with ``NA``/``#NA`` read as ``NaN``. Floats are parsed exactly as written
        (round-trip precision).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from kronlmm.gwas import read_results, write_table
    >>> tmp = tempfile.TemporaryDirectory()
    >>> table = pd.DataFrame({"chrom": ["01", "X"], "pos": [100, 200],
    ...                       "p_value": [0.1 + 0.2, float("nan")]})
    >>> back = read_results(write_table(table, Path(tmp.name) / "hits.tsv"))
    >>> back["chrom"].tolist(), back["pos"].dtype  # text stays text: "01", not 1
    (['01', 'X'], dtype('int64'))
    >>> bool(back["p_value"].iloc[0] == 0.1 + 0.2), back["p_value"].isna().tolist()
    (True, [False, True])
    >>> tmp.cleanup()
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        _require_pyarrow()
        return pd.read_parquet(path, engine="pyarrow")
    header = pd.read_csv(path, sep="\t", nrows=0, compression="infer").columns
    dtypes: dict[str, Any] = {}
    na_values: dict[str, list[str]] = {}
    for col in header:
        if col in STRING_COLUMNS:
            dtypes[col] = str
        elif col in INTEGER_COLUMNS:
            dtypes[col] = np.int64
        else:
            dtypes[col] = np.float64
            na_values[col] = ["NA", "#NA", "nan", "NaN"]
    table: pd.DataFrame = pd.read_csv(
        path,
        sep="\t",
        dtype=dtypes,
        keep_default_na=False,
        na_values=na_values,
        compression="infer",
        **EXACT_FLOAT_PARSING,
    )
    return table
