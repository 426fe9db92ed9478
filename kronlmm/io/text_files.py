"""Delimited text inputs as they arrive: gzipped, binary, or not in UTF-8.

A table or kinship file is UTF-8 text (a byte-order mark is ignored), plain or gzipped (read
transparently, recognised by its magic bytes whatever its name). Anything else is refused
with a message that names the file, what it seems to be and the fix: another compression
(zip, bzip2, xz, zstd: decompress it), a binary file (an Excel workbook, Parquet, a
PLINK ``.bed``), UTF-16 text, or text in another encoding (Latin-1/Windows-1252: re-save it as
UTF-8).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO, Any, Literal

import pandas as pd

__all__ = ["text_compression", "open_text", "not_utf8_error", "EXACT_FLOAT_PARSING"]

EXACT_FLOAT_PARSING: dict[str, Any] = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)
"""Keyword arguments of :func:`pandas.read_csv` under which every decimal number is read as
the nearest double (as Python's ``float`` reads it). pandas before 3.0 parses by default
with its own "high"-precision routine, which is off by one unit in the last place for many
numbers with 16 or more significant digits (a third of the ``repr`` strings of random
doubles): ``float_precision="round_trip"`` makes it exact. pandas 3 parses exactly by
default and deprecates the option."""

SNIFF_BYTES = 1 << 16
"""Bytes looked at to tell text from binary content."""

_MAGIC = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one)", "unzip it, or export "
     "the sheet as tab-separated text"),
    (b"BZh", "bzip2-compressed", "decompress it (bunzip2) or gzip it instead"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it (unxz) or gzip it instead"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it (unzstd) or gzip it instead"),
    (b"PAR1", "a Parquet file", "write it as tab-separated text"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook", "export the sheet as tab-separated "
     "text"),
    (b"\x6c\x1b", "a PLINK .bed file", "give the phenotype/covariate table, not the .bed"),
    (b"\xff\xfe", "UTF-16 text", "save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text", "save it as UTF-8"),
)  # fmt: skip


def _head(path: Path, compressed: bool) -> bytes:
    opener = gzip.open if compressed else open
    with opener(path, "rb") as fh:
        return fh.read(SNIFF_BYTES)


def text_compression(path: Path, what: str) -> Literal["gzip"] | None:
    """``"gzip"`` for a gzipped file, ``None`` for plain text; refuse anything else.

    Parameters
    ----------
    path : pathlib.Path
        An existing file.
    what : str
        What the file is, for messages (``"table"``, ``"kinship"``).

    Returns
    -------
    "gzip" or None

    Raises
    ------
    ValueError
        Naming the file, what it seems to be and the fix: another compression or format,
        binary content (a NUL byte), UTF-16 text, or a damaged gzip stream.

    Examples
    --------
    >>> import gzip
    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.io.text_files import text_compression
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = Path(tmp.name) / "pheno.txt"
    >>> _ = path.write_bytes(gzip.compress(b"IID y\\ns1 1.5\\n"))
    >>> text_compression(path, "table")
    'gzip'
    >>> _ = path.write_bytes(b"PK\\x03\\x04...")
    >>> text_compression(path, "table")
    Traceback (most recent call last):
        ...
    ValueError: table file '...pheno.txt' is a zip archive (an Excel .xlsx workbook is one), ...
    >>> tmp.cleanup()
    """
    with open(path, "rb") as fh:
        magic = fh.read(8)
    compression: Literal["gzip"] | None = "gzip" if magic[:2] == b"\x1f\x8b" else None
    name = f"{what} file {str(path)!r}"
    if compression is None:
        for head, kind, fix in _MAGIC:
            if magic.startswith(head):
                raise ValueError(f"{name} is {kind}, not a text table: {fix}")
    try:
        head = _head(path, compression is not None)
    except (OSError, EOFError) as err:  # a damaged or truncated gzip stream
        raise ValueError(f"{name} is not a readable gzip file ({err}); check the file") from None
    nul = head.find(b"\x00")
    if nul >= 0:
        raise ValueError(
            f"{name} is not text: it holds binary data (a NUL byte at offset {nul}"
            f"{' after decompression' if compression else ''}); give a tab-, comma- or "
            "space-separated text file"
        )
    return compression


def open_text(path: Path, what: str) -> IO[str]:
    """Open a (possibly gzipped) UTF-8 text file for reading; see :func:`text_compression`.

    Examples
    --------
    >>> import gzip
    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.io.text_files import open_text
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = Path(tmp.name) / "pheno.tsv.gz"
    >>> _ = path.write_bytes(gzip.compress("IID\\ty\\n".encode()))
    >>> with open_text(path, "table") as fh:
    ...     fh.readline()
    'IID\\ty\\n'
    >>> tmp.cleanup()
    """
    if text_compression(path, what) == "gzip":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def not_utf8_error(path: Path, what: str) -> ValueError:
    """The error for a file that is not UTF-8: where the first bad byte is, and the fix.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.io.text_files import not_utf8_error
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = Path(tmp.name) / "covar.tsv"
    >>> _ = path.write_bytes("IID\\tcity\\ns1\\tMünchen\\n".encode("latin-1"))
    >>> print(not_utf8_error(path, "table"))
    table file '...covar.tsv' is not UTF-8 text: byte 0xfc on line 2 (...) cannot be decoded; ...
    >>> tmp.cleanup()
    """
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        bad = data[err.start]
        first = data.rfind(b"\n", 0, err.start) + 1
        last = data.find(b"\n", err.start)
        context = data[first : last if last >= 0 else len(data)][:60].decode("latin-1")
        return ValueError(
            f"{what} file {str(path)!r} is not UTF-8 text: byte 0x{bad:02x} on line {line} "
            f"({context.strip()!r}) cannot be decoded; it looks like Latin-1/Windows-1252 "
            f"text: save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 {path.name} > "
            f"{path.stem}.utf8{path.suffix})"
        )
    return ValueError(f"{what} file {str(path)!r} is not UTF-8 text; save it as UTF-8")
